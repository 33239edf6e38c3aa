"""winback.cadence (`cadence: auto`, docs/cadence.md): the gap distribution measured on a tiny
hand-made relation (exact quantiles and thresholds), daily-like against monthly-like data,
explicit settings over auto ones, the measurement kept between incremental builds, the warning
for settings naming events that never occur, and a CDNOW-like store (`winback generate
--scenario purchases`) built for real under `cadence: auto` through the Dagster asset, beside
the same data under the fixed defaults."""

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest

from orchestration.dbt import winback_dbt_models, with_auto_values
from orchestration.runner import build_marts
from tests.dbt_fixtures import build, ingest_fixture, rows
from tests.instances import pooled_instance
from tests.test_drift import macro_value
from winback import cadence
from winback.cadence import (
    DEFAULTS,
    EVENT_SETTINGS,
    measure_cadence,
    record_build,
    resolve_build,
    resolve_settings,
    suggest_settings,
)
from winback.generate.purchases import ORDERS_FILE, generate_purchases
from winback.settings import load_config

D0 = dt.date(2025, 1, 1)


def day(offset: int) -> dt.date:
    return D0 + dt.timedelta(days=offset)


def days_table(con: duckdb.DuckDBPyConnection, activity: dict[str, list[int]]) -> str:
    con.execute("create or replace table active_days (user_id varchar, activity_date date)")
    con.executemany(
        "insert into active_days values (?, ?)",
        [(user, day(o)) for user, offsets in activity.items() for o in offsets],
    )
    return "active_days"


# gaps: a 1, 2, 4; b 10; c 30, 30; d none (one active day)
TINY = {"a": [1, 2, 4, 8], "b": [1, 11], "c": [1, 31, 61], "d": [5]}


def test_the_gap_distribution_of_a_tiny_relation():
    """Six gaps 1, 2, 4, 10, 30, 30: the q-th quantile is the smallest gap with at least q % of
    them at or below it. The short window is the 75th percentile in whole weeks (35), the long
    one four of those (140)."""
    con = duckdb.connect()
    profile = measure_cadence(con, day(61), days=days_table(con, TINY))
    assert (profile.users, profile.repeat_users, profile.active_days, profile.gaps) == (4, 3, 10, 6)
    assert profile.gap_days == {50: 4, 75: 30, 90: 30, 95: 30, 99: 30}
    assert profile.first_gap_days == {50: 10, 75: 30, 90: 30}  # a 1, b 10, c 30
    assert profile.usual_gap_days == 10.0  # a 7/3, b 10, c 30
    assert profile.active_days_per_28 == 2.8
    assert (profile.short_window_days, profile.long_window_days) == (35, 140)
    # active days in the window ending on the last one: short a 4, b 2, c 2; long a 4, b 2, c 3
    assert profile.active_days_short_window == {25: 2, 50: 2, 75: 4}
    assert profile.active_days_long_window == {25: 2, 50: 3, 75: 4}
    assert profile.one_time_share == 0.25
    assert profile.event_names is None
    # an earlier as-of date sees fewer days: c's third day (D0+61) is gone
    earlier = measure_cadence(con, day(60), days="active_days")
    assert earlier.gaps == 5 and earlier.gap_days[50] == 4


