"""dbt models as Dagster assets: `dbt build`, so every dbt test is an asset check and a failing
test stops what is downstream.

The incremental window is computed here, not guessed: the earliest day touched by any landing
file ingested since the last successful build (raw.ingest_log), so a late file from last month
rebuilds exactly from last month, and a quiet day rebuilds only the lookback.

So are the thresholds under `cadence: auto` (docs/cadence.md): measured from the events before
dbt starts (winback.cadence, a read-only query), merged under the explicit settings, passed as
vars, and recorded in raw.builds / raw.build_settings / raw.build_warnings, the run's log and
the marts' metadata.
"""

import contextlib
import datetime as dt
import functools
import importlib
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets, get_asset_key_for_model

from orchestration.charts import mart_metadata
from orchestration.parse_ahead import dbt_target_dir, stop_process
from orchestration.project import winback_project
from orchestration.resources import WarehouseResource, WinbackSettings
from winback.cadence import Build, describe_profile, record_build, resolve_build
from winback.ingest import RAW_SCHEMA, ensure_raw_tables, short_error
from winback.model_settings import SettingError, check_setting, check_settings
from winback.settings import dbt_environment, run_vars_environment

# the marts whose rules read the thresholds cadence resolves: their metadata shows the table
CADENCE_MARTS = (
    "user_daily_engagement",
    "user_disengagement_patterns",
    "user_daily_health",
    "disengagement_alerts",
)
# the mart that carries the warnings about settings naming events that never occur
EVENTS_MART = "user_activity_daily"
# BI reads the marts through the publication: the UI warns when the daily build has not
# refreshed them for a day and a margin, and fails them after two.
MARTS_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(hours=48), warn_window=dt.timedelta(hours=26)
)


class DbtBuildConfig(dg.Config):
    """Launchpad / run config for the dbt assets."""

    as_of_date: str | None = None
    """The day the marts treat as today (YYYY-MM-DD). Default: WINBACK_AS_OF_DATE, else the
    latest valid event date."""
    start_date: str | None = None
    """Rebuild the incremental models from this day (YYYY-MM-DD). Default: the earliest day
    touched by files ingested since the last build, else the dbt lookback."""
    full_refresh: bool = False
    """Rebuild incremental models from scratch."""
    preset: str | None = None
    """Engagement settings preset: posthog, amplitude or mixpanel (docs/metrics.md)."""
    settings: dict[str, Any] = {}
    """Any dbt var by name, e.g. {"week_start": "sunday", "mau_window_days": 28}; wins over
    the preset. The list and defaults: dbt_project/dbt_project.yml."""

    def explicit_settings(self) -> dict[str, Any]:
        """The settings given for this run, checked (None values dropped: not given)."""
        return {k: v for k, v in check_settings(self.settings).items() if v is not None}

    def checked_vars(self, default_as_of: str | None, pending_start: str | None) -> dict[str, Any]:
        """The dbt vars of this run, every value checked (one line naming a bad setting)."""
        return dbt_vars(
            check_setting("as_of_date", self.as_of_date) or default_as_of,
            check_setting("start_date", self.start_date) or pending_start,
            check_setting("preset", self.preset),
            check_settings(self.settings),
        )


def with_project_settings(config: DbtBuildConfig, winback_config) -> DbtBuildConfig:
    """The run's settings on top of the project's (winback.yml `settings:`), so a run launched
    from the UI, the sensor or the schedule builds with the same settings as `winback run`."""
    try:
        project = winback_config.project()
    except ValueError as exc:
        raise dg.Failure(description=f"winback project: {exc}") from None
    if project is None or not project.settings:
        return config
    settings = {**project.settings, **config.settings}
    preset = config.preset or settings.pop("preset", None)
    settings.pop("preset", None)
    return config.model_copy(update={"settings": settings, "preset": preset})


