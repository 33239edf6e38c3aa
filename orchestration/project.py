"""The dbt project, in a module of its own (dagster-dbt's preparer imports it by file)."""

import os
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"


def use_this_environments_dbt() -> str:
    """Put this Python environment's bin folder first on PATH, so `dbt` (used by dagster-dbt's
    preparer and resource) is the one installed beside winback, activated or not."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return str(Path(bin_dir) / "dbt")


@cache
def winback_dbt_project() -> DbtProject:
    use_this_environments_dbt()  # prepare_if_dev (under `dagster dev`) runs dbt from PATH
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    project.prepare_if_dev()
    return project


def _newest_source_mtime() -> float:
    sources = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests", "seeds", "analyses"):
        sources += [p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in sources if p.exists())


def ensure_manifest() -> Path:
    """Parse the dbt project when its manifest is missing or older than any dbt file (the CLI,
    make and tests call this; under `dagster dev` prepare_if_dev does it)."""
    use_this_environments_dbt()
    project = winback_dbt_project()
    manifest = project.manifest_path
    if not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime():
        project.preparer.prepare(project)
    return manifest


winback_project = winback_dbt_project()