def test_the_thresholds_of_a_tiny_relation():
    con = duckdb.connect()
    profile = measure_cadence(con, day(61), days=days_table(con, TINY))
    got = {name: s.value for name, s in suggest_settings(profile, min_repeat_users=1).items()}
    assert got == {
        "at_risk_after_days": 30,  # p75
        "dormant_after_days": 60,  # twice at risk (p95 is 30)
        "churned_after_days": 90,  # dormant + at risk (p99 is 30)
        "short_window_days": 35,
        "long_window_days": 140,
        "usual_gap_basis": "gaps",
        "activation_window_days": 30,  # p90 of the first return
        "never_activated_max_active_days": 1,  # 3 x 4/12
        "stopped_after_days": 30,
        "substantial_use_min_active_days": 2,  # 8 x 4/12 = 2.67, rounded down
        "abrupt_min_active_days_last_7": 1,
        "decline_min_peak_active_days": 3,  # 10 x 4/12 = 3.33
        "involuntary_active_within_days": 30,
        "usage_drop_window_days": 70,  # half the long window
        "usage_drop_min_prior_active_days": 2,  # 4 x 4/12 = 1.33, at least 2
        "no_core_action_days": 30,
        "help_window_days": 35,
        "health_frequency_target_days": 4,  # p75 of the long window's active days
        "health_breadth_target_features": 5,  # no event names: the default
        "health_recency_horizon_days": 60,
        "health_weights": DEFAULTS["health_weights"],
        "engaged_within_days": 30,
        "disengaged_after_days": 60,
        "inactive_after_days": 90,
    }
    reasons = suggest_settings(profile, min_repeat_users=1)
    assert reasons["at_risk_after_days"].reason.startswith("75 % of")
    assert "30 days or shorter" in reasons["at_risk_after_days"].reason
    # too few repeat users: the defaults, saying why
    few = suggest_settings(profile)
    assert {n: s.value for n, s in few.items()} == DEFAULTS
    assert "only 3 users with two active days or more" in few["at_risk_after_days"].reason


def rhythm(users: int, days: int, gap, seed: int) -> dict[str, list[int]]:
    """Each user starts on a random day of the first month and comes back after `gap(rng)` days."""
    rng = np.random.default_rng(seed)
    activity = {}
    for u in range(users):
        d, offsets = int(rng.integers(0, 30)), []
        while d < days:
            offsets.append(d)
            d += gap(rng)
        activity[f"u{u}"] = offsets
    return activity


def test_a_daily_product_keeps_the_defaults_and_a_monthly_one_does_not():
    con = duckdb.connect()
    daily = rhythm(300, 120, lambda rng: int(rng.geometric(0.5)), seed=1)
    monthly = rhythm(300, 540, lambda rng: int(rng.integers(20, 45)), seed=2)
    d = measure_cadence(con, day(119), days=days_table(con, daily))
    d_values = {n: s.value for n, s in suggest_settings(d).items()}
    assert d_values == DEFAULTS
    m = measure_cadence(con, day(539), days=days_table(con, monthly))
    m_values = {n: s.value for n, s in suggest_settings(m).items()}
    assert m.gap_days[75] >= 35 and d.gap_days[75] <= 3
    assert m_values["at_risk_after_days"] == m.gap_days[75] > 30
    assert m_values["dormant_after_days"] > m_values["at_risk_after_days"] > 7
    assert m_values["churned_after_days"] > m_values["dormant_after_days"]
    assert m_values["long_window_days"] == 4 * m_values["short_window_days"] >= 140
    assert m_values["activation_window_days"] > 14
    # a monthly user has about as many active days in 140+ days as a daily one in 28: the counts
    # keep about their defaults, never above them
    assert 2 <= m_values["substantial_use_min_active_days"] <= 8
    assert m_values["health_frequency_target_days"] <= 12


def test_explicit_settings_win_over_auto_values():
    con = duckdb.connect()
    profile = measure_cadence(con, day(61), days=days_table(con, TINY))
    suggestions = suggest_settings(profile, min_repeat_users=1)
    explicit = {"cadence": "auto", "at_risk_after_days": 10, "week_start": "sunday"}
    resolved = {r.name: r for r in resolve_settings(explicit, suggestions)}
    assert (resolved["at_risk_after_days"].value, resolved["at_risk_after_days"].source) == (
        10,
        "explicit",
    )
    assert (resolved["dormant_after_days"].value, resolved["dormant_after_days"].source) == (
        60,
        "auto",
    )
    assert resolved["week_start"].source == "explicit"  # explicit settings are all listed
    # under fixed, the defaults
    fixed = {r.name: r for r in resolve_settings({"at_risk_after_days": 10})}
    assert fixed["dormant_after_days"].source == "default"
    assert fixed["dormant_after_days"].value == 28
    # the dbt vars: auto values only where nothing was given
    build_ = cadence.Build("2025-03-03", "auto", False, list(resolved.values()), [])
    variables = with_auto_values({"at_risk_after_days": 10, "as_of_date": "2025-03-03"}, build_)
    assert variables["at_risk_after_days"] == 10 and variables["dormant_after_days"] == 60
    assert variables["as_of_date"] == "2025-03-03"


