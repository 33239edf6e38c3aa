"""Great Expectations checks on the batch a landing file loaded.

The row rules (`winback.contract.row_rules`) run in DuckDB and decide what is quarantined; GE
then independently checks what actually landed in `raw.<kind>` for that file: the counts
reconcile, required columns hold no nulls, timestamps lie inside the allowed range, categorical
values are in their accepted sets and names are normalised. Both read the same contract.

GE is fed one small "batch profile" DataFrame computed by DuckDB (facts in the first row,
distinct values of each categorical column below), so the cost does not grow with file size
(STACK-NOTES: GE on 10M rows costs 85 s and 5 GB; this costs well under a second).
GE is imported lazily, and its context made once per process: importing it takes seconds.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from dataclasses import dataclass

import duckdb
import pandas as pd

from winback.contract import FileKind, ValidationSettings
from winback.ingest import RAW_SCHEMA, IngestResult

NORMALISED_PATTERN = r"^[^A-Z\s](?:[^A-Z]*[^A-Z\s])?$"  # trimmed, no upper case


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str
    success: bool
    observed: str


@dataclass
class BatchValidation:
    success: bool
    outcomes: list[ExpectationOutcome]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def as_markdown(self) -> str:
        lines = ["| expectation | column | ok | observed |", "|---|---|---|---|"]
        lines += [
            f"| {o.expectation} | {o.column} | {'yes' if o.success else '**NO**'} | {o.observed} |"
            for o in self.outcomes
        ]
        return "\n".join(lines)


def batch_profile(
    con: duckdb.DuckDBPyConnection, kind: FileKind, result: IngestResult
) -> pd.DataFrame:
    """Facts about the rows this file loaded, plus the distinct values of categorical columns."""
    table = f"{RAW_SCHEMA}.{kind.name}"
    aggregates = ["count(*) as rows_in_table"]
    for c in kind.columns:
        if c.not_null:
            aggregates.append(f"count(*) - count({c.name}) as {c.name}__nulls")
        if c.type == "timestamp":
            aggregates.append(f"min({c.name}) as {c.name}__min, max({c.name}) as {c.name}__max")
    facts = con.execute(
        f"select {', '.join(aggregates)} from {table} where _source_file = ?", [result.source_file]
    ).df()
    facts["rows_read"] = result.rows_read
    facts["rows_loaded"] = result.rows_loaded
    facts["rows_quarantined"] = result.rows_quarantined
    facts["duplicates_dropped"] = result.duplicates_dropped
    facts["reconciliation_gap"] = result.rows_read - (
        result.rows_loaded
        + result.rows_quarantined
        + result.duplicates_dropped
        + result.rows_skipped
    )
    facts["loaded_gap"] = facts["rows_in_table"] - result.rows_loaded

    value_columns = {}
    for c in kind.columns:
        if c.accepted_values or c.normalise:
            values = con.execute(
                f"select distinct {c.name} from {table} where _source_file = ? "
                f"and {c.name} is not null order by 1",
                [result.source_file],
            ).fetchall()
            value_columns[f"{c.name}__values"] = [v[0] for v in values]
    height = max([1, *(len(v) for v in value_columns.values())])
    frame = facts.reindex(range(height))
    for name, values in value_columns.items():
        frame[name] = pd.Series(values + [None] * (height - len(values)), dtype="object")
    return frame


def _suite(kind: FileKind, settings: ValidationSettings):
    import great_expectations as gx

    e = gx.expectations
    suite = gx.ExpectationSuite(name=f"winback_{kind.name}_batch")
    suite.add_expectation(
        e.ExpectColumnValuesToBeBetween(column="reconciliation_gap", min_value=0, max_value=0)
    )
    suite.add_expectation(
        e.ExpectColumnValuesToBeBetween(column="loaded_gap", min_value=0, max_value=0)
    )
    earliest = dt.datetime.combine(settings.earliest, dt.time())
    for c in kind.columns:
        if c.not_null:
            suite.add_expectation(
                e.ExpectColumnValuesToBeBetween(column=f"{c.name}__nulls", min_value=0, max_value=0)
            )
        if c.type == "timestamp" and c.bounded:
            for stat in ("min", "max"):
                suite.add_expectation(
                    e.ExpectColumnValuesToBeBetween(
                        column=f"{c.name}__{stat}",
                        min_value=earliest,
                        max_value=settings.latest,
                    )
                )
        if c.accepted_values:
            suite.add_expectation(
                e.ExpectColumnValuesToBeInSet(
                    column=f"{c.name}__values", value_set=list(c.accepted_values)
                )
            )
        elif c.normalise:
            suite.add_expectation(
                e.ExpectColumnValuesToMatchRegex(
                    column=f"{c.name}__values", regex=NORMALISED_PATTERN
                )
            )
    return suite


# GE's context and batch definitions are made once per process, by whichever thread needs
# them first (`warm_up` makes them in the background while the first file loads)
_SETUP = threading.RLock()


def _context():
    """One ephemeral GE context per process, with the pandas data source the batches go
    through: importing GE costs seconds, creating it again for every file is waste."""
    with _SETUP:
        return _make_context()


@functools.cache
def _make_context():
    for noisy in ("great_expectations", "great_expectations.core"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.data_sources.add_pandas("winback")
    return context


def _batch_definition(kind_name: str):
    """The whole-dataframe batch definition of one file kind, made once per process."""
    with _SETUP:
        return _make_batch_definition(kind_name)


@functools.cache
def _make_batch_definition(kind_name: str):
    source = _context().data_sources.get("winback")
    return source.add_dataframe_asset(name=kind_name).add_batch_definition_whole_dataframe("file")


def warm_up(kind_names) -> threading.Thread:
    """Import GE and make its context and the batch definitions of `kind_names` in a background
    thread (about 5 s, mostly the import): the run's first file loads meanwhile, and its
    validation waits only for what is left. A failure here is left to the validation that
    needs the context, which reports it."""

    def setup() -> None:
        try:
            for name in sorted(kind_names):
                _batch_definition(name)
        except Exception:  # noqa: BLE001 (the validation raises it again, where it is reported)
            pass

    thread = threading.Thread(target=setup, name="winback-ge-warm-up", daemon=True)
    thread.start()
    return thread


def validate_batch(
    con: duckdb.DuckDBPyConnection,
    kind: FileKind,
    result: IngestResult,
    settings: ValidationSettings | None = None,
) -> BatchValidation:
    settings = settings or ValidationSettings()
    frame = batch_profile(con, kind, result)
    batch = _batch_definition(kind.name).get_batch(batch_parameters={"dataframe": frame})
    validation = batch.validate(_suite(kind, settings), result_format="SUMMARY")
    outcomes = []
    for r in validation.results:
        cfg = r.expectation_config
        observed = r.result.get("partial_unexpected_list") or r.result.get("observed_value")
        if observed is None and not r.success:
            observed = r.result
        outcomes.append(
            ExpectationOutcome(
                expectation=cfg.type,
                column=cfg.kwargs.get("column", ""),
                success=bool(r.success),
                observed="" if r.success else str(observed)[:200],
            )
        )
    return BatchValidation(success=bool(validation.success), outcomes=outcomes)
