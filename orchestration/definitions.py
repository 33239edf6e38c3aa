"""The one Definitions object of the winback code location, merged from per-domain modules."""

import shutil
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration import automation, dbt, ingest, publish
from orchestration.project import winback_project
from orchestration.resources import WarehouseResource, WinbackSettings


def dbt_executable() -> str:
    """dbt from this environment's bin folder (works without activating the virtualenv)."""
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else (shutil.which("dbt") or "dbt")


def resources() -> dict:
    return {
        "dbt": DbtCliResource(project_dir=winback_project, dbt_executable=dbt_executable()),
        "warehouse": WarehouseResource(),
        "winback": WinbackSettings(),
    }


defs = dg.Definitions.merge(
    ingest.defs,
    dbt.defs,
    publish.defs,
    automation.defs,
    dg.Definitions(resources=resources(), executor=dg.in_process_executor),
)
