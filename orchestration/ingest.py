"""Ingestion assets: one asset per file kind (`raw/events`, `raw/users`, ...), partitioned by
landing file (dynamic partitions keyed by the path relative to the landing folder).

A partition run reads only its own file, so a re-run or a backfill of one file is cheap, and it
replaces what that file loaded before, so it never duplicates a row.
"""

import time

import dagster as dg

from orchestration.resources import WarehouseResource, WinbackSettings
from winback.contract import FILE_KINDS, FileKind
from winback.ingest import RAW_SCHEMA, FileRejected, IngestResult, ensure_raw_tables, ingest_file
from winback.origin import MixedSources, check_origin, origin_of

INGEST_GROUP = "ingestion"


# one partition per landing file, per kind: built once, shared by the assets, jobs and sensor
FILE_PARTITIONS: dict[str, dg.DynamicPartitionsDefinition] = {
    name: dg.DynamicPartitionsDefinition(name=f"{name}_files") for name in FILE_KINDS
}


def raw_asset_key(kind: FileKind) -> dg.AssetKey:
    return dg.AssetKey([RAW_SCHEMA, kind.name])


def _markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "_none_"
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [str(r[h]).replace("|", "\\|")[:80] if r[h] is not None else "" for h in header]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def quarantine_message(result: IngestResult) -> str:
    """A log line a person can act on: which rows of which file failed which rule."""
    parts = [
        f"{result.source_file}: {result.rows_quarantined:,} of {result.rows_read:,} rows "
        f"quarantined ({', '.join(f'{r}: {n:,}' for r, n in result.quarantine_by_rule.items())})."
    ]
    for e in result.quarantine_examples[:5]:
        parts.append(
            f"  row {e['row']}, column {e['column']}: rule {e['rule']} failed "
            f"({e['reason']}; value {e['value']!r})"
        )
    quoted = "'" + result.source_file.replace("'", "''") + "'"
    parts.append(
        f"  All of them: select * from {RAW_SCHEMA}.quarantine where source_file = {quoted}"
    )
    return "\n".join(parts)


def _ingest_metadata(result: IngestResult, table_rows: int, seconds: float) -> dict:
    return {
        "source_file": result.source_file,
        "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "duplicates_dropped": result.duplicates_dropped,
        "rows_skipped": result.rows_skipped,
        "dagster/partition_row_count": result.rows_loaded,
        "dagster/row_count": table_rows,
        "first_date": str(result.min_date) if result.min_date else "",
        "last_date": str(result.max_date) if result.max_date else "",
        "hints": "; ".join(result.hints),
        "quarantine_by_rule": dg.MetadataValue.md(
            _markdown_table([{"rule": r, "rows": n} for r, n in result.quarantine_by_rule.items()])
        ),
        "quarantine_examples": dg.MetadataValue.md(_markdown_table(result.quarantine_examples)),
        "seconds": round(seconds, 2),
    }


