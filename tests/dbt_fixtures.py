"""Shared by the mart tests: land hand-made files, ingest them for real, run the real `dbt build`
on a copy of the warehouse and read rows back."""

import contextlib
import datetime as dt
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb

from orchestration.project import DBT_PROJECT_DIR
from winback.ingest import ValidationSettings, ingest_file
from winback.settings import dbt_environment, run_vars_environment


def ingest_fixture(root: Path, files: dict[str, str], now: dt.datetime) -> Path:
    """Write `files` (path under the landing folder -> text) and ingest each into a new
    warehouse; every row must load. Returns the warehouse path."""
    landing = root / "landing"
    for rel, text in files.items():
        (landing / rel).parent.mkdir(parents=True, exist_ok=True)
        (landing / rel).write_text(text)
    path = root / "base.duckdb"
    with duckdb.connect(str(path)) as con:
        settings = ValidationSettings(now=now)
        for rel in files:
            result = ingest_file(con, landing, rel, settings)
            assert result.rows_quarantined == 0, (rel, result)
    return path


def run_dbt(
    command: str,
    path: Path,
    tmp_path: Path,
    variables: dict,
    select: str | None = None,
    cli_vars: bool = False,
) -> subprocess.CompletedProcess:
    """The real dbt CLI (`build`, `run`, `compile`) on the warehouse at `path`, with the vars
    passed as Dagster passes them (run_vars_environment: no re-parse when only they change),
    or with `cli_vars` as `--vars`, as someone running dbt on their own does."""
    env = {
        **os.environ,
        **dbt_environment(path),
        **run_vars_environment({} if cli_vars else variables),
    }
    args = [
        str(Path(sys.executable).parent / "dbt"),
        command,
        *(["--vars", json.dumps(variables)] if cli_vars else []),
        "--target-path",
        str(tmp_path / "target"),
        "--log-path",
        str(tmp_path / "logs"),
    ]
    if select:
        # the selection and the tests that read only it (a relationships test from an unbuilt
        # mart to a built one is left out, not failed)
        args += ["--select", select, "--indirect-selection", "cautious"]
    if command == "build":  # as production builds: the unit tests run in test_dbt_unit_tests
        args += ["--exclude-resource-type", "unit_test"]
    return subprocess.run(
        args, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600
    )


def build(
    warehouse: Path | None, tmp_path: Path, select: str | None = None, **variables
) -> duckdb.DuckDBPyConnection:
    """Run the real `dbt build` with these vars; return a read-only connection. With
    `warehouse`, start from a copy of it; with None, build again on tmp_path's.

    dbt builds the file in a folder of this test process (`scratch_dir`), from which it is
    then moved to tmp_path: dbt's partial-parse state holds for one warehouse path only (the
    profile's path is part of its hash), so a build at a new path parses the whole project
    again (~7 s of CPU, in every build of these modules until then)."""
    path = tmp_path / "warehouse.duckdb"
    with scratch_dir(tmp_path) as scratch:
        building = scratch / "warehouse.duckdb"
        for leftover in (building, building.with_name(building.name + ".wal")):
            leftover.unlink(missing_ok=True)
        if warehouse is not None:
            shutil.copyfile(warehouse, building)
        else:
            _move(path, building)
        try:
            result = run_dbt("build", building, scratch, variables, select)
        finally:
            _move(building, path)
    assert result.returncode == 0, result.stdout[-4000:]
    return duckdb.connect(str(path), read_only=True)


# set by the session fixture in conftest.py: a folder of this test process's pytest base folder
SCRATCH: Path | None = None
_SLOTS = threading.Lock()
_BUSY: set[int] = set()


@contextlib.contextmanager
def scratch_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder to build in that no other build of this process is using: the first free of
    slot0, slot1, ... under this process's scratch folder (one per xdist worker). Builds run one
    at a time reuse slot0 and its parse state; builds run at once (a fixture's thread pool)
    each get their own."""
    with _SLOTS:
        slot = next(i for i in itertools.count() if i not in _BUSY)
        _BUSY.add(slot)
    try:
        folder = (SCRATCH or tmp_path / "dbt_build_scratch") / f"slot{slot}"
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
    finally:
        with _SLOTS:
            _BUSY.discard(slot)


def _move(source: Path, destination: Path) -> None:
    """A DuckDB file and its write-ahead log, if one was left."""
    wal, destination_wal = (p.with_name(p.name + ".wal") for p in (source, destination))
    destination_wal.unlink(missing_ok=True)
    os.replace(source, destination)
    if wal.exists():
        os.replace(wal, destination_wal)


def rows(con, sql: str, *params) -> list[tuple]:
    return [
        tuple(str(v) if isinstance(v, dt.date) else v for v in r)
        for r in con.execute(sql, list(params)).fetchall()
    ]
