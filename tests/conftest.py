import os

import pytest

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest():
    """dagster-dbt needs the manifest before the code location loads; prepare_if_dev does
    nothing under pytest, so parse the project once per session."""
    from orchestration.project import ensure_manifest

    return ensure_manifest()
