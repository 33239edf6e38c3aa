"""Declared sources: files in their own shape (an export, a warehouse dump, an old system's
orders log), read with their format options and mapped to the contract's columns.

A source (in `winback.yml`) names a path or glob, the kind of rows it holds, how to read it and
a mapping from its columns to the contract's. It yields one or more *feeds*: the rows of one
kind made from the file (a per-event `acquisition_channel` split off into the users kind is a
second feed of the same file). Ingestion (`winback.ingest`) reads a feed through `feed_sql`,
then checks and loads its rows exactly like a file in winback's own layout, so the rules, the
quarantine and the counts are the same.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from winback.contract import FILE_KINDS, FileKind
from winback.mapping import MappingError, compile_expression, json_paths, table_columns
from winback.sql import quote_identifier, sql_literal

FORMATS = ("csv", "jsonl", "json", "parquet")
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
COMPRESSIONS = ("auto", "none", "gzip", "zstd")
EPOCHS = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1, "epoch_ns": 0.001}
# `epoch`: the unit read off the size of the number (seconds until the year 5138, then
# milliseconds, microseconds, nanoseconds), for exports that give seconds or milliseconds
# depending on an option (Mixpanel's time_in_ms)
EPOCH_AUTO = "epoch"
ISO_OUT = "%Y-%m-%dT%H:%M:%S.%fZ"
# a time of day followed by a zone: such a timestamp is not naive, the source's timezone
# does not apply to it
HAS_ZONE = r"(?i)[t ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(z|utc|[+-]\d{2}(:?\d{2})?)\s*$"
SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
ALIAS = "_r"  # the file's row in the feed's SQL
ORIGINAL = "_winback_original"  # the file's row as JSON text, for the quarantine


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


@dataclass(frozen=True)
class ReadOptions:
    """How a source's files are read."""

    format: str | None = None  # None: from the file's extension
    delimiter: str | None = None  # None: sniffed; "whitespace": runs of spaces and tabs
    header: bool = True
    columns: tuple[str, ...] = ()  # the names of the fields when the file has no header
    compression: str = "auto"
    quote: str | None = None  # None: sniffed (else "); "none": fields are never quoted
    # iso, epoch (unit by size), epoch_s/ms/us/ns, or a strptime format like %Y%m%d
    timestamp_format: str = "iso"
    timezone: str = "UTC"  # the zone of naive timestamps


@dataclass(frozen=True)
class ColumnMapping:
    expression: str  # in the language of winback.mapping
    timestamp_format: str | None = None  # for timestamp columns, over the source's
    constant: bool = False  # the expression is a literal
    # a preset's mapping: it names the exporter's fields, and a loader's table may lack some of
    # them; such a column is null, and the mapping is skipped when the file has none of them
    lenient: bool = False


@dataclass(frozen=True)
class Feed:
    """The rows of one kind made from a source's files."""

    source: str
    kind: FileKind
    mapping: dict[str, ColumnMapping]
    where: str | None = None  # rows of the file this feed keeps (the source block's `where`)
    options: ReadOptions = field(default_factory=ReadOptions)
    # presets only, never from YAML: SQL over a JSON file's row (`_r.json`) for the columns
    # the language cannot express (GA4's event_params list); ignored for CSV and Parquet
    trusted_sql: dict[str, str] = field(default_factory=dict)
    preset_where: str | None = None  # the preset's own `where` (e.g. Segment `type = 'track'`)

    @property
    def name(self) -> str:
        return f"{self.source}.{self.kind.name}"


@dataclass(frozen=True)
class Source:
    name: str
    paths: tuple[str, ...]
    feeds: tuple[Feed, ...]
    preset: str | None = None


def file_format(source_path: str | Path, options: ReadOptions) -> str:
    if options.format:
        return options.format
    name = str(source_path).lower()
    for compressed in (".gz", ".zst"):
        name = name.removesuffix(compressed)
    for suffix, fmt in EXTENSIONS.items():
        if name.endswith(suffix):
            return fmt
    raise MappingError(
        f"{source_path}: cannot tell the format from the name; set `format:` "
        f"({', '.join(FORMATS)}) in the source's options"
    )


# ---------------------------------------------------------------------------------------------
# Reading the declaration (winback.yml) — every value checked, with its place in the file


def _where(place: str, message: str) -> MappingError:
    return MappingError(f"{place}: {message}")


