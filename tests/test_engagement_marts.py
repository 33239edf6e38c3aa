"""Exact expected rows for the engagement marts on a small hand-made product, run through the
real ingestion and a real `dbt build` under each setting that changes the numbers.

The fixture (2025-01-06 is a Monday; as of 2025-03-15):
  a  plan_a  active Mon 01-06, 01-07, 01-08, then 01-20, 01-21 (a gap of 11 days)
  b  plan_b  signed up 2025-01-13, first used 02-03, then 02-04, 02-07 and 02-24
  c  plan_c  active Sun 01-05 and Mon 01-06 (straddles the week boundary)
  d  plan_d  active 2024-12-10, then 01-13 and 01-14 (first start before the report window)
  e  plan_e  signup_done 01-06, create_report 01-08, view_dashboard 01-13
  f  plan_f  03-09T07:59Z, 03-10T06:59Z, 03-10T07:00Z (around the US DST change on 03-09)
  g  (no profile) active 02-13 only
"""

import datetime as dt
from pathlib import Path

import pytest

from tests.dbt_fixtures import build as dbt_build
from tests.dbt_fixtures import ingest_fixture, rows

EVENTS = [
    ("a", "session_start", "2025-01-06T09:00:00Z"),
    ("a", "create_report", "2025-01-06T09:05:00Z"),
    ("a", "session_start", "2025-01-07T09:00:00Z"),
    ("a", "export_data", "2025-01-08T09:00:00Z"),
    ("a", "session_start", "2025-01-20T09:00:00Z"),
    ("a", "session_start", "2025-01-21T09:00:00Z"),
    ("b", "session_start", "2025-02-03T10:00:00Z"),
    ("b", "session_start", "2025-02-04T10:00:00Z"),
    ("b", "session_start", "2025-02-07T10:00:00Z"),
    ("b", "session_start", "2025-02-24T10:00:00Z"),
    ("c", "session_start", "2025-01-05T12:00:00Z"),
    ("c", "session_start", "2025-01-06T12:00:00Z"),
    ("d", "session_start", "2024-12-10T12:00:00Z"),
    ("d", "session_start", "2025-01-13T12:00:00Z"),
    ("d", "session_start", "2025-01-14T12:00:00Z"),
    ("e", "signup_done", "2025-01-06T08:00:00Z"),
    ("e", "create_report", "2025-01-08T08:00:00Z"),
    ("e", "view_dashboard", "2025-01-13T08:00:00Z"),
    ("f", "session_start", "2025-03-09T07:59:00Z"),
    ("f", "session_start", "2025-03-10T06:59:00Z"),
    ("f", "session_start", "2025-03-10T07:00:00Z"),
    ("g", "session_start", "2025-02-13T15:00:00Z"),
]
USERS = [
    ("a", "2025-01-06T08:00:00Z", "plan_a"),
    ("b", "2025-01-13T08:00:00Z", "plan_b"),
    ("c", "2025-01-05T08:00:00Z", "plan_c"),
    ("d", "2024-12-10T08:00:00Z", "plan_d"),
    ("e", "2025-01-06T07:00:00Z", "plan_e"),
    ("f", "2025-03-01T08:00:00Z", "plan_f"),
]
AS_OF = "2025-03-15"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    """The fixture ingested once; each settings variant builds on a copy."""
    files = {
        "events/events.csv": "user_id,event_name,occurred_at\n"
        + "".join(f"{u},{n},{t}\n" for u, n, t in EVENTS),
        "users/users.csv": "user_id,signup_at,plan\n"
        + "".join(f"{u},{s},{p}\n" for u, s, p in USERS),
    }
    return ingest_fixture(tmp_path_factory.mktemp("engagement"), files, dt.datetime(2025, 3, 16))


# the engagement and core marts and what they read: the churn features, the disengagement and
# campaign marts are other modules' (a third of the nodes of a build, eight builds here)
SELECT = "+path:models/marts/engagement +path:models/marts/core"


def build(warehouse: Path | None, tmp_path: Path, **variables):
    return dbt_build(warehouse, tmp_path, SELECT, **({"as_of_date": AS_OF} | variables))