class WinbackDbtTranslator(DagsterDbtTranslator):
    """Groups models by their folder: staging, intermediate, and each marts domain (core,
    engagement, disengagement, ...: `models/marts/<domain>/`), so the UI tells the same story
    as the dbt tree.

    The churn marts are views over the tables the churn steps write (dbt source `ml`), built
    by the one `dbt build` of the run, before those steps: their edge from the `ml` tables is
    left out of the asset graph (it would make the dbt step both upstream and downstream of
    the churn steps, and Dagster would split it into two dbt invocations). The checks that
    guard them (`winback_churn_marts`) run after the churn steps and depend on them."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = self.get_resource_props(manifest, unique_id)
        if node.get("resource_type") == "model":
            spec = spec.replace_attributes(group_name=model_group(node["fqn"]))
            if node["fqn"][1] == "marts":
                spec = dg.apply_freshness_policy(spec, MARTS_FRESHNESS)
            if any(d.asset_key.path[0] == ML_SCHEMA for d in spec.deps):
                spec = spec.replace_attributes(
                    deps=[d for d in spec.deps if d.asset_key.path[0] != ML_SCHEMA]
                )
        return spec


def model_group(fqn: Sequence[str]) -> str:
    """['winback', 'marts', 'core', 'users'] -> core; ['winback', 'staging', ...] -> staging."""
    folders = fqn[1:-1]
    if not folders:
        return "models"
    if folders[0] == "marts" and len(folders) > 1:
        return folders[1]
    return folders[0]


def dbt_vars(
    as_of_date: str | None,
    start_date: str | None,
    preset: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    variables: dict[str, Any] = dict(settings or {})
    if preset:
        variables["preset"] = preset
    if as_of_date:
        variables["as_of_date"] = as_of_date
    if start_date:
        variables["start_date"] = start_date
    return variables


def dbt_build_args(variables: Mapping[str, Any], full_refresh: bool) -> list[str]:
    args = ["build"]
    if variables:
        args += ["--vars", json.dumps(dict(variables), sort_keys=True)]
    if full_refresh:
        args.append("--full-refresh")
    return args


# dbt unit tests check the SQL's logic on fixed rows, not the day's data: they run where the SQL
# changes (a plain `dbt build`, the test suite: tests/test_dbt_unit_tests.py), not in every
# production build, where they cost seconds and can never fail on new data
PRODUCTION_EXCLUDES = ["--exclude-resource-type", "unit_test"]


def production_build_args(full_refresh: bool) -> list[str]:
    """The `dbt build` of a Dagster run: no unit tests, and no --vars: the run's values go in
    the environment (run_vars_environment), since dbt parses the whole project again, seconds,
    whenever --vars differ from the last run's, and the as-of date differs every day."""
    return dbt_build_args({}, full_refresh) + PRODUCTION_EXCLUDES


def pending_rebuild_start(con) -> tuple[str | None, Any]:
    """The earliest day touched by files ingested since the last build, and the ingestion time
    up to which that answer holds (so files landing during the build stay pending)."""
    # ingest_log holds UTC dates; a local day (reporting_timezone) can start up to a day
    # earlier, so the window opens one day before the earliest UTC day touched
    row = con.execute(
        f"select cast(min(affected_from) - interval 1 day as date), max(ingested_at) "
        f"from {RAW_SCHEMA}.ingest_log where needs_build"
    ).fetchone()
    start, watermark = row
    return (start.isoformat() if start else None), watermark


def mark_built(con, watermark) -> None:
    if watermark is not None:
        con.execute(
            f"update {RAW_SCHEMA}.ingest_log set needs_build = false "
            "where needs_build and ingested_at <= ?",
            [watermark],
        )


# the schema of the dbt source `ml`: the tables the churn steps in Python write
ML_SCHEMA = "ml"


