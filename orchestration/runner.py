"""Materialize everything for a landing folder in one process: each new or changed landing file
as its own partition run, then one run of the dbt models and the publication. Every run is
recorded in the Dagster instance (DAGSTER_HOME), so it shows in the UI like one launched from
there.

A file is ingested once, and again only when its content (or how it is read) changes: a file
still as raw.ingest_log recorded it is skipped without being read, so it marks no day for
rebuilding and the daily run costs what the new files cost (`winback.landing.compare`, which
the sensor uses too). `reingest=True` reads every file again."""

import contextlib
import datetime as dt
import io
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from orchestration.definitions import resources as default_resources
from orchestration.ingest import FILE_PARTITIONS, RAW_ASSETS
from orchestration.parse_ahead import ParseAhead
from orchestration.project import ensure_manifest
from orchestration.publish import clean_leftovers
from orchestration.resources import WarehouseResource, WinbackSettings
from winback.contract import FILE_KINDS, kind_for_path
from winback.ingest import short_error
from winback.landing import (
    PlannedFile,
    Verdict,
    compare_all,
    plan_ingestion,
    record_touched,
    recorded_ingests,
)
from winback.locking import describe_holder, warehouse_lock
from winback.model_settings import check_setting, check_settings
from winback.reports import published_counts
from winback.settings import WinbackConfig

# failures are reported once, as a line on stdout and in full in the run's log file
QUIET = {"console": {"config": {"log_level": "CRITICAL"}}}


