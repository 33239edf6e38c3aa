"""Land one file into the warehouse: check every row against the contract, load the valid rows
into `raw.<kind>`, send the others to `raw.quarantine` with the rule they failed, and log the
counts in `raw.ingest_log`.

The row rules run as one DuckDB query (fast at 10M rows); Great Expectations then checks the
batch that was loaded (`winback.expectations`). Ingesting a file replaces everything that file
loaded before, inside one transaction, so re-running never duplicates a row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import string
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import duckdb

from winback.contract import (
    ANY_OFFSET_TIMESTAMP_PATTERN,
    FILE_KINDS,
    MALFORMED_REASONS,
    MAX_LINE_BYTES,
    OFFSET_REASON,
    QUARANTINED_LINE_CHARS,
    ROW_MALFORMED,
    TIMESTAMP_PATTERN,
    Column,
    FileKind,
    ValidationSettings,
    format_for_path,
    kind_for_path,
    row_rules,
)
from winback.sources import (
    ALIAS,
    ORIGINAL,
    Feed,
    file_format,
    mapped_select,
    original_row_sql,
    reader_sql,
    where_sql,
    whitespace_reader_sql,
)
from winback.sql import quote_identifier, sql_literal

RAW_SCHEMA = "raw"
ROW = "_winback_row"  # the row number ingestion adds; a file column of this name is refused
SOURCE = "_winback_source"  # the file's row as read, a struct, in the checking query
# DuckDB's CSV reader puts the rows it cannot split into fields here (temp tables, per file)
REJECTS_TABLE, REJECTS_SCAN = "_winback_rejects", "_winback_rejects_scan"
# part of every file's reading digest: bump it when a change to this module loads the same file
# differently, so the next run re-ingests every file instead of skipping it as unchanged
READER_VERSION = "1"
SQL_TYPES = {
    "text": "varchar",
    "timestamp": "timestamp",
    "decimal": "decimal(18, 4)",
    "boolean": "boolean",
    "json_object": "varchar",
}


class FileRejected(Exception):
    """The whole file cannot be loaded (unreadable, or a required column is missing)."""

    def __init__(
        self,
        source_file: str,
        message: str,
        missing_columns: list[str] | None = None,
        failed_checks: list[str] | None = None,
    ):
        self.source_file = source_file
        self.missing_columns = missing_columns or []
        self.failed_checks = failed_checks or []  # blocking checks that stopped the load
        super().__init__(f"{source_file}: {message}")


@dataclass(frozen=True)
class FileState:
    """What decides whether ingesting a file again could load anything different: its size
    and modification time (cheap to compare), its content hash, and the digest of how it is
    read (`reading_digest`)."""

    size: int
    mtime_ns: int
    reading: str
    content_hash: str | None = None  # None: not computed (size and mtime were enough)

    @property
    def signature(self) -> str:
        return file_signature_of(self.size, self.mtime_ns, self.reading)


def file_signature_of(size: int, mtime_ns: int, reading: str) -> str:
    return f"{size}-{mtime_ns}-{reading}"


def content_hash(path: os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """The file's bytes as a hash, read in chunks (constant memory at any size)."""
    digest = hashlib.sha256()  # faster than blake2b where the CPU has SHA instructions
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def reading_digest(kind: FileKind, feed: Feed | None, settings: ValidationSettings) -> str:
    """Everything besides the bytes that decides what a file loads: the contract of its kind,
    a declared source's feed (options, mapping, where), the earliest valid date and
    READER_VERSION. The clock of the not-in-future rule is left out (it moves every day):
    `IngestResult.future_from` and the recorded `checked_until` cover it."""
    what = (READER_VERSION, feed if feed is not None else kind, settings.earliest.isoformat())
    return hashlib.blake2b(repr(what).encode(), digest_size=6).hexdigest()


def file_state(
    path: os.PathLike,
    kind: FileKind,
    feed: Feed | None = None,
    settings: ValidationSettings | None = None,
    with_hash: bool = False,
) -> FileState:
    """The file's state; the size and time are taken before the hash, so a file that changes
    while it is hashed looks changed to the next run."""
    stat = os.stat(path)
    reading = reading_digest(kind, feed, settings or ValidationSettings())
    digest = content_hash(path) if with_hash else None
    return FileState(stat.st_size, stat.st_mtime_ns, reading, digest)


@dataclass
class IngestResult:
    kind: str
    source_file: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    duplicates_dropped: int = 0
    rows_skipped: int = 0  # left out by a source's `where` (e.g. Segment identify calls)
    status: str = "loaded"
    error: str | None = None
    min_date: dt.date | None = None
    max_date: dt.date | None = None
    # the days whose marts must be rebuilt: what this file loads now and what it loaded before
    affected_from: dt.date | None = None
    affected_to: dt.date | None = None
    quarantine_by_rule: dict[str, int] = field(default_factory=dict)
    quarantine_examples: list[dict] = field(default_factory=list)
    columns_present: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)  # what would fix the quarantined rows
    file_state: FileState | None = None  # the file as it was when ingestion started
    # the earliest timestamp quarantined as in the future (a later run may find it is not)
    future_from: dt.datetime | None = None
    checked_until: dt.datetime | None = None  # the not-in-future rule's limit

    @property
    def reconciles(self) -> bool:
        return self.rows_read == (
            self.rows_loaded + self.rows_quarantined + self.duplicates_dropped + self.rows_skipped
        )

    def as_dict(self) -> dict:
        return asdict(self)


