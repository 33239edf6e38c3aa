"""Resources: winback's settings and the DuckDB warehouse, both resolved at run time."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from winback.settings import WinbackConfig, load_config


class WinbackSettings(dg.ConfigurableResource):
    """Paths and dates. Empty fields fall back to the WINBACK_* environment variables, then to
    the defaults in `winback.settings` (read when a run starts, not when code loads)."""

    landing_dir: str = ""
    publish_dir: str = ""
    earliest_date: str = ""
    as_of_date: str = ""
    now: str = ""

    def config(self) -> WinbackConfig:
        return load_config(
            {
                "landing_dir": self.landing_dir,
                "publish_dir": self.publish_dir,
                "earliest_date": self.earliest_date,
                "as_of_date": self.as_of_date,
                "now": self.now,
            }
        )


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
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path), config=self.connection_config)
        try:
            con.execute("set TimeZone = 'UTC'")
            con.execute("set enable_progress_bar = false")  # it would interleave with run logs
            yield con
        finally:
            con.close()
