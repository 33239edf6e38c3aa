"""Publish the marts for BI, all tables at once: readers see the whole previous publication or
the whole new one, never a mix.

Each publication is a folder of its own, written completely before anyone can see it:

    <publish_dir>/versions/<version>/winback.duckdb     every mart in one DuckDB file
    <publish_dir>/versions/<version>/parquet/*.parquet  one Parquet file per mart
    <publish_dir>/versions/<version>/exports/*.csv      the win-back audience exports, as CSV
    <publish_dir>/versions/<version>/manifest.json      version, time, tables and row counts
    <publish_dir>/current -> versions/<version>         switched by one atomic rename

and `winback.duckdb`, `parquet`, `exports` and `manifest.json` in `<publish_dir>` are links through
`current`, so the paths BI tools were given keep working. A reader that needs several files of
one version resolves `current` once and reads inside that folder. A crash at any point leaves
`current` on a complete version; the next publication removes what the crash left behind.
The last `keep` publications are kept (WINBACK_KEEP_PUBLICATIONS), older ones removed.

Parquet is there for readers with an older DuckDB (a file written by DuckDB 2.0 cannot be opened
by 1.x) and for tools that do not speak DuckDB at all.

A mart that is a view over other marts (user_daily_engagement and user_daily_health expand
user_day_spans to one row per user per day) is published as the same view in the DuckDB file,
computed on read, and not as a Parquet file: the Parquet folder holds the spans it expands
(docs/engagement.md shows the expansion). A view that reads anything but marts is published as
a table.
"""

import datetime as dt
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.audiences import AUDIENCE
from orchestration.campaigns import CAMPAIGNS, report_dir
from orchestration.charts import mart_row_count
from orchestration.dbt import MARTS_FRESHNESS, mart_asset_keys
from orchestration.resources import WarehouseResource, WinbackSettings
from winback.ingest import sql_literal
from winback.reports import PUBLISHED_DB

MARTS_SCHEMA = "marts"
VERSIONS = "versions"
CURRENT = "current"
# BI-facing names in publish_dir, each a link into the current version
STABLE_LINKS = (PUBLISHED_DB, "parquet", "exports", "reports", "manifest.json")
# the audience exports a CRM or reverse-ETL tool picks up, also as CSV (exports/<name>.csv)
EXPORT_PREFIX = "audience_export_"
# a publication without rows here would be empty for every reader: refuse it
MUST_HAVE_ROWS = ("users", "user_activity_daily")


class PublishRefused(Exception):
    """Publishing would replace the current publication with nothing usable."""


def mart_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? "
        "and table_catalog = current_database() order by table_name",
        [MARTS_SCHEMA],
    ).fetchall()
    return [r[0] for r in rows]


