"""The churn features and labels (dbt_project/models/features) on hand-made products, ingested
for real and built with the real `dbt build`:

- leakage: adding events, messages, billing and survey rows dated after a snapshot T_k (on or
  before the as-of date) leaves every churn_features row of snapshot T_k and earlier unchanged,
  while the labels of T_k change (the new rows were seen);
- churn_labels on users active again exactly at the end of the label window, a day after it,
  never, or only with events that churn_activity_events does not count;
- churn_snapshots: the dates, only closed label windows train, churn_training_snapshots caps;
- expected feature values on a hand-made user; a profile-only user; a later signup;
- the pattern evidence on the as-of date against user_disengagement_patterns (three known
  differences were bugs, fixed in churn_features.sql);
- lineage: no mart reads churn_labels, directly or transitively.

The warehouses are built once per module (fixture `builds`); the leakage test, which needs a
second full build of its own, is marked slow.

Days are offsets from the as-of date D = 2025-06-30 (D-35 is 35 days before)."""

import datetime as dt
import json
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from orchestration.project import ensure_manifest
from tests.dbt_fixtures import build, ingest_fixture, rows

D = dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 7, 1)
SELECT = "+path:models/features user_disengagement_patterns"
T0 = 35  # the latest training snapshot with the defaults (horizon 30, every 7 days)
TK = 49  # the snapshot the leakage test adds events after
FIRST = 120  # the first event of the product (the anchor user)


def day(offset: int) -> dt.date:
    return D - dt.timedelta(days=offset)


def d(offset: int) -> str:
    return day(offset).isoformat()


def span(first: int, last: int, step: int = 1) -> list[int]:
    """Offsets from D-first to D-last (first > last), every `step` days."""
    return list(range(first, last - 1, -step))


# --- the base product ------------------------------------------------------------------------

# (user, offset, event name, revenue or None)
HAND_EVENTS: list[tuple[str, int, str, float | None]] = [
    ("anchor", o, "session_start", None) for o in span(FIRST, 100, 5)
]
# the user of the feature tests: T = D-35 sees six active days and 70 of revenue
HAND_EVENTS += [("hand", o, "session_start", None) for o in (90, 70, 50, 40, 38, 36, 20)]
HAND_EVENTS += [("hand", 70, "purchase", 50.0), ("hand", 40, "purchase", 20.0)]
HAND_EVENTS += [("hand", 20, "purchase", 500.0)]  # after T0: only the as-of date sees it
# labels at T0 = D-35 (window (D-35, D-5])
for user, back in (("back_on_end", [5]), ("back_after_end", [4]), ("never_back", [])):
    HAND_EVENTS += [(user, o, "session_start", None) for o in [60, 50, 36, *back]]
HAND_EVENTS += [("help_after", o, "session_start", None) for o in span(60, 36)]
HAND_EVENTS += [("help_after", 20, "view_help", None)]  # only a help visit after T0
HAND_EVENTS += [("late_signup", o, "session_start", None) for o in (20, 10)]
# signed up D-30, first active D-3: the activation window (from the first active day) is open
HAND_EVENTS += [("slow_starter", o, "session_start", None) for o in (3, 2)]
HAND_EVENTS += [("esp_reader", o, "session_start", None) for o in span(20, 5, 5)]
# lapsed before T_k = D-49; the late files bring them back inside T_k's label window
HAND_EVENTS += [("lapsed", o, "session_start", None) for o in span(100, 80, 2)]

HAND_PROFILES = {  # user -> signup offset
    "anchor": FIRST,
    "hand": 100,
    "back_on_end": 60,
    "back_after_end": 60,
    "never_back": 60,
    "help_after": 60,
    "late_signup": 20,
    "lapsed": 100,
    "profile_only": 50,  # signed up D-50, never used the product
    "slow_starter": 30,
    "esp_reader": 25,
    "sleeper": 80,  # profile only in the base; the late files make it active after T_k
}
HAND_BILLING = [("hand", 45, "payment_failed"), ("hand", 30, "payment_succeeded")]
HAND_SURVEYS = [("hand", 60, "price"), ("hand", 20, "competitor")]
HAND_MESSAGES = [  # (message id, user, offset, event)
    ("h1", "hand", 80, "sent"),
    ("h1", "hand", 79, "open"),
    ("h2", "hand", 30, "sent"),
    # an ESP log: one message sent and delivered, one only delivered
    ("e1", "esp_reader", 20, "sent"),
    ("e1", "esp_reader", 20, "delivered"),
    ("e1", "esp_reader", 19, "open"),
    ("e2", "esp_reader", 10, "delivered"),
    ("e2", "esp_reader", 9, "open"),
]

