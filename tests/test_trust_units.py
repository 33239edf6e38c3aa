"""Issue 13, the parts that need no dbt build: the run lock, the settings schema, blocking
checks that roll a file back, the atomic publication under crashes and readers, abandoned runs,
readable one-line errors."""

import contextlib
import datetime as dt
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from orchestration.ingest import RAW_ASSETS
from orchestration.publish import (
    CURRENT,
    VERSIONS,
    PublishRefused,
    current_version,
    publish_marts,
)
from orchestration.resources import PID_TAG, WAREHOUSE_TAG, WarehouseResource, WinbackSettings
from winback.ingest import FileRejected, ValidationSettings, ingest_file, short_error
from winback.locking import WarehouseBusy, lock_path, warehouse_lock
from winback.model_settings import (
    SETTINGS,
    SettingError,
    check_setting,
    check_settings,
    parse_assignment,
)

REPO = Path(__file__).resolve().parent.parent
NOW = ValidationSettings(now=dt.datetime(2024, 6, 1))
PAYLOAD = "2026-03-01' as date); create table raw.pwned as select 'injected' as x; select ('"


# ---------------------------------------------------------------------------------------------
# the run lock


def _hold_lock_in_a_process(warehouse: Path) -> subprocess.Popen:
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from winback.locking import warehouse_lock\n"
        f"with warehouse_lock(Path({str(warehouse)!r}), what='a test holder'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(120)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_writer_is_refused_with_one_line_naming_the_holder(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    holder = _hold_lock_in_a_process(warehouse)
    try:
        with pytest.raises(WarehouseBusy) as busy, warehouse_lock(warehouse, "second", 0):
            pass
        message = str(busy.value)
        assert "\n" not in message
        assert f"pid {holder.pid}" in message and "a test holder" in message

        waited = []
        started = time.monotonic()
        with pytest.raises(WarehouseBusy), warehouse_lock(warehouse, "x", 1.0, waited.append, 0.1):
            pass
        assert time.monotonic() - started >= 1.0
        assert len(waited) == 1 and waited[0].startswith("waiting up to 1s")
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_run_is_detected_and_taken_over(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    holder = _hold_lock_in_a_process(warehouse)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert json.loads(lock_path(warehouse).read_text())["pid"] == holder.pid  # left behind
    with warehouse_lock(warehouse, "next run", 0) as stale:
        assert stale["pid"] == holder.pid
        with warehouse_lock(warehouse, "a Dagster run inside it", 0) as nested:
            assert nested == {}  # re-entrant in the holding process
    assert lock_path(warehouse).read_text() == ""


def test_a_waiting_run_goes_on_when_the_holder_ends(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    holder = _hold_lock_in_a_process(warehouse)
    threading.Timer(0.5, holder.kill).start()
    with warehouse_lock(warehouse, "waiter", 30, poll_seconds=0.1):
        pass
    holder.wait()


def test_every_run_holds_the_lock_and_abandoned_runs_are_failed(tmp_path):
    """A Dagster run holds the lock through all its steps and tags itself; a run whose process
    was killed stays STARTED until the next run on the warehouse marks it failed."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    warehouse = tmp_path / "w.duckdb"
    code = (
        "import time, dagster as dg\n"
        "from orchestration.resources import WarehouseResource\n"
        "@dg.asset\n"
        "def slow(warehouse: WarehouseResource):\n"
        "    print('running', flush=True)\n"
        "    time.sleep(120)\n"
        "dg.materialize([slow], instance=dg.DagsterInstance.get(),\n"
        f"    resources={{'warehouse': WarehouseResource(database={str(warehouse)!r})}})\n"
    )
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    killed = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )
    while (line := killed.stdout.readline()) and line.strip() != "running":
        pass
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()

    with dg.DagsterInstance.from_config(str(home)) as instance:
        (abandoned,) = instance.get_runs()
        assert abandoned.status == dg.DagsterRunStatus.STARTED
        assert abandoned.tags[WAREHOUSE_TAG] == str(warehouse)
        assert abandoned.tags[PID_TAG] == str(killed.pid)

        seen = []

        @dg.asset
        def first(warehouse: WarehouseResource):
            seen.append(json.loads(lock_path(warehouse.path).read_text())["what"])

        @dg.asset(deps=[first])
        def second(warehouse: WarehouseResource):
            seen.append(json.loads(lock_path(warehouse.path).read_text())["what"])

        result = dg.materialize(
            [first, second],
            instance=instance,
            resources={"warehouse": WarehouseResource(database=str(warehouse))},
        )
        assert result.success
        assert seen == [f"Dagster run {result.run_id}"] * 2
        after = instance.get_run_by_id(abandoned.run_id)
        assert after.status == dg.DagsterRunStatus.FAILURE


# ---------------------------------------------------------------------------------------------
# settings


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("weekstart=sunday", "unknown setting 'weekstart' (did you mean week_start?)"),
        (
            "week_start=tuesday",
            "setting week_start: got 'tuesday'; it must be one of monday, sunday",
        ),
        ("mau_window_days=abc", "setting mau_window_days: got 'abc'; it must be a whole number"),
        ("mau_window_days=0", "it must be a whole number >= 1 and <= 366"),
        ("report_start_date=2020-13-01", "it must be a date as YYYY-MM-DD"),
        ("reporting_timezone=Mars/Olympus", "it must be an IANA timezone name"),
        ("health_weights={frequency: -1}", "health_weights.frequency: got -1"),
        ("health_weights={message_engagement: 5}", "frequency, recency, breadth or depth needs"),
        ("core_events=[1, 2]", "1 is not a name"),
        ("nosign", "--set takes name=value"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(pair, message):
    with pytest.raises(SettingError) as error:
        parse_assignment(pair)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_settings_keep_their_types_and_dates_stay_strings():
    assert parse_assignment("report_start_date=2020-06-10") == ("report_start_date", "2020-06-10")
    assert parse_assignment('activity_events=["$pageview"]') == ("activity_events", ["$pageview"])
    assert parse_assignment("core_events=login") == ("core_events", ["login"])
    assert parse_assignment("week_start=Sunday") == ("week_start", "sunday")
    assert parse_assignment("mau_window_days=28") == ("mau_window_days", 28)
    assert check_settings({"decline_max_drop_ratio": 0.4, "help_events": None}) == {
        "decline_max_drop_ratio": 0.4,
        "help_events": None,
    }
    json.dumps(check_settings({"as_of_date": dt.date(2024, 1, 2)}))  # serialisable run config


def test_every_setting_refuses_an_sql_payload_or_keeps_it_a_plain_name():
    """Names (event lists) may hold any text: the dbt macros quote them; every other kind of
    setting refuses the payload outright."""
    for name, spec in SETTINGS.items():
        if spec.kind == "names":
            assert check_setting(name, [PAYLOAD]) == [PAYLOAD]
            continue
        with pytest.raises(SettingError):
            check_setting(name, PAYLOAD)


def test_the_settings_schema_and_the_dbt_vars_name_the_same_settings():
    import yaml

    dbt_vars = yaml.safe_load((REPO / "dbt_project" / "dbt_project.yml").read_text())["vars"]
    assert set(SETTINGS) == set(dbt_vars)


def test_the_ui_run_config_is_checked_like_the_command_line(tmp_path):
    from orchestration.dbt import winback_dbt_models
    from orchestration.definitions import resources

    res = resources()
    res["warehouse"] = WarehouseResource(database=str(tmp_path / "w.duckdb"))
    res["winback"] = WinbackSettings(publish_dir=str(tmp_path / "published"))
    for config, message in (
        ({"settings": {"start_date": PAYLOAD}}, "setting start_date:"),
        ({"as_of_date": PAYLOAD}, "setting as_of_date:"),
        ({"settings": {"week_start": "tuesday"}}, "setting week_start: got 'tuesday'"),
        ({"preset": "looker"}, "setting preset: got 'looker'"),
    ):
        result = dg.materialize(
            [winback_dbt_models],
            resources=res,
            run_config={"ops": {"winback_dbt_models": {"config": config}}},
            raise_on_error=False,
        )
        assert not result.success
        (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert message in failure.step_failure_data.user_failure_data.description
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    assert "pwned" not in tables


# ---------------------------------------------------------------------------------------------
# blocking checks


EVENTS = (
    "user_id,event_name,occurred_at\nu1,login,2024-01-01T10:00:00Z\nu2,login,2024-01-02T10:00:00Z\n"
)


def test_a_file_with_a_column_named_like_the_row_counter_loads_with_the_right_rows(tmp_path):
    """A `_row` column broke the row numbering and the reconciliation; it is just another
    column now, and the name winback does use for its counter is refused with a reason."""
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "a.csv").write_text(
        "user_id,_row,event_name,occurred_at\nu1,7,login,2024-01-01T10:00:00Z\n"
        "u2,7,login,not-a-date\nu3,9,login,2024-01-03T10:00:00Z\n"
    )
    (tmp_path / "events" / "b.csv").write_text("_WINBACK_ROW," + EVENTS.replace("\n", "\n1,", 2))
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        result = ingest_file(con, tmp_path, "events/a.csv", NOW)
        assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
        assert con.execute("select user_id, _source_row from raw.events order by 1").fetchall() == [
            ("u1", 1),
            ("u3", 3),
        ]
        assert con.execute("select source_row, rule from raw.quarantine").fetchall() == [
            (2, "occurred_at_is_timestamp")
        ]
        with pytest.raises(FileRejected, match="_winback_row, a name winback reserves"):
            ingest_file(con, tmp_path, "events/b.csv", NOW)


def test_a_file_failing_a_blocking_check_is_rolled_back_and_recorded(tmp_path):
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "a.csv").write_text(EVENTS)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ingest_file(con, tmp_path, "events/a.csv", NOW)
        (tmp_path / "events" / "a.csv").write_text(EVENTS + "u3,login,2024-01-03T10:00:00Z\n")
        with pytest.raises(FileRejected) as rejected:
            ingest_file(
                con, tmp_path, "events/a.csv", NOW, verify=lambda r: ["great_expectations (x)"]
            )
        assert rejected.value.failed_checks == ["great_expectations (x)"]
        assert con.execute("select count(*) from raw.events").fetchone() == (0,)
        assert con.execute(
            "select status, rows_read, rows_loaded, error like '%blocking checks failed%' "
            "from raw.ingest_log"
        ).fetchall() == [("rejected", 3, 0, True)]


def test_in_dagster_a_failed_blocking_check_fails_the_step_and_loads_nothing(tmp_path, monkeypatch):
    """The Great Expectations result is the boundary faked here: the step must fail, report
    the failed check and leave nothing of the file in the warehouse."""
    import winback.expectations as expectations

    real = expectations.validate_batch

    def failing(con, kind, result, settings):
        validation = real(con, kind, result, settings)
        validation.outcomes[0].success = validation.success = False
        return validation

    monkeypatch.setattr(expectations, "validate_batch", failing)
    (tmp_path / "landing" / "events").mkdir(parents=True)
    (tmp_path / "landing" / "events" / "a.csv").write_text(EVENTS)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("events_files", ["events/a.csv"])
    result = dg.materialize(
        [RAW_ASSETS["events"]],
        partition_key="events/a.csv",
        instance=instance,
        resources={
            "warehouse": WarehouseResource(database=str(tmp_path / "w.duckdb")),
            "winback": WinbackSettings(landing_dir=str(tmp_path / "landing"), now="2024-06-01"),
        },
        raise_on_error=False,
    )
    assert not result.success
    evaluations = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert [(e.check_name, e.passed) for e in evaluations] == [("great_expectations", False)]
    assert result.asset_materializations_for_node(RAW_ASSETS["events"].node_def.name) == []
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw.events").fetchone() == (0,)


def test_a_reader_error_is_one_short_line_with_its_cause():
    line = "x" * 3_000_000
    error = duckdb.InvalidInputException(
        f"Invalid Input Error: CSV Error on Line: 2\nOriginal Line: {line}\n"
        "Maximum line size of 2000000 bytes exceeded. Actual Size:3000000 bytes.\n"
        "Possible Solution: Change the maximum length size, e.g., max_line_size=3000005"
    )
    short = short_error(error)
    assert "Maximum line size of 2000000 bytes exceeded" in short
    assert "\n" not in short and len(short) <= 400


# ---------------------------------------------------------------------------------------------
# publication


def _marts(path: Path, rows: int) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        for table in ("users", "user_activity_daily", "daily_activity"):
            con.execute(
                f"create or replace table marts.{table} as select range as id from range({rows})"
            )


def _check_version(folder: Path) -> dict:
    """A complete publication: its manifest's counts are in every Parquet file and in the DuckDB
    file; returns the counts."""
    manifest = json.loads((folder / "manifest.json").read_text())
    counts = manifest["tables"]
    for table, n in counts.items():
        assert pq.ParquetFile(folder / "parquet" / f"{table}.parquet").metadata.num_rows == n
    with duckdb.connect(str(folder / "winback.duckdb"), read_only=True) as con:
        for table, n in counts.items():
            assert con.execute(f"select count(*) from {table}").fetchone() == (n,)
    return counts


def _publish_then_die(warehouse: str, publish_dir: str, die_at: str) -> None:
    def step(name: str) -> None:
        if name == die_at:
            os._exit(9)  # no clean-up at all, as with kill -9

    with duckdb.connect(warehouse) as con:
        publish_marts(con, Path(publish_dir), "crashing-run", step=step)


def _crash_at(warehouse: Path, publish_dir: Path, die_at: str) -> int:
    child = multiprocessing.get_context("fork").Process(
        target=_publish_then_die, args=(str(warehouse), str(publish_dir), die_at)
    )
    child.start()
    child.join()
    return child.exitcode


def test_a_crash_at_any_point_of_the_publication_leaves_one_complete_version(tmp_path):
    warehouse, publish_dir = tmp_path / "w.duckdb", tmp_path / "published"
    _marts(warehouse, 5)
    steps = []
    with duckdb.connect(str(warehouse)) as con:
        publish_marts(con, publish_dir, "first-run", step=steps.append)
    assert len(steps) >= 10
    _marts(warehouse, 7)
    for die_at in steps:
        exit_code = _crash_at(warehouse, publish_dir, die_at)
        # the links BI tools use are made by the first publication only
        assert exit_code == (0 if die_at.endswith(" linked") else 9), die_at
        counts = _check_version(current_version(publish_dir))
        assert set(counts.values()) in ({5}, {7}), die_at
        # the names BI tools were given lead to the same complete version
        assert _check_version(publish_dir) == counts, die_at
    with duckdb.connect(str(warehouse)) as con:
        publish_marts(con, publish_dir, "clean-run", keep=2)
    assert set(_check_version(publish_dir).values()) == {7}
    left = sorted(p.name for p in publish_dir.iterdir())
    assert left == [
        "current", "exports", "manifest.json", "parquet", "reports", VERSIONS, "winback.duckdb"
    ]  # fmt: skip
    assert len(list((publish_dir / VERSIONS).iterdir())) == 2  # keep=2, leftovers gone


def test_a_crash_during_the_first_publication_leaves_nothing_half_visible(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    _marts(warehouse, 4)
    steps = []
    with duckdb.connect(str(warehouse)) as con:
        publish_marts(con, tmp_path / "reference", "run", step=steps.append)
    for i, die_at in enumerate(steps):
        publish_dir = tmp_path / f"published-{i}"
        assert _crash_at(warehouse, publish_dir, die_at) == 9, die_at
        if current_version(publish_dir) is None:
            assert not (publish_dir / "manifest.json").exists(), die_at
        else:
            assert set(_check_version(current_version(publish_dir)).values()) == {4}, die_at
        with duckdb.connect(str(warehouse)) as con:
            publish_marts(con, publish_dir, "next-run")
        assert set(_check_version(publish_dir).values()) == {4}, die_at


def test_a_reader_never_sees_two_versions_mixed(tmp_path):
    warehouse, publish_dir = tmp_path / "w.duckdb", tmp_path / "published"
    seen, stop = [], threading.Event()

    def reader() -> None:
        while not stop.is_set():
            folder = current_version(publish_dir)
            if folder is not None:
                # a version removed by retention after it was resolved is not a mixed read
                with contextlib.suppress(FileNotFoundError):
                    seen.append(set(_check_version(folder).values()))
            time.sleep(0.005)

    _marts(warehouse, 1)
    with duckdb.connect(str(warehouse)) as con:
        publish_marts(con, publish_dir, "run-0", keep=5)
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(2, 14):
            _marts(warehouse, i)
            with duckdb.connect(str(warehouse)) as con:
                publish_marts(con, publish_dir, f"run-{i}", keep=5)
    finally:
        stop.set()
        thread.join()
    assert len(seen) > 20
    assert all(len(s) == 1 for s in seen)  # every read saw one version's counts


def test_an_empty_publication_is_refused_and_the_old_one_kept(tmp_path):
    warehouse, publish_dir = tmp_path / "w.duckdb", tmp_path / "published"
    _marts(warehouse, 3)
    with duckdb.connect(str(warehouse)) as con:
        first = publish_marts(con, publish_dir, "run-1")
        con.execute("delete from marts.user_activity_daily")
        with pytest.raises(PublishRefused, match="user_activity_daily has no rows"):
            publish_marts(con, publish_dir, "run-2")
    assert json.loads((publish_dir / "manifest.json").read_text())["version"] == first["version"]


def test_the_old_flat_layout_and_its_staging_leftovers_are_replaced(tmp_path):
    warehouse, publish_dir = tmp_path / "w.duckdb", tmp_path / "published"
    (publish_dir / "parquet").mkdir(parents=True)
    (publish_dir / "parquet" / "users.parquet").write_text("old")
    (publish_dir / "winback.duckdb").write_text("old")
    (publish_dir / ".staging-old-run" / "parquet").mkdir(parents=True)
    _marts(warehouse, 2)
    with duckdb.connect(str(warehouse)) as con:
        publish_marts(con, publish_dir, "run-1")
    assert (publish_dir / CURRENT).is_symlink() and (publish_dir / "parquet").is_symlink()
    assert not (publish_dir / ".staging-old-run").exists()
    assert set(_check_version(publish_dir).values()) == {2}


def test_a_publish_folder_with_a_quote_in_its_name_works(tmp_path):
    """Paths reach ATTACH and COPY (which take no bound parameters) as quoted literals."""
    warehouse, publish_dir = tmp_path / "w.duckdb", tmp_path / "it's published"
    _marts(warehouse, 3)
    with duckdb.connect(str(warehouse)) as con:
        publish_marts(con, publish_dir, "run-1")
    assert set(_check_version(publish_dir).values()) == {3}
