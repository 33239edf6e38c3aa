"""Read-only reports for the command line: what the warehouse and the publication hold.

Plain DuckDB reads, no Dagster: the warehouse is opened read-only (it fails while a run holds
it), the publication through its current version.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from winback.ingest import RAW_SCHEMA

PUBLISHED_DB = "winback.duckdb"


def published_counts(publish_dir: Path) -> dict[str, int]:
    """Rows per table of the current publication."""
    with duckdb.connect(str(Path(publish_dir) / PUBLISHED_DB), read_only=True) as con:
        tables = [r[0] for r in con.execute("show tables").fetchall()]
        return {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}


def quarantine_by_rule(warehouse: Path) -> list[tuple[str, str, int]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            f"select kind, rule, count(*) from {RAW_SCHEMA}.quarantine "
            "group by 1, 2 order by 1, 3 desc"
        ).fetchall()


def ingest_status(warehouse: Path) -> tuple[duckdb.DuckDBPyRelation, ...]:
    """Files per kind and status with their row counts, and the rejected files with why."""
    con = duckdb.connect(str(warehouse), read_only=True)
    by_kind = con.sql(
        f"select kind, status, count(*) as files, sum(rows_read) as read, "
        f"sum(rows_loaded) as loaded, sum(rows_quarantined) as quarantined, "
        f"sum(duplicates_dropped) as duplicates from {RAW_SCHEMA}.ingest_log "
        "group by 1, 2 order by 1"
    )
    rejected = con.sql(
        f"select source_file, error from {RAW_SCHEMA}.ingest_log where status = 'rejected'"
    )
    return by_kind, rejected


def disengagement_summary(publish_dir: Path) -> dict | None:
    """Users per pattern and per engagement label, and today's alerts, from the publication."""
    path = Path(publish_dir) / PUBLISHED_DB
    if not path.exists():
        return None
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {r[0] for r in con.execute("show tables").fetchall()}
        if (
            not {"user_disengagement_patterns", "user_daily_health", "disengagement_alerts"}
            <= tables
        ):
            return None
        return {
            "as_of": con.execute(
                "select max(as_of_date) from user_disengagement_patterns"
            ).fetchone()[0],
            "patterns": con.execute(
                "select pattern, count(*) from user_disengagement_patterns "
                "group by 1 order by 2 desc"
            ).fetchall(),
            "labels": con.execute(
                "select engagement_label, count(*) from user_daily_health "
                "where activity_date = (select max(activity_date) from user_daily_health) "
                "group by 1 order by 2 desc"
            ).fetchall(),
            "alerts": con.execute(
                "select count(*), count(*) filter (where crossed_into_at_risk) "
                "from disengagement_alerts"
            ).fetchone(),
        }
