"""Exact expected rows for the disengagement marts (patterns, weak signals, health score and
alerts) on a small hand-made product, ingested for real and built with a real `dbt build`.
Each rule and signal has a user on its threshold and one just past it. Days are written as
offsets from the as-of date D = 2025-06-30 (D-20 is twenty days before)."""

import datetime as dt
from pathlib import Path

import pytest

from tests.dbt_fixtures import build, ingest_fixture, rows

D = dt.date(2025, 6, 30)
SELECT = "+disengagement_alerts +user_daily_health"
BASIC = ("session_start", "view_dashboard")  # view_dashboard is a core event
NO_CORE = ("session_start",)


def day(offset: int) -> dt.date:
    return D - dt.timedelta(days=offset)


def d(offset: int) -> str:
    return day(offset).isoformat()


def span(first: int, last: int, step: int = 1) -> list[int]:
    """Offsets from D-first to D-last (first > last), every `step` days."""
    return list(range(first, last - 1, -step))


# user -> list of (offsets, event names done on each of those days)
ACTIVITY: dict[str, list[tuple[list[int], tuple[str, ...]]]] = {
    # patterns
    "steady": [(span(119, 0), BASIC)],
    "abrupt": [(span(100, 20), BASIC)],
    "abrupt_14": [(span(100, 14), BASIC)],  # exactly stopped_after_days
    "quiet_13": [(span(100, 13), BASIC)],  # one day short of it
    "thinning": [(span(100, 40) + [33, 30], BASIC)],  # 2 active days in the last week
    "thinning_3": [(span(100, 40) + [34, 32, 30], BASIC)],  # 3: abrupt_min_active_days_last_7
    "decline": [(span(120, 29) + span(27, 1, 2), BASIC)],  # 14 of 28 days: drop ratio 0.5
    "decline_15": [(span(120, 29) + span(27, 1, 2) + [2], BASIC)],  # 15 of 28: 0.536
    "never": [([60, 59, 50], BASIC)],  # 3 active days, all in the first 14
    "four_days": [([60, 59, 55, 50], BASIC)],  # 4: more than never_activated_max_active_days
    "late_start": [([5], BASIC)],  # younger than activation_window_days
    "involuntary": [(span(60, 10), BASIC)],
    "left_before_failure": [(span(100, 40), BASIC)],  # last active 15 days before the failure
    "inv_at_14": [(span(100, 39), BASIC)],  # 14 days before it: still involuntary
    "resolved": [(span(60, 0), BASIC)],
    # weak signals
    "drop": [(span(119, 30), BASIC)],
    "drop_light": [([50, 45, 40], BASIC)],  # 3 active days before: below the minimum of 4
    "drop_light4": [([52, 50, 45, 40], BASIC)],
    "no_core": [(span(60, 0), NO_CORE), (span(60, 20), ("create_report",))],
    "help": [(span(30, 0), BASIC), ([20, 3], ("view_help",))],
    "help_today": [(span(30, 0), BASIC), ([0], ("view_help",))],
    "unsub": [(span(60, 0), BASIC)],
    "unsub_30": [(span(60, 0), BASIC)],
    "payfail": [(span(60, 0), BASIC)],
    "payfail_29": [(span(60, 0), BASIC)],
    "payfail_30": [(span(60, 0), BASIC)],
    # health score and labels
    "healthy": [(span(27, 0), ("session_start", "view_dashboard", "create_report", "api_call"))],
    "healthy_6": [(span(33, 6), ("session_start", "view_dashboard", "create_report", "api_call"))],
    "healthy_7": [(span(34, 7), ("session_start", "view_dashboard", "create_report", "api_call"))],
    # one core action long ago (before an incremental run's history), sessions since
    "old_core": [(span(130, 0), NO_CORE), ([130], ("create_report",))],
    "fading": [(span(21, 15), BASIC)],
    "gone": [([100], BASIC)],
    "reader": [([100], BASIC)],  # gone from the product, but opened a newsletter on D-50
    "last_89": [([89], BASIC)],  # one day short of inactive_after_days
    "last_90": [([90], BASIC)],
    "at_risk_today": [(span(30, 7), BASIC)],
}
PROFILE_ONLY = {"no_events": 30, "no_events_new": 3}  # signed up D-30 / D-3, never used it
BILLING = [  # (user, offset, event)
    ("involuntary", 45, "payment_succeeded"),
    ("involuntary", 15, "payment_failed"),
    ("involuntary", 12, "payment_failed"),
    ("left_before_failure", 25, "payment_failed"),
    ("inv_at_14", 25, "payment_failed"),
    ("resolved", 15, "payment_failed"),
    ("resolved", 12, "payment_succeeded"),
    ("payfail", 10, "payment_failed"),
    ("payfail", 5, "payment_succeeded"),
    ("payfail_29", 29, "payment_failed"),
    ("payfail_30", 30, "payment_failed"),
]
MESSAGES = [  # (message id, user, offset, event)
    ("m1", "unsub", 29, "unsubscribe"),
    ("m2", "unsub_30", 30, "unsubscribe"),
    ("m3", "fading", 10, "delivered"),
    ("m3", "fading", 10, "open"),
    ("m4", "fading", 5, "delivered"),
    ("m5", "reader", 50, "delivered"),
    ("m5", "reader", 50, "open"),
]


