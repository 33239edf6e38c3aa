"""The code location: definitions, lineage, dbt arguments, schedule and sensor."""

import datetime as dt
import functools
import json

import dagster as dg

from orchestration.automation import as_of_for_tick, daily_marts_schedule, landing_files_sensor
from orchestration.dbt import MARTS_FRESHNESS, dbt_build_args, dbt_vars
from orchestration.definitions import defs
from orchestration.resources import WinbackSettings
from tests.clone import clone_tracked_files
from winback.landing import plan_ingestion


def key(s: str) -> dg.AssetKey:
    return dg.AssetKey(s.split("/"))


def test_definitions_load_and_lineage_runs_from_landing_to_published():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {
        "raw/events",
        "raw/users",
        "raw/messages",
        "raw/survey_responses",
        "raw/billing",
    } <= keys
    assert {
        "marts/user_activity_daily",
        "marts/users",
        "marts/daily_activity",
        "published/bi_marts",
    } <= keys

    # raw/events -> staging -> intermediate -> marts -> published, through the dbt source
    assert key("raw/events") in graph.get(key("staging/stg_landing__events")).parent_keys
    assert (
        key("intermediate/int_events_deduplicated")
        in graph.get(key("marts/user_activity_daily")).parent_keys
    )
    published_parents = graph.get(key("published/bi_marts")).parent_keys
    assert {
        key("marts/users"),
        key("marts/daily_activity"),
        key("marts/user_activity_daily"),
    } <= published_parents
    assert {
        key(f"raw/{k}") for k in ("events", "users", "messages", "survey_responses", "billing")
    } <= upstream(graph, key("published/bi_marts"))


def test_churn_lineage_runs_from_the_features_through_python_back_into_dbt():
    """features (dbt) -> ml/churn_training_set -> ml/churn_model -> ml/churn_scores (Python)
    -> marts/churn_scores (a view built by the same dbt step, checked after the churn steps by
    winback_churn_marts) -> published; the labels feed only the training set."""
    graph = defs.resolve_asset_graph()
    parents = lambda name: graph.get(key(name)).parent_keys  # noqa: E731
    assert {key("features/churn_features"), key("features/churn_labels")} <= parents(
        "ml/churn_training_set"
    )
    assert key("ml/churn_training_set") in parents("ml/churn_model")
    assert key("ml/churn_model") in parents("ml/churn_scores")
    # one dbt step builds the churn marts (views over the ml tables) before the churn steps
    # write them; their checks read the ml assets, so they run after those steps
    from orchestration.dbt import winback_churn_marts

    check_deps = {}
    for spec in winback_churn_marts.check_specs:
        check_deps.setdefault(spec.asset_key, set()).update(
            d.asset_key for d in spec.additional_deps
        )
    assert key("ml/churn_scores") in check_deps[key("marts/churn_scores")]
    assert key("ml/churn_model_evaluation") in check_deps[key("marts/churn_model_evaluation")]
    assert {key("marts/churn_scores"), key("marts/churn_model_evaluation")} <= parents(
        "published/bi_marts"
    )
    assert graph.get(key("ml/churn_scores")).group_name == "churn"
    assert graph.get(key("marts/churn_scores")).group_name == "churn"
    assert graph.get(key("features/churn_features")).group_name == "features"
    labels_children = {
        k
        for k in graph.get_all_asset_keys()
        if key("features/churn_labels") in upstream(graph, k) and k.path[0] == "marts"
    }
    assert labels_children <= {
        key("marts/churn_scores"),
        key("marts/churn_model_evaluation"),
        key("marts/churn_calibration"),
    }  # only through the trained model, never read as a table
    checks = {c.name for c in graph.asset_check_keys if c.asset_key.path[0] == "ml"}
    assert {"label_windows_closed", "promotion_gate", "scores_complete", "score_drift"} <= checks


def upstream(graph, start: dg.AssetKey) -> set[dg.AssetKey]:
    seen, todo = set(), [start]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def test_dbt_tests_become_asset_checks():
    graph = defs.resolve_asset_graph()
    check_names = {c.name for c in graph.asset_check_keys if c.asset_key == key("marts/users")}
    assert "primary_key_users_user_id" in check_names
    assert {c.name for c in graph.asset_check_keys if c.asset_key == key("raw/events")} >= {
        "counts_reconcile",
        "great_expectations",
    }


def test_dbt_build_arguments():
    assert dbt_build_args({}, False) == ["build"]
    assert dbt_build_args(dbt_vars("2024-01-31", "2024-01-01"), True) == [
        "build",
        "--vars",
        '{"as_of_date": "2024-01-31", "start_date": "2024-01-01"}',
        "--full-refresh",
    ]
    assert dbt_vars(None, None) == {}


def test_the_dbt_resource_skips_dagster_dbts_start_up_work_without_changing_what_runs():
    """WinbackDbtResource overrides two private members of dagster-dbt's resource: they must
    still exist (a dagster-dbt upgrade that renames them would silently bring the cost back)
    and the version it reports must be the one of the dbt executable it runs."""
    import subprocess

    from dagster_dbt import DbtCliResource

    from orchestration.resources import WinbackDbtResource

    assert isinstance(DbtCliResource.__dict__["_cli_version"], functools.cached_property)
    assert callable(DbtCliResource.__dict__["_initialize_dbt_core_adapter"])
    resource = defs.resources["dbt"]
    assert isinstance(resource, WinbackDbtResource)
    assert resource._initialize_dbt_core_adapter(["build"]) is None
    printed = subprocess.run(
        [resource.dbt_executable, "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert f"installed: {resource._cli_version}" in printed


def test_schedule_builds_yesterday():
    assert as_of_for_tick(dt.datetime(2026, 3, 1, 2, 0)) == "2026-02-28"
    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 3, 1, 2, 0))
    request = daily_marts_schedule(context)
    assert request.run_config["ops"]["winback_dbt_models"]["config"]["as_of_date"] == "2026-02-28"


