"""PostHog parity of the lifecycle and retention marts (issue 13, item 10), with exact expected
rows derived by hand from PostHog's definitions, through the real ingestion and a real
`dbt build` of the two marts and their parents.

PostHog's definitions (posthog/hogql_queries/insights/lifecycle/lifecycle_query_runner.py and
retention_query_runner.py in PostHog/posthog):
- lifecycle: a person is "new" in an interval only when it is their first active interval and
  the interval of their creation time; otherwise the first active interval is "resurrecting",
  and a later one "returning" when the interval before it was active. Every interval of the
  range has a row per status, 0 included.
- retention: a return counts only inside the reported intervals (cumulative, "on or after",
  takes the largest such interval); every start interval of the range has its row, 0 users
  included.

The fixture (UTC; Sunday weeks under the preset; as of Saturday 2025-03-15):
  r  signed up 01-05; active 01-05, 02-10 (day 36 of its day cohort, week 5 of its week
     cohort) and 03-20 (after the as-of date)
  p  signed up Wed 02-12; active Wed 02-05 (the week before the signup week) and 02-12
  q  signed up Mon 02-10; active 02-10 and 02-11
Nobody is active in the weeks of 01-12 to 01-26 nor after 02-12 (up to the as-of date).
"""

import datetime as dt
from pathlib import Path

import pytest

from tests.dbt_fixtures import build, ingest_fixture, rows

EVENTS = [
    ("r", "2025-01-05T10:00:00Z"),
    ("r", "2025-02-10T10:00:00Z"),
    ("r", "2025-03-20T10:00:00Z"),
    ("p", "2025-02-05T10:00:00Z"),
    ("p", "2025-02-12T10:00:00Z"),
    ("q", "2025-02-10T09:00:00Z"),
    ("q", "2025-02-11T09:00:00Z"),
]
USERS = [
    ("r", "2025-01-05T08:00:00Z", "plan_r"),
    ("p", "2025-02-12T09:00:00Z", "plan_p"),
    ("q", "2025-02-10T08:00:00Z", "plan_q"),
]
AS_OF = "2025-03-15"
SELECT = "+lifecycle +cohort_retention"
WEEKS = [  # Sunday weeks from r's first activity to the as-of date's week
    "2025-01-05",
    "2025-01-12",
    "2025-01-19",
    "2025-01-26",
    "2025-02-02",
    "2025-02-09",
    "2025-02-16",
    "2025-02-23",
    "2025-03-02",
    "2025-03-09",
]
STATUSES = ["dormant", "new", "resurrecting", "returning"]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    files = {
        "events/events.csv": "user_id,event_name,occurred_at\n"
        + "".join(f"{u},session_start,{t}\n" for u, t in EVENTS),
        "users/users.csv": "user_id,signup_at,plan\n"
        + "".join(f"{u},{s},{p}\n" for u, s, p in USERS),
    }
    return ingest_fixture(tmp_path_factory.mktemp("parity"), files, dt.datetime(2025, 3, 21))


