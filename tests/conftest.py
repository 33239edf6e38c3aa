import os

import pytest

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


def pytest_configure(config):
    """dagster-dbt needs the manifest before the code location is imported (at collection);
    prepare_if_dev does nothing under pytest, so parse the project here when it is stale."""
    from orchestration.project import ensure_manifest

    ensure_manifest()


# The modules that build whole warehouses, longest first (from `make test --durations`). With
# `--dist loadfile --no-loadscope-reorder` (Makefile) xdist hands out modules in collection
# order: starting the longest ones first keeps one worker from ending alone on a 3-minute module
# while the other idles. By default xdist orders modules by their number of tests, which puts
# the many-small-tests modules first and the few-long-tests ones last.
LONGEST_FIRST = (  # seconds per module in a fresh-clone run at b2a013b
    "test_projects.py",  # 249
    "test_end_to_end.py",  # 238
    "test_trust_runs.py",  # 228
    "test_disengagement_demo.py",  # 176
    "test_ingest_unchanged.py",  # 154
    "test_engagement_marts.py",  # 129
    "test_cadence.py",  # 100
    "test_disengagement.py",  # 97
    "test_churn_pipeline.py",  # 89
    "test_presets.py",  # 67
    "test_churn_features.py",  # 63
    "test_campaign_engine.py",  # 51
    "test_dbt_run_vars.py",  # 36
    "test_parse_ahead.py",  # 36
    "test_orchestration.py",  # 36
    "test_posthog_parity.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files keep order


@pytest.fixture(scope="session", autouse=True)
def dbt_build_scratch(tmp_path_factory):
    """The one folder where this test process's dbt fixture builds run (tests/dbt_fixtures.py:
    dbt parses the project once for it, not once per test's warehouse path)."""
    from tests import dbt_fixtures

    dbt_fixtures.SCRATCH = tmp_path_factory.mktemp("dbt_build_scratch")
    yield dbt_fixtures.SCRATCH
