"""Issue 13 through the command line a user types, on generated data: two runs at once, the
settings that crashed, operator mistakes (exit code, one line, publication unchanged), SQL in
settings, and a fresh clone's first `winback run`."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from orchestration.cli import main
from orchestration.publish import VERSIONS, current_version
from tests.clone import clone_tracked_files
from tests.dbt_fixtures import run_dbt
from winback.generate import generate
from winback.locking import lock_path

REPO = Path(__file__).resolve().parent.parent
PAYLOAD = "2026-03-01' as date); create table raw.pwned as select 'injected' as x; select ('"
NAME_PAYLOAD = "x'); create table raw.pwned as select 1; --"

pytestmark = pytest.mark.slow


def _cli(root: Path, *args: str, landing: Path | None = None) -> list[str]:
    return [
        sys.executable,
        "-m",
        "orchestration.cli",
        "run",
        "--landing-dir",
        str(landing or root / "landing"),
        "--warehouse",
        str(root / "warehouse" / "w.duckdb"),
        "--publish-dir",
        str(root / "published"),
        *args,
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run A, then while A holds the warehouse: B refuses at once, C waits and then runs with
    the two settings that used to crash every run, at values that must not change a row."""
    root = tmp_path_factory.mktemp("trust")
    generate(
        root / "landing", root / "truth", users=150, days=35, seed=11, dirty_share=0.01
    )  # from 2025-11-03
    env = {**os.environ, "DAGSTER_HOME": str(root / "dagster_home")}
    (root / "dagster_home").mkdir()
    with duckdb.connect() as con:
        names = [
            r[0]
            for r in con.execute(
                "select distinct lower(trim(event_name)) from read_csv(?, all_varchar = true) "
                "where event_name is not null order by 1",
                [str(root / "landing" / "events" / "*.csv")],
            ).fetchall()
        ]

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen(
            _cli(root, *args),
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    a = start()
    lock = lock_path(root / "warehouse" / "w.duckdb")
    deadline = time.monotonic() + 180
    while not (lock.exists() and lock.read_text()) and time.monotonic() < deadline:
        assert a.poll() is None, a.stdout.read()
        time.sleep(0.2)
    b = subprocess.run(
        _cli(root, "--wait", "0"), cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    c = start(
        "--set",
        f"activity_events={json.dumps(names)}",
        "--set",
        "report_start_date=2025-11-03",  # the first day of the data
    )
    a_out, _ = a.communicate(timeout=900)
    c_out, _ = c.communicate(timeout=900)
    return {
        "root": root,
        "env": env,
        "a": (a.returncode, a_out, a.pid),
        "b": (b.returncode, b.stdout + b.stderr),
        "c": (c.returncode, c_out),
        "versions": sorted((root / "published" / VERSIONS).iterdir()),
    }


def _tables(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted((folder / "parquet").glob("*.parquet"))}


def _differences(left: Path, right: Path) -> dict[str, tuple[int, int]]:
    """Rows of each table in one publication and not the other (EXCEPT ALL both ways)."""
    out = {}
    with duckdb.connect() as con:
        for table, path in _tables(left).items():
            other = right / "parquet" / path.name
            only_left = con.execute(
                "select count(*) from (select * from read_parquet(?) except all "
                "select * from read_parquet(?))",
                [str(path), str(other)],
            ).fetchone()[0]
            only_right = con.execute(
                "select count(*) from (select * from read_parquet(?) except all "
                "select * from read_parquet(?))",
                [str(other), str(path)],
            ).fetchone()[0]
            out[table] = (only_left, only_right)
    return out


def test_two_runs_at_once_one_refuses_one_waits_and_nothing_is_lost(runs):
    a_code, a_out, a_pid = runs["a"]
    b_code, b_out = runs["b"]
    c_code, c_out = runs["c"]
    assert a_code == 0, a_out[-3000:]
    assert b_code == 3
    (line,) = b_out.strip().splitlines()
    assert line.startswith("winback: the warehouse") and f"winback run (pid {a_pid}" in line
    assert c_code == 0, c_out[-3000:]
    assert "waiting up to 600s for the warehouse" in c_out

    root = runs["root"]
    files = sorted(
        p.relative_to(root / "landing").as_posix()
        for p in (root / "landing").rglob("*")
        if p.is_file()
    )
    with duckdb.connect(str(root / "warehouse" / "w.duckdb"), read_only=True) as con:
        log = con.execute(
            "select source_file, status, rows_loaded from raw.ingest_log order by 1"
        ).fetchall()
        events = con.execute("select count(*) from raw.events").fetchone()[0]
    assert [(f, s) for f, s, _ in log] == [(f, "loaded") for f in files]
    assert events == sum(n for f, _, n in log if f.startswith("events"))


def test_the_settings_that_crashed_every_run_now_give_the_expected_rows(runs):
    """activity_events = every event name and a report start before all data change nothing:
    the waiting run's publication equals the first run's, table by table."""
    first, second = runs["versions"]
    assert current_version(runs["root"] / "published") == second
    assert sorted(_tables(first)) == sorted(_tables(second))
    # the 9 analytic marts stored as tables, user_day_spans (the two per-day views, published
    # as views in the DuckDB file, expand it), the 3 churn marts, the 11 audience marts, the
    # 5 campaign marts and survey_insight
    assert len(_tables(first)) == 30
    differences = _differences(first, second)
    assert differences == {table: (0, 0) for table in differences}


def _publication(root: Path) -> str:
    return json.loads((root / "published" / "manifest.json").read_text())["version"]


@pytest.mark.parametrize(
    ("landing_files", "args", "code", "message"),
    [
        (
            None,
            ["--set", "weekstart=sunday"],
            2,
            "unknown setting 'weekstart' (did you mean week_start?)",
        ),
        (None, ["--set", "week_start=tuesday"], 2, "setting week_start: got 'tuesday'"),
        (None, ["--set", "mau_window_days=abc"], 2, "setting mau_window_days: got 'abc'"),
        (None, ["--set", f"start_date={PAYLOAD}"], 2, "setting start_date:"),
        (None, ["--set", f"report_start_date={PAYLOAD}"], 2, "setting report_start_date:"),
        (  # one small file: no need to ingest the whole landing folder again
            {"events/late.csv": "user_id,event_name,occurred_at\nu1,login,2025-11-20T10:00:00Z\n"},
            ["--as-of-date", "2000-01-01"],
            1,
            "as-of date 2000-01-01 is before the first event (2025-11-03)",
        ),
        ({}, [], 2, "no landing file in"),
        (
            {"notes.txt": "hello", "export.csv": "a,b\n1,2\n"},
            [],
            2,
            "ignored 2 file(s) such as export.csv",
        ),
        (
            {
                "events/all_bad.csv": "user_id,event_name,occurred_at\nu1,login,yesterday\n,login,2025-01-07\n"
            },
            [],
            1,
            "nothing to build: every row was quarantined",
        ),
        (
            {"events/no_time.csv": "user_id,event_name\nu1,login\n"},
            [],
            1,
            "nothing to build: every landing file was rejected",
        ),
    ],
)
def test_a_mistake_fails_with_one_line_and_leaves_the_publication(
    runs, tmp_path, monkeypatch, capsys, landing_files, args, code, message
):
    root = runs["root"]
    before = _publication(root)
    monkeypatch.setenv("DAGSTER_HOME", runs["env"]["DAGSTER_HOME"])
    landing = root / "landing"
    if landing_files is not None:
        landing = tmp_path / "landing"
        landing.mkdir()
        for rel, text in landing_files.items():
            (landing / rel).parent.mkdir(parents=True, exist_ok=True)
            (landing / rel).write_text(text)
        args = [*args, "--add-sources"]  # another folder into the same warehouse, on purpose
    assert main(_cli(root, *args, landing=landing)[3:]) == code
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    lines = [line for line in out.out.splitlines() if message in line]
    assert len(lines) >= 1, out.out[-2000:]
    assert all(len(line) < 500 for line in out.out.splitlines())
    assert _publication(root) == before
    with duckdb.connect(str(root / "warehouse" / "w.duckdb"), read_only=True) as con:
        assert not con.execute(
            "select count(*) from duckdb_tables() where table_name = 'pwned'"
        ).fetchone()[0]


def test_a_missing_landing_folder_is_refused(runs, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", runs["env"]["DAGSTER_HOME"])
    root = runs["root"]
    before = _publication(root)
    assert main(_cli(root, landing=root / "nowhere")[3:]) == 2
    assert (
        capsys.readouterr().out.strip()
        == f"winback: the landing folder {root / 'nowhere'} does not exist"
    )
    assert _publication(root) == before


def test_dbt_on_its_own_quotes_names_and_refuses_bad_values(runs, tmp_path):
    """`dbt build --vars` without winback's checks: names are quoted, other values are checked
    by the macros before anything runs."""
    warehouse = tmp_path / "w.duckdb"
    shutil.copy(runs["root"] / "warehouse" / "w.duckdb", warehouse)

    def dbt(command: str, variables: dict) -> subprocess.CompletedProcess:
        select = "+int_user_active_days" if command == "run" else None
        return run_dbt(command, warehouse, tmp_path, variables, select=select, cli_vars=True)

    names = {"activity_events": [NAME_PAYLOAD], "core_events": [NAME_PAYLOAD, "login"]}
    quoted = dbt("run", names)
    assert quoted.returncode == 0, quoted.stdout[-3000:]
    for variables, message in (
        ({"as_of_date": PAYLOAD}, "as_of_date must be a date as YYYY-MM-DD"),
        ({"reporting_timezone": PAYLOAD}, "setting reporting_timezone must be an IANA timezone"),
        (
            {"mau_window_days": "30; drop table raw.events"},
            "setting mau_window_days must be a number",
        ),
    ):
        refused = dbt("parse", variables)  # checked while dbt renders the project
        assert refused.returncode != 0 and message in refused.stdout, refused.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert not con.execute(
            "select count(*) from duckdb_tables() where table_name = 'pwned'"
        ).fetchone()[0]
        assert con.execute("select count(*) from raw.events").fetchone()[0] > 0


def test_a_fresh_clone_runs_without_a_manifest(tmp_path):
    """The README's `winback run` on a clone where dbt never ran: the manifest is parsed before
    anything imports the dbt assets. (The as-of date stops the run after ingestion, before the
    dbt build the other tests cover: the import path is what failed.)"""
    clone = clone_tracked_files(tmp_path / "clone")
    assert not (clone / "dbt_project" / "target").exists()
    (tmp_path / "landing" / "events").mkdir(parents=True)
    (tmp_path / "landing" / "events" / "a.csv").write_text(
        "user_id,event_name,occurred_at\nu1,login,2025-11-03T10:00:00Z\n"
    )
    (tmp_path / "dagster_home").mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    done = subprocess.run(
        _cli(tmp_path, "--as-of-date", "2000-01-01", landing=tmp_path / "landing"),
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 1, (done.stdout + done.stderr)[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    assert (clone / "dbt_project" / "target" / "manifest.json").exists()
    assert "events/a.csv: 1 read, 1 loaded" in done.stdout  # ingested through Dagster
    assert "as-of date 2000-01-01 is before the first event (2025-11-03)" in done.stdout
