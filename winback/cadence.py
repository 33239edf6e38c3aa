"""A product's natural usage rhythm, measured from its own data, and the inactivity thresholds
that follow from it (the `cadence: auto` setting; docs/cadence.md).

The fixed defaults of the engagement and disengagement marts assume a product used every day or
so ("at risk" after 7 quiet days, "substantial use" is 8 active days in 28). A store whose
customers buy every few weeks to months needs the same rules on its own time scale. Plain
Python and DuckDB (no Dagster): the dbt build (`orchestration/dbt.py`) and `winback profile`
call the same functions, and the same data and as-of date always give the same numbers.

    measure_cadence(con, as_of_date=None, *, activity_events=None, timezone="UTC",
                    events="raw.events", days=None) -> CadenceProfile
        The gap distribution: users, repeat users (2+ active days), the quantiles of the gaps
        between a user's consecutive active days (every gap counts once), of the first return, the product's short and long windows and the active days repeat users
        have in them, and the event names seen. Active days are the local dates
        (`timezone`) of the `activity_events` (None: every event) of `events` (a table with
        user_id, event_name, occurred_at in UTC) up to `as_of_date` (None: the latest event
        date); or, with `days`, any table, view or `(select ...)` with user_id and
        activity_date.

    suggest_settings(profile, settings=None, *, min_repeat_users=20) -> dict[str, Suggestion]
        Every setting auto manages (AUTO_SETTINGS), with its value and a one-line reason
        (Suggestion.name, .value, .reason); docs/cadence.md has the formulas.
        `settings` are the explicit ones (depth_events, activity_events... decide the health
        weights). Below `min_repeat_users` the defaults are kept, and say why.

    resolve_settings(explicit, suggestions=None) -> list[ResolvedSetting]
        Explicit values win over auto values, auto values over the defaults: a row for cadence,
        one per auto setting and one per other explicit setting, each with its value, source
        (explicit, auto, default) and reason. auto_values(rows) are the dbt vars auto adds.

    missing_events(con, settings, as_of_date=None, *, timezone="UTC", events="raw.events")
        -> dict[str, list[str]]
        For the settings that name events (EVENT_SETTINGS), the names that never occur;
        missing_event_warnings(missing, as_of) turns them into one line per setting.

    resolve_build(con, explicit, *, as_of_date, full_refresh, min_repeat_users=20) -> Build
        What the dbt build runs with: measured, or kept from the last auto build (see below),
        with the warnings. record_build(con, build, run_id) writes it to the warehouse
        (raw.builds, raw.build_settings, raw.build_warnings).

    resolved_thresholds(warehouse, run_id=None) -> list[dict]   the latest build's settings
    build_warnings(warehouse, run_id=None) -> list[str]         the latest build's warnings
    latest_profile(warehouse, run_id=None) -> dict | None       the gap distribution it used
        Read-only; `run_id` picks that run's build. Empty (None) before the first build and
        while another run holds the warehouse (one writer), rather than failing.

Incremental marts keep the days they built, so an incremental build under `cadence: auto`
keeps the auto values of the last auto build (same activity events and timezone, an as-of date
not before it): rebuilding gives the same numbers. A full refresh, or a build for an earlier
as-of date, measures again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import duckdb

from winback.sql import sql_literal

RAW_SCHEMA = "raw"
QUANTILES = (50, 75, 90, 95, 99)
FIRST_GAP_QUANTILES = (50, 75, 90)
WINDOW_QUANTILES = (25, 50, 75)
MIN_REPEAT_USERS = 20

# The fixed defaults of the settings auto manages (dbt_project/macros/settings/
# winback_setting_defaults.sql holds the same values; tests/test_cadence.py keeps them equal).
DEFAULTS: dict[str, Any] = {
    "at_risk_after_days": 7,
    "dormant_after_days": 28,
    "churned_after_days": 60,
    "short_window_days": 7,
    "long_window_days": 28,
    "usual_gap_basis": "window",
    "activation_window_days": 14,
    "never_activated_max_active_days": 3,
    "stopped_after_days": 14,
    "substantial_use_min_active_days": 8,
    "abrupt_min_active_days_last_7": 3,
    "decline_min_peak_active_days": 10,
    "involuntary_active_within_days": 14,
    "usage_drop_window_days": 30,
    "usage_drop_min_prior_active_days": 4,
    "no_core_action_days": 14,
    "help_window_days": 7,
    "health_frequency_target_days": 12,
    "health_breadth_target_features": 5,
    "health_recency_horizon_days": 30,
    "health_weights": {
        "frequency": 20,
        "recency": 15,
        "breadth": 15,
        "depth": 35,
        "message_engagement": 15,
    },
    "engaged_within_days": 7,
    "disengaged_after_days": 30,
    "inactive_after_days": 90,
}
AUTO_SETTINGS = tuple(DEFAULTS)
# settings that name events, with their defaults (None: every event, nothing to check)
EVENT_SETTINGS: dict[str, list[str] | None] = {
    "activity_events": None,
    "core_events": ["view_dashboard", "create_report", "share_report"],
    "help_events": ["view_help"],
    "depth_events": ["export_data", "configure_integration", "invite_teammate", "api_call"],
    "retention_start_events": None,
    "retention_return_events": None,
}
# what the measurement depends on besides the data: a kept measurement needs the same
MEASUREMENT_INPUTS = ("activity_events", "reporting_timezone")


# ---------------------------------------------------------------------------------------------
# Measurement


@dataclass(frozen=True)
class CadenceProfile:
    """The gap distribution of a product's activity up to an as-of date."""

    as_of_date: str | None
    users: int  # users with at least one active day
    repeat_users: int  # users with at least two
    active_days: int  # user-days
    gaps: int  # gaps between consecutive active days of the repeat users
    # quantile -> days: q % of the gaps between consecutive active days (of every repeat
    # user; each return counts once) are this long or shorter
    gap_days: dict[int, int] = field(default_factory=dict)
    # quantile -> days from a repeat user's first active day to their second
    first_gap_days: dict[int, int] = field(default_factory=dict)
    # median over repeat users of (last - first active day) / (active days - 1)
    usual_gap_days: float | None = None
    # 28 / usual_gap_days: how many of 28 days the median repeat user is active
    active_days_per_28: float | None = None
    # the product's "week" (the 75th gap percentile rounded up to whole weeks, at least 7) and
    # "month" (four of them): the windows of the patterns and the health score
    short_window_days: int = 7
    long_window_days: int = 28
    # quantile -> active days of a repeat user in the short / long window that ends on their
    # last active day
    active_days_short_window: dict[int, int] = field(default_factory=dict)
    active_days_long_window: dict[int, int] = field(default_factory=dict)
    # event names seen up to the as-of date (None when measured from a table of active days)
    event_names: tuple[str, ...] | None = None
    # how many distinct names count as activity (the activity_events that occur)
    activity_event_names: int | None = None

    @property
    def one_time_share(self) -> float | None:
        return 1 - self.repeat_users / self.users if self.users else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["event_names"] = list(self.event_names) if self.event_names is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CadenceProfile:
        data = dict(data)
        for key in (
            "gap_days",
            "first_gap_days",
            "active_days_short_window",
            "active_days_long_window",
        ):
            data[key] = {int(q): v for q, v in (data.get(key) or {}).items()}
        if data.get("event_names") is not None:
            data["event_names"] = tuple(data["event_names"])
        return cls(**data)