def test_sensor_registers_new_files_once(tmp_path):
    landing = tmp_path / "landing"
    (landing / "events").mkdir(parents=True)
    (landing / "events" / "a.csv").write_text("user_id,event_name,occurred_at\n")
    (landing / "users.csv").write_text("user_id\n")
    instance = dg.DagsterInstance.ephemeral()
    settings = WinbackSettings(landing_dir=str(landing))

    result = landing_files_sensor(
        dg.build_sensor_context(instance=instance, resources={"winback": settings})
    )
    partition_keys = sorted(r.partition_key for r in result.run_requests if r.partition_key)
    assert partition_keys == ["events/a.csv", "users.csv"]
    assert [r.job_name for r in result.run_requests][-1] == "build_marts"
    added = {
        (r.partitions_def_name, tuple(r.partition_keys)) for r in result.dynamic_partitions_requests
    }
    assert added == {("events_files", ("events/a.csv",)), ("users_files", ("users.csv",))}

    cursor = result.cursor
    again = landing_files_sensor(
        dg.build_sensor_context(instance=instance, cursor=cursor, resources={"winback": settings})
    )
    assert isinstance(again, dg.SkipReason)
    assert plan_ingestion(landing, json.loads(cursor)) == []
    (landing / "users.csv").write_text("user_id\nu1\n")  # changed: planned again
    assert [f.path for f in plan_ingestion(landing, json.loads(cursor))] == ["users.csv"]


def test_code_location_loads_like_under_dagster_dev(tmp_path):
    """`make ui` loads workspace.yaml in a fresh process, with dagster-dbt's dev preparer active
    and without the virtualenv on PATH. Run on a copy of the tracked files: the dev preparer
    re-parses the dbt project, which must not rewrite the manifest other tests are reading."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    copy = clone_tracked_files(tmp_path / "clone")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        PATH="/usr/bin:/bin",
        DAGSTER_IS_DEV_CLI="1",
        DAGSTER_HOME=str(tmp_path),
        PYTHONPATH=str(copy),
    )
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Validation successful" in result.stdout + result.stderr
    assert (copy / "dbt_project" / "target" / "manifest.json").exists()  # the copy's own


def test_incremental_window_opens_a_day_before_the_earliest_utc_day_touched():
    import duckdb

    from orchestration.dbt import mark_built, pending_rebuild_start
    from winback.ingest import ensure_raw_tables

    con = duckdb.connect()
    ensure_raw_tables(con)
    con.execute(
        "insert into raw.ingest_log (kind, source_file, status, affected_from, affected_to, needs_build, ingested_at) values "
        "('events', 'a.csv', 'loaded', date '2025-03-10', date '2025-03-12', true, timestamp '2025-03-13 01:00'), "
        "('events', 'b.csv', 'loaded', date '2025-03-01', date '2025-03-02', false, timestamp '2025-03-03 01:00')"
    )
    start, watermark = pending_rebuild_start(con)
    assert start == "2025-03-09"  # b.csv is already built; a.csv's first UTC day minus one
    mark_built(con, watermark)
    assert pending_rebuild_start(con)[0] is None


def test_rejected_files_check_warns_until_the_file_is_fixed(tmp_path):
    import duckdb
    import pytest

    from orchestration.ingest import RAW_ASSETS, no_rejected_files
    from orchestration.resources import WarehouseResource, WinbackSettings
    from winback.ingest import FileRejected, ingest_file

    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    (landing / "events").mkdir(parents=True)
    (landing / "events" / "a.csv").write_text("user_id,event_name\nu1,login\n")
    with duckdb.connect(str(warehouse)) as con, pytest.raises(FileRejected):
        ingest_file(con, landing, "events/a.csv")

    def evaluate():
        result = dg.materialize(
            [RAW_ASSETS["events"], no_rejected_files],
            selection=dg.AssetSelection.checks(no_rejected_files),
            resources={
                "warehouse": WarehouseResource(database=str(warehouse)),
                "winback": WinbackSettings(),
            },
            instance=dg.DagsterInstance.ephemeral(),
        )
        return result.get_asset_check_evaluations()[0]

    first = evaluate()
    assert (first.passed, first.severity, first.metadata["rejected_files"].value) == (
        False,
        dg.AssetCheckSeverity.WARN,
        1,
    )
    (landing / "events" / "a.csv").write_text(
        "user_id,event_name,occurred_at\nu1,login,2024-01-01\n"
    )
    with duckdb.connect(str(warehouse)) as con:
        ingest_file(con, landing, "events/a.csv")
    assert evaluate().passed


def test_marts_are_grouped_by_domain_and_flagged_when_stale():
    graph = defs.resolve_asset_graph()
    groups = {
        k.to_user_string(): graph.get(k).group_name
        for k in graph.get_all_asset_keys()
        if k.path[0] in ("marts", "published")
    }
    assert groups["marts/users"] == "core"
    assert groups["marts/cohort_retention"] == "engagement"
    assert groups["marts/user_daily_health"] == "disengagement"
    assert groups["published/bi_marts"] == "published"
    for key in groups:
        policy = graph.get(dg.AssetKey(key.split("/"))).freshness_policy
        assert policy == MARTS_FRESHNESS, key