NAMES = ["session_start", "view_dashboard", "create_report", "view_help", "export_data", "api_call"]
REASONS = ["complexity", "missing_feature", "price", "competitor", "no_longer_needed", "other"]


def random_product(seed: int = 16, users: int = 32):
    """A few dozen users with varied activity, purchases, messages, surveys and billing."""
    rng = random.Random(seed)
    events, profiles, billing, surveys, messages = [], {}, [], [], []
    for i in range(users):
        user = f"r{i:02d}"
        start = rng.randint(30, FIRST - 1)
        stop = rng.choice([0, 0, rng.randint(0, start)])
        p = rng.choice([0.15, 0.4, 0.8])
        days = [o for o in span(start, stop) if rng.random() < p] or [start]
        for o in days:
            for name in rng.sample(NAMES, rng.randint(1, 3)):
                events.append((user, o, name, None))
            if rng.random() < 0.08:
                events.append((user, o, "purchase", rng.choice([9.99, 29.0, 99.0, 250.0])))
        if i % 5 != 4:  # every fifth user has no profile (known from events only)
            profiles[user] = days[0] + rng.randint(0, 3)
        for j in range(rng.randint(0, 3)):
            sent = rng.randint(0, start)
            messages.append((f"{user}-m{j}", user, sent, "sent"))
            if rng.random() < 0.5 and sent > 0:
                messages.append((f"{user}-m{j}", user, sent - 1, rng.choice(["open", "click"])))
            if rng.random() < 0.1 and sent > 1:
                messages.append((f"{user}-m{j}", user, sent - 2, "unsubscribe"))
        if rng.random() < 0.25:
            failed = rng.randint(0, start)
            billing.append((user, failed, "payment_failed"))
            if rng.random() < 0.5 and failed > 0:
                billing.append((user, rng.randint(0, failed - 1), "payment_succeeded"))
        if rng.random() < 0.2:
            surveys.append((user, rng.randint(0, start), rng.choice(REASONS)))
    return events, profiles, billing, surveys, messages


def late_rows(seed: int = 49):
    """Rows dated after T_k = D-49, up to the as-of date: for existing users (the random ones,
    the lapsed and the profile-only sleeper) and for a brand-new user."""
    rng = random.Random(seed)
    events, billing, surveys, messages = [], [], [], []
    for i in range(0, 32, 2):
        user = f"r{i:02d}"
        for o in rng.sample(range(0, TK), rng.randint(1, 6)):
            events.append((user, o, rng.choice(NAMES), None))
        if i % 4 == 0:
            events.append((user, rng.randint(0, TK - 1), "purchase", 75.0))
            messages.append((f"{user}-late", user, rng.randint(1, TK - 1), "sent"))
            messages.append((f"{user}-late", user, 0, "click"))
        if i % 6 == 0:
            billing.append((user, rng.randint(0, TK - 1), "payment_failed"))
            surveys.append((user, rng.randint(0, TK - 1), rng.choice(REASONS)))
    events += [("lapsed", o, "session_start", None) for o in (40, 30)]
    events += [("sleeper", o, "session_start", None) for o in (45, 44, 10)]
    events += [("newcomer", o, n, None) for o in span(40, 10, 3) for n in NAMES[:2]]
    events += [("newcomer", 12, "purchase", 300.0)]
    billing += [("lapsed", 35, "payment_failed"), ("newcomer", 8, "payment_failed")]
    surveys += [("lapsed", 25, "price"), ("newcomer", 9, "missing_feature")]
    messages += [("lapsed-late", "lapsed", 38, "sent"), ("lapsed-late", "lapsed", 37, "open")]
    # opens and a resend, after T_k, of messages sent before it
    earlier = [m for m in random_product()[4] if m[3] == "sent" and m[2] > TK]
    for m, user, _, _ in earlier[:6]:
        messages.append((m, user, rng.randint(0, TK - 1), rng.choice(["open", "click", "sent"])))
    return events, {"newcomer": 41}, billing, surveys, messages


