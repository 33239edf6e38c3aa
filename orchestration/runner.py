"""Materialize everything for a landing folder in one process: each landing file as its own
partition run, then one run of the dbt models and the publication. Every run is recorded in
the Dagster instance (DAGSTER_HOME), so it shows in the UI like one launched from there."""

import contextlib
import datetime as dt
import io
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
import duckdb

from orchestration.definitions import resources as default_resources
from orchestration.ingest import RAW_ASSETS, partitions_for
from orchestration.project import ensure_manifest
from orchestration.resources import WarehouseResource, WinbackSettings
from winback.contract import kind_for_path
from winback.ingest import RAW_SCHEMA, landing_files
from winback.settings import WinbackConfig

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
DBT_LINES_WORTH_SHOWING = re.compile(r"OK created|ERROR|FAIL|WARN|Done\. PASS")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _DbtLineFilter(io.TextIOBase):
    """dagster-dbt echoes every dbt log line to stdout; on the command line show only the
    models built, the failures and the final count."""

    def __init__(self, emit: Callable[[str], None]):
        self.emit, self.buffer = emit, ""
        self.target = sys.stdout  # where emit's own prints must go, not back into this filter

    def write(self, text: str) -> int:
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            line = ANSI.sub("", line).strip()
            if DBT_LINES_WORTH_SHOWING.search(line):
                with contextlib.redirect_stdout(self.target):
                    self.emit("    dbt: " + line)
        return len(text)


@dataclass
class FileOutcome:
    source_file: str
    success: bool
    seconds: float
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    duplicates_dropped: int = 0
    error: str | None = None


@dataclass
class PipelineSummary:
    files: list[FileOutcome] = field(default_factory=list)
    marts_success: bool = False
    marts_seconds: float = 0.0
    published: dict[str, int] = field(default_factory=dict)
    publish_dir: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.marts_success and all(f.success for f in self.files)

    def totals(self) -> dict[str, int]:
        return {
            k: sum(getattr(f, k) for f in self.files)
            for k in ("rows_read", "rows_loaded", "rows_quarantined", "duplicates_dropped")
        }


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE" and event.step_failure_data:
            error = event.step_failure_data.error
            if error is not None:
                message = " ".join(error.message.split())
                return message.split("Failure: ", 1)[-1][:600]
    return "run failed (see the run in the Dagster UI)"


def _run_resources(config: WinbackConfig) -> dict:
    res = default_resources()
    res["warehouse"] = WarehouseResource(database=str(config.warehouse))
    res["winback"] = WinbackSettings(
        landing_dir=str(config.landing_dir),
        publish_dir=str(config.publish_dir),
        earliest_date=config.earliest_date.isoformat(),
        as_of_date=config.as_of_date.isoformat() if config.as_of_date else "",
        now=config.now.isoformat() if config.now else "",
    )
    return res


def ingest_landing_file(
    relative_path: str, config: WinbackConfig, instance: dg.DagsterInstance
) -> FileOutcome:
    kind = kind_for_path(relative_path)
    partitions = partitions_for(kind)
    if not instance.has_dynamic_partition(partitions.name, relative_path):
        instance.add_dynamic_partitions(partitions.name, [relative_path])
    started = time.perf_counter()
    result = dg.materialize(
        [RAW_ASSETS[kind.name]],
        partition_key=relative_path,
        instance=instance,
        resources=_run_resources(config),
        run_config=QUIET,
        raise_on_error=False,
        tags={"winback/source_file": relative_path},
    )
    outcome = FileOutcome(relative_path, result.success, time.perf_counter() - started)
    if result.success:
        meta = result.asset_materializations_for_node(RAW_ASSETS[kind.name].node_def.name)[
            0
        ].metadata
        for name in ("rows_read", "rows_loaded", "rows_quarantined", "duplicates_dropped"):
            setattr(outcome, name, meta[name].value)
    else:
        outcome.error = _failure_message(result)
    return outcome