class RunRefused(Exception):
    """The run cannot start or would publish nothing usable; one line says why."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


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
    rows_skipped: int = 0
    error: str | None = None
    details: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)


@dataclass
class PipelineSummary:
    files: list[FileOutcome] = field(default_factory=list)
    marts_success: bool = False
    marts_seconds: float = 0.0
    published: dict[str, int] = field(default_factory=dict)
    publish_dir: str = ""
    errors: list[str] = field(default_factory=list)
    # files skipped: unchanged since their last ingest (raw holds them already)
    unchanged: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # full errors with stack traces
    # what the summary shows from the warehouse, read while the run still holds it (once the
    # lock is released the next run may open the file for writing: a reader would block it)
    quarantine_rules: list[tuple[str, str, int]] = field(default_factory=list)
    build_settings: list[dict] = field(default_factory=list)
    build_warnings: list[str] = field(default_factory=list)
    # asset checks that failed with a warning (the run went on): "<asset> <check>: why"
    check_warnings: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.marts_success and all(f.success for f in self.files)

    def totals(self) -> dict[str, int]:
        return {
            k: sum(getattr(f, k) for f in self.files)
            for k in (
                "rows_read",
                "rows_loaded",
                "rows_quarantined",
                "duplicates_dropped",
                "rows_skipped",
            )
        }


def _failures(result: dg.ExecuteInProcessResult) -> tuple[str, list[str]]:
    """The first failure as one line (the cause, not the wrapper), and every failure in full."""
    lines, details = [], []
    for event in result.all_events:
        if event.event_type_value not in ("STEP_FAILURE", "RUN_FAILURE"):
            continue
        data = event.step_failure_data if event.event_type_value == "STEP_FAILURE" else None
        error = data.error if data else getattr(event.event_specific_data, "error", None)
        user = data.user_failure_data if data else None
        if user is not None and user.description:
            lines.append(" ".join(user.description.split()))
        elif error is not None:
            cause = error
            while cause.cause is not None:
                cause = cause.cause
            lines.append(f"{cause.cls_name}: {short_error(cause.message.strip(), 400)}")
        if error is not None:
            details.append(f"{event.step_key or 'run'}: {error.to_string()}")
    return (lines[0] if lines else "run failed (see the run in the Dagster UI)"), details


def _run_resources(config: WinbackConfig) -> dict:
    return {
        **default_resources(),
        "warehouse": WarehouseResource(database=str(config.warehouse)),
        "winback": WinbackSettings.from_config(config),
    }


def ingest_landing_file(
    planned: PlannedFile | str, config: WinbackConfig, instance: dg.DagsterInstance
) -> FileOutcome:
    if isinstance(planned, str):  # a path in the landing folder
        planned = PlannedFile(planned, kind_for_path(planned), "")
    relative_path, kind = planned.path, planned.kind
    partitions = FILE_PARTITIONS[kind.name]
    if not instance.has_dynamic_partition(partitions.name, relative_path):
        instance.add_dynamic_partitions(partitions.name, [relative_path])
    started = time.perf_counter()
    result = dg.materialize(
        [RAW_ASSETS[kind.name]],
        partition_key=relative_path,
        instance=instance,
        resources=_run_resources(config),
        run_config=dg.RunConfig(loggers=QUIET),
        raise_on_error=False,
        tags={"winback/source_file": relative_path},
    )
    outcome = FileOutcome(relative_path, result.success, time.perf_counter() - started)
    if result.success:
        meta = result.asset_materializations_for_node(RAW_ASSETS[kind.name].node_def.name)[
            0
        ].metadata
        for name in (
            "rows_read",
            "rows_loaded",
            "rows_quarantined",
            "duplicates_dropped",
            "rows_skipped",
        ):
            setattr(outcome, name, meta[name].value)
        outcome.hints = [h for h in meta["hints"].value.split("; ") if h]
    else:
        outcome.error, outcome.details = _failures(result)
    return outcome


def failed_checks(result: dg.ExecuteInProcessResult) -> list[str]:
    """The asset checks of a run that did not pass, one line each with their description
    (dbt's tests have none: their name says it)."""
    lines = []
    for event in result.all_events:
        if event.event_type_value != "ASSET_CHECK_EVALUATION":
            continue
        data = event.event_specific_data
        if data.passed:
            continue
        key = data.asset_check_key
        why = f": {data.description}" if data.description else ""
        lines.append(f"{key.asset_key.to_user_string()} {key.name}{why}")
    return lines


def build_marts(
    config: WinbackConfig,
    instance: dg.DagsterInstance,
    full_refresh: bool = False,
    start_date: dt.date | None = None,
    preset: str | None = None,
    settings: dict | None = None,
    retrain: bool = False,
) -> dg.ExecuteInProcessResult:
    from orchestration.churn import ChurnModelConfig, churn_model
    from orchestration.dbt import DbtBuildConfig, winback_dbt_models
    from orchestration.publish import marts_run_assets

    dbt_config = DbtBuildConfig(
        as_of_date=config.as_of_date.isoformat() if config.as_of_date else None,
        start_date=start_date.isoformat() if start_date else None,
        full_refresh=full_refresh,
        preset=preset,
        settings=settings or {},
    )
    return dg.materialize(
        marts_run_assets(),
        instance=instance,
        resources=_run_resources(config),
        run_config=dg.RunConfig(
            ops={
                winback_dbt_models.op.name: dbt_config,
                churn_model.op.name: ChurnModelConfig(retrain=retrain),
            },
            loggers=QUIET,
        ),
        raise_on_error=False,
    )


def check_audience_rules(project) -> None:
    """The win-back rules (the project's audiences.yml, else the default) are checked before
    anything runs: a typo refuses the run (exit 2) with the line and the key."""
    from winback.audiences import AudienceRulesError, rules_for

    try:
        rules_for(project.root if project else None)
    except AudienceRulesError as exc:
        raise RunRefused(str(exc), exit_code=2) from None


def check_landing(landing_dir: Path, project=None, validation=None) -> list[PlannedFile]:
    """The files to ingest (the landing folder's and the project's sources'); refuses (exit 2)
    when there are none."""
    sources, root = (project.sources, project.root) if project else ((), None)
    if not landing_dir.is_dir() and not sources:
        raise RunRefused(f"the landing folder {landing_dir} does not exist", exit_code=2)
    files = plan_ingestion(landing_dir, sources=sources, root=root, validation=validation)
    if not files and sources:
        paths = ", ".join(p for s in sources for p in s.paths)
        raise RunRefused(
            f"no file matches the sources of {project.file} ({paths}) and the landing folder "
            f"{landing_dir} holds no file in winback's layout",
            exit_code=2,
        )
    if not files:
        ignored = sorted(
            p.relative_to(landing_dir).as_posix()
            for p in landing_dir.rglob("*")
            if p.is_file() and not p.name.startswith((".", "_"))
        )
        seen = f"; ignored {len(ignored)} file(s) such as {ignored[0]}" if ignored else ""
        raise RunRefused(
            f"no landing file in {landing_dir}: a file's kind ({', '.join(FILE_KINDS)}) must be "
            "its folder or its name's start, and its format .csv, .parquet or .jsonl" + seen,
            exit_code=2,
        )
    return files


def run_pipeline(
    config: WinbackConfig,
    instance: dg.DagsterInstance | None = None,
    full_refresh: bool = False,
    progress: Callable[[str], None] = print,
    preset: str | None = None,
    settings: dict | None = None,
    allow_mixed: bool = False,
    retrain: bool = False,
    reingest: bool = False,
    parse_ahead: ParseAhead | None = None,
) -> PipelineSummary:
    """Ingest the new and changed landing files (every file with `reingest`), then build and
    publish the marts, holding the warehouse's run lock throughout. Raises `SettingError` /
    `RunRefused` / `WarehouseBusy` before anything is written when the run cannot start.
    `parse_ahead`: the warehouse's dbt parse, when the caller started it already (the caller
    stops it if this raises)."""
    project = config.project()
    if project is not None:  # winback.yml's settings, under the command line's
        settings = {**project.settings, **(settings or {})}
        preset = preset or settings.pop("preset", None)
    preset = check_setting("preset", preset)
    settings = check_settings(settings)
    check_audience_rules(project)
    files = check_landing(config.landing_dir, project, config.validation)
    ensure_manifest()
    instance = instance or dg.DagsterInstance.get()
    summary = PipelineSummary(publish_dir=str(config.publish_dir))
    with warehouse_lock(
        config.warehouse, what="winback run", wait_seconds=config.lock_wait, on_wait=progress
    ) as stale:
        if stale:
            progress(f"  (took over the lock of {describe_holder(stale)}, which ended without it)")
        _check_origin(config, allow_mixed)
        if config.publish_dir.is_dir():
            removed = clean_leftovers(config.publish_dir, config.keep_publications)
            if removed:
                progress(f"  removed what an interrupted publication left: {', '.join(removed)}")
        _ingest_and_build(
            config,
            instance,
            files,
            summary,
            progress,
            full_refresh,
            preset,
            settings,
            retrain,
            reingest,
            parse_ahead,
        )
        _read_for_summary(config, summary)
    return summary


def _read_for_summary(config: WinbackConfig, summary: PipelineSummary) -> None:
    from winback.cadence import build_warnings, resolved_thresholds
    from winback.reports import quarantine_by_rule

    if not config.warehouse.exists():
        return
    if summary.totals()["rows_quarantined"]:
        summary.quarantine_rules = quarantine_by_rule(config.warehouse)
    if summary.marts_success:
        summary.build_settings = resolved_thresholds(config.warehouse)
        summary.build_warnings = build_warnings(config.warehouse)


def _check_origin(config: WinbackConfig, allow_mixed: bool) -> None:
    """Refuse (exit 2) a warehouse built from another project or landing folder."""

    from winback.origin import MixedSources, check_origin, origin_of

    config.warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = _open_for_writing(config.warehouse)
    try:
        check_origin(con, origin_of(config.project_file, config.landing_dir), allow_mixed)
    except MixedSources as exc:
        raise RunRefused(f"{config.warehouse}: {exc}", exit_code=2) from None
    finally:
        con.close()


def _open_for_writing(warehouse: Path, attempts: int = 20):
    """The warehouse, writable. The run holds the lock, but a reader that does not take it
    (`winback status`, a read-only tool) may still have the file open for a moment."""
    import duckdb

    for attempt in range(attempts):
        try:
            return duckdb.connect(str(warehouse))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or attempt == attempts - 1:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def files_to_ingest(
    warehouse: Path, files: list[PlannedFile], validation=None
) -> tuple[list[PlannedFile], list[Verdict], int]:
    """The files a run must ingest (new, changed, or last rejected), the verdicts of those it
    skips (unchanged or only touched: their new time is recorded) and the rows raw holds from
    the skipped ones. The caller holds the warehouse's run lock."""
    from winback.ingest import RAW_SCHEMA, ensure_raw_tables

    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = _open_for_writing(warehouse)
    try:
        ensure_raw_tables(con)
        verdicts = compare_all(files, recorded_ingests(con, validation), keep_hash=False)
        skipped = [v for v in verdicts if not v.to_ingest]
        record_touched(con, skipped)
        held = 0
        if skipped:
            held = con.execute(
                f"select coalesce(sum(rows_loaded), 0) from {RAW_SCHEMA}.ingest_log "
                "where status = 'loaded' and list_contains(?, source_file)",
                [[v.planned.path for v in skipped]],
            ).fetchone()[0]
    finally:
        con.close()
    return [v.planned for v in verdicts if v.to_ingest], skipped, held


def ingest_files(
    config: WinbackConfig,
    instance: dg.DagsterInstance,
    files: list[PlannedFile],
    summary: PipelineSummary,
    progress: Callable[[str], None] = print,
    reingest: bool = False,
) -> bool:
    """A run's ingest step: each new or changed file (every file with `reingest`) as its own
    partition run, the others skipped. Whether raw holds rows to build the marts from."""
    where = config.project_file or config.landing_dir
    skipped, held = [], 0
    if reingest:
        todo = files
        progress(f"Ingesting {len(files)} file(s) of {where} (--reingest: unchanged ones too)")
    else:
        todo, skipped, held = files_to_ingest(config.warehouse, files, config.validation)
        progress(
            f"Ingesting {len(todo)} of {len(files)} file(s) of {where}: new or changed since "
            "their last ingest"
        )
        summary.unchanged = [v.planned.path for v in skipped]
        _report_skipped(skipped, progress)
    if todo:
        from winback.expectations import warm_up

        # GE (seconds to import) loads in a background thread while the largest file is read,
        # which is why that one goes first; the others follow in their order
        warm_up({planned.kind.name for planned in todo})
        todo = _largest_first(todo, config.landing_dir)
    for i, planned in enumerate(todo, 1):
        rel = planned.path
        outcome = ingest_landing_file(planned, config, instance)
        summary.files.append(outcome)
        if outcome.success:
            skipped_rows = f", {outcome.rows_skipped:,} skipped" if outcome.rows_skipped else ""
            progress(
                f"  [{i}/{len(todo)}] {rel}: {outcome.rows_read:,} read, "
                f"{outcome.rows_loaded:,} loaded, {outcome.rows_quarantined:,} quarantined, "
                f"{outcome.duplicates_dropped:,} duplicates{skipped_rows} ({outcome.seconds:.1f}s)"
            )
            for hint in outcome.hints:
                progress(f"      hint: {hint}")
        else:
            progress(f"  [{i}/{len(todo)}] {rel}: FAILED: {outcome.error}")
            summary.errors.append(outcome.error or rel)
            summary.details += outcome.details

    loaded = [f for f in summary.files if f.success]
    if held or any(f.rows_loaded for f in loaded):
        return True
    rejected = not loaded and not skipped
    why = "every landing file was rejected" if rejected else "every row was quarantined"
    summary.errors.append(
        f"nothing to build: {why}; the marts and the publication are left as they were"
    )
    progress(f"  {summary.errors[-1]}")
    return False


def _largest_first(files: list[PlannedFile], landing_dir: Path) -> list[PlannedFile]:
    def size(planned: PlannedFile) -> int:
        try:
            return (planned.file or landing_dir / planned.path).stat().st_size
        except OSError:  # gone meanwhile: its ingest reports it
            return -1

    largest = max(range(len(files)), key=lambda i: size(files[i]))
    return [files[largest], *files[:largest], *files[largest + 1 :]]


def _report_skipped(skipped: list[Verdict], progress: Callable[[str], None]) -> None:
    """One line per skipped file when they are few, else one line for all of them."""
    touched = sum(v.status == "touched" for v in skipped)
    if len(skipped) <= 3:
        for v in skipped:
            how = " (touched: new time, same content)" if v.status == "touched" else ""
            progress(f"  {v.planned.path}: unchanged since its last ingest, skipped{how}")
    else:
        how = f" ({touched} of them touched: new time, same content)" if touched else ""
        progress(f"  {len(skipped)} file(s) unchanged since their last ingest, skipped{how}")


def _ingest_and_build(
    config,
    instance,
    files,
    summary,
    progress,
    full_refresh,
    preset,
    settings,
    retrain=False,
    reingest=False,
    parse=None,
):
    parse = parse or ParseAhead(config.warehouse)  # dbt parses on the other core meanwhile
    try:
        ready = ingest_files(config, instance, files, summary, progress, reingest)
    except BaseException:
        parse.stop()
        raise
    parse.wait()
    if not ready:
        return

    progress("Building the marts with dbt and publishing them ...")
    started = time.perf_counter()
    with contextlib.redirect_stdout(_DbtLineFilter(progress)):
        result = build_marts(
            config,
            instance,
            full_refresh=full_refresh,
            preset=preset,
            settings=settings,
            retrain=retrain,
        )
    summary.marts_seconds = time.perf_counter() - started
    summary.marts_success = result.success
    summary.check_warnings = failed_checks(result)
    if not result.success:
        line, details = _failures(result)
        summary.errors.append(line)
        summary.details += details
        progress(f"  marts: FAILED: {line} (the publication is left as it was)")
    else:
        progress(f"  marts built and published ({summary.marts_seconds:.1f}s)")
        summary.published = published_counts(config.publish_dir)