def landing(events, profiles, billing, surveys, messages, hour: int) -> dict[str, str]:
    """Landing files (CSV) for these rows; `hour` keeps each file's events distinct."""
    lines = ["user_id,event_name,occurred_at,revenue"]
    for n, (user, o, name, revenue) in enumerate(events):
        stamp = f"{d(o)}T{hour:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"
        lines.append(f"{user},{name},{stamp},{'' if revenue is None else revenue}")
    files = {"events/events.csv": lines}
    if profiles:
        files["users/users.csv"] = ["user_id,signup_at,plan"] + [
            f"{u},{d(o)}T08:00:00Z,pro" for u, o in profiles.items()
        ]
    if billing:
        files["billing/billing.csv"] = ["user_id,occurred_at,billing_event,amount"] + [
            f"{u},{d(o)}T{hour:02d}:30:00Z,{e},29.00" for u, o, e in billing
        ]
    if surveys:
        files["survey_responses/survey_responses.csv"] = ["user_id,submitted_at,reason_code"] + [
            f"{u},{d(o)}T{hour:02d}:45:00Z,{r}" for u, o, r in surveys
        ]
    if messages:
        files["messages/messages.csv"] = [
            "message_id,user_id,channel,message_event,occurred_at"
        ] + [f"{m},{u},email,{e},{d(o)}T{hour:02d}:15:00Z" for m, u, o, e in messages]
    return {path: "\n".join(text) + "\n" for path, text in files.items()}


def base_files() -> dict[str, str]:
    events, profiles, billing, surveys, messages = random_product()
    return landing(
        HAND_EVENTS + events,
        {**HAND_PROFILES, **profiles},
        HAND_BILLING + billing,
        HAND_SURVEYS + surveys,
        HAND_MESSAGES + messages,
        hour=10,
    )


def late_files() -> dict[str, str]:
    """The late rows as new files landing next to the base ones."""
    files = landing(*late_rows(), hour=15)
    return {path.replace(".csv", "_late.csv"): text for path, text in files.items()}


# --- the builds ------------------------------------------------------------------------------

GAPS = {"usual_gap_basis": "gaps"}
HELP_EXCLUDED = {"churn_activity_events": ["session_start", "view_dashboard", "purchase"]}


LEAKAGE_TEST = "test_rows_dated_after_a_snapshot_leave_its_features_unchanged"


@pytest.fixture(scope="module")
def builds(request, tmp_path_factory):
    """The warehouses, built two at a time: base (defaults), narrow (churn_activity_events set,
    three training snapshots), fortnightly (churn_snapshots alone, horizon 28 every 14 days)
    and, only when the (slow) leakage test runs, late: the base files plus the late ones,
    ingested into a new warehouse and built in full."""
    base = ingest_fixture(tmp_path_factory.mktemp("churn_base"), base_files(), NOW)
    jobs = {
        "base": (base, SELECT, {}),
        "narrow": (base, SELECT, {**HELP_EXCLUDED, "churn_training_snapshots": 3}),
        # also usual_gap_basis: gaps, for the as-of date's features against the patterns mart
        "fortnightly": (
            base,
            SELECT,
            {"churn_horizon_days": 28, "churn_snapshot_every_days": 14, **GAPS},
        ),
    }
    if any(item.name == LEAKAGE_TEST for item in request.session.items):
        jobs = {"late": (None, SELECT, {}), **jobs}  # the longest first

    def run(name):
        warehouse, select, settings = jobs[name]
        tmp = tmp_path_factory.mktemp(f"churn_{name}")
        if warehouse is None:
            files = {**base_files(), **late_files()}
            warehouse = ingest_fixture(tmp_path_factory.mktemp("churn_late_files"), files, NOW)
        return build(warehouse, tmp, select, as_of_date=d(0), **settings)

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(run, name) for name in jobs}
        return {name: f.result() for name, f in futures.items()}


@pytest.fixture(scope="module")
def base(builds):
    return builds["base"]


def features(con, user: str, offset: int, columns: list[str]) -> dict:
    found = con.execute(
        f"select {', '.join(columns)} from features.churn_features "
        "where user_id = ? and snapshot_date = ?",
        [user, day(offset)],
    ).fetchall()
    assert len(found) == 1, (user, offset, found)
    return dict(zip(columns, found[0], strict=True))


def labels(con, users) -> dict:
    """user -> (snapshot offset, window end offset, next active offset or None, label) at T0."""
    found = rows(
        con,
        "select user_id, snapshot_date, label_window_end, next_active_date, label "
        "from features.churn_labels where user_id in (select unnest(?)) and snapshot_date = ?",
        list(users),
        day(T0),
    )

    def off(v):
        return None if v is None else (D - dt.date.fromisoformat(v)).days

    return {u: (off(t), off(end), off(nxt), label) for u, t, end, nxt, label in found}