def short_error(exc: BaseException, limit: int = 400) -> str:
    """A reader's error on one line: DuckDB's CSV errors quote the offending line in full
    (megabytes for a line that is too long), which hides the cause; keep the cause."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    kept = [
        line if len(line) <= 160 else line[:157] + "..."
        for line in lines
        if not line.startswith(("Original Line", "LINE ", "Possible ", "* "))
    ]
    text = " ".join(kept) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Tables


def raw_table_ddl(kind: FileKind) -> str:
    cols = [f"{c.name} {SQL_TYPES[c.type]}" for c in kind.columns]
    cols += ["_source_file varchar not null", "_source_row bigint not null"]
    return f"create table if not exists {RAW_SCHEMA}.{kind.name} ({', '.join(cols)})"


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every raw table of the contract, so dbt sources exist even for absent files."""
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    for kind in FILE_KINDS.values():
        con.execute(raw_table_ddl(kind))
    con.execute(
        f"""create table if not exists {RAW_SCHEMA}.quarantine (
            kind varchar not null, source_file varchar not null, source_row bigint not null,
            rule varchar not null, column_name varchar, value varchar, reason varchar not null,
            original_row varchar)"""
    )
    con.execute(
        f"""create table if not exists {RAW_SCHEMA}.ingest_log (
            kind varchar not null, source_file varchar not null, status varchar not null,
            error varchar, rows_read bigint, rows_loaded bigint, rows_quarantined bigint,
            duplicates_dropped bigint, min_date date, max_date date,
            affected_from date, affected_to date, needs_build boolean not null,
            ingested_at timestamp not null)"""
    )
    # added after the first release: warehouses built before get the columns
    present = {
        name
        for (name,) in con.execute(
            "select column_name from duckdb_columns() where database_name = current_database() "
            "and schema_name = ? and table_name = 'ingest_log'",
            [RAW_SCHEMA],
        ).fetchall()
    }
    for column, sql_type in (
        ("rows_skipped", "bigint default 0"),
        # the file as it was ingested (`FileState`): a run skips a file still in that state
        ("file_size", "bigint"),
        ("file_mtime_ns", "bigint"),
        ("reading_digest", "varchar"),
        ("content_hash", "varchar"),
        # the not-in-future rule's limit the file was checked against, and the earliest
        # timestamp it quarantined as in the future: re-read once the clock has passed it
        ("checked_until", "timestamp"),
        ("future_from", "timestamp"),
    ):
        if column not in present:
            con.execute(
                f"alter table {RAW_SCHEMA}.ingest_log add column if not exists {column} {sql_type}"
            )


# ---------------------------------------------------------------------------------------------
# SQL compilation


