"""The Dagster instance the pipeline tests record their runs in."""

from pathlib import Path

import dagster as dg

from orchestration.dagster_home import ensure_dagster_home


def pooled_instance(folder: Path) -> dg.DagsterInstance:
    """An instance on disk in `folder` with the storages a `winback run` DAGSTER_HOME gets
    (orchestration/instance_storage.py): a whole pipeline run records about 700 events, and
    these storages take about 20 ms per event against 29 for `DagsterInstance.ephemeral()`'s
    in-memory ones (40 assets with checks: 6.9 s against 9.4 s, on the same loaded machine)."""
    ensure_dagster_home(folder)
    return dg.DagsterInstance.from_config(str(folder))