def build_marts(warehouse: Path, tmp_path: Path, **variables):
    """Build only the two marts and their parents; tests that also need a model outside the
    selection (relationships from other marts to `users`) are left out."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DBT_INDIRECT_SELECTION", "cautious")
        return build(warehouse, tmp_path, SELECT, as_of_date=AS_OF, **variables)


@pytest.fixture(scope="module")
def posthog(warehouse, tmp_path_factory):
    return build_marts(warehouse, tmp_path_factory.mktemp("posthog"), preset="posthog")


@pytest.fixture(scope="module")
def default(warehouse, tmp_path_factory):
    """No preset: Monday weeks, first-time cohorts, new by signup, on or after up to the as-of."""
    return build_marts(warehouse, tmp_path_factory.mktemp("default"))


def lifecycle(con, period: str, start: str, end: str, nonzero: bool = True) -> list[tuple]:
    return rows(
        con,
        "select period_start, status, users from marts.lifecycle where period_type = ? "
        f"and period_start between ? and ? {'and users > 0' if nonzero else ''} order by 1, 2",
        period,
        start,
        end,
    )


def retention(con, period: str, dimension: str, value: str) -> list[tuple]:
    return rows(
        con,
        "select cohort_period, period_number, cohort_size, retained_users_on, "
        "retained_users_on_or_after from marts.cohort_retention where period_type = ? "
        "and dimension = ? and dimension_value = ? order by cohort_period, period_number",
        period,
        dimension,
        value,
    )


def cohort(start: str, last: int, size: int, on: dict, on_or_after: dict) -> list[tuple]:
    """The expected cells N = 0..last of one cohort; unlisted N have 0 users (N = 0 is the
    cohort size in both columns)."""
    return [
        (
            start,
            n,
            size,
            size if n == 0 else on.get(n, 0),
            size if n == 0 else on_or_after.get(n, 0),
        )
        for n in range(last + 1)
    ]


def test_active_before_signup_is_not_new_in_the_signup_period(posthog, default):
    # p: first active in the week of 02-02 (resurrecting: not the creation week), active again
    # in the signup week 02-09: returning there, not new. q: first active in its signup week:
    # new. r: back in the week of 02-09 after a gap: resurrecting.
    assert lifecycle(posthog, "week", "2025-02-02", "2025-02-16") == [
        ("2025-02-02", "resurrecting", 1),
        ("2025-02-09", "new", 1),
        ("2025-02-09", "resurrecting", 1),
        ("2025-02-09", "returning", 1),
        ("2025-02-16", "dormant", 3),
    ]
    # by day (the same under the default, which follows PostHog here): p is resurrecting on its
    # signup day 02-12, after 02-05 and a gap
    expected_days = [
        ("2025-02-05", "resurrecting", 1),
        ("2025-02-06", "dormant", 1),
        ("2025-02-10", "new", 1),  # q
        ("2025-02-10", "resurrecting", 1),  # r
        ("2025-02-11", "dormant", 1),  # r
        ("2025-02-11", "returning", 1),  # q
        ("2025-02-12", "dormant", 1),  # q
        ("2025-02-12", "resurrecting", 1),  # p
        ("2025-02-13", "dormant", 1),  # p
    ]
    assert lifecycle(posthog, "day", "2025-02-05", "2025-02-13") == expected_days
    assert lifecycle(default, "day", "2025-02-05", "2025-02-13") == expected_days
    # by month, p's first active month is its signup month: new, though 02-05 precedes 02-12
    assert lifecycle(posthog, "month", "2025-01-01", "2025-03-01") == [
        ("2025-01-01", "new", 1),
        ("2025-02-01", "new", 2),
        ("2025-02-01", "returning", 1),
        ("2025-03-01", "dormant", 3),
    ]


def test_on_or_after_counts_only_returns_within_the_reported_periods(posthog, default):
    # r's day cohort 01-05 reports days 0..30; r came back on day 36, past the last reported
    # day: PostHog counts it nowhere, "on or after" included
    daily = [r for r in retention(posthog, "day", "plan", "plan_r") if r[0] == "2025-01-05"]
    assert daily == cohort("2025-01-05", 30, 1, on={}, on_or_after={})
    # the default counts any return up to the as-of date (documented difference)
    daily = [r for r in retention(default, "day", "plan", "plan_r") if r[0] == "2025-01-05"]
    assert daily == cohort("2025-01-05", 30, 1, on={}, on_or_after={n: 1 for n in range(1, 31)})
    # week 5 is within the 12 reported weeks: counted; 03-20 is after the as-of date: never
    weekly = [r for r in retention(posthog, "week", "plan", "plan_r") if r[0] == "2025-01-05"]
    assert weekly == cohort("2025-01-05", 9, 1, on={5: 1}, on_or_after={n: 1 for n in range(1, 6)})
    weekly = [r for r in retention(posthog, "week", "plan", "plan_r") if r[0] == "2025-02-09"]
    assert weekly == cohort("2025-02-09", 4, 1, on={}, on_or_after={})


def test_periods_and_cohorts_without_users_have_rows_with_zeros(posthog, default):
    # lifecycle: every week from the first active one to the as-of date's, four statuses each
    nonzero = {
        ("2025-01-05", "new"): 1,
        ("2025-01-12", "dormant"): 1,
        ("2025-02-02", "resurrecting"): 1,
        ("2025-02-09", "new"): 1,
        ("2025-02-09", "resurrecting"): 1,
        ("2025-02-09", "returning"): 1,
        ("2025-02-16", "dormant"): 3,
    }
    assert lifecycle(posthog, "week", WEEKS[0], WEEKS[-1], nonzero=False) == [
        (week, status, nonzero.get((week, status), 0)) for week in WEEKS for status in STATUSES
    ]
    # every day from 01-05 to 03-15 (70 days), under the default too
    for con in (posthog, default):
        assert rows(
            con,
            "select count(*), count(distinct period_start), min(period_start), max(period_start) "
            "from marts.lifecycle where period_type = 'day'",
        ) == [(280, 70, "2025-01-05", AS_OF)]
        assert lifecycle(con, "day", "2025-01-20", "2025-01-20", nonzero=False) == [
            ("2025-01-20", status, 0) for status in STATUSES
        ]

    # retention (recurring week cohorts): 01-05 {r}, 02-02 {p}, 02-09 {r, p, q}; every other
    # week of the range is a cohort of 0 users, with cells up to the as-of date's week
    assert retention(posthog, "week", "all", "all") == [
        *cohort("2025-01-05", 9, 1, on={5: 1}, on_or_after={n: 1 for n in range(1, 6)}),
        *cohort("2025-01-12", 8, 0, on={}, on_or_after={}),
        *cohort("2025-01-19", 7, 0, on={}, on_or_after={}),
        *cohort("2025-01-26", 6, 0, on={}, on_or_after={}),
        *cohort("2025-02-02", 5, 1, on={1: 1}, on_or_after={1: 1}),
        *cohort("2025-02-09", 4, 3, on={}, on_or_after={}),
        *cohort("2025-02-16", 3, 0, on={}, on_or_after={}),
        *cohort("2025-02-23", 2, 0, on={}, on_or_after={}),
        *cohort("2025-03-02", 1, 0, on={}, on_or_after={}),
        *cohort("2025-03-09", 0, 0, on={}, on_or_after={}),
    ]
    # a cohort of 0 users has no rate (0 / 0)
    assert rows(
        posthog,
        "select retention_rate_on, retention_rate_on_or_after from marts.cohort_retention "
        "where period_type = 'week' and dimension = 'all' and cohort_period = '2025-01-12' "
        "and period_number = 0",
    ) == [(None, None)]
    # each dimension value has the whole range too: plan_q only started in the week of 02-09
    assert [r[:3] for r in retention(posthog, "week", "plan", "plan_q") if r[1] == 0] == [
        (week, 0, 1 if week == "2025-02-09" else 0) for week in WEEKS
    ]
    # the default (first-time day cohorts r 01-05, p 02-05, q 02-10): 70 cohort days
    assert rows(
        default,
        "select count(*), sum(cohort_size) from marts.cohort_retention "
        "where period_type = 'day' and dimension = 'all' and period_number = 0",
    ) == [(70, 3)]