def parse_options(raw: Mapping | None, place: str) -> ReadOptions:
    raw = dict(raw or {})
    known = set(ReadOptions.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise _where(
            place, f"unknown option(s) {', '.join(sorted(unknown))} ({', '.join(sorted(known))})"
        )
    values = {}
    if raw.get("format") is not None:
        if raw["format"] not in FORMATS:
            raise _where(
                place, f"format must be one of {', '.join(FORMATS)}, got {raw['format']!r}"
            )
        values["format"] = raw["format"]
    if raw.get("delimiter") is not None:
        delimiter = str(raw["delimiter"])
        named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
        delimiter = named.get(delimiter, delimiter)
        if delimiter != "whitespace" and (len(delimiter) != 1 or delimiter in "\"'\n\r"):
            raise _where(
                place,
                f"delimiter must be one character, tab or whitespace, got {raw['delimiter']!r}",
            )
        values["delimiter"] = delimiter
    if "header" in raw:
        if not isinstance(raw["header"], bool):
            raise _where(place, f"header must be true or false, got {raw['header']!r}")
        values["header"] = raw["header"]
    if raw.get("columns") is not None:
        columns = raw["columns"]
        if not isinstance(columns, list) or not all(
            isinstance(c, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", c) for c in columns
        ):
            raise _where(place, "columns must be a list of names (letters, digits, _)")
        if len(set(c.lower() for c in columns)) != len(columns):
            raise _where(place, "columns has a name twice")
        values["columns"] = tuple(columns)
    if values.get("header") is False and not values.get("columns"):
        raise _where(place, "a file without a header needs `columns: [name, ...]`")
    if values.get("delimiter") == "whitespace" and not values.get("columns"):
        raise _where(place, "a whitespace-separated file needs `columns: [name, ...]`")
    if raw.get("quote") is not None:
        quote = str(raw["quote"])
        if quote != "none" and (len(quote) != 1 or quote in "\n\r"):
            raise _where(place, f"quote must be one character or none, got {raw['quote']!r}")
        values["quote"] = quote
    if raw.get("compression") is not None:
        if raw["compression"] not in COMPRESSIONS:
            raise _where(place, f"compression must be one of {', '.join(COMPRESSIONS)}")
        values["compression"] = raw["compression"]
    if raw.get("timestamp_format") is not None:
        values["timestamp_format"] = check_timestamp_format(raw["timestamp_format"], place)
    if raw.get("timezone") is not None:
        if raw["timezone"] not in _timezones():
            raise _where(
                place, f"timezone must be an IANA zone like Europe/Paris, got {raw['timezone']!r}"
            )
        values["timezone"] = raw["timezone"]
    return ReadOptions(**values)


def check_timestamp_format(value, place: str) -> str:
    value = str(value)
    if value in ("iso", EPOCH_AUTO) or value in EPOCHS:
        return value
    if "%" in value and len(value) <= 64 and "\n" not in value:
        return value
    raise _where(
        place,
        f"timestamp_format must be iso, epoch, {', '.join(EPOCHS)} or a strptime format such as "
        f"%Y%m%d or %d/%m/%Y %H:%M, got {value!r}",
    )


def parse_mapping(raw: Mapping | None, kind: FileKind, place: str) -> dict[str, ColumnMapping]:
    mapping = {}
    for column, value in dict(raw or {}).items():
        if column not in kind.column_names:
            raise _where(
                place,
                f"{column!r} is not a column of the {kind.name} contract "
                f"({', '.join(kind.column_names)})",
            )
        mapping[column] = parse_column_mapping(value, f"{place}.{column}")
    return mapping


def parse_column_mapping(value, place: str) -> ColumnMapping:
    if isinstance(value, str):
        return ColumnMapping(value)
    if isinstance(value, Mapping):
        keys = set(value)
        if keys - {"column", "expression", "constant", "format"}:
            raise _where(place, "use `column:`, `expression:` or `constant:` (and `format:`)")
        given = [k for k in ("column", "expression", "constant") if k in value]
        if len(given) != 1:
            raise _where(place, "give exactly one of `column:`, `expression:`, `constant:`")
        fmt = check_timestamp_format(value["format"], place) if "format" in value else None
        if given[0] == "constant":
            constant = value["constant"]
            if not isinstance(constant, str | int | float | bool):
                raise _where(place, "a constant is text, a number or true/false")
            return ColumnMapping(_literal(constant), fmt, constant=True)
        text = value[given[0]]
        if not isinstance(text, str):
            raise _where(place, f"`{given[0]}:` takes text")
        if given[0] == "column":
            text = quote_identifier(text) if not re.fullmatch(r"[A-Za-z_$][\w$.]*", text) else text
        return ColumnMapping(text, fmt)
    if isinstance(value, int | float | bool):
        return ColumnMapping(_literal(value), constant=True)
    raise _where(place, "a mapping is a column name, an expression or {constant: ...}")


def _literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def parse_source(name: str, raw: Mapping) -> Source:
    """One entry of `sources:` in winback.yml."""
    place = f"sources.{name}"
    if not SOURCE_NAME.match(str(name)):
        raise _where(
            place, "a source name is lower case letters, digits and _ (starting with a letter)"
        )
    if not isinstance(raw, Mapping):
        raise _where(place, "a source is a block with path, kind or preset, options, mapping")
    known = {"path", "kind", "preset", "options", "mapping", "users", "where"}
    unknown = set(raw) - known
    if unknown:
        raise _where(
            place, f"unknown key(s) {', '.join(sorted(unknown))} ({', '.join(sorted(known))})"
        )
    paths = raw.get("path")
    paths = [paths] if isinstance(paths, str) else paths
    if not paths or not all(isinstance(p, str) and p.strip() and "\x00" not in p for p in paths):
        raise _where(place, "path must be a file path or glob (or a list of them)")
    where = raw.get("where")
    if where is not None and not isinstance(where, str):
        raise _where(place, "where must be an expression")

    preset_name = raw.get("preset")
    if preset_name is not None:
        feeds = preset_feeds(str(preset_name), name, raw.get("options"), place)
        feeds = [_override(f, raw, place) for f in feeds]
        if raw.get("users"):
            events = next((f for f in feeds if f.kind.name == "events"), None)
            if events is None:
                raise _where(place, f"users: needs an events feed; preset {preset_name} has none")
            feeds = [f for f in feeds if f.kind.name != "users"]
            feeds.append(
                _users_feed(
                    name, raw, events, events.options, events.where, place, events.preset_where
                )
            )
        return Source(name, tuple(paths), tuple(feeds), preset=str(preset_name))

    options = parse_options(raw.get("options"), f"{place}.options")
    kind_name = raw.get("kind")
    if kind_name not in FILE_KINDS:
        raise _where(place, f"kind must be one of {', '.join(FILE_KINDS)} (or give a preset)")
    kind = FILE_KINDS[kind_name]
    feeds = [
        Feed(
            name, kind, parse_mapping(raw.get("mapping"), kind, f"{place}.mapping"), where, options
        )
    ]
    if raw.get("users"):
        feeds.append(_users_feed(name, raw, feeds[0], options, where, place))
    return Source(name, tuple(paths), tuple(feeds))


def _users_feed(name, raw, main: Feed, options, where, place, preset_where=None) -> Feed:
    """Columns of an events file that describe the user (a per-event acquisition channel) go
    to the users kind: one row per event, exact repeats dropped, the latest row wins."""
    users = FILE_KINDS["users"]
    mapping = parse_mapping(raw["users"], users, f"{place}.users")
    if "user_id" not in mapping:
        if "user_id" not in main.mapping and "user_id" not in main.trusted_sql:
            raise _where(place, "users: needs the user_id mapping of the source")
        mapping = {"user_id": main.mapping.get("user_id", ColumnMapping("user_id")), **mapping}
    trusted = {"user_id": main.trusted_sql["user_id"]} if "user_id" in main.trusted_sql else {}
    return Feed(name, users, mapping, where, options, trusted, preset_where)


def _override(feed: Feed, raw: Mapping, place: str) -> Feed:
    """A preset's feed with what the source block says on top: its mapping of events columns
    wins, its `where` applies to the events feed together with the preset's."""
    if feed.kind.name != "events":
        return feed
    mapping, trusted = feed.mapping, feed.trusted_sql
    if raw.get("mapping"):
        extra = parse_mapping(raw["mapping"], feed.kind, f"{place}.mapping")
        mapping = {**feed.mapping, **extra}
        trusted = {k: v for k, v in feed.trusted_sql.items() if k not in extra}
    return replace(feed, mapping=mapping, trusted_sql=trusted, where=raw.get("where"))


# ---------------------------------------------------------------------------------------------
# SQL


def reader_sql(
    path: Path, fmt: str, options: ReadOptions, sniffed_delimiter: str | None = None
) -> tuple[str, str]:
    """A feed's file as rows (alias ALIAS) and the SQL for the file's columns' source; returns
    (from-clause, kind of column references: 'table' or 'json')."""
    p = sql_literal(str(path))
    compression = (
        f", compression = {sql_literal(options.compression)}"
        if options.compression != "auto"
        else ""
    )
    if fmt == "parquet":
        return f"read_parquet({p})", "table"
    if fmt == "jsonl":
        return json_lines_reader_sql(path, options), "json"
    if fmt == "json":
        return f"read_json_objects({p}, format = 'array'{compression})", "json"
    raise MappingError(f"{fmt} is read by the CSV reader")


def lines_sql(path: Path, options: ReadOptions | None = None) -> str:
    """The file's lines as text (column `line`), nothing split or unquoted: the reader of
    whitespace and JSON Lines sources, and of the hints and guesses that look at first lines."""
    options = options or ReadOptions()
    compression = (
        f", compression = {sql_literal(options.compression)}"
        if options.compression != "auto"
        else ""
    )
    return (
        f"read_csv({sql_literal(str(path))}, header = false, auto_detect = false, "
        f"columns = {{'line': 'VARCHAR'}}, delim = chr(1), quote = '', escape = '', "
        f"max_line_size = 2000000{compression})"
    )


def json_lines_reader_sql(path: Path, options: ReadOptions) -> str:
    """One JSON object per line: `json` is the line when it is an object, else null (the row
    is then quarantined as row_malformed, with the line as it is in the file); blank lines are
    skipped."""
    return (
        "(select case when json_valid(line) then case when json_type(line) = 'OBJECT' then line "
        f"end end as json, line as _winback_line from {lines_sql(path, options)} "
        "where trim(line) <> '')"
    )


def whitespace_reader_sql(path: Path, options: ReadOptions) -> str:
    """A file whose fields are separated by runs of spaces or tabs (fixed-width-ish exports of
    older systems): each line split, the fields named by `columns`."""
    lines = lines_sql(path, options)
    fields = ", ".join(
        f"_f[{i}] as {quote_identifier(name)}" for i, name in enumerate(options.columns, 1)
    )
    # the fields past `columns` are kept together in one, so a line with extra fields is seen
    extra = f"nullif(array_to_string(_f[{len(options.columns) + 1}:], ' '), '') as _winback_extra"
    return (
        f"(select {fields}, {extra}, line as _winback_line from (select line, "
        f"regexp_split_to_array(trim(line), '\\s+') as _f "
        f"from {lines} where trim(line) <> ''))"
    )


def timestamp_sql(text: str, fmt: str, timezone: str) -> str:
    """A timestamp column's text made into ISO text winback's rules take: epochs and strptime
    formats converted, naive times moved from `timezone` to UTC. A value that does not convert
    is kept as it was, so the row is quarantined under `<column>_is_timestamp` with its value."""
    t = f"cast({text} as varchar)"
    if fmt in EPOCHS or fmt == EPOCH_AUTO:
        number = f"try_cast(trim({t}) as double)"
        if fmt == EPOCH_AUTO:
            scaled = (
                f"case when abs({number}) < 1e11 then {number} * 1000000 "
                f"when abs({number}) < 1e14 then {number} * 1000 "
                f"when abs({number}) < 1e17 then {number} else {number} / 1000 end"
            )
        else:
            scaled = f"{number} * {EPOCHS[fmt]}"
        micros = f"try_cast(round({scaled}) as bigint)"
        converted = f"strftime(make_timestamp({micros}), {sql_literal(ISO_OUT)})"
        return f"coalesce({converted}, {t})"
    if fmt == "iso":
        if timezone == "UTC":
            return t
        naive = f"try_cast(trim({t}) as timestamp)"
        return (
            f"case when regexp_matches({t}, {sql_literal(HAS_ZONE)}) then {t} "
            f"else coalesce(strftime(timezone('UTC', timezone({sql_literal(timezone)}, {naive})), "
            f"{sql_literal(ISO_OUT)}), {t}) end"
        )
    parsed = f"try_strptime(trim({t}), {sql_literal(fmt)})"
    if "%z" in fmt or "%Z" in fmt:
        utc = f"timezone('UTC', {parsed})"
    elif timezone == "UTC":
        utc = parsed
    else:
        utc = f"timezone('UTC', timezone({sql_literal(timezone)}, {parsed}))"
    return f"coalesce(strftime({utc}, {sql_literal(ISO_OUT)}), {t})"


def _references(
    references: str, file_columns: list[str], missing: list[str] | None = None
) -> Callable[[list[str]], str]:
    if references == "json":
        return json_paths(ALIAS)
    return table_columns(ALIAS, file_columns, missing)


def _compile_lenient(
    expression: str, references: str, file_columns: list[str]
) -> tuple[str | None, list[str]]:
    """A preset's expression: the SQL, or None when the file has none of the columns it names
    (a loader's table that keeps other names); and the names the file lacks."""
    missing: list[str] = []
    named = 0
    column = _references(references, file_columns, missing)

    def counted(parts: list[str]) -> str:
        nonlocal named
        named += 1
        return column(parts)

    sql = compile_expression(expression, counted)
    return (None if named and len(missing) == named else sql), missing


def mapped_select(feed: Feed, references: str, file_columns: list[str]) -> list[str]:
    """The select list that makes the contract's columns from a file's row (alias ALIAS): every
    contract column the mapping names (as text), plus the columns of the file that already have
    a contract column's name and are not mapped otherwise."""
    column = _references(references, file_columns)
    by_lower = {c.strip().lower() for c in file_columns}
    select = []
    for c in feed.kind.columns:
        sql = None
        if c.name in feed.trusted_sql and references == "json":
            sql = feed.trusted_sql[c.name]
        elif c.name in feed.mapping:
            m = feed.mapping[c.name]
            try:
                if m.lenient:
                    sql, _ = _compile_lenient(m.expression, references, file_columns)
                else:
                    sql = compile_expression(m.expression, column, keep_bad_numbers=True)
            except MappingError as exc:
                raise MappingError(f"sources.{feed.source}: mapping of {c.name}: {exc}") from None
            if sql is not None and c.type == "timestamp":
                fmt = m.timestamp_format or feed.options.timestamp_format
                sql = timestamp_sql(sql, fmt, feed.options.timezone)
        if sql is None:
            if references == "table" and c.name in by_lower:
                sql = column([c.name])
                if c.type == "timestamp":
                    sql = timestamp_sql(sql, feed.options.timestamp_format, feed.options.timezone)
            elif references == "json" and c.name not in feed.mapping:
                sql = column([c.name])  # a key with the contract column's name
            else:
                continue
        if c.type == "json_object" and not sql.startswith("json_extract_string"):
            sql = f"cast({sql} as varchar)"
        select.append(f"cast({sql} as varchar) as {quote_identifier(c.name)}")
    return select


def where_sql(feed: Feed, references: str, file_columns: list[str]) -> str | None:
    """The rows the feed keeps: the preset's `where` (its columns may be absent from a loader's
    table: null) and the source block's."""
    parts = []
    try:
        if feed.preset_where:
            sql, _ = _compile_lenient(feed.preset_where, references, file_columns)
            if sql is None:  # the file has none of the columns: a loader kept one kind of call
                sql = "(true)"
            parts.append(sql)
        if feed.where:
            parts.append(compile_expression(feed.where, _references(references, file_columns)))
    except MappingError as exc:
        raise MappingError(f"sources.{feed.source}: where: {exc}") from None
    return " and ".join(parts) if parts else None


def original_row_sql(references: str, file_columns: list[str]) -> str:
    if references == "json":
        return f"cast({ALIAS}.json as varchar)"
    pairs = ", ".join(f"{sql_literal(c)}: {ALIAS}.{quote_identifier(c)}" for c in file_columns)
    return f"to_json({{{pairs}}})::varchar" if pairs else "null"


def preset_feeds(name: str, source: str, raw_options: Mapping | None, place: str) -> list[Feed]:
    """The feeds of source `source` that uses preset `name` (winback.presets), its options on
    top of the preset's."""
    from winback.presets import PRESETS

    preset = PRESETS.get(name)
    if preset is None:
        raise MappingError(f"{place}: unknown preset {name!r} (presets: {', '.join(PRESETS)})")
    given = dict(raw_options or {})
    defaults = dict(preset.options)
    if given.get("header") is True and defaults.get("header") is False:
        # a headerless export's table as a loader wrote it (a CSV with a header): its own
        # delimiter and quoting, sniffed, unless given
        for key in ("columns", "delimiter", "quote"):
            defaults.pop(key, None)
    options = parse_options({**defaults, **given}, f"{place}.options")
    feeds = []
    for f in preset.feeds:
        kind = FILE_KINDS[f.kind]
        mapping = {  # the exporter's field names: a loader's table may lack some
            column: replace(m, lenient=True)
            for column, m in parse_mapping(f.mapping, kind, f"preset {name}").items()
        }
        feeds.append(
            Feed(source, kind, mapping, None, options, dict(f.trusted_sql), preset_where=f.where)
        )
    return feeds
