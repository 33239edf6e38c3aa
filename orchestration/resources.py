"""Resources: winback's settings and the DuckDB warehouse, both resolved at run time."""

import importlib.metadata
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource
from packaging import version
from pydantic import Field

from winback.locking import pid_alive, warehouse_lock
from winback.settings import WinbackConfig, load_config

WAREHOUSE_TAG = "winback/warehouse"
PID_TAG = "winback/pid"
HOST_TAG = "winback/host"


class WinbackDbtResource(DbtCliResource):
    """dagster-dbt's dbt resource without two start-up costs paid on every `dbt build`, for
    nothing winback uses (9 s of a 10-event run):
    - `dbt --version` in a subprocess (5 s) to learn the version: it is the installed
      dbt-core's, the one beside winback (orchestration.project.use_this_environments_dbt);
    - a dbt adapter made in this process (dbt's imports, the profile, 3-6 s), which dagster-dbt
      only needs for fetch_column_metadata and fetch_row_counts: winback reads the marts' row
      counts and columns itself, after dbt (orchestration.dbt._with_mart_metadata).
    Both override private members of dagster-dbt's DbtCliResource, pinned by constraints.txt;
    tests/test_orchestration.py fails if they disappear or the version differs."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]):
        return None


class WinbackSettings(dg.ConfigurableResource):
    """Paths and dates. Empty fields fall back to the WINBACK_* environment variables, then to
    the defaults in `winback.settings` (read when a run starts, not when code loads)."""

    project: str = ""  # a winback.yml, or its folder: its paths and sources
    landing_dir: str = ""
    publish_dir: str = ""
    earliest_date: str = ""
    as_of_date: str = ""
    now: str = ""
    keep_publications: str = ""

    @classmethod
    def from_config(cls, config: WinbackConfig) -> "WinbackSettings":
        """The resource for a resolved configuration (the command line's)."""
        return cls(
            project=str(config.project_file or ""),
            landing_dir=str(config.landing_dir),
            publish_dir=str(config.publish_dir),
            earliest_date=config.earliest_date.isoformat(),
            as_of_date=config.as_of_date.isoformat() if config.as_of_date else "",
            now=config.now.isoformat() if config.now else "",
            keep_publications=str(config.keep_publications),
        )

    def config(self) -> WinbackConfig:
        try:
            return load_config(
                {
                    "project": self.project,
                    "landing_dir": self.landing_dir,
                    "publish_dir": self.publish_dir,
                    "earliest_date": self.earliest_date,
                    "as_of_date": self.as_of_date,
                    "now": self.now,
                    "keep_publications": self.keep_publications,
                }
            )
        except ValueError as exc:
            raise dg.Failure(description=f"winback settings: {exc}") from None

    def sources(self) -> tuple:
        """The declared sources of the project (none without one)."""
        config = self.config()
        try:
            project = config.project()
        except ValueError as exc:
            raise dg.Failure(description=f"winback project: {exc}") from None
        return (project.sources, project.root) if project else ((), None)

    def resolve_file(self, key: str):
        """The file of an ingestion partition, or a Failure naming the key."""
        from winback.landing import resolve

        sources, root = self.sources()
        planned = resolve(key, self.config().landing_dir, sources, root)
        if planned is None:
            raise dg.Failure(
                description=f"{key}: no such landing file now (moved, deleted, or its source "
                "was removed from winback.yml)"
            )
        return planned


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse file. One writer at a time: open it only for the duration of a step
    (dbt runs in a subprocess and needs the file free)."""

    database: str = Field(
        default="",
        description="Path to the warehouse file; empty: $WINBACK_WAREHOUSE or the default.",
    )

    @property
    def path(self) -> Path:
        return load_config({"warehouse": self.database}).warehouse

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["WarehouseResource"]:
        """Hold the warehouse's run lock for the whole run (one writer at a time, whichever way
        the run was launched), and close the books of runs a killed process left STARTED."""
        config = load_config({"warehouse": self.database})
        with warehouse_lock(
            config.warehouse,
            what=f"Dagster run {context.run_id}",
            wait_seconds=config.lock_wait,
            on_wait=context.log.info,
        ) as stale:
            if stale:
                context.log.warning(
                    f"took over the warehouse lock left by pid {stale.get('pid')} "
                    f"({stale.get('what')}), which ended without releasing it"
                )
            if context.instance is not None and context.run_id:
                fail_abandoned_runs(context.instance, config.warehouse, context.run_id, context.log)
                context.instance.add_run_tags(
                    context.run_id,
                    {
                        WAREHOUSE_TAG: str(config.warehouse),
                        PID_TAG: str(os.getpid()),
                        HOST_TAG: socket.gethostname(),
                    },
                )
            yield self

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path), config=self.connection_config)
        try:
            con.execute("set TimeZone = 'UTC'")
            con.execute("set enable_progress_bar = false")  # it would interleave with run logs
            yield con
        finally:
            con.close()


def fail_abandoned_runs(
    instance: dg.DagsterInstance, warehouse: Path, run_id: str, log=None
) -> list:
    """Runs on this warehouse still marked STARTED whose process is gone (killed): mark them
    failed, so the UI and the run history tell the truth. Only called by the lock holder."""
    abandoned = []
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED], tags={WAREHOUSE_TAG: str(warehouse)}
        )
    )
    for run in runs:
        pid, host = run.tags.get(PID_TAG, ""), run.tags.get(HOST_TAG, "")
        if run.run_id == run_id or host != socket.gethostname() or not pid.isdigit():
            continue
        if pid_alive(int(pid)):
            continue
        message = f"run abandoned: its process (pid {pid}) ended without finishing the run"
        instance.report_run_failed(run, message)
        abandoned.append(run.run_id)
        if log is not None:
            log.warning(f"marked run {run.run_id} failed: {message}")
    return abandoned