@dbt_assets(
    manifest=winback_project.manifest_path,
    project=winback_project,
    dagster_dbt_translator=WinbackDbtTranslator(),
)
def winback_dbt_models(
    context: dg.AssetExecutionContext,
    config: DbtBuildConfig,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    winback: WinbackSettings,
):
    settings = winback.config()
    config = with_project_settings(config, settings)
    # a broken audiences.yml stops the run here, not after dbt and the churn model
    from orchestration.audiences import load_rules  # (that module imports this one)

    load_rules(winback)
    with warehouse.get_connection() as con:
        ensure_raw_tables(con)
        pending_start, watermark = pending_rebuild_start(con)
        event_dates = con.execute(
            f"select count(*), cast(min(occurred_at) as date), cast(max(occurred_at) as date) "
            f"from {RAW_SCHEMA}.events"
        ).fetchone()
    try:
        variables = config.checked_vars(
            settings.as_of_date.isoformat() if settings.as_of_date else None, pending_start
        )
    except SettingError as exc:
        raise dg.Failure(description=str(exc)) from None
    check_there_is_something_to_build(event_dates, variables.get("as_of_date"))
    with warehouse.get_connection() as con:
        build = resolve_build(
            con,
            config.explicit_settings(),
            as_of_date=variables.get("as_of_date"),
            full_refresh=config.full_refresh,
        )
        record_build(con, build, context.run_id)
    variables = with_auto_values(variables, build)
    log_build_settings(context, build)
    context.log.info(
        f"dbt build with as_of_date={variables.get('as_of_date') or 'latest event date'}, "
        f"incremental start={variables.get('start_date') or 'lookback from the last built day'}, "
        f"preset={variables.get('preset') or 'none'}, settings={config.settings or 'defaults'}"
        + (", full refresh" if config.full_refresh else "")
    )
    warm_up_imports()
    events = yield from _run_dbt_build(
        context,
        dbt,
        warehouse,
        production_build_args(config.full_refresh),
        run_vars_environment(variables),
    )
    with warehouse.get_connection() as con:
        mark_built(con, watermark)
        extra = build_metadata(build)
        events = [_with_mart_metadata(context, con, event, extra) for event in events]
    yield from events


# what the steps after dbt import (the marts' charts, the churn model and scores): imported in
# a background thread while dbt runs in its subprocess, when this process only reads dbt's log
# (about 2.5 s after dbt otherwise)
POST_DBT_IMPORTS = ("sklearn.metrics", "ml.churn.train", "ml.churn.score", "ml.churn.reasons")


def warm_up_imports() -> threading.Thread:
    def load() -> None:
        try:
            from orchestration.charts import _figure

            _figure()  # matplotlib, with its Agg backend
            for name in POST_DBT_IMPORTS:
                importlib.import_module(name)
        except Exception:  # noqa: BLE001 (the step that imports it reports a failure)
            pass

    thread = threading.Thread(target=load, name="winback-import-warm-up", daemon=True)
    thread.start()
    return thread


def _run_dbt_build(
    context,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    args: list[str],
    run_vars: Mapping[str, str],
):
    """Run dbt and return its events; on failure, yield what it built and raise one line.
    dbt holds the warehouse (one writer) until it ends, so the marts' row counts and charts
    are added afterwards: events are collected, then sent in dbt's (topological) order."""
    events, failure = [], None
    with dbt_subprocess_environment(warehouse.path, run_vars):
        invocation = dbt.cli(args, context=context, target_path=dbt_target_dir(warehouse.path))
        try:
            for event in invocation.stream():
                events.append(event)
        except Exception as exc:
            failure = exc
            stop_process(invocation.process)
    if failure is not None:
        yield from events  # what dbt built before failing is still recorded
        raise dg.Failure(description=dbt_failure_line(invocation, failure)) from failure
    return events


@contextlib.contextmanager
def dbt_subprocess_environment(warehouse, run_vars: Mapping[str, str]) -> Iterator[None]:
    """The variables dbt's profile and run_var read, set for the dbt subprocess only: the
    process's own environment is as it was afterwards (a later run in the same process, or a
    test, must not inherit this run's WINBACK_WAREHOUSE or vars)."""
    values = {**dbt_environment(warehouse), **run_vars}
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def with_auto_values(variables: Mapping[str, Any], build: Build) -> dict[str, Any]:
    """The run's dbt vars with the auto values added under the explicit ones."""
    merged = dict(variables)
    for name, value in build.auto_values().items():
        if merged.get(name) is None:
            merged[name] = value
    return merged