def landing_files() -> dict[str, str]:
    events = ["user_id,event_name,occurred_at"]
    for user, blocks in ACTIVITY.items():
        for offsets, names in blocks:
            for offset in offsets:
                for minute, name in enumerate(names):
                    events.append(f"{user},{name},{d(offset)}T10:{minute:02d}:00Z")
    users = ["user_id,signup_at,plan"]
    for user, blocks in ACTIVITY.items():
        first = max(o for offsets, _ in blocks for o in offsets)
        users.append(f"{user},{d(first)}T08:00:00Z,pro")
    users += [f"{user},{d(offset)}T08:00:00Z,free" for user, offset in PROFILE_ONLY.items()]
    billing = ["user_id,occurred_at,billing_event,amount"]
    billing += [f"{u},{d(o)}T06:00:00Z,{e},29.00" for u, o, e in BILLING]
    messages = ["message_id,user_id,channel,message_event,occurred_at"]
    messages += [f"{m},{u},email,{e},{d(o)}T09:00:00Z" for m, u, o, e in MESSAGES]
    return {
        "events/events.csv": "\n".join(events) + "\n",
        "users/users.csv": "\n".join(users) + "\n",
        "billing/billing.csv": "\n".join(billing) + "\n",
        "messages/messages.csv": "\n".join(messages) + "\n",
    }


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return ingest_fixture(
        tmp_path_factory.mktemp("disengagement"), landing_files(), dt.datetime(2025, 7, 1)
    )


@pytest.fixture(scope="module")
def built(warehouse, tmp_path_factory):
    return build(warehouse, tmp_path_factory.mktemp("default"), SELECT, as_of_date=d(0))


def pattern_rows(con, users):
    return {
        r[0]: r[1:]
        for r in rows(
            con,
            "select user_id, pattern, is_provisional, has_stopped, days_since_last_active, "
            "active_days_28_before_stop, active_days_7_before_stop, drop_ratio "
            "from marts.user_disengagement_patterns where user_id in (select unnest(?))",
            list(users),
        )
    }


def signal(con, user: str, name: str, offsets) -> list[tuple]:
    """(offset, flag, first day of the current firing as an offset) on those days."""
    found = rows(
        con,
        f"select activity_date, signal_{name}, {name}_since from marts.user_daily_health "
        "where user_id = ? and activity_date in (select unnest(?)) order by activity_date",
        user,
        [day(o) for o in offsets],
    )
    return [
        (
            (D - dt.date.fromisoformat(a)).days,
            f,
            None if s is None else (D - dt.date.fromisoformat(s)).days,
        )
        for a, f, s in found
    ]


# --- patterns ------------------------------------------------------------------------------


def test_stopped_after_substantial_use_is_abrupt_at_the_threshold(built):
    assert pattern_rows(built, ["abrupt", "abrupt_14", "quiet_13", "steady"]) == {
        # pattern, provisional, stopped, days since, active days in 28 / 7 before the stop, drop
        "abrupt": ("abrupt_abandonment", False, True, 20, 28, 7, 1.0),
        "abrupt_14": ("abrupt_abandonment", False, True, 14, 28, 7, 1.0),
        "quiet_13": ("steady", False, False, 13, 28, 7, 1.0),
        "steady": ("steady", False, False, 0, 28, 7, 1.0),
    }


def test_a_thinning_last_week_before_the_stop_is_a_decline(built):
    assert pattern_rows(built, ["thinning", "thinning_3"]) == {
        "thinning": ("progressive_decline", False, True, 30, 20, 2, 0.714),
        "thinning_3": ("abrupt_abandonment", False, True, 30, 21, 3, 0.75),
    }


def test_decline_while_still_active_at_the_drop_ratio_threshold(built):
    assert pattern_rows(built, ["decline", "decline_15"]) == {
        "decline": ("progressive_decline", False, False, 1, 14, 4, 0.5),
        "decline_15": ("steady", False, False, 1, 15, 5, 0.536),
    }
    trend = rows(
        built,
        "select user_id, trend_weeks, weekly_trend < 0 from marts.user_disengagement_patterns "
        "where user_id in ('decline', 'steady') order by 1",
    )
    assert trend == [("decline", 8, True), ("steady", 8, False)]


