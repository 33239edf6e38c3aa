"""Shared by the mart tests: land hand-made files, ingest them for real, run the real `dbt build`
on a copy of the warehouse and read rows back."""

import datetime as dt
import json
import os
import subprocess
import sys
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
        args += ["--select", select]
    if command == "build":  # as production builds: the unit tests run in test_dbt_unit_tests
        args += ["--exclude-resource-type", "unit_test"]
    return subprocess.run(
        args, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600
    )


def build(
    warehouse: Path | None, tmp_path: Path, select: str | None = None, **variables
) -> duckdb.DuckDBPyConnection:
    """Run the real `dbt build` with these vars; return a read-only connection. With
    `warehouse`, start from a copy of it; with None, build again on tmp_path's."""
    path = tmp_path / "warehouse.duckdb"
    if warehouse is not None:
        path.write_bytes(warehouse.read_bytes())
    result = run_dbt("build", path, tmp_path, variables, select)
    assert result.returncode == 0, result.stdout[-4000:]
    return duckdb.connect(str(path), read_only=True)


def rows(con, sql: str, *params) -> list[tuple]:
    return [
        tuple(str(v) if isinstance(v, dt.date) else v for v in r)
        for r in con.execute(sql, list(params)).fetchall()
    ]