def build_marts(
    config: WinbackConfig,
    instance: dg.DagsterInstance,
    full_refresh: bool = False,
    start_date: dt.date | None = None,
    preset: str | None = None,
    settings: dict | None = None,
) -> dg.ExecuteInProcessResult:
    from orchestration.dbt import winback_dbt_models
    from orchestration.publish import published_marts

    dbt_config = {"full_refresh": full_refresh, "settings": settings or {}}
    if preset:
        dbt_config["preset"] = preset
    if config.as_of_date:
        dbt_config["as_of_date"] = config.as_of_date.isoformat()
    if start_date:
        dbt_config["start_date"] = start_date.isoformat()
    return dg.materialize(
        [winback_dbt_models, published_marts],
        instance=instance,
        resources=_run_resources(config),
        run_config={**QUIET, "ops": {"winback_dbt_models": {"config": dbt_config}}},
        raise_on_error=False,
    )


def run_pipeline(
    config: WinbackConfig,
    instance: dg.DagsterInstance | None = None,
    full_refresh: bool = False,
    progress: Callable[[str], None] = print,
    preset: str | None = None,
    settings: dict | None = None,
) -> PipelineSummary:
    ensure_manifest()
    instance = instance or dg.DagsterInstance.get()
    summary = PipelineSummary(publish_dir=str(config.publish_dir))
    files = landing_files(config.landing_dir)
    if not files:
        summary.errors.append(f"no landing files found in {config.landing_dir}")
    progress(f"Ingesting {len(files)} landing file(s) from {config.landing_dir}")
    for i, rel in enumerate(files, 1):
        outcome = ingest_landing_file(rel, config, instance)
        summary.files.append(outcome)
        if outcome.success:
            progress(
                f"  [{i}/{len(files)}] {rel}: {outcome.rows_read:,} read, "
                f"{outcome.rows_loaded:,} loaded, {outcome.rows_quarantined:,} quarantined, "
                f"{outcome.duplicates_dropped:,} duplicates ({outcome.seconds:.1f}s)"
            )
        else:
            progress(f"  [{i}/{len(files)}] {rel}: FAILED: {outcome.error}")
            summary.errors.append(outcome.error or rel)

    progress("Building the marts with dbt and publishing them ...")
    started = time.perf_counter()
    with contextlib.redirect_stdout(_DbtLineFilter(progress)):
        result = build_marts(
            config, instance, full_refresh=full_refresh, preset=preset, settings=settings
        )
    summary.marts_seconds = time.perf_counter() - started
    summary.marts_success = result.success
    if not result.success:
        summary.errors.append(_failure_message(result))
        progress(f"  marts: FAILED: {summary.errors[-1]}")
    else:
        progress(f"  marts built and published ({summary.marts_seconds:.1f}s)")
        summary.published = published_counts(config)
    return summary


def published_counts(config: WinbackConfig) -> dict[str, int]:
    path = config.publish_dir / "winback.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [r[0] for r in con.execute("show tables").fetchall()]
        return {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}


def quarantine_by_rule(config: WinbackConfig) -> list[tuple[str, str, int]]:
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        return con.execute(
            f"select kind, rule, count(*) from {RAW_SCHEMA}.quarantine group by 1, 2 order by 1, 3 desc"
        ).fetchall()


def disengagement_summary(config: WinbackConfig) -> dict | None:
    """Users per pattern and per engagement label, and today's alerts, from the published file."""
    path = config.publish_dir / "winback.duckdb"
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
                "select pattern, count(*) from user_disengagement_patterns group by 1 order by 2 desc"
            ).fetchall(),
            "labels": con.execute(
                "select engagement_label, count(*) from user_daily_health "
                "where activity_date = (select max(activity_date) from user_daily_health) "
                "group by 1 order by 2 desc"
            ).fetchall(),
            "alerts": con.execute(
                "select count(*), count(*) filter (where crossed_into_at_risk) from disengagement_alerts"
            ).fetchone(),
        }
