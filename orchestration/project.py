"""The dbt project, in a module of its own (dagster-dbt's preparer imports it by file)."""

from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"


@cache
def winback_dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    project.prepare_if_dev()
    return project


def ensure_manifest() -> Path:
    """Parse the dbt project if its manifest is missing (the CLI and tests call this; under
    `dagster dev` prepare_if_dev does it)."""
    project = winback_dbt_project()
    if not project.manifest_path.exists():
        project.preparer.prepare(project)
    return project.manifest_path


winback_project = winback_dbt_project()