def test_never_activated_up_to_three_days_and_provisional_while_young(built):
    assert pattern_rows(built, ["never", "four_days", "late_start"]) == {
        "never": ("never_activated", False, True, 50, 3, 1, 1.0),
        # four days is real use; a light user's stop is not called a pattern
        "four_days": ("steady", False, True, 50, 4, 2, 1.0),
        "late_start": ("steady", True, False, 5, 1, 1, 1.0),
    }
    profile_only = rows(
        built,
        "select user_id, pattern, is_provisional, tenure_days, active_days_total "
        "from marts.user_disengagement_patterns where user_id like 'no_events%' order by 1",
    )
    assert profile_only == [
        ("no_events", "never_activated", False, 31, 0),
        ("no_events_new", "never_activated", True, 4, 0),
    ]


def test_involuntary_needs_an_unresolved_failure_while_still_active(built):
    assert pattern_rows(built, ["involuntary", "left_before_failure", "inv_at_14", "resolved"]) == {
        "involuntary": ("involuntary", False, False, 10, 28, 7, 1.0),
        "left_before_failure": ("abrupt_abandonment", False, True, 40, 28, 7, 1.0),
        "inv_at_14": ("involuntary", False, True, 39, 28, 7, 1.0),
        "resolved": ("steady", False, False, 0, 28, 7, 1.0),
    }
    failures = rows(
        built,
        "select user_id, payment_failures_total, unresolved_payment_failure_date "
        "from marts.user_disengagement_patterns where user_id in ('involuntary', 'resolved') order by 1",
    )
    assert failures == [("involuntary", 2, d(15)), ("resolved", 1, None)]


def test_pattern_thresholds_are_settings(warehouse, tmp_path):
    """stopped_after_days 21: abrupt (20 days) is no longer stopped; abrupt_min_active_days_last_7
    2: thinning (2 in its last week) becomes abrupt."""
    con = build(
        warehouse,
        tmp_path,
        SELECT,
        as_of_date=d(0),
        stopped_after_days=21,
        abrupt_min_active_days_last_7=2,
    )
    found = pattern_rows(con, ["abrupt", "thinning"])
    assert {u: r[:3] for u, r in found.items()} == {
        "abrupt": ("steady", False, False),
        "thinning": ("abrupt_abandonment", False, True),
    }


# --- weak signals --------------------------------------------------------------------------


def test_usage_drop_fires_at_twenty_percent(built):
    # daily until D-30: on D-25 the last 30 days hold 25 active days against 30 (-16.7 %), on
    # D-24, 24 (-20 %): the signal fires and stays on
    assert signal(built, "drop", "usage_drop", [25, 24, 10, 0]) == [
        (25, False, None),
        (24, True, 24),
        (10, True, 24),
        (0, True, 24),
    ]
    change = rows(
        built,
        "select activity_date, active_days_recent, active_days_prior, usage_change_pct "
        "from marts.user_daily_health where user_id = 'drop' and activity_date in (?, ?) order by 1",
        day(25),
        day(24),
    )
    assert change == [(d(25), 25, 30, -16.7), (d(24), 24, 30, -20.0)]


def test_usage_drop_needs_enough_activity_before(built):
    assert signal(built, "drop_light", "usage_drop", [0]) == [(0, False, None)]  # 3 days before
    assert signal(built, "drop_light4", "usage_drop", [11, 10, 0]) == [
        (11, False, None),
        (10, True, 10),
        (0, True, 10),
    ]


def test_no_core_action_after_fourteen_days(built):
    # the last core action on D-20: 13 days without on D-7, 14 on D-6
    assert signal(built, "no_core", "no_core_action", [7, 6, 0]) == [
        (7, False, None),
        (6, True, 6),
        (0, True, 6),
    ]


def test_help_visits_fire_for_a_week_and_again_with_a_new_date(built):
    assert signal(built, "help", "help_visits", [20, 14, 13, 4, 3, 0]) == [
        (20, True, 20),
        (14, True, 20),
        (13, False, None),
        (4, False, None),
        (3, True, 3),
        (0, True, 3),
    ]


def test_unsubscribe_fires_for_thirty_days(built):
    assert signal(built, "unsub", "unsubscribed", [30, 29, 0]) == [
        (30, False, None),
        (29, True, 29),
        (0, True, 29),
    ]
    assert signal(built, "unsub_30", "unsubscribed", [1, 0]) == [(1, True, 30), (0, False, None)]


def test_payment_failure_until_a_payment_goes_through(built):
    assert signal(built, "payfail", "payment_failure", [11, 10, 6, 5, 0]) == [
        (11, False, None),
        (10, True, 10),
        (6, True, 10),
        (5, False, None),
        (0, False, None),
    ]
    assert signal(built, "payfail_29", "payment_failure", [0]) == [(0, True, 29)]
    assert signal(built, "payfail_30", "payment_failure", [1, 0]) == [
        (1, True, 30),
        (0, False, None),
    ]