def retention(con, period: str, plan: str) -> list[tuple]:
    """The plan's cohorts with users. The mart also has a cohort of 0 users for every other
    period of the range (tests/test_posthog_parity.py covers those); they are left out here."""
    return rows(
        con,
        "select cohort_period, period_number, cohort_size, retained_users_on, retained_users_on_or_after "
        "from marts.cohort_retention where period_type = ? and dimension = 'plan' and dimension_value = ? "
        "and cohort_size > 0 order by cohort_period, period_number",
        period,
        plan,
    )


def lifecycle(con, period: str, start: str, end: str) -> list[tuple]:
    return rows(
        con,
        "select period_start, status, users from marts.lifecycle where period_type = ? "
        "and period_start between ? and ? and users > 0 order by 1, 2",
        period,
        start,
        end,
    )


@pytest.fixture(scope="module")
def defaults(warehouse, tmp_path_factory):
    """Default settings: Monday weeks, first-time cohorts, new by signup, UTC, MAU 30."""
    return build(warehouse, tmp_path_factory.mktemp("defaults"))


@pytest.fixture(scope="module")
def posthog(warehouse, tmp_path_factory):
    """The posthog preset (Sunday weeks, recurring cohorts) with a report window from 2025."""
    return build(
        warehouse,
        tmp_path_factory.mktemp("posthog"),
        preset="posthog",
        report_start_date="2025-01-01",
    )


@pytest.fixture(scope="module")
def variants(warehouse, tmp_path_factory):
    """New by first event, MAU 28, start event signup_done, return event create_report, and
    a report window from 2025."""
    return build(
        warehouse,
        tmp_path_factory.mktemp("variants"),
        lifecycle_new_basis="first_event",
        mau_window_days=28,
        retention_start_events=["signup_done"],
        retention_return_events=["create_report"],
        report_start_date="2025-01-01",
    )


@pytest.fixture(scope="module")
def los_angeles(warehouse, tmp_path_factory):
    return build(warehouse, tmp_path_factory.mktemp("la"), reporting_timezone="America/Los_Angeles")


# --- retention -----------------------------------------------------------------------------


def test_on_versus_on_or_after(defaults):
    # a: week of 01-06, back in the week of 01-20 (N=2), then gone; weeks up to 03-10 (N=9)
    weekly = retention(defaults, "week", "plan_a")
    assert weekly[:5] == [
        ("2025-01-06", 0, 1, 1, 1),
        ("2025-01-06", 1, 1, 0, 1),
        ("2025-01-06", 2, 1, 1, 1),
        ("2025-01-06", 3, 1, 0, 0),
        ("2025-01-06", 4, 1, 0, 0),
    ]
    assert [r[1] for r in weekly] == list(range(10))
    daily = {r[1]: r[3:] for r in retention(defaults, "day", "plan_a")}
    assert len(daily) == 31  # days 0..30 (retention_max_days)
    assert [daily[n] for n in (1, 2, 3, 13, 14, 15, 16, 30)] == [
        (1, 1),
        (1, 1),
        (0, 1),
        (0, 1),
        (1, 1),
        (1, 1),
        (0, 0),
        (0, 0),
    ]


def test_week_boundaries_under_both_week_starts(defaults, posthog):
    # c: Sunday 01-05 and Monday 01-06
    assert retention(defaults, "week", "plan_c")[:2] == [
        ("2024-12-30", 0, 1, 1, 1),
        ("2024-12-30", 1, 1, 1, 1),
    ]
    assert retention(posthog, "week", "plan_c")[:2] == [
        ("2025-01-05", 0, 1, 1, 1),
        ("2025-01-05", 1, 1, 0, 0),
    ]


def test_first_time_versus_recurring_cohorts_and_the_report_window(defaults, posthog, variants):
    # d: first active 2024-12-10, then the week of 01-13
    assert [r[:2] for r in retention(defaults, "week", "plan_d") if r[1] == 0] == [
        ("2024-12-09", 0)
    ]
    # first-time cohorts with a report window from 2025: d's first start is before it -> none
    assert retention(variants, "week", "plan_d") == []
    # recurring (posthog): one cohort per week with a start event, inside the window
    assert [r[:3] for r in retention(posthog, "week", "plan_d") if r[1] == 0] == [
        ("2025-01-12", 0, 1)
    ]
    # a: recurring cohorts in the weeks of 01-05 and 01-19 (Sunday weeks)
    assert [r[0] for r in retention(posthog, "week", "plan_a") if r[1] == 0] == [
        "2025-01-05",
        "2025-01-19",
    ]