_q = quote_identifier


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is read: the header and dialect DuckDB's sniffer found, then pinned.

    The sniffer runs with `ignore_errors`, so one malformed row does not make it fall back to
    reading every line as one column. Quoting stays on (`"` unless the file uses another
    quote): when a row's quoting is broken the sniffer would otherwise read the whole file
    without quotes; pinned, that row alone is malformed."""

    columns: tuple[str, ...]
    delimiter: str
    quote: str
    escape: str
    new_line: str
    comment: str
    skip: int
    header: bool = True


def _sniff_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    delimiter: str | None = None,
    header: bool = True,
    names: tuple[str, ...] = (),
    quote: str | None = None,
) -> CsvDialect:
    """The file's dialect; a declared delimiter and header (a source in winback.yml) are kept,
    and a file without a header gets the declared `names`."""
    declared = f", delim = {sql_literal(delimiter)}" if delimiter else ""
    if quote is not None:  # "none": no quoting at all (Snowplow's enriched TSV)
        declared += f", quote = {sql_literal('' if quote == 'none' else quote)}"
        declared += ", escape = ''" if quote == "none" else ""

    def sniff(max_line_size: int) -> tuple:
        return con.execute(
            "select Delimiter, Quote, Escape, NewLineDelimiter, Comment, SkipRows, Columns "
            f"from sniff_csv({sql_literal(str(path))}, header = {str(header).lower()}, "
            f"all_varchar = true, ignore_errors = true, max_line_size = {max_line_size}"
            f"{declared})"
        ).fetchall()[0]

    try:
        row = sniff(MAX_LINE_BYTES)
    except duckdb.InvalidInputException as exc:
        # a line over the limit among the rows the sniffer samples stops it (not the read,
        # which quarantines that line): sniff again with room for it
        if "Maximum line size" not in str(exc):
            raise
        row = sniff(32 * MAX_LINE_BYTES)
    declared_quote = quote
    delimiter, quote, escape, new_line, comment, skip, columns = (
        "" if v == "(empty)" else v for v in row
    )
    if declared_quote == "none":
        quote = escape = ""
    else:
        quote = declared_quote or quote or '"'
    found = tuple(c["name"] for c in columns)
    if not header:
        if len(found) != len(names):
            raise FileRejected(
                str(path.name),
                f"has {len(found)} field(s) per line, the source declares {len(names)} "
                f"columns ({', '.join(names)})",
            )
        found = names
    return CsvDialect(
        header=header,
        columns=found,
        delimiter=delimiter,
        quote=quote,
        escape=escape if declared_quote == "none" else (escape or quote),
        new_line=new_line if new_line in ("\\n", "\\r\\n", "\\r") else "",
        comment=comment,
        skip=int(skip or 0),
    )


def _csv_reader_sql(path: Path, d: CsvDialect) -> str:
    """Malformed rows (wrong number of fields, broken quotes, too long, not UTF-8) are skipped
    and listed in REJECTS_TABLE (appended to, scan after scan); every other row is read.

    `store_rejects` is needed for the rows after a malformed one too: with `ignore_errors`
    alone, DuckDB 2.0 silently stops reading at the first row with broken quotes."""
    columns = ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in d.columns)
    options = [
        "auto_detect = false",
        f"header = {str(d.header).lower()}",
        f"columns = {{{columns}}}",
        f"delim = {sql_literal(d.delimiter)}",
        f"quote = {sql_literal(d.quote)}",
        f"escape = {sql_literal(d.escape)}",
        f"skip = {d.skip}",
        f"max_line_size = {MAX_LINE_BYTES}",
        "ignore_errors = true",
        "store_rejects = true",
        f"rejects_table = {sql_literal(REJECTS_TABLE)}",
        f"rejects_scan = {sql_literal(REJECTS_SCAN)}",
    ]
    if d.new_line:
        options.append(f"new_line = {sql_literal(d.new_line)}")
    if d.comment:
        options.append(f"comment = {sql_literal(d.comment)}")
    return f"read_csv({sql_literal(str(path))}, {', '.join(options)})"


def _drop_rejects(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"drop table if exists {REJECTS_TABLE}")
    con.execute(f"drop table if exists {REJECTS_SCAN}")


def _reader_sql(path: Path, fmt: str, varchar_columns: list[str] | None = None) -> str:
    p = sql_literal(str(path))
    if fmt == "parquet":
        return f"read_parquet({p})"
    if varchar_columns is None:
        return f"read_json({p}, format = 'newline_delimited')"
    cols = ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in varchar_columns)
    return f"read_json({p}, format = 'newline_delimited', columns = {{{cols}}})"


def _file_columns(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str
) -> tuple[list[str], set[str]]:
    """The file's column names, and those read as text (the others: Parquet's own types)."""
    rel = con.execute(f"select * from {_reader_sql(path, fmt)} limit 0")
    names = [d[0] for d in rel.description]
    if fmt == "parquet":
        return names, {d[0] for d in rel.description if str(d[1]) == "VARCHAR"}
    return names, set(names)


def _count_rows(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str, dialect: CsvDialect | None
) -> int:
    """The data rows of a file that is rejected whole (malformed CSV rows included)."""
    if dialect is None:
        return con.execute(f"select count(*) from {_reader_sql(path, fmt)}").fetchone()[0]
    _drop_rejects(con)
    try:
        # fetchall: DuckDB writes the rejects table when the result is consumed to its end
        rows = con.execute(f"select count(*) from {_csv_reader_sql(path, dialect)}").fetchall()[0][
            0
        ]
        return rows + con.execute(f"select count(distinct line) from {REJECTS_TABLE}").fetchone()[0]
    finally:
        _drop_rejects(con)


def _typed_expr(c: Column, raw: str, is_text: bool = True) -> str:
    text = f"nullif(trim({raw}::varchar), '')"
    if c.type == "timestamp":
        if not is_text:  # a Parquet timestamp or date
            return f"try_cast({raw} as timestamptz)::timestamp"
        # The accepted forms are checked on the text; DuckDB then checks the calendar and
        # converts (it reads only upper-case T and Z). Trimmed only when the cast fails (a
        # trim on every row would cost as much as the pattern): at 1M rows, ~0.25 s CPU more
        # than the cast alone.
        upper = f"upper({raw})"
        return (
            f"case when regexp_full_match({raw}, {sql_literal(TIMESTAMP_PATTERN)}) "
            f"then coalesce(try_cast({upper} as timestamptz), "
            f"try_cast(trim({upper}) as timestamptz))::timestamp end"
        )
    if c.type == "decimal":
        return f"try_cast({text} as decimal(18, 4))"
    if c.type == "boolean":
        return f"try_cast({text} as boolean)"
    if c.normalise:
        return f"nullif(lower(trim({raw}::varchar)), '')"
    return text


def _rule_condition(rule_name: str, c: Column, v: ValidationSettings) -> str:
    """SQL that is true when the row fails the rule (columns: `<name>` typed, `<name>__raw`)."""
    typed, raw = _q(c.name), _q(c.name + "__raw")
    has_raw = f"nullif(trim({raw}::varchar), '') is not null"
    suffix = rule_name[len(c.name) + 1 :]
    if suffix == "not_null":
        return f"{typed} is null" if c.type != "timestamp" else f"not ({has_raw})"
    if suffix in ("is_timestamp", "is_number", "is_boolean"):
        return f"{has_raw} and {typed} is null"
    if suffix == "not_before_earliest":
        return f"{typed} < timestamp {sql_literal(v.earliest.isoformat())}"
    if suffix == "not_in_future":
        return f"{typed} > timestamp {sql_literal(v.latest.isoformat(sep=' '))}"
    if suffix == "is_json_object":
        return (
            f"{has_raw} and coalesce(case when json_valid({raw}::varchar) "
            f"then json_type({raw}::varchar::json) end, '') <> 'OBJECT'"
        )
    if suffix == "accepted_values":
        values = ", ".join(sql_literal(x) for x in c.accepted_values or ())
        return f"{typed} is not null and {typed} not in ({values})"
    raise ValueError(f"unknown rule {rule_name}")


@dataclass(frozen=True)
class CompiledFile:
    # every row: its number (ROW), the typed columns, _rule (the first rule it fails); for a
    # failing row, also <column>__raw (each present column as the file had it, as text) and
    # ORIGINAL (the file's row as JSON text, without ROW)
    checked_sql: str
    present: list[str]
    # CSV: the reader lists the malformed rows it skips in REJECTS_TABLE, and ROW numbers the
    # rows it reads (`_load` renumbers them as rows of the file)
    dialect: CsvDialect | None = None
    malformed_rule: bool = False  # a mapped source flags rows it cannot split (row_malformed)
    skipped_sql: str | None = None  # counts the rows a source's `where` leaves out


@dataclass(frozen=True)
class MappedSource:
    """A file in its own shape, read through a source's mapping (`winback.sources`): rows with
    the contract's column names as text, the file's row as JSON and ROW."""

    source_sql: str
    columns: list[str]
    original_sql: str  # a column of source_sql
    malformed_sql: str | None = None  # true for a row that could not be split into its fields
    skipped_sql: str | None = None


def compile_file(
    kind: FileKind,
    path: Path,
    fmt: str,
    file_columns: list[str],
    v: ValidationSettings,
    dialect: CsvDialect | None = None,
    text_columns: set[str] | None = None,
    mapped: MappedSource | None = None,
) -> CompiledFile:
    if mapped is not None:
        file_columns = mapped.columns
    by_lower = {c.strip().lower(): c for c in file_columns}
    present = [c.name for c in kind.columns if c.name in by_lower]
    if fmt == "csv" and mapped is None:
        dialect = dialect or CsvDialect(tuple(file_columns), ",", '"', '"', "", "", 0)
    if mapped is not None:
        source = mapped.source_sql
    elif fmt == "parquet":
        source = (
            f"select * exclude (file_row_number), file_row_number + 1 as {ROW} "
            f"from read_parquet({sql_literal(str(path))}, file_row_number = true)"
        )
    else:
        if fmt == "csv":
            reader = _csv_reader_sql(path, dialect)
        else:
            reader = _reader_sql(path, fmt, varchar_columns=file_columns)
        source = f"select *, row_number() over () as {ROW} from {reader}"

    select = [ROW]
    for c in kind.columns:
        if c.name in by_lower:
            raw = _q(by_lower[c.name])
            is_text = text_columns is None or by_lower[c.name] in text_columns
            select.append(f"{raw} as {_q(c.name + '__raw')}")
            select.append(f"{_typed_expr(c, raw, is_text)} as {_q(c.name)}")
        else:
            select.append(f"null::varchar as {_q(c.name + '__raw')}")
            select.append(f"null::{SQL_TYPES[c.type]} as {_q(c.name)}")

    rules = row_rules(kind, set(present))
    whens = [(_rule_condition(r.name, kind.column(r.column), v), r) for r in rules]
    if mapped is not None and mapped.malformed_sql:
        select.append(f"{mapped.malformed_sql} as _winback_malformed")
        whens.insert(0, ("_winback_malformed", ROW_MALFORMED))
    rule_case = "null"
    if whens:
        rule_case = "case " + " ".join(
            f"when {cond} then {sql_literal(r.name)}" for cond, r in whens
        )
        rule_case += " end"

    # What is kept per row is typed, plus the rule; a failing row also keeps, for the
    # quarantine, its values as the file had them and the whole row as JSON (computed for the
    # failing rows only: the quarantine then needs no second read of the file).
    row = (
        f"{SOURCE}.{_q(mapped.original_sql)}"
        if mapped is not None
        else (
            "to_json({"
            + ", ".join(f"{sql_literal(col)}: {SOURCE}.{_q(col)}" for col in file_columns)
            + "})::varchar"
        )
    )
    kept = [ROW, *(_q(c.name) for c in kind.columns), "_rule"]
    kept += [
        f"case when _rule is not null then {_q(name + '__raw')}::varchar end "
        f"as {_q(name + '__raw')}"
        for name in present
    ]
    kept.append(f"case when _rule is not null then {row} end as {ORIGINAL}")
    checked = f"""
        with src as ({source}),
        typed as (select {", ".join(select)}, src as {SOURCE} from src),
        ruled as (select *, {rule_case} as _rule from typed)
        select {", ".join(kept)} from ruled
    """
    return CompiledFile(
        checked_sql=checked,
        present=present,
        dialect=dialect if fmt == "csv" else None,
        malformed_rule=bool(mapped is not None and mapped.malformed_sql),
        skipped_sql=mapped.skipped_sql if mapped is not None else None,
    )


def _dedupe_key_parts(kind: FileKind, present: list[str]) -> list[str]:
    """The expressions whose values make a row's identity (two rows with the same are copies)."""
    if kind.hashed_id:
        id_col, parts = kind.hashed_id
        hashed = (
            "md5(concat_ws('|', "
            + ", ".join(f"coalesce({_q(p)}::varchar, '')" for p in parts)
            + "))"
        )
        return [f"coalesce({_q(id_col)}, {hashed})" if id_col in present else hashed]
    cols = kind.dedupe_key or tuple(kind.column_names)
    return [_q(c) for c in cols]


