"""Read-only reports for the command line: what the warehouse and the publication hold.

Plain DuckDB reads, no Dagster: the warehouse is opened read-only (it fails while a run holds
it), the publication through its current version.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb

from winback.ingest import RAW_SCHEMA

PUBLISHED_DB = "winback.duckdb"


def published_counts(publish_dir: Path) -> dict[str, int]:
    """Rows per table of the current publication, as its manifest records them (counted when
    it was published: counting the per-day views again would expand users x days, 3 s on the
    demo)."""
    manifest = json.loads((Path(publish_dir) / "manifest.json").read_text())
    return {table: int(rows) for table, rows in sorted(manifest["tables"].items())}


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


@contextlib.contextmanager
def _publication(publish_dir: Path, tables: set[str]) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """The published DuckDB file, read-only, when it holds `tables`; else None."""
    path = Path(publish_dir) / PUBLISHED_DB
    if not path.exists():
        yield None
        return
    with duckdb.connect(str(path), read_only=True) as con:
        present = {r[0] for r in con.execute("show tables").fetchall()}
        yield con if tables <= present else None


def disengagement_summary(publish_dir: Path) -> dict | None:
    """Users per pattern and per engagement label, and today's alerts, from the publication."""
    needed = {"user_disengagement_patterns", "user_daily_health", "disengagement_alerts"}
    with _publication(publish_dir, needed) as con:
        if con is None:
            return None
        as_of = con.execute("select max(as_of_date) from user_disengagement_patterns").fetchone()[0]
        return {
            "as_of": as_of,
            "patterns": con.execute(
                "select pattern, count(*) from user_disengagement_patterns "
                "group by 1 order by 2 desc"
            ).fetchall(),
            "labels": con.execute(
                # a bound day, not a subquery: the view reads only the spans around it
                "select engagement_label, count(*) from user_daily_health "
                "where activity_date = ? group by 1 order by 2 desc",
                [as_of],
            ).fetchall(),
            "alerts": con.execute(
                "select count(*), count(*) filter (where crossed_into_at_risk) "
                "from disengagement_alerts"
            ).fetchone(),
        }


def churn_summary(publish_dir: Path) -> dict | None:
    """Users per risk tier, the scoring version, and the latest backtest fold of the last
    training against the baselines, from the publication."""
    with _publication(publish_dir, {"churn_scores", "churn_model_evaluation"}) as con:
        if con is None:
            return None
        head = con.execute(
            "select any_value(as_of_date), any_value(model_version), any_value(model_name), "
            "any_value(horizon_days), count(*) from churn_scores"
        ).fetchone()
        if not head[4]:
            return None
        tiers = con.execute(
            "select risk_tier, count(*) from churn_scores group by 1 "
            "order by case risk_tier when 'high' then 0 when 'medium' then 1 else 2 end"
        ).fetchall()
        # the backtest of the scoring version, else (the recency fallback) of the last training
        folds = con.execute(
            "with version as (select coalesce((select max(model_version) from "
            "churn_model_evaluation where model_version = ?), (select model_version from "
            "churn_model_evaluation order by trained_as_of desc, model_version limit 1)) as v) "
            "select model, kind, roc_auc, brier from churn_model_evaluation, version "
            "where model_version = version.v and fold = (select max(fold) from "
            "churn_model_evaluation, version where model_version = version.v) "
            "order by kind desc, model",
            [head[1]],
        ).fetchall()
        return {
            "as_of": head[0],
            "version": head[1],
            "model": head[2],
            "horizon": head[3],
            "users": head[4],
            "tiers": tiers,
            "latest_fold": folds,
        }


def audience_summary(publish_dir: Path) -> dict | None:
    """Today's win-back audience per segment and channel, from the publication."""
    with _publication(publish_dir, {"audience_sizes", "audience_exclusions"}) as con:
        if con is None:
            return None
        as_of = con.execute("select max(as_of_date) from audience_sizes").fetchone()[0]
        if as_of is None:
            return None
        sizes = con.execute(
            "select segment, destination, sum(targeted), sum(holdout), sum(exported), "
            "sum(excluded) from audience_sizes where as_of_date = ? group by all "
            "order by segment, destination",
            [as_of],
        ).fetchall()
        reasons = con.execute(
            "select reason, count(distinct user_id) from audience_exclusions "
            "where as_of_date = ? group by 1 order by 2 desc, 1",
            [as_of],
        ).fetchall()
    return {
        "as_of": as_of,
        "sizes": sizes,
        "targeted": sum(r[2] for r in sizes),
        "holdout": sum(r[3] for r in sizes),
        "exported": sum(r[4] for r in sizes),
        "reasons": reasons,
    }


def campaign_summary(publish_dir: Path) -> dict | None:
    """What the campaigns caused, from the publication: exposures measured and pending, and
    per segment (whole cycles) the lift with its 95 % interval."""
    with _publication(publish_dir, {"campaign_exposures", "campaign_lift"}) as con:
        if con is None:
            return None
        measured, pending = con.execute(
            "select count(*) filter (where window_closed), count(*) filter (where not "
            "window_closed) from campaign_exposures"
        ).fetchone()
        segments = con.execute(
            "select segment, targeted, holdout, reactivation_rate_targeted, "
            "reactivation_rate_holdout, lift, lift_ci_low, lift_ci_high from campaign_lift "
            "where step = 'cycle' order by segment"
        ).fetchall()
    return {"measured": measured, "pending": pending, "segments": segments}