def snapshots(con) -> list[tuple]:
    """(offset, snapshot_number, is_scoring, is_training, window end offset), latest first."""
    return [
        (
            (D - dt.date.fromisoformat(t)).days,
            n,
            scoring,
            training,
            (D - dt.date.fromisoformat(end)).days,
        )
        for t, n, scoring, end, training in rows(
            con,
            "select snapshot_date, snapshot_number, is_scoring, label_window_end, is_training "
            "from features.churn_snapshots order by snapshot_date desc",
        )
    ]


# --- 1. leakage ------------------------------------------------------------------------------


@pytest.mark.slow
def test_rows_dated_after_a_snapshot_leave_its_features_unchanged(builds):
    """The issue's acceptance: adding events after T_k leaves snapshot T_k's features unchanged
    (a real dbt build on the base files and on the base files plus late ones)."""
    base, late = builds["base"], builds["late"]
    sql = (
        "select * from features.churn_features where snapshot_date <= ? "
        "order by user_id, snapshot_date"
    )
    before = base.execute(sql, [day(TK)]).df()
    after = late.execute(sql, [day(TK)]).df()
    # every training snapshot up to T_k, with dozens of users each
    assert sorted(before.snapshot_date.dt.date.unique()) == [day(o) for o in span(119, TK, 7)]
    assert len(before) > 150 and (before.snapshot_date.dt.date == day(TK)).sum() >= 30
    assert len(before.columns) > 60
    pd.testing.assert_frame_equal(before, after, check_exact=True)
    # the same comparison one snapshot later (T_k + 7 days) sees the late rows: users first
    # seen in between, and changed features of users known before
    next_sql = sql.replace("<=", "=")
    nxt_before = base.execute(next_sql, [day(TK - 7)]).df().set_index("user_id")
    nxt_after = late.execute(next_sql, [day(TK - 7)]).df().set_index("user_id")
    assert set(nxt_before.index) < set(nxt_after.index)
    nxt_after = nxt_after.loc[nxt_before.index]
    differs = (nxt_before != nxt_after) & ~(nxt_before.isna() & nxt_after.isna())
    assert differs.any(axis=1).sum() >= 5
    # ... while the late rows were seen: new rows after T_k, changed features and labels
    assert rows(
        late,
        "select snapshot_date from features.churn_features where user_id = 'newcomer' order by 1",
    ) == [(d(T0),), (d(0),)]  # signed up D-41
    label_sql = (
        "select user_id, label, next_active_date from features.churn_labels "
        "where snapshot_date = ? order by user_id"
    )
    at_k_before = base.execute(label_sql, [day(TK)]).df()
    at_k_after = late.execute(label_sql, [day(TK)]).df()
    assert list(at_k_before.user_id) == list(at_k_after.user_id)
    changed = at_k_before.merge(at_k_after, on="user_id", suffixes=("_base", "_late"))
    changed = changed[changed.label_base != changed.label_late]
    assert "lapsed" in set(changed.user_id)
    assert set(changed.label_base) == {1} and set(changed.label_late) == {0}
    latest = (
        "select * exclude (user_id, snapshot_date) from features.churn_features "
        "where snapshot_date = ? and user_id = 'sleeper'"
    )
    assert base.execute(latest, [D]).fetchall() != late.execute(latest, [D]).fetchall()


# --- 2. labels and snapshots -----------------------------------------------------------------


def test_label_window_ends_inclusive_at_t_plus_horizon(base):
    assert labels(base, ["back_on_end", "back_after_end", "never_back", "help_after"]) == {
        # T, window end, first qualifying day after T, label
        "back_on_end": (35, 5, 5, 0),  # back on T + 30: inside the window
        "back_after_end": (35, 5, 4, 1),  # back on T + 31 only
        "never_back": (35, 5, None, 1),
        "help_after": (35, 5, 20, 0),  # every event counts by default
    }


def test_events_outside_churn_activity_events_do_not_count_as_activity(builds):
    narrow = builds["narrow"]
    assert labels(narrow, ["back_on_end", "help_after"]) == {
        "back_on_end": (35, 5, 5, 0),
        "help_after": (35, 5, None, 1),  # only a help visit after T: churned
    }
    assert rows(narrow, "select activity_events from features.churn_settings") == [
        (HELP_EXCLUDED["churn_activity_events"],)
    ]
    # the features count the same qualifying days: the help visit on D-20 is not activity
    cols = ["days_since_last_activity", "active_days_28", "events_28"]
    assert features(narrow, "help_after", 0, cols) == {
        "days_since_last_activity": 36,
        "active_days_28": 0,
        "events_28": 1,
    }
    assert features(builds["base"], "help_after", 0, cols) == {
        "days_since_last_activity": 20,
        "active_days_28": 1,
        "events_28": 1,
    }