def _mapped_source(
    con: duckdb.DuckDBPyConnection, feed: Feed, path: Path, fmt: str
) -> tuple[MappedSource, CsvDialect | None]:
    """A source's file read with its options and mapped to the contract's columns."""
    options, dialect, malformed = feed.options, None, None
    if fmt == "csv" and options.delimiter == "whitespace":
        rows = (
            f"select *, row_number() over () as {ROW} from {whitespace_reader_sql(path, options)}"
        )
        file_columns, references = list(options.columns), "table"
        last = _q(options.columns[-1])
        # a line with fewer or more fields than `columns` is quarantined as row_malformed
        extra = [f"{ALIAS}._winback_extra is not null or {ALIAS}.{last} is null as _winback_bad"]
        malformed = "_winback_bad"
    elif fmt == "csv":
        dialect = _sniff_csv(
            con, path, options.delimiter, options.header, options.columns, options.quote
        )
        rows = f"select *, row_number() over () as {ROW} from {_csv_reader_sql(path, dialect)}"
        file_columns, references, extra = list(dialect.columns), "table", []
    elif fmt == "parquet":
        rows = (
            f"select * exclude (file_row_number), file_row_number + 1 as {ROW} "
            f"from read_parquet({sql_literal(str(path))}, file_row_number = true)"
        )
        described = con.execute(f"select * from read_parquet({sql_literal(str(path))}) limit 0")
        file_columns, references, extra = [d[0] for d in described.description], "table", []
    else:
        reader, references = reader_sql(path, fmt, options)
        rows = f"select *, row_number() over () as {ROW} from {reader}"
        file_columns, extra = ["json"], []
        if fmt == "jsonl":  # a line that is not a JSON object is quarantined as row_malformed
            extra = [f"{ALIAS}.json is null as _winback_bad"]
            malformed = "_winback_bad"
    if ROW.lower() in {c.lower() for c in file_columns}:
        raise FileRejected(str(path.name), f"has a column named {ROW}, a name winback reserves")
    select = mapped_select(feed, references, file_columns)
    columns = [s.rsplit(" as ", 1)[1].strip('"') for s in select]
    original = f"{original_row_sql(references, file_columns)} as {ORIGINAL}"
    if (fmt == "csv" and options.delimiter == "whitespace") or fmt == "jsonl":
        original = f"{ALIAS}._winback_line as {ORIGINAL}"  # the line as it is in the file
    keep = where_sql(feed, references, file_columns)
    body = f"from ({rows}) {ALIAS}"
    source_sql = f"select {', '.join([*select, original, *extra])}, {ALIAS}.{ROW} {body}" + (
        f" where coalesce({keep}, false)" if keep else ""
    )
    skipped = f"select count(*) {body} where not coalesce({keep}, false)" if keep else None
    return MappedSource(source_sql, columns, ORIGINAL, malformed, skipped), dialect


