"""The DAGSTER_HOME winback makes keeps Dagster's SQLite files but pools their connections
(orchestration/instance_storage.py): what it records reads back, with these storages and with
Dagster's own, and concurrent writers lose nothing."""

import contextlib
import sqlite3
import threading

import dagster as dg

from orchestration.dagster_home import ensure_dagster_home
from orchestration.instance_storage import PooledSqliteEventLogStorage, PooledSqliteRunStorage

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _assets(n: int) -> list[dg.AssetsDefinition]:
    assets = []
    for i in range(n):

        @dg.asset(name=f"a{i}", check_specs=[dg.AssetCheckSpec("c", asset=f"a{i}")])
        def _asset():
            yield dg.MaterializeResult(
                metadata={"rows": 1}, check_results=[dg.AssetCheckResult(passed=True)]
            )

        assets.append(_asset)
    return assets


def test_a_new_home_uses_the_pooled_storages_and_dagster_reads_what_they_wrote(tmp_path):
    home = tmp_path / "dagster_home"
    ensure_dagster_home(home)
    text = (home / "dagster.yaml").read_text()
    assert "telemetry:\n  enabled: false" in text and "max_concurrent_runs: 1" in text
    assert (home / ".nux" / "nux.yaml").read_text() == "seen: 1\n"

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        assert isinstance(instance.run_storage, PooledSqliteRunStorage)
        runs = [dg.materialize(_assets(5), instance=instance, run_config=QUIET) for _ in range(2)]
        assert all(r.success for r in runs)
        counts = {r.run_id: len(instance.all_logs(r.run_id)) for r in runs}
        assert min(counts.values()) > 5 * 4  # planned, materialized, check planned + evaluated
        assert instance.event_log_storage._template_bytes  # the runs' shards were copied
        first = instance.get_latest_materialization_event(dg.AssetKey("a3"))
        assert first is not None and first.run_id == runs[1].run_id

    # Dagster's own SQLite storages read the same files
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert {r.run_id for r in instance.get_runs()} == set(counts)
        assert {run_id: len(instance.all_logs(run_id)) for run_id in counts} == counts
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("a1"), "c")]
        )
        assert check[dg.AssetCheckKey(dg.AssetKey("a1"), "c")].run_id == runs[1].run_id

    # a run's shard, copied from an empty one, is as Dagster makes them: its alembic stamp and
    # WAL mode are the index shard's (which Dagster initialised itself); nothing else is left
    shards = home / "history" / "runs"
    assert sorted(p.name for p in shards.iterdir() if p.suffix == ".db") == sorted(
        [f"{run_id}.db" for run_id in counts] + ["index.db"]
    )
    assert not [p for p in shards.iterdir() if p.name.endswith(".new")]

    def stamp(path):
        with contextlib.closing(sqlite3.connect(path)) as con:
            return (
                tuple(con.execute("select version_num from alembic_version").fetchall()),
                con.execute("pragma journal_mode").fetchone()[0],
            )

    assert stamp(shards / "index.db")[0]
    assert {stamp(shards / f"{run_id}.db") for run_id in counts} == {stamp(shards / "index.db")}


def test_an_existing_dagster_yaml_is_left_as_it_is(tmp_path):
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    ensure_dagster_home(tmp_path)
    assert (tmp_path / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


def test_a_deleted_run_loses_its_events_and_its_open_connection(tmp_path):
    ensure_dagster_home(tmp_path)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        run = dg.materialize(_assets(2), instance=instance, run_config=QUIET)
        assert run.run_id in instance.event_log_storage._engines
        instance.delete_run(run.run_id)
        assert run.run_id not in instance.event_log_storage._engines
        assert instance.get_run_by_id(run.run_id) is None
        assert instance.all_logs(run.run_id) == []
        # the storage goes on recording new runs
        assert dg.materialize(_assets(2), instance=instance, run_config=QUIET).success


def test_concurrent_writers_in_threads_and_processes_lose_no_event(tmp_path):
    """Two threads of this process and a second process record asset events into the same
    DAGSTER_HOME at once: every event is there afterwards."""
    import subprocess
    import sys

    ensure_dagster_home(tmp_path)
    per_writer = 40
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import dagster as dg, sys\n"
            f"i = dg.DagsterInstance.from_config({str(tmp_path)!r})\n"
            f"for n in range({per_writer}):\n"
            "    i.report_runless_asset_event(dg.AssetMaterialization('from_process'))\n",
        ]
    )
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        errors = []

        def write(name: str) -> None:
            try:
                for _ in range(per_writer):
                    instance.report_runless_asset_event(dg.AssetMaterialization(name))
            except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(f"thread{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert child.wait(timeout=120) == 0
        assert errors == []
        for name in ("thread0", "thread1", "from_process"):
            records = instance.fetch_materializations(dg.AssetKey(name), limit=1000).records
            assert len(records) == per_writer, name