def log_build_settings(context: dg.AssetExecutionContext, build: Build) -> None:
    if build.profile is not None:
        how = f"kept from the build as of {build.measured_as_of}" if build.kept_from else "measured"
        context.log.info(
            f"cadence: auto, gap distribution {how}:\n" + "\n".join(describe_profile(build.profile))
        )
    rows = [r for r in build.settings if r.source != "default"]
    if rows:
        context.log.info(
            f"settings (cadence: {build.cadence}):\n"
            + "\n".join(f"  {r.name} = {r.value} ({r.source}: {r.reason})" for r in rows)
        )
    for warning in build.warnings:
        context.log.warning(warning)


def build_metadata(build: Build) -> dict[str, dict[str, Any]]:
    """Extra metadata per mart: the settings table on the marts that use the thresholds, the
    gap distribution with them, the warnings on user_activity_daily."""
    settings = {
        "winback/cadence": build.cadence,
        "winback/settings": dg.MetadataValue.md(build.markdown()),
    }
    if build.profile is not None:
        settings["winback/gap_distribution"] = dg.MetadataValue.json(build.profile.to_dict())
    warnings = {
        "winback/setting_warnings": dg.MetadataValue.md(
            "\n".join(f"- {w}" for w in build.warnings) if build.warnings else "none"
        ),
        "winback/setting_warning_count": len(build.warnings),
    }
    extra = {name: dict(settings) for name in CADENCE_MARTS}
    extra[EVENTS_MART] = warnings
    return extra


def check_there_is_something_to_build(event_dates: tuple, as_of_date: str | None) -> None:
    """Stop before dbt when the marts could only come out empty: no events at all, or an as-of
    date before the first one (a local day can start a day before its UTC date)."""
    count, first, last = event_dates
    if not count:
        raise dg.Failure(
            description="no events in the warehouse: every events file was rejected or "
            "quarantined, or none was found; nothing was built or published"
        )
    if as_of_date and dt.date.fromisoformat(as_of_date) < first - dt.timedelta(days=1):
        raise dg.Failure(
            description=f"as-of date {as_of_date} is before the first event ({first}): every "
            f"mart would be empty; choose a date from {first} to {last}"
        )


def dbt_failure_line(invocation, exc: Exception) -> str:
    """One line saying which dbt nodes failed and why (dbt's own messages, without the log)."""
    failures = []
    try:
        results = invocation.get_artifact("run_results.json")["results"]
    except Exception:  # no run_results: dbt stopped before running anything
        results = []
    for r in results:
        if r.get("status") in ("error", "fail", "runtime error"):
            node = r["unique_id"].split(".")[-1]
            failures.append(f"{node}: {short_error(r.get('message') or r['status'], 200)}")
    if not failures:
        messages = getattr(invocation, "_error_messages", None) or [str(exc)]
        failures = [short_error(m, 300) for m in messages[:3]]
    return f"dbt build failed ({len(failures)}): " + "; ".join(failures[:5])


def _with_mart_metadata(
    context: dg.AssetExecutionContext,
    con,
    event,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
):
    if not isinstance(event, dg.Output):
        return event
    key = context.asset_key_for_output(event.output_name)
    if key.path[0] != "marts":
        return event
    spec = context.assets_def.specs_by_key[key]
    # a churn mart's rows come from the churn steps, after dbt: winback_churn_marts counts them
    counts = {} if key.path[-1] in CHURN_MARTS else mart_metadata(con, key.path[-1])
    metadata = {
        **event.metadata,
        **counts,
        "dagster/column_schema": column_schema(con, key.path[-1], spec),
        **(extra or {}).get(key.path[-1], {}),
    }
    return event.with_metadata(metadata)


def column_schema(con, table: str, spec: dg.AssetSpec) -> dg.TableSchema:
    """The mart's columns as built, with their DuckDB types, and the descriptions its YAML
    gives them (what BI users read in the asset's page)."""
    declared = spec.metadata.get("dagster/column_schema")
    descriptions = {c.name: c.description for c in declared.columns} if declared else {}
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' and table_name = ? order by ordinal_position",
        [table],
    ).fetchall()
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=name, type=data_type.lower(), description=descriptions.get(name))
            for name, data_type in rows
        ]
    )