# ---------------------------------------------------------------------------------------------
# Ingestion


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    relative_path: str,
    settings: ValidationSettings | None = None,
    example_limit: int = 20,
    verify: Callable[[IngestResult], list[str]] | None = None,
    feed: Feed | None = None,
    path: Path | None = None,
) -> IngestResult:
    """Validate and load one landing file. Raises `FileRejected` (after logging the rejection)
    when the file cannot be read, lacks a required column or fails a blocking check; nothing of
    it is loaded then.

    The blocking checks run inside the load's transaction: the counts must reconcile, and
    `verify` (the Great Expectations suite, from the caller) gets the result while the rows are
    in place but not yet committed; the names of failed checks it returns roll the load back."""
    settings = settings or ValidationSettings()
    if settings.now is None:  # one clock for the whole file, and recorded with it
        settings = replace(settings, now=dt.datetime.now(dt.UTC).replace(tzinfo=None))
    if feed is not None:
        return _ingest_feed(con, feed, Path(path), relative_path, settings, example_limit, verify)
    kind = kind_for_path(relative_path)
    fmt = format_for_path(relative_path)
    if kind is None or fmt is None:
        raise FileRejected(
            relative_path,
            f"not a landing file: the kind must be one of {', '.join(FILE_KINDS)} (folder or "
            "name prefix) and the format .csv, .parquet or .jsonl",
        )
    ensure_raw_tables(con)
    con.execute("set TimeZone = 'UTC'")
    path = Path(landing_dir) / relative_path
    result = IngestResult(kind=kind.name, source_file=relative_path)
    _record_state(result, path, kind, None, settings)
    dialect, readable = None, False
    try:
        try:
            if fmt == "csv":
                dialect = _sniff_csv(con, path)
                file_columns, text_columns = list(dialect.columns), set(dialect.columns)
            else:
                file_columns, text_columns = _file_columns(con, path, fmt)
        except (duckdb.Error, OSError) as exc:
            raise _unreadable(relative_path, path, fmt, exc) from exc
        readable = True
        lower = {c.strip().lower() for c in file_columns}
        if ROW in lower:
            raise FileRejected(
                relative_path, f"has a column named {ROW}, a name winback reserves for itself"
            )
        missing = [c for c in kind.required_columns if c not in lower]
        if missing:
            from winback.hints import rejection_hint

            raise FileRejected(
                relative_path,
                f"required column(s) missing: {', '.join(missing)} ({_article(kind.name)} {kind.name} file needs "
                f"{', '.join(kind.required_columns)}; found {', '.join(file_columns)})"
                + rejection_hint(con, path, fmt, file_columns, kind),
                missing_columns=missing,
            )
        compiled = compile_file(
            kind, path, fmt, file_columns, settings, dialect=dialect, text_columns=text_columns
        )
        result.columns_present = compiled.present
        _load(con, kind, compiled, result, example_limit, verify)
        _add_hints(con, result, declared=False)
    except FileRejected as exc:
        result.status = "rejected"
        result.error = str(exc)
        # what was read is still counted (as rejected with the file); nothing is loaded
        if readable and not result.rows_read:
            # (a file readable enough for its header but not for its rows counts none)
            with contextlib.suppress(duckdb.Error):
                result.rows_read = _count_rows(con, path, fmt, dialect)
        _record_rejection(con, kind, result)
        raise
    return result


def _record_state(
    result: IngestResult, path: Path, kind: FileKind, feed: Feed | None, settings
) -> None:
    """The file's state before it is read (size, time, hash), logged with the result so that a
    later run can skip the file while it stays so; a missing file is rejected by the read."""
    result.checked_until = settings.latest
    with contextlib.suppress(OSError):
        result.file_state = file_state(path, kind, feed, settings, with_hash=True)


def _unreadable(source_file: str, path: Path, fmt: str, exc: BaseException) -> FileRejected:
    """Why a file could not be opened, in one line."""
    if path.is_file() and path.stat().st_size == 0:
        needs = " (a CSV file needs a header row)" if fmt == "csv" else ""
        return FileRejected(source_file, f"is empty{needs}")
    return FileRejected(source_file, f"cannot be read as {fmt}: {short_error(exc)}")


def _record_rejection(con, kind: FileKind, result: IngestResult) -> None:
    """A rejected file loads nothing: what it loaded before is removed, the log says why."""
    result.rows_loaded = result.rows_quarantined = result.duplicates_dropped = 0
    result.rows_skipped, result.min_date, result.max_date = 0, None, None
    result.future_from = None
    result.quarantine_by_rule, result.quarantine_examples = {}, []
    _replace_file(con, kind, result.source_file, result, load=None)


