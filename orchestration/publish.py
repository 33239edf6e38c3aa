"""Publish the marts for BI: a separate DuckDB file and one Parquet file per mart, each swapped
in by an atomic rename, so readers never see a half-written state and never hold the
warehouse's write lock. Parquet is there for readers with an older DuckDB (a file written by
DuckDB 2.0 cannot be opened by 1.x) and for tools that do not speak DuckDB at all.
"""

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.dbt import mart_asset_keys
from orchestration.resources import WarehouseResource, WinbackSettings

MARTS_SCHEMA = "marts"
PUBLISHED_DB = "winback.duckdb"


def mart_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? "
        "and table_catalog = current_database() order by table_name",
        [MARTS_SCHEMA],
    ).fetchall()
    return [r[0] for r in rows]


def publish_marts(con: duckdb.DuckDBPyConnection, publish_dir: Path, run_id: str) -> dict:
    """Copy every table of the marts schema to `publish_dir` and return what was published."""
    publish_dir.mkdir(parents=True, exist_ok=True)
    staging = publish_dir / f".staging-{run_id}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "parquet").mkdir(parents=True)
    tables = mart_tables(con)
    db_tmp = staging / PUBLISHED_DB
    con.execute(f"attach '{db_tmp}' as published")
    counts = {}
    try:
        for table in tables:
            con.execute(
                f"create table published.main.{table} as select * from {MARTS_SCHEMA}.{table}"
            )
            counts[table] = con.execute(f"select count(*) from {MARTS_SCHEMA}.{table}").fetchone()[
                0
            ]
            con.execute(
                f"copy (select * from {MARTS_SCHEMA}.{table}) to "
                f"'{staging / 'parquet' / (table + '.parquet')}' (format parquet)"
            )
    finally:
        con.execute("detach published")

    manifest = {
        "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tables": counts,
        "duckdb": str(publish_dir / PUBLISHED_DB),
        "parquet_dir": str(publish_dir / "parquet"),
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))

    # Swap in: each file is replaced by a rename on the same file system (atomic on POSIX).
    (publish_dir / "parquet").mkdir(exist_ok=True)
    for table in tables:
        os.replace(
            staging / "parquet" / f"{table}.parquet", publish_dir / "parquet" / f"{table}.parquet"
        )
    os.replace(db_tmp, publish_dir / PUBLISHED_DB)
    os.replace(staging / "manifest.json", publish_dir / "manifest.json")
    shutil.rmtree(staging, ignore_errors=True)
    return manifest


@dg.asset(
    key=["published", "bi_marts"],
    deps=mart_asset_keys(),
    group_name="published",
    kinds={"duckdb", "parquet"},
    description="The marts copied to a separate DuckDB file and Parquet files for BI tools.",
)
def published_marts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, winback: WinbackSettings
) -> dg.MaterializeResult:
    settings = winback.config()
    with warehouse.get_connection() as con:
        manifest = publish_marts(con, settings.publish_dir, context.run_id)
    rows = "\n".join(f"| {t} | {n:,} |" for t, n in manifest["tables"].items())
    context.log.info(f"Published {len(manifest['tables'])} marts to {settings.publish_dir}")
    metadata = {
        "duckdb_file": dg.MetadataValue.path(manifest["duckdb"]),
        "parquet_dir": dg.MetadataValue.path(manifest["parquet_dir"]),
        "tables": dg.MetadataValue.md("| table | rows |\n|---|---|\n" + rows),
        "table_count": len(manifest["tables"]),
    }
    return dg.MaterializeResult(metadata=metadata)


defs = dg.Definitions(assets=[published_marts])
