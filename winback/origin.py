"""Which data a warehouse was built from. A warehouse remembers the project (winback.yml) or
landing folder its files came from, and a run that would add files from somewhere else is
refused unless asked: mixing a demo's events with a product's silently merges two sets of users
and moves the as-of date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from winback.ingest import RAW_SCHEMA, ensure_raw_tables

TABLE = f"{RAW_SCHEMA}.warehouse_origins"


@dataclass(frozen=True)
class Origin:
    kind: str  # project or landing
    location: str  # the winback.yml or the landing folder, absolute

    def describe(self) -> str:
        return (
            f"project {self.location}"
            if self.kind == "project"
            else f"landing folder {self.location}"
        )


def origin_of(project_file: Path | None, landing_dir: Path) -> Origin:
    if project_file is not None:
        return Origin("project", str(Path(project_file).resolve()))
    return Origin("landing", str(Path(landing_dir).resolve()))


class MixedSources(ValueError):
    """The warehouse holds data from another project or landing folder."""


def check_origin(con: duckdb.DuckDBPyConnection, origin: Origin, allow_mixed: bool = False) -> None:
    """Record `origin` in an empty warehouse; refuse one that holds data from another origin
    unless `allow_mixed` (then this origin is recorded beside the others)."""
    ensure_raw_tables(con)
    con.execute(
        f"create table if not exists {TABLE} (kind varchar not null, location varchar not null, "
        "recorded_at timestamp not null)"
    )
    known = [
        Origin(k, loc)
        for k, loc in con.execute(
            f"select kind, location from {TABLE} order by recorded_at"
        ).fetchall()
    ]
    if origin in known:
        return
    holds_data = con.execute(f"select count(*) from {RAW_SCHEMA}.ingest_log").fetchone()[0] > 0
    if known and holds_data and not allow_mixed:
        raise MixedSources(
            f"the warehouse holds data from {known[0].describe()}; this run reads "
            f"{origin.describe()}. Mixing them would merge two sets of users and move the "
            "as-of date: use another warehouse (--warehouse, or `winback init` a project "
            "folder for this data), or pass --add-sources to add them on purpose"
        )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute(f"insert into {TABLE} values (?, ?, ?)", [origin.kind, origin.location, now])