def _ingest_feed(
    con, feed: Feed, path: Path, source_file: str, settings, example_limit, verify
) -> IngestResult:
    """A file of a declared source (winback.yml): read with the source's options, mapped, then
    checked and loaded like any landing file."""
    from winback.mapping import MappingError

    kind = feed.kind
    ensure_raw_tables(con)
    con.execute("set TimeZone = 'UTC'")
    result = IngestResult(kind=kind.name, source_file=source_file)
    _record_state(result, path, kind, feed, settings)
    try:
        try:
            fmt = file_format(path, feed.options)
            mapped, dialect = _mapped_source(con, feed, path, fmt)
        except MappingError as exc:
            raise FileRejected(source_file, str(exc)) from None
        except FileRejected as exc:
            raise FileRejected(source_file, str(exc).split(": ", 1)[-1]) from None
        except (duckdb.Error, OSError) as exc:
            raise _unreadable(source_file, path, fmt, exc) from exc
        present = {c.lower() for c in mapped.columns}
        missing = [c for c in kind.required_columns if c not in present]
        if missing:
            raise FileRejected(
                source_file,
                f"the mapping of source {feed.source} gives no {', '.join(missing)} (a "
                f"{kind.name} feed needs {', '.join(kind.required_columns)}): add it under "
                f"sources.{feed.source}.mapping in winback.yml",
                missing_columns=missing,
            )
        compiled = compile_file(
            kind, path, fmt, mapped.columns, settings, dialect=dialect, mapped=mapped
        )
        result.columns_present = compiled.present
        _load(con, kind, compiled, result, example_limit, verify)
        _add_hints(con, result, declared=True)
    except FileRejected as exc:
        result.status, result.error = "rejected", str(exc)
        _record_rejection(con, kind, result)
        raise
    return result


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _add_hints(con, result: IngestResult, declared: bool) -> None:
    from winback.hints import timestamp_format_hint

    for rule in result.quarantine_by_rule:
        if not rule.endswith("_is_timestamp"):
            continue
        values = con.execute(
            f"select value from {RAW_SCHEMA}.quarantine where source_file = ? and rule = ? "
            "order by source_row limit 20",
            [result.source_file, rule],
        ).fetchall()
        share = result.quarantine_by_rule[rule] / max(result.rows_read, 1)
        hint = timestamp_format_hint(
            rule.removesuffix("_is_timestamp"), [v for (v,) in values], declared, share
        )
        if hint:
            result.hints.append(hint)


def _blocking_checks(result: IngestResult, verify) -> list[str]:
    failed = []
    if not result.reconciles:
        failed.append(
            f"counts_reconcile (read {result.rows_read:,} <> loaded {result.rows_loaded:,} + "
            f"quarantined {result.rows_quarantined:,} + duplicates {result.duplicates_dropped:,}"
            f" + skipped {result.rows_skipped:,})"
        )
    if verify is not None:
        failed += verify(result)
    return failed


def _previous_dates(con: duckdb.DuckDBPyConnection, source_file: str) -> tuple:
    row = con.execute(
        f"select min_date, max_date from {RAW_SCHEMA}.ingest_log where source_file = ?",
        [source_file],
    ).fetchone()
    return row or (None, None)


def _replace_file(
    con, kind: FileKind, source_file: str, result: IngestResult, load, verify=None
) -> None:
    """Replace what `source_file` loaded before with this result, in one transaction, committed
    only when the blocking checks pass."""
    old_min, old_max = _previous_dates(con, source_file)
    con.execute("begin transaction")
    try:
        con.execute(f"delete from {RAW_SCHEMA}.{kind.name} where _source_file = ?", [source_file])
        con.execute(f"delete from {RAW_SCHEMA}.quarantine where source_file = ?", [source_file])
        con.execute(f"delete from {RAW_SCHEMA}.ingest_log where source_file = ?", [source_file])
        if load is not None:
            load()  # fills the counts and the file's date range in `result`
        dates_from = [d for d in (old_min, result.min_date) if d is not None]
        dates_to = [d for d in (old_max, result.max_date) if d is not None]
        state = result.file_state
        result.affected_from = min(dates_from) if dates_from else None
        result.affected_to = max(dates_to) if dates_to else None
        con.execute(
            f"insert into {RAW_SCHEMA}.ingest_log (kind, source_file, status, error, rows_read, "
            "rows_loaded, rows_quarantined, duplicates_dropped, min_date, max_date, "
            "affected_from, affected_to, needs_build, ingested_at, rows_skipped, file_size, "
            "file_mtime_ns, reading_digest, content_hash, checked_until, future_from) values "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, true, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                kind.name,
                source_file,
                result.status,
                result.error,
                result.rows_read,
                result.rows_loaded,
                result.rows_quarantined,
                result.duplicates_dropped,
                result.min_date,
                result.max_date,
                result.affected_from,
                result.affected_to,
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
                result.rows_skipped,
                state.size if state else None,
                state.mtime_ns if state else None,
                state.reading if state else None,
                state.content_hash if state else None,
                result.checked_until,
                result.future_from,
            ],
        )
        if load is not None:
            failed = _blocking_checks(result, verify)
            if failed:
                raise FileRejected(
                    source_file,
                    "blocking checks failed, nothing of it loaded: " + "; ".join(failed),
                    failed_checks=failed,
                )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def _drop_work_tables(con) -> None:
    for table in ("_checked", "_malformed", "_renumber", "_repeated"):
        con.execute(f"drop table if exists {table}")
    _drop_rejects(con)


def _load(
    con, kind: FileKind, compiled: CompiledFile, result: IngestResult, limit: int, verify=None
) -> None:
    _drop_work_tables(con)
    try:
        _check_and_load(con, kind, compiled, result, limit, verify)
    finally:
        _drop_work_tables(con)


