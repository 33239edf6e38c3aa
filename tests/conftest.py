import os

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


def pytest_configure(config):
    """dagster-dbt needs the manifest before the code location is imported (at collection);
    prepare_if_dev does nothing under pytest, so parse the project here when it is stale."""
    from orchestration.project import ensure_manifest

    ensure_manifest()