def test_start_event_different_from_return_event(defaults, variants):
    # e: signup_done 01-06, create_report 01-08, view_dashboard 01-13
    day = {r[1]: r[3] for r in retention(variants, "day", "plan_e")}
    assert (day[0], day[1], day[2], day[7]) == (1, 0, 1, 0)
    assert retention(variants, "week", "plan_e")[:2] == [
        ("2025-01-06", 0, 1, 1, 1),
        ("2025-01-06", 1, 1, 0, 0),
    ]
    # with every event as start and return, the view in the next week counts
    assert retention(defaults, "week", "plan_e")[1] == ("2025-01-06", 1, 1, 1, 1)
    # only users who did the start event have a cohort
    assert retention(variants, "week", "plan_a") == []


# --- lifecycle -----------------------------------------------------------------------------


def test_new_by_signup_versus_first_event(defaults, variants):
    # b signed up 01-13 and first used the product on 02-03: by signup it resurrects on 02-03
    assert lifecycle(defaults, "day", "2025-02-03", "2025-02-08") == [
        ("2025-02-03", "resurrecting", 1),
        ("2025-02-04", "returning", 1),
        ("2025-02-05", "dormant", 1),
        ("2025-02-07", "resurrecting", 1),
        ("2025-02-08", "dormant", 1),
    ]
    assert lifecycle(variants, "day", "2025-02-03", "2025-02-04") == [
        ("2025-02-03", "new", 1),
        ("2025-02-04", "returning", 1),
    ]


def test_resurrecting_after_several_periods_and_dormant_once_per_gap(defaults):
    # b: weeks of 02-03 (active), 02-10 and 02-17 (inactive), 02-24 (active); g: 02-13 only;
    # f signed up in the week of 02-24 and was first active in the week of 03-03: resurrecting
    assert lifecycle(defaults, "week", "2025-02-03", "2025-03-03") == [
        ("2025-02-03", "resurrecting", 1),
        ("2025-02-10", "dormant", 1),
        ("2025-02-10", "new", 1),
        ("2025-02-17", "dormant", 1),
        ("2025-02-24", "resurrecting", 1),
        ("2025-03-03", "dormant", 1),
        ("2025-03-03", "resurrecting", 1),
    ]
    signed = rows(
        defaults,
        "select signed_users from marts.lifecycle where period_type = 'week' and period_start = '2025-02-10' and status = 'dormant'",
    )
    assert signed == [(-1,)]


# --- active users, L7 / L28, states --------------------------------------------------------


def test_wau_and_both_mau_windows(defaults, variants):
    query = "select dau, wau, mau, mau_window_days from marts.active_users_daily where activity_date = ?"
    # on 03-14: g (02-13) is inside 30 days, outside 28; b (02-24) and f inside both
    assert rows(defaults, query, "2025-03-14") == [(0, 1, 3, 30)]
    assert rows(variants, query, "2025-03-14") == [(0, 1, 2, 28)]
    assert rows(defaults, query, "2025-03-10") == [(1, 1, 3, 30)]
    new_and_returning = "select new_active_users, returning_active_users from marts.active_users_daily where activity_date = ?"
    assert rows(defaults, new_and_returning, "2025-01-06") == [(2, 1)]  # a and e new, c returning