def _weighted_quantiles(
    histogram: Iterable[tuple[int, Fraction]], quantiles: Sequence[int]
) -> dict[int, int]:
    """quantile -> the smallest value whose cumulative weight reaches q % (exact fractions, so
    the answer never depends on the order rows are summed in)."""
    rows = sorted(histogram)
    total = sum((w for _, w in rows), Fraction(0))
    if not rows or total <= 0:
        return {}
    found, cumulative, i = {}, Fraction(0), 0
    for q in sorted(quantiles):
        target = Fraction(q, 100) * total
        while i < len(rows) and (cumulative < target or i == 0):
            cumulative += rows[i][1]
            i += 1
        found[q] = rows[i - 1][0]
    return found


def _counted_quantiles(histogram: Iterable[tuple[int, int]], quantiles: Sequence[int]):
    return _weighted_quantiles(((v, Fraction(n)) for v, n in histogram), quantiles)


def _local_date(column: str, timezone: str) -> str:
    """The reporting day of a UTC timestamp, as the dbt macro local_date computes it."""
    if timezone.upper() == "UTC":
        return f"cast({column} as date)"
    return f"cast(timezone({sql_literal(timezone)}, {column} at time zone 'UTC') as date)"


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


def _event_days_sql(
    events: str, as_of: str | None, activity_events: Sequence[str] | None, timezone: str
) -> str:
    day = _local_date("occurred_at", timezone)
    where = ["user_id is not null", "occurred_at is not null"]
    if activity_events:
        where.append("event_name in (" + ", ".join(sql_literal(e) for e in activity_events) + ")")
    if as_of:
        where.append(f"{day} <= date {sql_literal(as_of)}")
    return f"select distinct user_id, {day} as activity_date from {events} where " + " and ".join(
        where
    )


def latest_event_date(
    con: duckdb.DuckDBPyConnection, *, timezone: str = "UTC", events: str = f"{RAW_SCHEMA}.events"
) -> str | None:
    """The as-of date dbt uses when none is given: the latest local event date."""
    (latest,) = _fetch(con, f"select max({_local_date('occurred_at', timezone)}) from {events}")[0]
    return latest.isoformat() if latest else None


