"""`winback profile`: what a project's data looks like before the first run, and the settings
that fit it. The files are read through their sources exactly as a run would (mapping, rules,
quarantine) into a scratch DuckDB file that is thrown away, never into the warehouse; then:
events per name, users, the date range, the share of users by active days, the gaps between a
user's active days, and suggested settings (core events, the inactivity thresholds of
`cadence: auto`) with the reason for each, and the settings that name events the data never
has."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from winback.contract import ValidationSettings
from winback.ingest import FileRejected, IngestResult, ingest_file

# events that say a user was there, not what they did with the product: never suggested as core
PASSIVE_EVENTS = {
    "page_view",
    "pageview",
    "$pageview",
    "screen_view",
    "page",
    "screen",
    "session_start",
    "session_end",
    "app_open",
    "app_close",
    "login",
    "logout",
    "sign_in",
    "first_visit",
    "first_open",
    "user_engagement",
    "scroll",
    "identify",
    "$identify",
    "click",
    "view",
    "$autocapture",
    "$screen",
    "visit",
    "heartbeat",
    "ping",
    "open",
}
ACTIVE_DAY_BUCKETS = ((1, 1), (2, 3), (4, 7), (8, 14), (15, 30), (31, None))


@dataclass
class Profile:
    files: list[IngestResult] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    users: int = 0
    events: int = 0
    first_date: str | None = None
    last_date: str | None = None
    event_names: list[tuple[str, int, int]] = field(default_factory=list)  # name, events, users
    active_days: list[tuple[str, int, float]] = field(default_factory=list)  # bucket, users, share
    gaps: dict[str, Any] = field(default_factory=dict)
    suggestions: list[tuple[str, Any, str]] = field(default_factory=list)  # setting, value, why
    warnings: list[str] = field(default_factory=list)


def ingest_scratch(
    con: duckdb.DuckDBPyConnection,
    planned: Iterable,
    landing: Path,
    validation: ValidationSettings,
    progress: Callable[[str], None],
) -> tuple[list[IngestResult], list[str]]:
    results, rejected = [], []
    planned = list(planned)
    for i, p in enumerate(planned, 1):
        try:
            r = ingest_file(con, landing, p.path, validation, feed=p.feed, path=p.file)
            results.append(r)
            skipped = f", {r.rows_skipped:,} skipped" if r.rows_skipped else ""
            progress(
                f"  [{i}/{len(planned)}] {p.path}: {r.rows_read:,} read, {r.rows_loaded:,} "
                f"loaded, {r.rows_quarantined:,} quarantined{skipped}"
            )
            for hint in r.hints:
                progress(f"      hint: {hint}")
        except FileRejected as exc:
            rejected.append(str(exc))
            progress(f"  [{i}/{len(planned)}] {p.path}: REJECTED: {exc}")
    return results, rejected


def suggest_core_events(names: list[tuple[str, int, int]], users: int) -> list[tuple[str, str]]:
    """Events a good share of users do, that are not mere presence (page views, logins): the
    product's core actions, with why."""
    picked = []
    for name, _, n_users in names:
        if name.lower() in PASSIVE_EVENTS or name.startswith("$"):
            continue
        share = n_users / users if users else 0
        if share >= 0.2:
            picked.append((name, f"{share:.0%} of users do it"))
    return picked[:5]


def build_profile(
    planned: Iterable,
    landing: Path,
    validation: ValidationSettings,
    settings: dict[str, Any] | None = None,
    progress: Callable[[str], None] = print,
) -> Profile:
    from winback import cadence

    settings = dict(settings or {})
    given = dict(settings)  # the warnings are about what a run would use now
    profile = Profile()
    with tempfile.TemporaryDirectory(prefix="winback-profile-") as scratch:
        con = duckdb.connect(str(Path(scratch) / "profile.duckdb"))
        try:
            profile.files, profile.rejected = ingest_scratch(
                con, planned, landing, validation, progress
            )
            _describe(con, profile)
            if profile.users:
                _suggest(con, profile, settings, cadence)
                missing = cadence.missing_events(con, given)
                profile.warnings = cadence.missing_event_warnings(missing, profile.last_date)
        finally:
            con.close()
    return profile


def _describe(con: duckdb.DuckDBPyConnection, profile: Profile) -> None:
    profile.events, profile.users, first, last = con.execute(
        "select count(*), count(distinct user_id), min(occurred_at)::date, max(occurred_at)::date "
        "from raw.events"
    ).fetchone()
    profile.first_date = first.isoformat() if first else None
    profile.last_date = last.isoformat() if last else None
    profile.event_names = con.execute(
        "select event_name, count(*), count(distinct user_id) from raw.events "
        "group by 1 order by 2 desc, 1 limit 30"
    ).fetchall()
    days = dict(
        con.execute(
            "select active_days, count(*) from (select user_id, count(distinct "
            "occurred_at::date) as active_days from raw.events group by 1) group by 1"
        ).fetchall()
    )
    for low, high in ACTIVE_DAY_BUCKETS:
        n = sum(c for d, c in days.items() if d >= low and (high is None or d <= high))
        label = f"{low}" if low == high else (f"{low}-{high}" if high else f"{low}+")
        share = n / profile.users if profile.users else 0.0
        profile.active_days.append((label, n, share))


def _suggest(con, profile: Profile, settings: dict[str, Any], cadence) -> None:
    measured = cadence.measure_cadence(con)
    profile.gaps = {"lines": cadence.describe_profile(measured)}
    if "core_events" not in settings:
        core = suggest_core_events(profile.event_names, profile.users)
        if core:
            names = [n for n, _ in core]
            why = "; ".join(f"{n}: {w}" for n, w in core)
            profile.suggestions.append(("core_events", names, why))
            settings["core_events"] = names
    suggestions = cadence.suggest_settings(measured, settings)
    if any(s.value is not None for s in suggestions.values()):
        profile.suggestions.append(
            ("cadence", "auto", "the thresholds below, measured at each build")
        )
    for name, s in suggestions.items():
        profile.suggestions.append((name, s.value, s.reason))


def render(profile: Profile) -> list[str]:
    lines = ["", "Profile"]
    lines.append(
        f"  {profile.events:,} events by {profile.users:,} users, "
        f"{profile.first_date} to {profile.last_date}"
    )
    if profile.rejected:
        lines.append(f"  {len(profile.rejected)} file(s) rejected (see above)")
    lines.append("  events per name (events, users):")
    for name, n, users in profile.event_names[:15]:
        lines.append(f"      {name:<32} {n:>12,} {users:>9,}")
    lines.append("  users by active days:")
    lines.append(
        "      " + " · ".join(f"{label}: {share:.0%}" for label, _, share in profile.active_days)
    )
    for line in profile.gaps.get("lines", []):
        lines.append(f"  {line}")
    if profile.suggestions:
        lines.append("  suggested settings (winback.yml `settings:`), with why:")
        for name, value, why in profile.suggestions:
            lines.append(f"      {name}: {value}    # {why}")
    for warning in profile.warnings:
        lines.append(f"  WARNING: {warning}")
    return lines