# --- health score, labels and alerts -------------------------------------------------------


def test_health_components_score_and_label(built):
    found = rows(
        built,
        "select user_id, frequency_score, recency_score, breadth_score, depth_score, "
        "message_engagement_score, health_score, engagement_label from marts.user_daily_health "
        "where activity_date = ? and user_id in ('healthy', 'fading', 'gone', 'late_start') order by 1",
        D,
    )
    assert found == [
        # 1 message of 2 opened: 50 % over the 50 % target; weights 20/15/15/35/15
        ("fading", 58.3, 50.0, 40.0, 0.0, 100.0, 40, "recently_active"),
        ("gone", 0.0, 0.0, 0.0, 0.0, None, 0, "inactive"),
        # no message: its weight is left out (8200 / 85)
        ("healthy", 100.0, 100.0, 80.0, 100.0, None, 96, "engaged"),
        ("late_start", 8.3, 83.3, 40.0, 0.0, None, 24, "recently_active"),
    ]


def test_engagement_labels_at_their_thresholds(built):
    labels = rows(
        built,
        "select user_id, days_since_last_active, engagement_label from marts.user_daily_health "
        "where activity_date = ? and user_id in "
        "('abrupt', 'thinning', 'never', 'steady', 'gone', 'reader', 'last_89', 'last_90') order by 1",
        D,
    )
    assert labels == [
        ("abrupt", 20, "recently_active"),
        ("gone", 100, "inactive"),
        ("last_89", 89, "disengaged"),
        ("last_90", 90, "inactive"),
        ("never", 50, "disengaged"),
        ("reader", 100, "disengaged"),  # last touch: the newsletter opened 50 days ago
        (
            "steady",
            0,
            "recently_active",
        ),  # active today, but 4100 / 85 = 48 (little breadth, no depth)
        ("thinning", 30, "disengaged"),
    ]


def test_engaged_needs_activity_within_seven_days(built):
    found = rows(
        built,
        "select user_id, days_since_last_active, health_score, engagement_label "
        "from marts.user_daily_health where activity_date = ? and user_id like 'healthy_%' order by 1",
        D,
    )
    # 6 days: recency 80, the rest full: (20*100 + 15*80 + 15*80 + 35*100) / 85 = 92.9
    assert found == [("healthy_6", 6, 93, "engaged"), ("healthy_7", 7, 92, "recently_active")]


def test_alerts_are_todays_crossings_and_new_signals(built):
    alerts = rows(
        built,
        "select user_id, crossed_into_at_risk, new_signals, state, pattern from marts.disengagement_alerts order by 1",
    )
    assert alerts == [
        ("abrupt_14", False, "no_core_action", "at_risk", "abrupt_abandonment"),
        ("at_risk_today", True, None, "at_risk", "steady"),
        ("healthy_7", True, None, "at_risk", "steady"),
        ("help_today", False, "help_visits", "current", "steady"),
    ]


def test_health_rows_are_point_in_time_and_incremental_equals_full(warehouse, tmp_path, built):
    """Built as of D-40, rows up to D-40 equal those built as of D. Then advanced incrementally
    to D from D-42: the whole table equals the full build (signals firing across the window
    boundary keep their first day)."""
    earlier = build(warehouse, tmp_path, SELECT, as_of_date=d(40))
    query = "select * from marts.user_daily_health where activity_date <= ? order by user_id, activity_date"
    assert rows(earlier, query, day(40)) == rows(built, query, day(40))
    earlier.close()
    advanced = build(None, tmp_path, SELECT, as_of_date=d(0), start_date=d(42))
    everything = "select * from marts.user_daily_health order by user_id, activity_date"
    assert rows(advanced, everything) == rows(built, everything)
    carried = rows(
        advanced,
        "select count(*) from marts.user_daily_health where activity_date = ? and no_core_action_since < ?",
        day(0),
        day(42),
    )
    assert carried[0][0] > 0  # some firings started before the incremental window


def test_a_start_date_past_the_last_built_day_leaves_no_gap(warehouse, tmp_path, built):
    """Built as of D-40, then asked to rebuild from D-5: the window starts the day after the
    last built day instead, so no day is missing and carried start dates stay right."""
    build(warehouse, tmp_path, SELECT, as_of_date=d(40)).close()
    advanced = build(None, tmp_path, SELECT, as_of_date=d(0), start_date=d(5))
    everything = "select * from marts.user_daily_health order by user_id, activity_date"
    assert rows(advanced, everything) == rows(built, everything)