def build_raw_asset(kind: FileKind) -> dg.AssetsDefinition:
    key = raw_asset_key(kind)

    @dg.asset(
        key=key,
        partitions_def=FILE_PARTITIONS[kind.name],
        group_name=INGEST_GROUP,
        description=f"{kind.description} Validated rows from the landing folder's "
        f"{kind.name} files; invalid rows go to raw.quarantine with their rule.",
        kinds={"duckdb", "great_expectations"},
        check_specs=[
            dg.AssetCheckSpec(
                "counts_reconcile",
                asset=key,
                blocking=True,
                description="rows read = rows loaded + rows quarantined + duplicates dropped "
                "(+ rows a declared source's `where` skips)",
            ),
            dg.AssetCheckSpec(
                "great_expectations",
                asset=key,
                blocking=True,
                description="GE suite on the loaded batch: no nulls in required columns, "
                "timestamps in range, accepted values, normalised names, counts reconcile",
            ),
        ],
    )
    def _raw_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, winback: WinbackSettings
    ):
        from winback.expectations import validate_batch

        source_file = context.partition_key
        config = winback.config()
        planned = winback.resolve_file(source_file)
        if planned.kind != kind:
            raise dg.Failure(f"{source_file} is not a {kind.name} file")
        started = time.perf_counter()
        validations = []

        def great_expectations(result: IngestResult) -> list[str]:
            # runs inside the load's transaction: a failure rolls the whole file back
            validations.append(validate_batch(con, kind, result, config.validation))
            return [
                f"great_expectations ({o.expectation} on {o.column}: {o.observed})"
                for o in validations[-1].failed
            ]

        with warehouse.get_connection() as con:
            try:
                check_origin(con, origin_of(config.project_file, config.landing_dir))
            except MixedSources as exc:
                raise dg.Failure(description=f"{source_file}: {exc}") from None
            try:
                result = ingest_file(
                    con,
                    config.landing_dir,
                    source_file,
                    config.validation,
                    verify=great_expectations,
                    feed=planned.feed,
                    path=planned.file,
                )
            except FileRejected as exc:
                context.log.error(f"Rejected {exc}")
                for check in ("counts_reconcile", "great_expectations"):
                    if any(f.startswith(check) for f in exc.failed_checks):
                        yield dg.AssetCheckResult(
                            check_name=check,
                            passed=False,
                            metadata={"failed": "; ".join(exc.failed_checks)},
                        )
                raise dg.Failure(
                    description=f"Rejected {exc}",
                    metadata={
                        "source_file": source_file,
                        "missing_columns": ", ".join(exc.missing_columns),
                        "failed_checks": "; ".join(exc.failed_checks),
                    },
                ) from None
            table_rows = con.execute(f"select count(*) from {RAW_SCHEMA}.{kind.name}").fetchone()[0]
        validation = validations[-1]
        seconds = time.perf_counter() - started

        if result.rows_quarantined:
            context.log.warning(quarantine_message(result))
        for hint in result.hints:
            context.log.warning(f"{source_file}: hint: {hint}")
        context.log.info(
            f"{source_file}: read {result.rows_read:,}, loaded {result.rows_loaded:,}, "
            f"quarantined {result.rows_quarantined:,}, duplicates dropped "
            f"{result.duplicates_dropped:,} in {seconds:.1f}s"
        )
        yield dg.MaterializeResult(
            metadata=_ingest_metadata(result, table_rows, seconds),
            check_results=[
                dg.AssetCheckResult(
                    check_name="counts_reconcile",
                    passed=result.reconciles,
                    metadata={
                        "rows_read": result.rows_read,
                        "accounted_for": result.rows_loaded
                        + result.rows_quarantined
                        + result.duplicates_dropped
                        + result.rows_skipped,
                    },
                ),
                dg.AssetCheckResult(
                    check_name="great_expectations",
                    passed=validation.success,
                    metadata={
                        "expectations": len(validation.outcomes),
                        "failed": len(validation.failed),
                        "results": dg.MetadataValue.md(validation.as_markdown()),
                    },
                ),
            ],
        )

    return _raw_asset


RAW_ASSETS: dict[str, dg.AssetsDefinition] = {
    name: build_raw_asset(kind) for name, kind in FILE_KINDS.items()
}


@dg.asset_check(
    asset=RAW_ASSETS["events"],
    description="No landing file of any kind is currently rejected (see raw.ingest_log).",
)
def no_rejected_files(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get_connection() as con:
        ensure_raw_tables(con)
        rejected = con.execute(
            f"select source_file, error from {RAW_SCHEMA}.ingest_log where status = 'rejected' "
            "order by source_file"
        ).fetchall()
    return dg.AssetCheckResult(
        passed=not rejected,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rejected_files": len(rejected),
            "details": dg.MetadataValue.md(
                _markdown_table([{"file": f, "error": e} for f, e in rejected])
            ),
        },
    )


defs = dg.Definitions(assets=list(RAW_ASSETS.values()), asset_checks=[no_rejected_files])
