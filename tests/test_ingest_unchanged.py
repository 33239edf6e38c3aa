"""Issue 17: a landing file is ingested once, and again only when its content (or how it is
read) changes. Through the runner's ingest step on small files (real Dagster partition runs
into a real DuckDB file), the sensor, and once through `winback run` twice."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.automation import landing_files_sensor
from orchestration.dbt import mark_built, pending_rebuild_start
from orchestration.resources import WinbackSettings
from orchestration.runner import PipelineSummary, check_landing, ingest_files
from tests.instances import pooled_instance
from winback.landing import compare, plan_ingestion, recorded_ingests
from winback.settings import load_config

REPO = Path(__file__).resolve().parent.parent
NOW = "2024-06-01T00:00:00"
EVENTS_A = (
    "event_id,user_id,event_name,occurred_at\n"
    "a1,u1,login,2024-01-01T10:00:00Z\n"
    "a2,u1,login,2024-01-02T10:00:00Z\n"
)
EVENTS_B = "event_id,user_id,event_name,occurred_at\nb1,u2,login,2024-02-01T10:00:00Z\n"
USERS = "user_id,signed_up_at\nu1,2023-12-31T00:00:00Z\nu2,2024-01-15T00:00:00Z\n"


@pytest.fixture
def landing(tmp_path) -> Path:
    folder = tmp_path / "landing"
    (folder / "events").mkdir(parents=True)
    (folder / "events" / "a.csv").write_text(EVENTS_A)
    (folder / "events" / "b.csv").write_text(EVENTS_B)
    (folder / "users.csv").write_text(USERS)
    return folder


@pytest.fixture
def instance(tmp_path):
    return pooled_instance(tmp_path / "dagster_home")


def _config(landing: Path, **overrides):
    return load_config(
        {
            "landing_dir": str(landing),
            "warehouse": str(landing.parent / "warehouse.duckdb"),
            "publish_dir": str(landing.parent / "published"),
            "now": NOW,
            **overrides,
        },
        environ={},
    )


def ingest(config, instance, reingest: bool = False) -> tuple[PipelineSummary, list[str]]:
    """The ingest step of `winback run` (what it does before dbt)."""
    summary, messages = PipelineSummary(), []
    files = check_landing(config.landing_dir, None, config.validation)
    ingest_files(config, instance, files, summary, messages.append, reingest)
    return summary, messages


def query(config, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def raw_rows(config) -> list[tuple]:
    return query(
        config,
        "select * from raw.events union all by name select * from raw.users order by all",
    )


def build_done(config) -> None:
    """What a successful dbt build does to the ingest log (orchestration.dbt)."""
    with duckdb.connect(str(config.warehouse)) as con:
        mark_built(con, pending_rebuild_start(con)[1])


def log(config) -> dict[str, tuple]:
    rows = query(
        config,
        "select source_file, status, needs_build, ingested_at, file_mtime_ns from raw.ingest_log",
    )
    return {r[0]: r[1:] for r in rows}


def test_a_second_run_ingests_nothing_and_marks_no_day(landing, instance):
    config = _config(landing)
    first, _ = ingest(config, instance)
    assert [f.source_file for f in first.files] == ["events/a.csv", "events/b.csv", "users.csv"]
    assert all(f.success for f in first.files)
    build_done(config)
    rows, logged = raw_rows(config), log(config)

    second, messages = ingest(config, instance)
    assert second.files == [] and second.errors == []
    assert second.unchanged == ["events/a.csv", "events/b.csv", "users.csv"]
    assert second.totals()["rows_read"] == 0
    assert messages[0].startswith("Ingesting 0 of 3 file(s)")
    assert messages[1:] == [
        f"  {f}: unchanged since its last ingest, skipped" for f in second.unchanged
    ]
    assert raw_rows(config) == rows
    assert log(config) == logged  # same ingestion times, needs_build still false
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        assert pending_rebuild_start(con)[0] is None


def test_touched_is_skipped_appended_is_reingested_alone(landing, instance):
    config = _config(landing)
    ingest(config, instance)
    build_done(config)
    a, b = landing / "events" / "a.csv", landing / "events" / "b.csv"

    # touched: a new modification time, the same bytes
    stat = b.stat()
    os.utime(b, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    summary, messages = ingest(config, instance)
    assert summary.files == [] and "events/b.csv" in summary.unchanged
    assert (
        "  events/b.csv: unchanged since its last ingest, skipped (touched: new time, same content)"
        in messages
    )
    assert log(config)["events/b.csv"][3] == b.stat().st_mtime_ns  # recorded: no hash next time
    (planned,) = [
        p for p in plan_ingestion(landing, validation=config.validation) if p.path == "events/b.csv"
    ]
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        assert (
            compare(planned, recorded_ingests(con, config.validation)[planned.path]).status
            == "unchanged"
        )
        assert pending_rebuild_start(con)[0] is None

    # one row appended: that file alone is read again, and marks its days
    with a.open("a") as f:
        f.write("a3,u1,purchase,2024-03-05T10:00:00Z\n")
    summary, _ = ingest(config, instance)
    assert [(f.source_file, f.rows_read, f.rows_loaded) for f in summary.files] == [
        ("events/a.csv", 3, 3)
    ]
    assert summary.unchanged == ["events/b.csv", "users.csv"]
    assert {k for k, v in log(config).items() if v[1]} == {"events/a.csv"}
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        assert pending_rebuild_start(con)[0] == "2023-12-31"  # a.csv's first day, minus one
    assert query(config, "select count(*) from raw.events")[0][0] == 4


def test_a_pending_rebuild_survives_skipping(landing, instance):
    """Files ingested by a run whose dbt build then failed stay pending: the next run skips
    them but the incremental window still opens at their first day."""
    config = _config(landing)
    ingest(config, instance)  # ... and no successful build after it
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        pending = pending_rebuild_start(con)[0]
    assert pending is not None

    summary, _ = ingest(config, instance)
    assert summary.files == []
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        assert pending_rebuild_start(con)[0] == pending
    assert all(needs_build for _, needs_build, _, _ in log(config).values())


def test_a_rejected_file_is_retried_and_reingest_reads_everything(landing, instance):
    config = _config(landing)
    (landing / "events" / "bad.csv").write_text("user_id,event_name\nu1,login\n")
    first, _ = ingest(config, instance)
    assert [f.source_file for f in first.files if not f.success] == ["events/bad.csv"]
    build_done(config)

    second, _ = ingest(config, instance)
    assert [(f.source_file, f.success) for f in second.files] == [("events/bad.csv", False)]
    assert len(second.unchanged) == 3

    (landing / "events" / "bad.csv").write_text(
        "user_id,event_name,occurred_at\nu9,login,2024-04-01T00:00:00Z\n"
    )
    third, _ = ingest(config, instance)
    assert [(f.source_file, f.success, f.rows_loaded) for f in third.files] == [
        ("events/bad.csv", True, 1)
    ]

    again, messages = ingest(config, instance, reingest=True)
    assert [f.source_file for f in again.files] == [
        "events/a.csv",
        "events/b.csv",
        "events/bad.csv",
        "users.csv",
    ]
    assert again.unchanged == [] and "--reingest" in messages[0]
    assert all(v[1] for v in log(config).values())  # every day marked again


def test_what_changes_how_a_file_is_read_reingests_it(landing, instance):
    """The earliest valid date is part of the signature; a row quarantined as in the future is
    read again once the clock has passed it."""
    config = _config(landing)
    (landing / "events" / "future.csv").write_text(
        "event_id,user_id,event_name,occurred_at\nf1,u1,login,2024-06-20T00:00:00Z\n"
    )
    first, _ = ingest(config, instance)
    future = next(f for f in first.files if f.source_file == "events/future.csv")
    assert (future.rows_loaded, future.rows_quarantined) == (0, 1)

    assert ingest(config, instance)[0].files == []  # same clock: nothing to read again

    later = _config(landing, now="2024-07-01T00:00:00")
    summary, _ = ingest(later, instance)
    assert [(f.source_file, f.rows_loaded) for f in summary.files] == [("events/future.csv", 1)]

    stricter = _config(landing, now="2024-07-01T00:00:00", earliest_date="2024-01-02")
    summary, _ = ingest(stricter, instance)
    assert len(summary.files) == 4  # every file: the rule changed for all of them
    a = next(f for f in summary.files if f.source_file == "events/a.csv")
    assert (a.rows_loaded, a.rows_quarantined) == (1, 1)


def test_the_sensor_requests_no_run_for_a_touched_file(landing, instance):
    settings = WinbackSettings(landing_dir=str(landing), now=NOW)

    def tick(cursor):
        return landing_files_sensor(
            dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"winback": settings}
            )
        )

    first = tick(None)
    assert sorted(r.partition_key for r in first.run_requests if r.partition_key) == [
        "events/a.csv",
        "events/b.csv",
        "users.csv",
    ]
    b = landing / "events" / "b.csv"
    stat = b.stat()
    os.utime(b, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    touched = tick(first.cursor)
    assert isinstance(touched, dg.SensorResult) and not touched.run_requests
    assert "1 touched" in touched.skip_reason.skip_message
    assert json.loads(touched.cursor)["events/b.csv"] != json.loads(first.cursor)["events/b.csv"]
    assert isinstance(tick(touched.cursor), dg.SkipReason)

    with b.open("a") as f:
        f.write("b2,u2,login,2024-02-02T10:00:00Z\n")
    changed = tick(touched.cursor)
    assert [r.partition_key for r in changed.run_requests if r.partition_key] == ["events/b.csv"]
    assert changed.run_requests[-1].job_name == "build_marts"

    # an old cursor (signatures without a content hash) reads each file once more
    old = {k: v.split("#")[0].rsplit("-", 1)[0] for k, v in json.loads(changed.cursor).items()}
    assert len(tick(json.dumps(old)).run_requests) == 4


@pytest.mark.slow
def test_winback_run_twice_reads_nothing_the_second_time(tmp_path):
    """The command line a user types, twice on the same landing folder."""
    from winback.generate import generate

    landing = tmp_path / "landing"
    generate(landing, tmp_path / "truth", users=80, days=40, seed=3, dirty_share=0.01)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WINBACK_")}
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    (tmp_path / "dagster_home").mkdir()
    warehouse = tmp_path / "warehouse" / "w.duckdb"
    args = [
        sys.executable,
        "-m",
        "orchestration.cli",
        "run",
        "--landing-dir",
        str(landing),
        "--warehouse",
        str(warehouse),
        "--publish-dir",
        str(tmp_path / "published"),
    ]

    def run() -> str:
        done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    def snapshot():
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return (
                con.execute("select * from raw.events order by all").fetchall(),
                con.execute(
                    "select source_file, rows_loaded, ingested_at from raw.ingest_log order by 1"
                ).fetchall(),
                con.execute("select count(*) from raw.ingest_log where needs_build").fetchone()[0],
            )

    first_out = run()
    files = len(list(landing.rglob("*.*")))
    assert f"files ingested     {files} of {files}" in first_out
    before = snapshot()
    assert before[2] == 0  # the build marked every file built

    second_out = run()
    assert f"Ingesting 0 of {files} file(s)" in second_out
    assert f"  {files} file(s) unchanged since their last ingest, skipped" in second_out
    assert "  files ingested     0 of 0" in second_out
    assert f"  files unchanged    {files} (skipped" in second_out
    assert "  rows read                     0" in second_out
    assert "marts built and published" in second_out
    assert snapshot() == before


def test_a_file_that_disappears_keeps_its_rows(landing, instance):
    config = _config(landing)
    ingest(config, instance)
    build_done(config)
    (landing / "events" / "b.csv").unlink()

    summary, _ = ingest(config, instance)
    assert summary.files == [] and summary.errors == []
    assert summary.unchanged == ["events/a.csv", "users.csv"]
    assert query(config, "select count(*) from raw.events where _source_file = 'events/b.csv'") == [
        (1,)
    ]
    assert log(config)["events/b.csv"][:2] == ("loaded", False)


def test_a_changed_source_definition_reingests_its_files(tmp_path, instance):
    """A declared source's file is read again when its feed (mapping, options) changes."""
    project = tmp_path / "shop"
    (project / "exports").mkdir(parents=True)
    (project / "exports" / "clicks.csv").write_text(
        "uid,what,at\nu1,login,2024-01-01T10:00:00Z\nu2,login,2024-01-02T10:00:00Z\n"
    )
    yml = project / "winback.yml"
    mapping = "{user_id: uid, event_name: what, occurred_at: at}"
    yml.write_text(
        f"sources:\n  clicks:\n    kind: events\n    path: exports/clicks.csv\n"
        f"    mapping: {mapping}\n"
    )
    config = load_config({"project": str(project), "now": NOW}, environ={})

    def ingest_project():
        summary = PipelineSummary()
        files = check_landing(config.landing_dir, config.project(), config.validation)
        ingest_files(config, instance, files, summary, lambda _: None)
        return summary

    assert [f.source_file for f in ingest_project().files] == ["clicks.events:exports/clicks.csv"]
    assert ingest_project().unchanged == ["clicks.events:exports/clicks.csv"]
    yml.write_text(yml.read_text().replace("event_name: what", "event_name: \"'visit'\""))
    (changed,) = ingest_project().files
    assert changed.rows_loaded == 2
    assert query(config, "select distinct event_name from raw.events") == [("visit",)]


def test_a_warehouse_from_before_reads_each_file_once_more(landing, instance):
    """An ingest log without the new columns (a warehouse built before this release) gets
    them, and each file is read once more, then skipped."""
    config = _config(landing)
    ingest(config, instance)
    with duckdb.connect(str(config.warehouse)) as con:
        for column in ("file_size", "file_mtime_ns", "reading_digest", "content_hash"):
            con.execute(f"alter table raw.ingest_log drop column {column}")
        con.execute("alter table raw.ingest_log drop column checked_until")
        con.execute("alter table raw.ingest_log drop column future_from")
    assert len(ingest(config, instance)[0].files) == 3
    assert ingest(config, instance)[0].unchanged == ["events/a.csv", "events/b.csv", "users.csv"]