def measure_cadence(
    con: duckdb.DuckDBPyConnection,
    as_of_date: str | dt.date | None = None,
    *,
    activity_events: Sequence[str] | None = None,
    timezone: str = "UTC",
    events: str = f"{RAW_SCHEMA}.events",
    days: str | None = None,
) -> CadenceProfile:
    """The gap distribution of the activity up to `as_of_date` (see the module docstring)."""
    as_of = as_of_date.isoformat() if isinstance(as_of_date, dt.date) else as_of_date
    names: tuple[str, ...] | None = None
    activity_names: int | None = None
    if days is None:
        if as_of is None:
            as_of = latest_event_date(con, timezone=timezone, events=events)
        source = _event_days_sql(events, as_of, activity_events, timezone)
        day = _local_date("occurred_at", timezone)
        seen = _fetch(
            con,
            f"select distinct event_name from {events} where event_name is not null"
            + (f" and {day} <= date {sql_literal(as_of)}" if as_of else "")
            + " order by 1",
        )
        names = tuple(name for (name,) in seen)
        activity_names = len(set(names) & set(activity_events)) if activity_events else len(names)
    else:
        if as_of is None:
            (latest,) = _fetch(con, f"select max(activity_date) from {days}")[0]
            as_of = latest.isoformat() if latest else None
        source = (
            f"select distinct user_id, cast(activity_date as date) as activity_date from {days}"
        )
        if as_of:
            source += f" where cast(activity_date as date) <= date {sql_literal(as_of)}"

    con.execute(
        f"""create or replace temp table _cadence_days as
        select
            user_id,
            activity_date,
            activity_date - lag(activity_date) over by_user as gap,
            row_number() over by_user as day_number,
            count(*) over (partition by user_id) as user_days,
            min(activity_date) over (partition by user_id) as first_date,
            max(activity_date) over (partition by user_id) as last_date
        from ({source}) as days
        window by_user as (partition by user_id order by activity_date)"""
    ).fetchall()
    try:
        return _profile(con, as_of, names, activity_names)
    finally:
        con.execute("drop table if exists _cadence_days").fetchall()


def _profile(
    con: duckdb.DuckDBPyConnection,
    as_of: str | None,
    names: tuple[str, ...] | None,
    activity_names: int | None,
) -> CadenceProfile:
    users, repeat_users, active_days, gaps = _fetch(
        con,
        "select count(distinct user_id), count(distinct user_id) filter (where user_days > 1), "
        "count(*), count(gap) from _cadence_days",
    )[0]
    gap_days = _counted_quantiles(
        _fetch(con, "select gap, count(*) from _cadence_days where gap is not null group by all"),
        QUANTILES,
    )
    first_gap_days = _counted_quantiles(
        _fetch(
            con,
            "select gap, count(*) from _cadence_days where day_number = 2 group by all",
        ),
        FIRST_GAP_QUANTILES,
    )
    spans = _fetch(
        con,
        "select last_date - first_date, user_days - 1 from _cadence_days "
        "where day_number = 1 and user_days > 1",
    )
    usual = sorted(Fraction(span, n) for span, n in spans)
    usual_gap = None
    if usual:
        middle = len(usual) // 2
        median = usual[middle] if len(usual) % 2 else (usual[middle - 1] + usual[middle]) / 2
        usual_gap = round(float(median), 2)
    short = max(7, 7 * math.ceil(gap_days.get(75, 0) / 7))
    long = 4 * short
    windows = _fetch(
        con,
        f"""select
            count(*) filter (where activity_date > last_date - {short}),
            count(*) filter (where activity_date > last_date - {long})
        from _cadence_days where user_days > 1 group by user_id""",
    )
    return CadenceProfile(
        as_of_date=as_of,
        users=users,
        repeat_users=repeat_users,
        active_days=active_days,
        gaps=gaps,
        gap_days=gap_days,
        first_gap_days=first_gap_days,
        usual_gap_days=usual_gap,
        active_days_per_28=round(28 / usual_gap, 2) if usual_gap else None,
        short_window_days=short,
        long_window_days=long,
        active_days_short_window=_counted_quantiles(
            _histogram(s for s, _ in windows), WINDOW_QUANTILES
        ),
        active_days_long_window=_counted_quantiles(
            _histogram(ln for _, ln in windows), WINDOW_QUANTILES
        ),
        event_names=names,
        activity_event_names=activity_names,
    )