@functools.cache
def dbt_manifest() -> dict[str, Any]:
    """The dbt manifest the assets were built from, read once per process."""
    return json.loads(winback_project.manifest_path.read_text())


def mart_asset_keys(model_names: Sequence[str] | None = None) -> list[dg.AssetKey]:
    """Asset keys of the models in the marts folder (what is published for BI)."""
    manifest = dbt_manifest()
    names = model_names or sorted(
        n["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["fqn"][1] == "marts"
    )
    keys = []
    for name in names:
        keys.append(get_asset_key_for_model([winback_dbt_models], name))
    return keys


# The churn marts' data tests, run once the churn steps have written today's rows: the marts are
# views over those rows (models/marts/churn), so a dbt test in the build, before the steps, would
# check yesterday's. Each: (mart, check name = the dbt test it replaces, what it asserts, a query
# counting the rows that break it).
CHURN_MART_CHECKS = (
    (
        "churn_scores",
        "unique_combination_churn_scores_user_id__as_of_date",
        "One row per user and as-of date.",
        "select count(*) from (select user_id, as_of_date from marts.churn_scores "
        "group by user_id, as_of_date having count(*) > 1)",
    ),
    (
        "churn_scores",
        "between_churn_scores_churn_probability__1__0",
        "Every churn probability lies in [0, 1].",
        "select count(*) from marts.churn_scores "
        "where churn_probability < 0 or churn_probability > 1",
    ),
    (
        "churn_scores",
        "accepted_values_churn_scores_risk_tier__high__medium__low",
        "The risk tier is high, medium or low.",
        "select count(*) from marts.churn_scores where risk_tier not in ('high', 'medium', 'low')",
    ),
    (
        "churn_model_evaluation",
        "unique_combination_churn_model_evaluation_model_version__fold__model",
        "One row per model version, fold and model.",
        "select count(*) from (select model_version, fold, model "
        "from marts.churn_model_evaluation group by model_version, fold, model "
        "having count(*) > 1)",
    ),
    (
        "churn_model_evaluation",
        "accepted_values_churn_model_evaluation_model__logistic__hgb__bgnbd_calibrated__recency__bgnbd",
        "The model is logistic, hgb, bgnbd_calibrated, recency or bgnbd.",
        "select count(*) from marts.churn_model_evaluation where model not in "
        "('logistic', 'hgb', 'bgnbd_calibrated', 'recency', 'bgnbd')",
    ),
)
CHURN_MARTS = ("churn_scores", "churn_model_evaluation", "churn_calibration")


def ml_source_keys() -> list[dg.AssetKey]:
    """The asset keys of the `ml` source's tables: the churn steps' assets (ml/churn_scores,
    ml/churn_model_evaluation, ml/churn_calibration)."""
    translator = WinbackDbtTranslator()
    return sorted(
        translator.get_asset_key(source)
        for source in dbt_manifest()["sources"].values()
        if source["source_name"] == ML_SCHEMA
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            name,
            asset=get_asset_key_for_model([winback_dbt_models], mart),
            description=description,
            blocking=True,
            additional_deps=ml_source_keys(),
        )
        for mart, name, description, _ in CHURN_MART_CHECKS
    ],
    name="winback_churn_marts",
)
def winback_churn_marts(warehouse: WarehouseResource):
    """The churn marts as published, checked after the churn steps (blocking: a failure stops
    the publication). Their rows are counted here: the views' materialization by dbt precedes
    the churn steps."""
    with warehouse.get_connection() as con:
        rows = {
            mart: con.execute(f"select count(*) from marts.{mart}").fetchone()[0]
            for mart in CHURN_MARTS
        }
        for mart, name, description, query in CHURN_MART_CHECKS:
            failing = con.execute(query).fetchone()[0]
            yield dg.AssetCheckResult(
                asset_key=get_asset_key_for_model([winback_dbt_models], mart),
                check_name=name,
                passed=failing == 0,
                description=description
                if not failing
                else f"{failing:,} rows break it: " + description,
                metadata={"failing_rows": failing, "rows": rows[mart]},
            )


defs = dg.Definitions(assets=[winback_dbt_models], asset_checks=[winback_churn_marts])