def test_the_python_defaults_are_the_dbt_defaults():
    defaults = macro_value("winback_setting_defaults")
    assert {name: defaults[name] for name in DEFAULTS} == DEFAULTS
    assert {name: defaults[name] for name in EVENT_SETTINGS} == EVENT_SETTINGS
    assert defaults["cadence"] == "fixed"


def events_db(path: Path, rows_: list[tuple[str, str, str]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema raw")
    con.execute(
        "create table raw.events (user_id varchar, event_name varchar, occurred_at timestamp)"
    )
    con.executemany("insert into raw.events values (?, ?, ?)", rows_)
    return con


def monthly_events(users: int, first: int, last: int, seed: int) -> list[tuple[str, str, str]]:
    activity = rhythm(users, last, lambda rng: int(rng.integers(25, 40)), seed)
    return [
        (u, "purchase", f"{day(o)}T12:00:00")
        for u, offsets in activity.items()
        for o in offsets
        if o >= first
    ]


def test_events_that_never_occur_are_named(tmp_path):
    con = events_db(
        tmp_path / "w.duckdb",
        [
            ("a", "purchase", "2025-01-01T12:00:00"),
            ("a", "view_help", "2025-01-02T23:30:00"),  # 2025-01-03 in Paris
            ("b", "view_dashboard", "2025-02-01T12:00:00"),  # after the as-of date
        ],
    )
    missing = cadence.missing_events(
        con, {"depth_events": ["purchase", "api_call"]}, "2025-01-31", timezone="Europe/Paris"
    )
    assert missing == {
        "core_events": ["view_dashboard", "create_report", "share_report"],
        "depth_events": ["api_call"],
    }
    build_ = resolve_build(con, {"core_events": ["purchase"]}, as_of_date=None)
    assert build_.as_of_date == "2025-02-01"
    assert build_.missing == {
        "depth_events": ["export_data", "configure_integration", "invite_teammate", "api_call"]
    }
    assert build_.warnings[0].startswith("depth_events: export_data, ")
    record_build(con, build_, "run-1")
    # while a run holds the warehouse, the readers answer "nothing recorded" instead of failing
    assert cadence.build_warnings(tmp_path / "w.duckdb") == []
    assert cadence.resolved_thresholds(tmp_path / "w.duckdb") == []
    con.close()
    assert cadence.build_warnings(tmp_path / "w.duckdb") == build_.warnings
    assert cadence.build_warnings(tmp_path / "w.duckdb", run_id="run-1") == build_.warnings
    assert cadence.build_warnings(tmp_path / "w.duckdb", run_id="other") == []
    assert cadence.build_warnings(tmp_path / "missing.duckdb") == []
    by_name = {r["setting"]: r for r in cadence.resolved_thresholds(tmp_path / "w.duckdb")}
    assert by_name["at_risk_after_days"] == {
        "setting": "at_risk_after_days",
        "value": 7,
        "source": "default",
        "reason": "cadence: fixed",
    }
    assert by_name["core_events"]["source"] == "explicit"


def test_an_incremental_build_keeps_the_last_auto_measurement(tmp_path):
    """Same data, same numbers; new data changes nothing until a full refresh (or an earlier
    as-of date) measures again, and a change of thresholds says the incremental marts need a
    full refresh."""
    con = events_db(tmp_path / "w.duckdb", monthly_events(60, 0, 300, seed=3))
    fixed = resolve_build(con, {}, as_of_date="2025-10-27")
    record_build(con, fixed, "run-0")
    first = resolve_build(con, {"cadence": "auto"}, as_of_date="2025-10-27")
    assert first.kept_from is None and first.measured_as_of == "2025-10-27"
    assert first.auto_values()["at_risk_after_days"] > 7
    assert any(w.startswith("thresholds changed since the last build") for w in first.warnings)
    record_build(con, first, "run-1")
    # a faster product from now on
    con.executemany(
        "insert into raw.events values (?, 'purchase', ?)",
        [(f"n{u}", f"{day(300 + d)}T12:00:00") for u in range(200) for d in range(0, 60, 2)],
    )
    kept = resolve_build(con, {"cadence": "auto"}, as_of_date="2026-02-28")
    assert kept.kept_from == "run-1" and kept.measured_as_of == "2025-10-27"
    assert kept.auto_values() == first.auto_values()
    assert kept.settings[1].reason.startswith("kept from the build as of 2025-10-27: ")
    assert not any(w.startswith("thresholds changed") for w in kept.warnings)
    record_build(con, kept, "run-2")
    again = resolve_build(con, {"cadence": "auto"}, as_of_date="2026-02-28", full_refresh=True)
    assert again.kept_from is None
    assert again.auto_values()["at_risk_after_days"] < first.auto_values()["at_risk_after_days"]
    earlier = resolve_build(con, {"cadence": "auto"}, as_of_date="2025-09-01")
    assert earlier.kept_from is None and earlier.measured_as_of == "2025-09-01"
    other_events = resolve_build(
        con, {"cadence": "auto", "activity_events": ["purchase"]}, as_of_date="2026-02-28"
    )
    assert other_events.kept_from is None


# ---------------------------------------------------------------------------------------------
# A CDNOW-like store, built for real


CUSTOMERS = 1200


def orders_to_events(orders: Path) -> str:
    """orders.txt (`customer_id YYYYMMDD units amount`) as an events CSV, one purchase event
    per line at noon UTC (a second apart, so no two lines are the same row)."""
    lines = ["user_id,event_name,occurred_at,revenue"]
    for i, line in enumerate(orders.read_text().splitlines()):
        customer, date, _units, amount = line.split()
        at = dt.datetime.strptime(date, "%Y%m%d") + dt.timedelta(hours=12, seconds=i % 3600)
        lines.append(f"c{customer},purchase,{at:%Y-%m-%dT%H:%M:%SZ},{amount}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The same store built under fixed (plain dbt) and under auto (the Dagster asset, as
    `winback run --set cadence=auto` does)."""
    root = tmp_path_factory.mktemp("store")
    summary = generate_purchases(root / "orders", root / "truth", customers=CUSTOMERS, seed=11)
    as_of = summary.end.isoformat()
    events = orders_to_events(root / "orders" / ORDERS_FILE)
    base = ingest_fixture(root, {"events/events.csv": events}, dt.datetime(1998, 7, 1))
    fixed_dir = root / "fixed"
    fixed_dir.mkdir()
    build(base, fixed_dir, as_of_date=as_of).close()
    auto_path = root / "auto.duckdb"
    auto_path.write_bytes(base.read_bytes())
    config = load_config(
        {
            "landing_dir": str(root / "landing"),
            "warehouse": str(auto_path),
            "publish_dir": str(root / "published"),
            "as_of_date": as_of,
        }
    )
    instance = pooled_instance(root / "dagster_home")
    result = build_marts(config, instance, settings={"cadence": "auto"})
    assert result.success
    return {
        "fixed": fixed_dir / "warehouse.duckdb",
        "auto": auto_path,
        "result": result,
        "instance": instance,
        "as_of": as_of,
    }


REPEAT_BUYERS = """
    with buyers as (
        select user_id, count(*) as days, min(activity_date) as first_date,
            max(activity_date) as last_date
        from marts.user_activity_daily group by user_id having count(*) > 1
    )
    select p.pattern, p.days_since_last_active,
        (buyers.last_date - buyers.first_date) / (buyers.days - 1) as own_gap_days
    from buyers inner join marts.user_disengagement_patterns as p using (user_id)
"""


def share(path: Path, where: str, of: str) -> tuple[int, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        return rows(
            con,
            f"select count(*) filter (where {where}), count(*) from ({REPEAT_BUYERS}) where {of}",
        )[0]


def auto_threshold(store, name: str):
    return {r["setting"]: r["value"] for r in cadence.resolved_thresholds(store["auto"])}[name]


def test_store_repeat_buyers_are_rarely_never_activated(store):
    never, repeat = share(store["auto"], "pattern = 'never_activated'", "true")
    assert repeat > 300
    assert never / repeat <= 0.05, (never, repeat)


def test_store_buyers_gone_for_several_usual_gaps_are_not_steady(store):
    """Quiet for at least three of their own mean gaps, and past the store's at-risk threshold
    (the same buyers under both)."""
    at_risk = auto_threshold(store, "at_risk_after_days")
    gone = f"days_since_last_active >= 3 * own_gap_days and days_since_last_active >= {at_risk}"
    for name, limit in (("auto", 0.10), ("fixed", None)):
        path = store[name]
        steady, stopped = share(path, "pattern = 'steady'", gone)
        assert stopped > 100
        if limit is None:  # the daily defaults call most of them steady: the issue
            assert steady / stopped > 0.5, (steady, stopped)
        else:
            assert steady / stopped <= limit, (steady, stopped)


def labels(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        return dict(
            rows(
                con,
                "select engagement_label, count(*) from marts.user_daily_health "
                "where activity_date = (select max(activity_date) from marts.user_daily_health) "
                "group by 1",
            )
        )


def test_store_engagement_labels_spread_across_their_values(store):
    auto, fixed = labels(store["auto"]), labels(store["fixed"])
    assert set(auto) == {"engaged", "recently_active", "disengaged", "inactive"}, auto
    assert max(auto.values()) / sum(auto.values()) <= 0.7, auto
    assert min(auto.values()) / sum(auto.values()) >= 0.05, auto
    assert fixed.get("engaged", 0) == 0 and fixed["inactive"] / sum(fixed.values()) > 0.8


def test_store_thresholds_are_recorded_shown_and_warned(store):
    by_name = {r["setting"]: r for r in cadence.resolved_thresholds(store["auto"])}
    assert by_name["cadence"]["source"] == "explicit"
    assert by_name["at_risk_after_days"]["source"] == "auto"
    assert by_name["at_risk_after_days"]["value"] > 30
    assert by_name["long_window_days"]["value"] > 28
    assert cadence.latest_profile(store["auto"])["as_of_date"] == store["as_of"]
    # settings naming events the store never has: in the warehouse, the log and a WARN check
    warnings = cadence.build_warnings(store["auto"])
    assert [w.split(":")[0] for w in warnings] == ["core_events", "help_events", "depth_events"]
    result, instance = store["result"], store["instance"]
    logged = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.level == 30 and e.user_message.startswith("core_events:")
    ]
    assert logged == [warnings[0]]
    [check] = [
        c
        for c in result.get_asset_check_evaluations()
        if c.check_name == "event_settings_name_events_that_occur"
    ]
    assert check.asset_key == dg.AssetKey(["marts", "user_activity_daily"])
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    # the settings table in the marts' metadata
    materializations = {
        m.asset_key.path[-1]: m.metadata
        for m in result.asset_materializations_for_node(winback_dbt_models.op.name)
    }
    table = materializations["user_daily_engagement"]["winback/settings"].value
    assert "| at_risk_after_days | " in table and "| auto |" in table
    assert materializations["user_activity_daily"]["winback/setting_warning_count"].value == 3
    profile = materializations["user_daily_engagement"]["winback/gap_distribution"].value
    assert profile["repeat_users"] > 300
    assert json.dumps(profile)  # plain JSON