def mart_views(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The marts that are views reading only marts, each with its query rewritten to read the
    published file's tables (schema `main`): they are published as views. A view reading
    anything else is published as a table (what it reads is not published)."""
    rows = con.execute(
        "select view_name, sql from duckdb_views() where schema_name = ? "
        "and database_name = current_database() and not internal",
        [MARTS_SCHEMA],
    ).fetchall()
    views = {}
    for name, sql in rows:
        query = re.split(r"\s+as\s+", sql, maxsplit=1, flags=re.IGNORECASE)[1]
        tree = json.loads(con.execute("select json_serialize_sql(?)", [query]).fetchone()[0])
        if tree.get("error") or not _tables_to_main(tree):
            continue
        rewritten = con.execute("select json_deserialize_sql(?)", [json.dumps(tree)]).fetchone()
        views[name] = rewritten[0]
    return views


def _tables_to_main(tree) -> bool:
    """Point every table a parsed query reads from the marts schema to `main`, in place. False
    when it reads a table of another schema (names without a schema are its own CTEs)."""
    only_marts = True

    def visit(node) -> None:
        nonlocal only_marts
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and node.get("schema_name"):
                if node["schema_name"] != MARTS_SCHEMA:
                    only_marts = False
                node["catalog_name"], node["schema_name"] = "", "main"
                node["qualified_name"] = {"path": ["main", node["table_name"]]}
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(tree)
    return only_marts


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def current_version(publish_dir: Path) -> Path | None:
    """The folder of the current publication, resolved once (None before the first one)."""
    link = Path(publish_dir) / CURRENT
    if not link.is_symlink():
        return None
    target = (link.parent / os.readlink(link)).resolve()
    return target if (target / "manifest.json").exists() else None


def _replace_with_link(link: Path, target: str) -> None:
    """Point `link` at `target` with one rename: readers see the old target or the new one."""
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target)
    if link.is_dir() and not link.is_symlink():
        # the layout before versioned publications: a real folder cannot be renamed over
        shutil.rmtree(link)
    os.replace(tmp, link)


def clean_leftovers(publish_dir: Path, keep: int) -> list[str]:
    """Remove what crashed runs left (staging folders, unfinished versions, temporary links)
    and publications beyond the newest `keep`. Returns what was removed."""
    removed = []
    current = current_version(publish_dir)
    for stale in list(publish_dir.glob(".staging-*")) + list(publish_dir.glob(".*.tmp-*")):
        removed.append(stale.name)
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    versions = publish_dir / VERSIONS
    if versions.is_dir():
        complete = []
        for folder in sorted(versions.iterdir()):
            if folder == current:
                continue
            if folder.name.startswith(".") or not (folder / "manifest.json").exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(f"{VERSIONS}/{folder.name}")
            else:
                complete.append(folder)
        # the current one counts as one of the kept
        for folder in complete[: max(0, len(complete) - (keep - (1 if current else 0)))]:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(f"{VERSIONS}/{folder.name}")
    return removed


def publish_marts(
    con: duckdb.DuckDBPyConnection,
    publish_dir: Path,
    run_id: str,
    keep: int = 3,
    step: Callable[[str], None] = lambda name: None,
    reports_dir: Path | None = None,
) -> dict:
    """Write every table of the marts schema as a new publication and switch to it, with the
    files of `reports_dir` (the campaign report) under reports/. `step` is called at each point
    of the sequence (the crash tests stop there)."""
    publish_dir = Path(publish_dir)
    publish_dir.mkdir(parents=True, exist_ok=True)
    clean_leftovers(publish_dir, keep)
    tables = mart_tables(con)
    counts = {t: mart_row_count(con, t, MARTS_SCHEMA) for t in tables}
    empty = [t for t in MUST_HAVE_ROWS if not counts.get(t)]
    if empty:
        raise PublishRefused(
            f"nothing to publish: {', '.join(empty)} "
            f"{'has' if len(empty) == 1 else 'have'} no rows (no valid event on or before the "
            "as-of date?); the previous publication is left as it was"
        )

    now = dt.datetime.now(dt.UTC)
    version = f"{now:%Y%m%dT%H%M%S%fZ}-{run_id[:8]}"
    partial = publish_dir / VERSIONS / f".{version}.partial"
    (partial / "parquet").mkdir(parents=True)
    (partial / "exports").mkdir()
    (partial / "reports").mkdir()
    if reports_dir is not None and Path(reports_dir).is_dir():
        for report in sorted(Path(reports_dir).iterdir()):
            if report.is_file() and not report.name.startswith("."):
                shutil.copy2(report, partial / "reports" / report.name)
    step("version folder created")
    views = mart_views(con)
    con.execute(f"attach {sql_literal(str(partial / PUBLISHED_DB))} as published")
    try:
        for table in [t for t in tables if t not in views]:
            con.execute(
                f"create table published.main.{_ident(table)} as "
                f"select * from {MARTS_SCHEMA}.{_ident(table)}"
            )
            con.execute(
                f"copy (select * from {MARTS_SCHEMA}.{_ident(table)}) to "
                f"{sql_literal(str(partial / 'parquet' / (table + '.parquet')))} (format parquet)"
            )
            if table.startswith(EXPORT_PREFIX):
                name = table.removeprefix(EXPORT_PREFIX)
                con.execute(
                    f"copy (select * from {MARTS_SCHEMA}.{_ident(table)}) to "
                    f"{sql_literal(str(partial / 'exports' / (name + '.csv')))} "
                    "(format csv, header true)"
                )
            step(f"{table} written")
        for view in [t for t in tables if t in views]:  # after the tables they read
            con.execute(f"create view published.main.{_ident(view)} as {views[view]}")
            step(f"{view} written")
    finally:
        con.execute("detach published")
    manifest = {
        "version": version,
        "published_at": now.isoformat(timespec="seconds"),
        "run_id": run_id,
        "tables": counts,
        "duckdb": str(publish_dir / PUBLISHED_DB),
        "parquet_dir": str(publish_dir / "parquet"),
        "version_dir": str(publish_dir / VERSIONS / version),
    }
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2))
    step("manifest written")
    os.replace(partial, publish_dir / VERSIONS / version)  # complete, not yet visible
    step("version complete")
    _replace_with_link(publish_dir / CURRENT, f"{VERSIONS}/{version}")  # the switch
    step("current switched")
    for name in STABLE_LINKS:
        link = publish_dir / name
        if not (link.is_symlink() and os.readlink(link) == f"{CURRENT}/{name}"):
            _replace_with_link(link, f"{CURRENT}/{name}")
            step(f"{name} linked")
    clean_leftovers(publish_dir, keep)
    step("old versions removed")
    return manifest


@dg.asset(
    key=["published", "bi_marts"],
    deps=[*mart_asset_keys(), AUDIENCE, CAMPAIGNS],
    group_name="published",
    kinds={"duckdb", "parquet"},
    freshness_policy=MARTS_FRESHNESS,
    description="The marts as one publication for BI tools: a DuckDB file and Parquet files in "
    "a versioned folder, switched in atomically as a whole.",
)
def published_marts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, winback: WinbackSettings
) -> dg.MaterializeResult:
    settings = winback.config()
    try:
        with warehouse.get_connection() as con:
            manifest = publish_marts(
                con,
                settings.publish_dir,
                context.run_id,
                keep=settings.keep_publications,
                reports_dir=report_dir(Path(warehouse.path)),
            )
    except PublishRefused as exc:
        raise dg.Failure(description=str(exc)) from None
    rows = "\n".join(f"| {t} | {n:,} |" for t, n in manifest["tables"].items())
    context.log.info(
        f"Published {len(manifest['tables'])} marts to {settings.publish_dir} "
        f"(version {manifest['version']})"
    )
    metadata = {
        "version": manifest["version"],
        "duckdb_file": dg.MetadataValue.path(manifest["duckdb"]),
        "parquet_dir": dg.MetadataValue.path(manifest["parquet_dir"]),
        "version_dir": dg.MetadataValue.path(manifest["version_dir"]),
        "tables": dg.MetadataValue.md("| table | rows |\n|---|---|\n" + rows),
        "table_count": len(manifest["tables"]),
    }
    return dg.MaterializeResult(metadata=metadata)


def marts_run_assets() -> list:
    """What a marts run materializes, in order: the dbt build, the churn steps, the churn
    marts' checks, the audience, the campaigns, the publication (the command line's run and the UI's
    build_marts job)."""
    from orchestration.audiences import winback_audience
    from orchestration.campaigns import campaign_performance
    from orchestration.churn import churn_model, churn_scores, churn_training_set
    from orchestration.dbt import winback_churn_marts, winback_dbt_models

    return [
        winback_dbt_models,
        churn_training_set,
        churn_model,
        churn_scores,
        winback_churn_marts,
        winback_audience,
        campaign_performance,
        published_marts,
    ]


defs = dg.Definitions(assets=[published_marts])