def test_snapshots_every_week_back_from_the_as_of_date_with_closed_windows(base):
    # horizon 30, every 7: D-28 (window to D+2) is not closed yet, D-35 is the latest training
    # snapshot; none before the first event (D-120), so D-119 is the earliest
    expected = [(0, 0, True, False, -30)]
    expected += [(o, o // 7, False, True, o - 30) for o in range(T0, FIRST, 7)]
    assert snapshots(base) == expected
    assert all(end >= 0 for _, _, _, training, end in expected if training)
    assert rows(
        base, "select distinct snapshot_date from features.churn_labels order by 1 desc"
    ) == [(d(o),) for o in range(T0, FIRST, 7)]
    assert rows(base, "select distinct snapshot_date from features.churn_features order by 1") == [
        (d(o),) for o in [*span(119, T0, 7), 0]
    ]


def test_churn_training_snapshots_caps_the_training_snapshots(builds):
    assert snapshots(builds["narrow"]) == [
        (0, 0, True, False, -30),
        (35, 5, False, True, 5),
        (42, 6, False, True, 12),
        (49, 7, False, True, 19),
    ]


def test_a_window_ending_on_the_as_of_date_is_closed(builds):
    # horizon 28, every 14: D-28's window (D-28, D] has closed on D itself
    assert snapshots(builds["fortnightly"]) == [(0, 0, True, False, -28)] + [
        (o, o // 14, False, True, o - 28) for o in range(28, FIRST, 14)
    ]


# --- 3. feature values -----------------------------------------------------------------------

COLUMNS = [
    "days_since_last_activity",
    "days_since_first_activity",
    "tenure_days",
    "active_days_7",
    "active_days_28",
    "active_days_90",
    "active_days_total",
    "revenue_90",
    "revenue_total",
    "purchases_total",
    "frequency",
    "recency",
    '"T"',
    "days_since_last_purchase",
    "has_unresolved_payment_failure",
    "payment_failures_total",
    "has_survey_response",
    "survey_reason_price",
    "survey_reason_competitor",
    "survey_reason_complexity",
    "messages_received_90",
    "messages_opened_90",
]


def test_features_of_a_hand_made_user_at_a_training_snapshot(base):
    # active D-90, -70, -50, -40, -38, -36 by T = D-35; purchases of 50 (D-70) and 20 (D-40);
    # a payment failed on D-45 (succeeded only on D-30); answered "price" on D-60
    assert features(base, "hand", T0, COLUMNS) == {
        "days_since_last_activity": 1,
        "days_since_first_activity": 55,
        "tenure_days": 66,  # signed up D-100, T included
        "active_days_7": 3,
        "active_days_28": 4,
        "active_days_90": 6,
        "active_days_total": 6,
        "revenue_90": 70,
        "revenue_total": 70,
        "purchases_total": 2,
        "frequency": 5,
        "recency": 54,
        '"T"': 55,
        "days_since_last_purchase": 5,
        "has_unresolved_payment_failure": 1,
        "payment_failures_total": 1,
        "has_survey_response": 1,
        "survey_reason_price": 1,
        "survey_reason_competitor": 0,
        "survey_reason_complexity": 0,
        "messages_received_90": 1,  # sent D-80 (and opened D-79); D-30's is later
        "messages_opened_90": 1,
    }


def test_features_of_the_same_user_on_the_as_of_date(base):
    # since T0: active and a purchase of 500 on D-20, the payment went through on D-30, a new
    # survey answer ("competitor") on D-20
    assert features(base, "hand", 0, COLUMNS) == {
        "days_since_last_activity": 20,
        "days_since_first_activity": 90,
        "tenure_days": 101,
        "active_days_7": 0,
        "active_days_28": 1,
        "active_days_90": 6,  # D-90 is outside (D-90, D]
        "active_days_total": 7,
        "revenue_90": 570,
        "revenue_total": 570,
        "purchases_total": 3,
        "frequency": 6,
        "recency": 70,
        '"T"': 90,
        "days_since_last_purchase": 20,
        "has_unresolved_payment_failure": 0,
        "payment_failures_total": 1,
        "has_survey_response": 1,
        "survey_reason_price": 0,
        "survey_reason_competitor": 1,
        "survey_reason_complexity": 0,
        "messages_received_90": 2,
        "messages_opened_90": 1,
    }


def test_a_profile_only_user_has_tenure_and_zero_counts(base):
    counts = [
        "active_days_7",
        "active_days_28",
        "active_days_90",
        "active_days_total",
        "events_28",
        "events_90",
        "revenue_90",
        "revenue_total",
        "purchases_total",
        "messages_received_90",
        "payment_failures_total",
        "has_survey_response",
    ]
    found = features(base, "profile_only", T0, ["tenure_days", "days_since_last_activity", *counts])
    assert found == {
        "tenure_days": 16,  # signed up D-50
        "days_since_last_activity": None,
        **dict.fromkeys(counts, 0),
    }


def test_a_user_who_signs_up_after_the_snapshot_has_no_row_for_it(base):
    assert rows(
        base,
        "select snapshot_date, tenure_days from features.churn_features "
        "where user_id = 'late_signup' order by snapshot_date",
    ) == [(d(0), 21)]


# --- the pattern evidence at the as-of date, against the patterns mart --------------------------

EVIDENCE = """
    select
        f.user_id,
        f.days_since_last_activity = p.days_since_last_active as last_active,
        f.active_days_total = p.active_days_total as total,
        f.peak_active_days_28 = p.peak_active_days_28 as peak,
        f.drop_ratio is not distinct from p.drop_ratio
            or round(f.drop_ratio, 3) = p.drop_ratio as drop_ratio,
        round(f.usual_gap_days, 1) is not distinct from p.usual_gap_days as usual_gap,
        (f.has_stopped = 1) = p.has_stopped as stopped,
        (f.pattern_involuntary = 1) = (p.pattern = 'involuntary') as involuntary,
        f.pattern_involuntary = 1
            or (f.pattern_never_activated = 1) = (p.pattern = 'never_activated') as never_activated
    from features.churn_features as f
    inner join marts.user_disengagement_patterns as p on f.user_id = p.user_id
    where f.snapshot_date = p.as_of_date and p.first_active_date is not null
    order by f.user_id
"""


def evidence_mismatches(con, columns) -> dict[str, list[str]]:
    found = con.execute(EVIDENCE).df().set_index("user_id")
    assert len(found) >= 40
    return {c: sorted(found.index[~found[c]]) for c in columns if not found[c].all()}


def test_the_pattern_evidence_on_the_as_of_date_is_the_patterns_marts(base):
    """On the as-of date, with every event qualifying (as in the marts), the features'
    evidence of the disengagement patterns is that of user_disengagement_patterns."""
    columns = ["last_active", "total", "peak", "drop_ratio", "usual_gap", "stopped", "involuntary"]
    assert evidence_mismatches(base, columns) == {}


def test_never_activated_waits_for_the_activation_window_after_the_first_active_day(base):
    assert rows(
        base,
        "select pattern, is_provisional from marts.user_disengagement_patterns "
        "where user_id = 'slow_starter'",
    ) == [("steady", True)]
    assert features(base, "slow_starter", 0, ["pattern_never_activated"]) == {
        "pattern_never_activated": 0
    }
    assert evidence_mismatches(base, ["never_activated"]) == {}


def test_usual_gap_follows_usual_gap_basis(builds):
    assert evidence_mismatches(builds["fortnightly"], ["usual_gap", "stopped"]) == {}


def test_a_delivered_message_counts_as_received(base):
    assert features(base, "esp_reader", 0, ["messages_received_90"]) == {"messages_received_90": 2}


# --- 4. lineage ------------------------------------------------------------------------------


def test_no_mart_reads_the_labels():
    manifest = json.loads(ensure_manifest().read_text())  # parsed again when stale
    nodes = {**manifest["nodes"], **manifest["sources"]}
    labels_id = "model.winback.churn_labels"
    assert labels_id in nodes

    def ancestors(node_id, seen):
        for parent in nodes.get(node_id, {}).get("depends_on", {}).get("nodes", []):
            if parent not in seen:
                seen.add(parent)
                ancestors(parent, seen)
        return seen

    marts = {
        node_id: ancestors(node_id, set())
        for node_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model"
        and Path(node["original_file_path"]).parts[:2] == ("models", "marts")
    }
    assert "model.winback.users" in marts
    assert "model.winback.stg_landing__events" in marts["model.winback.users"]  # transitive
    assert "model.winback.churn_features" in ancestors(labels_id, set())
    assert {m for m, up in marts.items() if labels_id in up} == set()