def _check_and_load(
    con, kind: FileKind, compiled: CompiledFile, result: IngestResult, limit: int, verify
) -> None:
    src_file = result.source_file
    try:
        con.execute(f"create temp table _checked as {compiled.checked_sql}")
    except duckdb.Error as exc:
        raise FileRejected(src_file, f"cannot be read: {short_error(exc)}") from exc
    malformed = 0
    if compiled.dialect is not None:
        malformed = _collect_malformed(con, compiled.dialect)
    # ROW numbers the rows read; the row of the file is ROW plus the malformed rows before it
    # (`_collect_malformed`), added where rows are written out
    file_row, renumber = f"c.{ROW}", ""
    if malformed:
        file_row = f"c.{ROW} + coalesce(m.shift, 0)"
        renumber = f"asof left join _renumber m on c.{ROW} > m.read_before"

    key_parts = _dedupe_key_parts(kind, compiled.present)
    key = ", ".join(key_parts)
    cols = ", ".join(_q(c) for c in kind.column_names)
    id_col = kind.hashed_id[0] if kind.hashed_id else None
    # the stand-in id (when the file has none) is stored, so every downstream model has a key
    cols_out = ", ".join(f"{key} as {_q(c)}" if c == id_col else _q(c) for c in kind.column_names)

    def load() -> None:
        # Each count comes from its own source, so the reconciliation check can really fail:
        # rows read and duplicates from the checked file, loaded and quarantined rows from what
        # the inserts report.
        (
            rows_checked,
            valid_rows,
            result.min_date,
            result.max_date,
        ) = con.execute(
            f"""select count(*), count(*) filter (where _rule is null),
                   cast(min({kind.date_column}) filter (where _rule is null) as date),
                   cast(max({kind.date_column}) filter (where _rule is null) as date)
            from _checked"""
        ).fetchone()
        result.rows_read = rows_checked + malformed
        if compiled.skipped_sql:
            result.rows_skipped = con.execute(compiled.skipped_sql).fetchone()[0]
            result.rows_read += result.rows_skipped
        # Copies: the keys found more than once, each with its first row in file order (the one
        # kept). Only the rows of those keys are then compared, not every row (a window over
        # every row cost 3.7 s at 10M rows; duplicates are rare).
        keys = [f"_winback_key{i}" for i in range(len(key_parts))]
        con.execute(
            f"""create temp table _repeated as
            select {", ".join(f"{p} as {k}" for p, k in zip(key_parts, keys, strict=True))},
                   min({ROW}) as _first, count(*) as _copies
            from _checked where _rule is null group by all having count(*) > 1"""
        )
        result.duplicates_dropped = con.execute(
            "select coalesce(sum(_copies - 1), 0) from _repeated"
        ).fetchone()[0]
        copies = ""
        if result.duplicates_dropped:
            same_key = " and ".join(
                f"({p}) is not distinct from d.{k}" for p, k in zip(key_parts, keys, strict=True)
            )
            copies = (
                f"left join _repeated d on {same_key} "
                f"where (d._first is null or c.{ROW} = d._first) and"
            )
        result.rows_loaded = con.execute(
            f"""insert into {RAW_SCHEMA}.{kind.name} ({cols}, _source_file, _source_row)
            select {cols_out}, {sql_literal(src_file)}, {file_row} from _checked c {renumber}
            {copies or "where"} _rule is null"""
        ).fetchone()[0]
        result.rows_quarantined = 0
        if rows_checked > valid_rows:
            result.rows_quarantined = con.execute(
                f"""insert into {RAW_SCHEMA}.quarantine
                select {sql_literal(kind.name)}, {sql_literal(src_file)}, {file_row}, c._rule, r.column_name,
                       {_value_case(compiled.present)},
                       {_reason_case(kind, compiled.present)}, c.{ORIGINAL}
                from _checked c {renumber}
                join ({_rule_descriptions(kind, compiled.present, compiled.malformed_rule)}) r
                    on r.rule = c._rule
                where c._rule is not null"""
            ).fetchone()[0]
        if malformed:
            result.rows_quarantined += con.execute(
                f"""insert into {RAW_SCHEMA}.quarantine
                select {sql_literal(kind.name)}, {sql_literal(src_file)}, {ROW}, {sql_literal(ROW_MALFORMED.name)},
                       null, null, reason, original_line
                from _malformed"""
            ).fetchone()[0]
        _summarise_quarantine(con, result, limit)
        if rows_checked > valid_rows:
            result.future_from = _future_from(con, kind, compiled.present)

    _replace_file(con, kind, src_file, result, load=load, verify=verify)


def _future_from(con, kind: FileKind, present: list[str]) -> dt.datetime | None:
    """The earliest timestamp of `_checked` quarantined as in the future (None: none was)."""
    firsts = [
        f"min({_q(c.name)}) filter (where _rule = {sql_literal(c.name + '_not_in_future')})"
        for c in kind.columns
        if c.type == "timestamp" and c.name in present
    ]
    if not firsts:
        return None
    return con.execute(f"select least({', '.join(firsts)}) from _checked").fetchone()[0]


def _template_sql(template: str, **values: str) -> str:
    """A reason template of the contract (`"expected {expected} fields"`) as SQL, each
    placeholder replaced by the SQL expression given for it."""
    parts = []
    for text, name, _, _ in string.Formatter().parse(template):
        if text:
            parts.append(sql_literal(text))
        if name is not None:
            parts.append(f"({values[name]})::varchar")
    return "concat(" + ", ".join(parts) + ")"