def test_l7_l28_breadth_and_states(defaults):
    query = (
        "select activity_date, l7, l28, feature_breadth_28d, days_since_last_active, state "
        "from marts.user_daily_engagement where user_id = 'a' "
        "and strftime(activity_date, '%Y-%m-%d') in (select unnest(?::varchar[])) order by 1"
    )
    days = [
        "2025-01-06",
        "2025-01-07",
        "2025-01-19",
        "2025-01-20",
        "2025-01-21",
        "2025-02-03",
        "2025-02-05",
        "2025-02-18",
        "2025-03-15",
    ]
    assert rows(defaults, query, days) == [
        ("2025-01-06", 1, 1, 2, 0, "new"),
        ("2025-01-07", 2, 2, 2, 0, "current"),
        ("2025-01-19", 0, 3, 3, 11, "at_risk"),
        ("2025-01-20", 1, 4, 3, 0, "reactivated"),
        ("2025-01-21", 2, 5, 3, 0, "current"),
        ("2025-02-03", 0, 4, 2, 13, "at_risk"),
        ("2025-02-05", 0, 2, 1, 15, "at_risk"),
        ("2025-02-18", 0, 0, 0, 28, "dormant"),
        ("2025-03-15", 0, 0, 0, 53, "dormant"),
    ]
    # d came back after 34 days: resurrected; the transition is counted
    assert rows(
        defaults,
        "select state from marts.user_daily_engagement where user_id = 'd' and activity_date = '2025-01-13'",
    ) == [("resurrected",)]
    transitions = "select users from marts.user_state_transitions where activity_date = ? and from_state = ? and to_state = ?"
    assert rows(defaults, transitions, "2025-01-20", "at_risk", "reactivated") == [(1,)]
    assert rows(defaults, transitions, "2025-01-13", "dormant", "resurrected") == [(1,)]


def test_churned_after_the_configured_window(warehouse, tmp_path):
    con = build(warehouse, tmp_path, churned_after_days=45)
    assert rows(
        con,
        "select state from marts.user_daily_engagement where user_id = 'a' and activity_date = '2025-03-15'",
    ) == [("churned",)]


# --- calendar --------------------------------------------------------------------------------


def test_reporting_timezone_with_a_dst_change(defaults, los_angeles):
    query = (
        "select activity_date, events from marts.user_activity_daily where user_id = 'f' order by 1"
    )
    assert rows(defaults, query) == [("2025-03-09", 1), ("2025-03-10", 2)]
    # 07:59Z on 03-09 is 23:59 PST on 03-08; 06:59Z on 03-10 is 23:59 PDT on 03-09; 07:00Z is
    # midnight PDT on 03-10 (a fixed -8 offset would put it on 03-09)
    assert rows(los_angeles, query) == [("2025-03-08", 1), ("2025-03-09", 1), ("2025-03-10", 1)]
    # the other date-grained marts follow the same calendar
    assert rows(
        los_angeles,
        "select dau from marts.daily_activity d join marts.active_users_daily a using (activity_date) where activity_date = '2025-03-08'",
    ) == [(1,)]


def test_per_user_per_day_rows_are_point_in_time(warehouse, tmp_path, defaults):
    """Built as of 02-10, every row up to 02-10 equals the row built as of 03-15: nothing in a
    row depends on later events, so any past as-of date can be rebuilt."""
    earlier = build(warehouse, tmp_path, as_of_date="2025-02-10")
    query = (
        "select * from marts.user_daily_engagement where activity_date <= '2025-02-10' "
        "order by user_id, activity_date"
    )
    assert rows(earlier, query) == rows(defaults, query)
    assert len(rows(earlier, query)) > 100
    assert rows(earlier, "select max(activity_date) from marts.user_daily_engagement") == [
        ("2025-02-10",)
    ]
    users = "select user_id, state from marts.user_daily_engagement where activity_date = '2025-02-10' order by 1"
    assert rows(earlier, users) == rows(defaults, users)


def test_incremental_days_equal_a_full_build(warehouse, tmp_path, defaults):
    """Built as of 02-10, then advanced incrementally to 03-15 from 02-08: the same table as
    one full build as of 03-15."""
    build(warehouse, tmp_path, as_of_date="2025-02-10").close()
    advanced = build(None, tmp_path, start_date="2025-02-08")
    query = "select * from marts.user_daily_engagement order by user_id, activity_date"
    assert rows(advanced, query) == rows(defaults, query)
    assert rows(advanced, "select max(activity_date) from marts.user_daily_engagement") == [
        (AS_OF,)
    ]