def _histogram(values: Iterable[int]) -> list[tuple[int, int]]:
    counts: dict[int, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return sorted(counts.items())


# ---------------------------------------------------------------------------------------------
# From the profile to settings


@dataclass(frozen=True)
class Suggestion:
    name: str
    value: Any
    reason: str


def suggest_settings(
    profile: CadenceProfile,
    settings: Mapping[str, Any] | None = None,
    *,
    min_repeat_users: int = MIN_REPEAT_USERS,
) -> dict[str, Suggestion]:
    """Every auto setting with its value and why (docs/cadence.md has the formulas).

    Durations follow the gaps between active days and never go below the daily defaults;
    counts follow the active days repeat users have in the product's long window and never go
    above them (so a daily product keeps the defaults)."""
    settings = settings or {}
    out: dict[str, Suggestion] = {}

    def put(name: str, value: Any, reason: str) -> None:
        out[name] = Suggestion(name, value, reason)

    who = "repeat users"
    if profile.repeat_users < min_repeat_users or not profile.gap_days:
        why = (
            f"the default: only {profile.repeat_users} users with two active days or more, "
            f"too few to measure a rhythm (at least {min_repeat_users})"
        )
        for name in AUTO_SETTINGS:
            if name not in ("health_breadth_target_features", "health_weights"):
                put(name, DEFAULTS[name], why)
    else:
        _durations(profile, put, who)
        _counts(profile, put, who)
    _health_components(profile, settings, put)
    return {name: out[name] for name in AUTO_SETTINGS}


def _at_least_default(name: str, measured: int, what: str) -> tuple[int, str]:
    """max(default, measured), and the reason."""
    default = DEFAULTS[name]
    if measured > default:
        return measured, what
    return default, f"the default: {what}, so the daily default is long enough"


def _durations(profile: CadenceProfile, put, who: str) -> None:
    g = profile.gap_days
    at_risk, why = _at_least_default(
        "at_risk_after_days",
        g[75],
        f"75 % of the gaps between a repeat user's active days are {g[75]} days or shorter",
    )
    put("at_risk_after_days", at_risk, why)
    dormant = max(DEFAULTS["dormant_after_days"], g[95], 2 * at_risk)
    if dormant == g[95] and g[95] > DEFAULTS["dormant_after_days"]:
        why = f"95 % of the gaps between a repeat user's active days are {g[95]} days or shorter"
    elif dormant == 2 * at_risk and dormant > DEFAULTS["dormant_after_days"]:
        why = f"twice at_risk_after_days (95 % of gaps are {g[95]} days or shorter)"
    else:
        why = f"the default: 95 % of the gaps are {g[95]} days or shorter"
    put("dormant_after_days", dormant, why)
    churned = max(DEFAULTS["churned_after_days"], g[99], dormant + at_risk)
    if churned == g[99] and g[99] > DEFAULTS["churned_after_days"]:
        why = f"99 % of the gaps are {g[99]} days or shorter: almost nobody comes back later"
    elif churned == dormant + at_risk and churned > DEFAULTS["churned_after_days"]:
        why = f"dormant_after_days + at_risk_after_days (99 % of gaps are {g[99]} days or shorter)"
    else:
        why = f"the default: 99 % of the gaps are {g[99]} days or shorter"
    put("churned_after_days", churned, why)

    short, long = profile.short_window_days, profile.long_window_days
    put(
        "short_window_days",
        short,
        (
            f"the product's week: 75 % of gaps are {g[75]} days or shorter, in whole weeks"
            if short > DEFAULTS["short_window_days"]
            else f"the default: 75 % of gaps are {g[75]} days or shorter, within a week"
        ),
    )
    put(
        "long_window_days",
        long,
        f"four short windows (the defaults' 28 = 4 x 7), {long} days"
        if long > DEFAULTS["long_window_days"]
        else "the default: four short windows of 7 days",
    )
    if long > DEFAULTS["long_window_days"]:
        put(
            "usual_gap_basis",
            "gaps",
            "the mean gap between the active days of the long window: the window's length over "
            "a few active days would stretch the gap of a user with a short history",
        )
    else:
        put("usual_gap_basis", "window", "the default: the long window is the default's")
    first = profile.first_gap_days
    value, why = _at_least_default(
        "activation_window_days",
        first.get(90, 0),
        f"90 % of {who} came back for a second active day within {first.get(90, 0)} days",
    )
    put("activation_window_days", value, why)
    for name, what in (
        ("stopped_after_days", "a shorter quiet spell is ordinary"),
        ("no_core_action_days", "a shorter spell without a core action is ordinary"),
        ("involuntary_active_within_days", "active that recently was still a user"),
    ):
        value, why = _at_least_default(
            name, g[75], f"as long as the 75th gap percentile, {g[75]} days: {what}"
        )
        put(name, value, why)
    put(
        "help_window_days",
        short,
        "the short window" if short > DEFAULTS["help_window_days"] else "the default (a week)",
    )
    usage = max(DEFAULTS["usage_drop_window_days"], long // 2)
    put(
        "usage_drop_window_days",
        usage,
        f"half the long window ({long} days), so the two windows compared span one"
        if usage > DEFAULTS["usage_drop_window_days"]
        else "the default: longer than half the long window",
    )
    put("engaged_within_days", at_risk, "as long as at_risk_after_days")
    horizon = max(DEFAULTS["health_recency_horizon_days"], dormant)
    put(
        "health_recency_horizon_days",
        horizon,
        "as long as dormant_after_days"
        if horizon > DEFAULTS["health_recency_horizon_days"]
        else "the default: at least dormant_after_days",
    )
    put(
        "disengaged_after_days",
        horizon,
        "as long as dormant_after_days"
        if horizon > DEFAULTS["disengaged_after_days"]
        else "the default: at least dormant_after_days",
    )
    inactive = max(DEFAULTS["inactive_after_days"], churned)
    put(
        "inactive_after_days",
        inactive,
        "as long as churned_after_days"
        if inactive > DEFAULTS["inactive_after_days"]
        else "the default: at least churned_after_days",
    )


def _counts(profile: CadenceProfile, put, who: str) -> None:
    """Counts of active days scale with the frequency target: the active days in the long
    window that the most active quarter of repeat users reach, at most the default 12."""
    long = profile.long_window_days
    reached = profile.active_days_long_window.get(75, 0)
    target = max(1, min(DEFAULTS["health_frequency_target_days"], reached))
    scale = target / DEFAULTS["health_frequency_target_days"]
    base = (
        f"a quarter of {who} have {reached} active days or more in the {long} days up to their "
        "last one"
    )
    put(
        "health_frequency_target_days",
        target,
        base
        if target < DEFAULTS["health_frequency_target_days"]
        else f"the default: {base}, more than 12",
    )
    for name, minimum in (
        ("substantial_use_min_active_days", 2),
        ("decline_min_peak_active_days", 2),
        ("abrupt_min_active_days_last_7", 1),
        ("never_activated_max_active_days", 1),
        ("usage_drop_min_prior_active_days", 2),
    ):
        default = DEFAULTS[name]
        # rounded down: auto only relaxes the defaults
        value = min(
            default, max(minimum, default * target // DEFAULTS["health_frequency_target_days"])
        )
        if scale >= 1:
            why = "the default: the frequency target is the default's"
        else:
            why = (
                f"the default {default} x {target}/12 (health_frequency_target_days / its "
                f"default), rounded down, at least {minimum}"
            )
        put(name, value, why)


def _health_components(profile: CadenceProfile, settings: Mapping[str, Any], put) -> None:
    """Breadth and depth weigh nothing when the data cannot show them."""
    weights = dict(DEFAULTS["health_weights"])
    dropped = []
    names = profile.event_names
    distinct = profile.activity_event_names
    if names is not None:
        depth = settings.get("depth_events", EVENT_SETTINGS["depth_events"])
        if not depth or not set(depth) & set(names):
            weights["depth"] = 0
            dropped.append("depth 0: none of the depth_events occur")
        if distinct is not None and distinct < 2:
            weights["breadth"] = 0
            dropped.append("breadth 0: a single activity event name, no breadth to measure")
    put(
        "health_weights",
        weights,
        "; ".join(dropped) if dropped else "the default: every component can be measured",
    )
    target = DEFAULTS["health_breadth_target_features"]
    if distinct is not None and 0 < distinct < target:
        put(
            "health_breadth_target_features",
            distinct,
            f"only {distinct} activity event names occur",
        )
    else:
        put(
            "health_breadth_target_features",
            target,
            "the default"
            + (f": {distinct} activity event names occur" if distinct is not None else ""),
        )


# ---------------------------------------------------------------------------------------------
# Resolution: explicit > auto > default


@dataclass(frozen=True)
class ResolvedSetting:
    name: str
    value: Any
    source: str  # explicit, auto, default
    reason: str


def resolve_settings(
    explicit: Mapping[str, Any], suggestions: Mapping[str, Suggestion] | None = None
) -> list[ResolvedSetting]:
    """One row per auto setting and per explicit setting: the explicit value, else the auto
    one (when `suggestions` is given), else the default."""
    rows = [
        ResolvedSetting("cadence", explicit["cadence"], "explicit", "set for this build")
        if explicit.get("cadence")
        else ResolvedSetting("cadence", "fixed", "default", "the daily defaults")
    ]
    for name in AUTO_SETTINGS:
        if explicit.get(name) is not None:
            rows.append(ResolvedSetting(name, explicit[name], "explicit", "set for this build"))
        elif suggestions is not None:
            s = suggestions[name]
            rows.append(ResolvedSetting(name, s.value, "auto", s.reason))
        else:
            rows.append(ResolvedSetting(name, DEFAULTS[name], "default", "cadence: fixed"))
    for name, value in sorted(explicit.items()):
        if name not in DEFAULTS and value is not None and name != "cadence":  # listed first
            rows.append(ResolvedSetting(name, value, "explicit", "set for this build"))
    return rows


def auto_values(rows: Iterable[ResolvedSetting]) -> dict[str, Any]:
    """The dbt vars the auto rows add (merged under the explicit ones)."""
    return {r.name: r.value for r in rows if r.source == "auto"}


def missing_events(
    con: duckdb.DuckDBPyConnection,
    settings: Mapping[str, Any],
    as_of_date: str | None = None,
    *,
    timezone: str = "UTC",
    events: str = f"{RAW_SCHEMA}.events",
    seen: Iterable[str] | None = None,
) -> dict[str, list[str]]:
    """setting -> the event names it gives (explicitly or by default) that never occur up to
    the as-of date."""
    if seen is None:
        day = _local_date("occurred_at", timezone)
        seen = [
            name
            for (name,) in _fetch(
                con,
                f"select distinct event_name from {events} where event_name is not null"
                + (f" and {day} <= date {sql_literal(as_of_date)}" if as_of_date else ""),
            )
        ]
    occurring = set(seen)
    found = {}
    for name, default in EVENT_SETTINGS.items():
        named = settings.get(name)
        if named is None:
            named = default
        absent = [e for e in (named or []) if e not in occurring]
        if absent:
            found[name] = absent
    return found


def missing_event_warnings(missing: Mapping[str, Sequence[str]], as_of: str | None) -> list[str]:
    by = f" up to {as_of}" if as_of else ""
    return [
        f"{name}: {', '.join(names)} never occur{'s' if len(names) == 1 else ''} in the events"
        f"{by}; set {name} to events your data has (winback run --set {name}=...)"
        for name, names in missing.items()
    ]


def order_warnings(values: Mapping[str, Any]) -> list[str]:
    """Thresholds that must grow in this order and do not (an explicit value against an auto
    one, say)."""
    warnings = []
    for chain in (
        ("at_risk_after_days", "dormant_after_days", "churned_after_days"),
        ("engaged_within_days", "disengaged_after_days", "inactive_after_days"),
    ):
        got = [values[name] for name in chain]
        if not all(a < b for a, b in zip(got, got[1:], strict=False)):
            shown = " < ".join(f"{n} ({v})" for n, v in zip(chain, got, strict=True))
            warnings.append(f"expected {shown}: some states or labels can never occur")
    return warnings


# ---------------------------------------------------------------------------------------------
# One build: resolve, record, read back


@dataclass
class Build:
    as_of_date: str | None
    cadence: str
    full_refresh: bool
    settings: list[ResolvedSetting]
    warnings: list[str]
    profile: CadenceProfile | None = None
    measured_as_of: str | None = None  # the as-of date the auto values were measured at
    kept_from: str | None = None  # the build whose auto values this one keeps
    inputs: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)

    def auto_values(self) -> dict[str, Any]:
        return auto_values(self.settings)

    def markdown(self) -> str:
        """The settings as a markdown table: setting, value, source, reason."""
        lines = ["| setting | value | source | reason |", "|---|---|---|---|"]
        for r in self.settings:
            value = json.dumps(r.value) if not isinstance(r.value, str) else r.value
            lines.append(f"| {r.name} | {value} | {r.source} | {r.reason.replace('|', '/')} |")
        return "\n".join(lines)


def _measurement_inputs(explicit: Mapping[str, Any]) -> dict[str, Any]:
    return {name: explicit.get(name) for name in MEASUREMENT_INPUTS}


def resolve_build(
    con: duckdb.DuckDBPyConnection,
    explicit: Mapping[str, Any],
    *,
    as_of_date: str | None,
    full_refresh: bool = False,
    min_repeat_users: int = MIN_REPEAT_USERS,
    events: str = f"{RAW_SCHEMA}.events",
) -> Build:
    """The settings a dbt build runs with (read-only on the events; see the module docstring
    for when auto values are kept from the last auto build)."""
    timezone = explicit.get("reporting_timezone") or "UTC"
    as_of = as_of_date or latest_event_date(con, timezone=timezone, events=events)
    cadence = explicit.get("cadence") or "fixed"
    inputs = _measurement_inputs(explicit)
    build = Build(as_of, cadence, full_refresh, [], [], inputs=inputs)
    suggestions = None
    if cadence == "auto":
        kept = None if full_refresh else _kept_auto_build(con, inputs, as_of)
        if kept is not None:
            build_id, measured_as_of, profile_json, rows = kept
            build.profile = CadenceProfile.from_dict(json.loads(profile_json))
            build.measured_as_of, build.kept_from = measured_as_of, build_id
            suggestions = {
                name: Suggestion(
                    name, value, f"kept from the build as of {measured_as_of}: {reason}"
                )
                for name, value, reason in rows
            }
            if set(suggestions) != set(AUTO_SETTINGS):  # recorded by an older version
                suggestions = None
        if suggestions is None:
            build.profile = measure_cadence(
                con,
                as_of,
                activity_events=explicit.get("activity_events"),
                timezone=timezone,
                events=events,
            )
            build.measured_as_of = as_of
            suggestions = suggest_settings(
                build.profile, explicit, min_repeat_users=min_repeat_users
            )
    build.settings = resolve_settings(explicit, suggestions)
    seen = build.profile.event_names if build.profile and not build.kept_from else None
    build.missing = missing_events(
        con, explicit, as_of, timezone=timezone, events=events, seen=seen
    )
    values = {r.name: r.value for r in build.settings}
    build.warnings = missing_event_warnings(build.missing, as_of) + order_warnings(values)
    if not full_refresh:
        build.warnings += changed_warnings(_previous_values(con), values)
    return build


def changed_warnings(previous: Mapping[str, Any] | None, values: Mapping[str, Any]) -> list[str]:
    """The auto settings whose values differ from the last build's: the incremental marts keep
    the days they built with the old ones."""
    if not previous:
        return []
    changed = [
        f"{name} {json.dumps(previous[name])} -> {json.dumps(values[name])}"
        for name in AUTO_SETTINGS
        if name in previous and previous[name] != values[name]
    ]
    if not changed:
        return []
    return [
        "thresholds changed since the last build ("
        + ", ".join(changed)
        + "): the days user_daily_engagement and user_daily_health already hold keep the old "
        "values; rebuild with --full-refresh (Dagster run config full_refresh: true)"
    ]


BUILD_TABLES = {
    "builds": """build_id varchar not null, run_id varchar, built_at timestamp not null,
        as_of_date date, cadence varchar not null, full_refresh boolean not null,
        measured_as_of date, kept_from varchar, inputs varchar, profile varchar""",
    "build_settings": """build_id varchar not null, setting varchar not null,
        value varchar not null, source varchar not null, reason varchar not null""",
    "build_warnings": """build_id varchar not null, setting varchar, message varchar not null""",
}


def ensure_build_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {RAW_SCHEMA}").fetchall()
    for table, columns in BUILD_TABLES.items():
        con.execute(f"create table if not exists {RAW_SCHEMA}.{table} ({columns})").fetchall()


def record_build(con: duckdb.DuckDBPyConnection, build: Build, run_id: str) -> str:
    """Write the build's settings, warnings and gap distribution; returns the build id."""
    ensure_build_tables(con)
    build_id = run_id
    (existing,) = _fetch(
        con, f"select count(*) from {RAW_SCHEMA}.builds where build_id = ?", [build_id]
    )[0]
    if existing:  # the same run building again (a retry): a new id keeps both
        build_id = f"{run_id}-{existing}"
    con.execute(
        f"insert into {RAW_SCHEMA}.builds values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            build_id,
            run_id,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
            build.as_of_date,
            build.cadence,
            build.full_refresh,
            build.measured_as_of,
            build.kept_from,
            json.dumps(build.inputs, sort_keys=True),
            json.dumps(build.profile.to_dict(), sort_keys=True) if build.profile else None,
        ],
    ).fetchall()
    for r in build.settings:
        con.execute(
            f"insert into {RAW_SCHEMA}.build_settings values (?, ?, ?, ?, ?)",
            [build_id, r.name, json.dumps(r.value, sort_keys=True), r.source, r.reason],
        ).fetchall()
    for message in build.warnings:
        setting = message.split(":", 1)[0] if ":" in message else None
        con.execute(
            f"insert into {RAW_SCHEMA}.build_warnings values (?, ?, ?)",
            [build_id, setting if setting in EVENT_SETTINGS else None, message],
        ).fetchall()
    return build_id


def _kept_auto_build(con: duckdb.DuckDBPyConnection, inputs: Mapping[str, Any], as_of: str | None):
    """(build id, measured as-of, profile JSON, [(setting, value, reason)]) of the latest auto
    build with the same measurement inputs and an as-of date not after this one, or None."""
    if not _has_build_tables(con):
        return None
    rows = _fetch(
        con,
        f"""select build_id, measured_as_of, profile, kept_from from {RAW_SCHEMA}.builds
        where cadence = 'auto' and inputs = ? and profile is not null
            and measured_as_of is not null {"and measured_as_of <= ?" if as_of else ""}
        order by built_at desc limit 1""",
        [json.dumps(dict(inputs), sort_keys=True)] + ([as_of] if as_of else []),
    )
    if not rows:
        return None
    build_id, measured_as_of, profile, kept_from = rows[0]
    settings = _fetch(
        con,
        f"select setting, value, reason from {RAW_SCHEMA}.build_settings "
        "where build_id = ? and source = 'auto' order by setting",
        [build_id],
    )
    prefix = "kept from the build as of "
    return (
        kept_from or build_id,
        measured_as_of.isoformat(),
        profile,
        [
            (
                name,
                json.loads(value),
                reason.split(": ", 1)[1] if reason.startswith(prefix) else reason,
            )
            for name, value, reason in settings
        ],
    )


def _has_build_tables(con: duckdb.DuckDBPyConnection) -> bool:
    tables = {
        name
        for (name,) in _fetch(
            con,
            "select table_name from information_schema.tables "
            "where table_schema = ? and table_catalog = current_database()",
            [RAW_SCHEMA],
        )
    }
    return set(BUILD_TABLES) <= tables


def _latest_build_id(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> str | None:
    """The latest build, or the latest of that run."""
    if not _has_build_tables(con):
        return None
    rows = _fetch(
        con,
        f"select build_id from {RAW_SCHEMA}.builds "
        + ("where run_id = ? " if run_id else "")
        + "order by built_at desc, build_id desc limit 1",
        [run_id] if run_id else [],
    )
    return rows[0][0] if rows else None


def _previous_values(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    build_id = _latest_build_id(con)
    if build_id is None:
        return None
    rows = _fetch(
        con,
        f"select setting, value from {RAW_SCHEMA}.build_settings where build_id = ?",
        [build_id],
    )
    return {name: json.loads(value) for name, value in rows}


@contextlib.contextmanager
def _read_only(warehouse: str | Path) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """The warehouse opened read-only, or None when it is missing or another run holds it
    (DuckDB has one writer): the readers below then answer "nothing recorded" instead of
    failing a summary."""
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        yield None
        return
    try:
        yield con
    finally:
        con.close()


def resolved_thresholds(warehouse: str | Path, run_id: str | None = None) -> list[dict[str, Any]]:
    """The settings of the latest build (of `run_id`, when given): dicts of setting, value,
    source (explicit, auto, default) and reason. Empty before the first build, or while another
    run holds the warehouse."""
    with _read_only(warehouse) as con:
        build_id = _latest_build_id(con, run_id) if con else None
        if build_id is None:
            return []
        rows = _fetch(
            con,
            f"select setting, value, source, reason from {RAW_SCHEMA}.build_settings "
            "where build_id = ? order by rowid",
            [build_id],
        )
    return [
        {"setting": s, "value": json.loads(v), "source": src, "reason": why}
        for s, v, src, why in rows
    ]


def build_warnings(warehouse: str | Path, run_id: str | None = None) -> list[str]:
    """The warnings of the latest build (of `run_id`, when given), one line each: settings
    naming events that never occur, thresholds out of order or changed without a full refresh.
    Empty before the first build, or while another run holds the warehouse."""
    with _read_only(warehouse) as con:
        build_id = _latest_build_id(con, run_id) if con else None
        if build_id is None:
            return []
        rows = _fetch(
            con,
            f"select message from {RAW_SCHEMA}.build_warnings where build_id = ? order by rowid",
            [build_id],
        )
    return [message for (message,) in rows]


def latest_profile(warehouse: str | Path, run_id: str | None = None) -> dict[str, Any] | None:
    """The gap distribution the latest build (of `run_id`) measured or kept; None under
    cadence: fixed, before the first build, or while another run holds the warehouse."""
    with _read_only(warehouse) as con:
        build_id = _latest_build_id(con, run_id) if con else None
        if build_id is None:
            return None
        rows = _fetch(
            con, f"select profile from {RAW_SCHEMA}.builds where build_id = ?", [build_id]
        )
    return json.loads(rows[0][0]) if rows and rows[0][0] else None


def describe_profile(profile: CadenceProfile) -> list[str]:
    """The gap distribution in a few lines, for a log or a terminal."""
    g = ", ".join(f"p{q} {v}" for q, v in profile.gap_days.items()) or "none"
    first = ", ".join(f"p{q} {v}" for q, v in profile.first_gap_days.items()) or "none"
    long = ", ".join(f"p{q} {v}" for q, v in profile.active_days_long_window.items()) or "none"
    share = profile.one_time_share
    return [
        f"as of {profile.as_of_date}: {profile.users} users, {profile.repeat_users} with two "
        f"active days or more ({share:.0%} one-time)"
        if share is not None
        else f"as of {profile.as_of_date}: no active users",
        f"gaps between consecutive active days (days): {g}",
        f"first return (days): {first}; usual gap (median): {profile.usual_gap_days} days, "
        f"{profile.active_days_per_28} active days per 28",
        f"windows: short {profile.short_window_days} days, long {profile.long_window_days} "
        f"days; active days in the long window up to the last one: {long}",
    ]