def _collect_malformed(con, dialect: CsvDialect) -> int:
    """The rows DuckDB's CSV reader skipped (REJECTS_TABLE: one or more entries per line) as
    `_malformed`: the row of the file, the reason in words and the line as it is in the file.
    Also `_renumber`, to turn the number of a row read into its row in the file. Returns the
    number of malformed rows."""
    found = r"try_cast(regexp_extract(error_message, 'Found: (\d+)', 1) as bigint)"
    expected = str(len(dialect.columns))
    size = r"coalesce(nullif(regexp_extract(first(error_message), 'Actual Size:\s*(\d+)', 1), ''), '?')"
    reasons = [  # the first that applies to a line (a line can have several entries)
        ("UNQUOTED VALUE", sql_literal(MALFORMED_REASONS["quoting"])),
        (
            "LINE SIZE OVER MAXIMUM",
            _template_sql(MALFORMED_REASONS["line_too_long"], size=size, limit=str(MAX_LINE_BYTES)),
        ),
        ("INVALID ENCODING", sql_literal(MALFORMED_REASONS["encoding"])),
        (
            "TOO MANY COLUMNS",
            _template_sql(
                MALFORMED_REASONS["field_count"],
                expected=expected,
                found=f"max({found}) filter (where error_type = 'TOO MANY COLUMNS')",
            ),
        ),
        (
            "MISSING COLUMNS",
            _template_sql(
                MALFORMED_REASONS["field_count"],
                expected=expected,
                found=f"min({found}) filter (where error_type = 'MISSING COLUMNS')",
            ),
        ),
    ]
    reason = (
        "case "
        + " ".join(f"when bool_or(error_type = {sql_literal(t)}) then {sql}" for t, sql in reasons)
        + f" else {_template_sql(MALFORMED_REASONS['unparsable'], error='first(error_message)')}"
        + " end"
    )
    # `line` is the row's line in the file: the header and skipped lines count, a line break
    # inside quotes does not. Blank lines count too, while the rows read skip them: after a
    # blank line, a malformed row's number is one more than its place among the rows (known
    # gap; numbers never collide). The line as quarantined loses the line break DuckDB keeps.
    con.execute(
        f"""create or replace temp table _malformed as
        select line - {1 + dialect.skip} as {ROW}, {reason} as reason,
               left(trim(first(csv_line), chr(13) || chr(10)), {QUARANTINED_LINE_CHARS})
                   as original_line
        from {REJECTS_TABLE} group by line"""
    )
    n = con.execute("select count(*) from _malformed").fetchone()[0]
    if n:
        # The i-th malformed row (in file order), at row R, comes after R - i rows that were
        # read: the row read as number n is the file's row n + #(malformed rows i: R - i < n).
        con.execute(
            f"""create or replace temp table _renumber as
            select read_before, max(i) as shift
            from (select {ROW} - row_number() over (order by {ROW}) as read_before,
                         row_number() over (order by {ROW}) as i from _malformed)
            group by read_before"""
        )
    return n


def _summarise_quarantine(con, result: IngestResult, limit: int) -> None:
    src_file = result.source_file
    result.quarantine_by_rule = dict(
        con.execute(
            f"select rule, count(*) from {RAW_SCHEMA}.quarantine where source_file = ? "
            "group by rule order by 2 desc, 1",
            [src_file],
        ).fetchall()
    )
    examples = con.execute(
        f"""select source_row, column_name, rule, value, reason from {RAW_SCHEMA}.quarantine
        where source_file = ? order by source_row limit {int(limit)}""",
        [src_file],
    ).fetchall()
    result.quarantine_examples = [
        dict(zip(("row", "column", "rule", "value", "reason"), e, strict=True)) for e in examples
    ]


def _value_case(present: list[str]) -> str:
    """The failing value, as the file had it (`_checked`'s <column>__raw)."""
    whens = " ".join(
        f"when r.column_name = {sql_literal(name)} then c.{_q(name + '__raw')}" for name in present
    )
    return f"case {whens} end" if whens else "null"


def _reason_case(kind: FileKind, present: list[str]) -> str:
    """The reason a row was quarantined: its rule's description, or for a timestamp whose only
    fault is its UTC offset, which offset (from `_checked`'s <column>__raw)."""
    whens = []
    for name in present:
        if kind.column(name).type != "timestamp":
            continue
        value = f"trim(c.{_q(name + '__raw')})"
        offset = rf"regexp_extract({value}, '[+-]\d{{2}}(:?\d{{2}})?$')"
        whens.append(
            f"when c._rule = {sql_literal(name + '_is_timestamp')} "
            f"and regexp_full_match({value}, {sql_literal(ANY_OFFSET_TIMESTAMP_PATTERN)}) "
            f"and not regexp_full_match({value}, {sql_literal(TIMESTAMP_PATTERN)}) "
            f"then {_template_sql(OFFSET_REASON, column=sql_literal(name), offset=offset)}"
        )
    return f"case {' '.join(whens)} else r.description end" if whens else "r.description"


def _rule_descriptions(kind: FileKind, present: list[str], malformed: bool = False) -> str:
    rules = [ROW_MALFORMED] * malformed + row_rules(kind, set(present))
    rows = ", ".join(
        f"({sql_literal(r.name)}, {sql_literal(r.column) if r.column else 'null'}, "
        f"{sql_literal(r.description)})"
        for r in rules
    )
    return f"select * from (values {rows}) t(rule, column_name, description)"


def landing_files(landing_dir: Path) -> list[str]:
    """Every landing file below `landing_dir` whose kind and format winback knows, sorted, as
    paths relative to `landing_dir` (these are the ingestion partition keys)."""
    root = Path(landing_dir)
    if not root.exists():
        return []
    found = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name.startswith((".", "_")):
            continue
        rel = p.relative_to(root).as_posix()
        if kind_for_path(rel) and format_for_path(rel):
            found.append(rel)
    return found
