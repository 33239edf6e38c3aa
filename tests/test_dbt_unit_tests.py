"""The dbt unit tests (`unit_tests:` in the models' YAML) run here, in the suite: Dagster's
production builds leave them out (orchestration.dbt.PRODUCTION_EXCLUDES), since they check the
SQL's logic on fixed rows and cannot fail on a day's data."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.dbt import dbt_build_args, production_build_args
from orchestration.project import DBT_PROJECT_DIR, ensure_manifest
from tests.dbt_fixtures import ingest_fixture
from winback.settings import dbt_environment

pytestmark = pytest.mark.slow


def unit_test_names() -> set[str]:
    manifest = json.loads(ensure_manifest().read_text())
    return {t["name"] for t in manifest["unit_tests"].values()}


def test_production_builds_leave_the_unit_tests_out():
    # and pass no --vars (the run's values go in the environment: run_vars_environment)
    assert production_build_args(False) == ["build", "--exclude-resource-type", "unit_test"]
    assert production_build_args(True) == dbt_build_args({}, True) + [
        "--exclude-resource-type",
        "unit_test",
    ]


def test_every_dbt_unit_test_passes(tmp_path):
    names = unit_test_names()
    assert len(names) >= 5
    # unit tests read their inputs' columns from the warehouse: build every model empty first
    warehouse = ingest_fixture(
        tmp_path,
        {"events/e.csv": "user_id,event_name,occurred_at\nu1,login,2025-01-02T10:00:00Z\n"},
        now=dt.datetime(2025, 1, 3, tzinfo=dt.UTC),
    )
    empty = dbt(warehouse, tmp_path, "run", "--empty")
    assert empty.returncode == 0, empty.stdout[-4000:]
    result = dbt(warehouse, tmp_path, "test", "--select", "test_type:unit")
    assert result.returncode == 0, result.stdout[-4000:]
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    ran = {
        r["unique_id"].split(".")[-1]: r["status"]
        for r in results
        if r["unique_id"].startswith("unit_test.")
    }
    assert ran == dict.fromkeys(names, "pass")


def dbt(warehouse: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), *args]
        + ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, **dbt_environment(warehouse)},
        capture_output=True,
        text=True,
        timeout=600,
    )
