"""`winback init --source FILE`: a first source block for a file, guessed from its columns and
first values, for a person to check. A known export gets its preset; otherwise columns are
matched by their usual names (customer_id -> user_id, event/action -> event_name, ...), the
timestamp format is read off the values, a headerless whitespace export gets its fields
named, and columns that describe the user go to the users kind."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb

from winback.hints import known_export, timestamp_format_of
from winback.sources import EXTENSIONS, lines_sql
from winback.sql import sql_literal

CANDIDATES = {
    "user_id": (
        "user_id",
        "userid",
        "customer_id",
        "customerid",
        "customer",
        "distinct_id",
        "visitor_id",
        "account_id",
        "person_id",
        "uid",
        "user",
        "client_id",
    ),
    "event_name": ("event_name", "event", "event_type", "action", "activity", "name", "type"),
    "occurred_at": (
        "occurred_at",
        "timestamp",
        "event_timestamp",
        "event_time",
        "time",
        "ts",
        "datetime",
        "created_at",
        "order_date",
        "date",
    ),
    "event_id": ("event_id", "message_id", "insert_id", "uuid", "id"),
    "revenue": ("revenue", "amount", "dollar_value", "total", "order_total", "price", "value"),
    "platform": ("platform", "device", "device_type", "os"),
}
USER_COLUMNS = {
    "acquisition_channel": ("acquisition_channel", "channel", "utm_source", "source"),
    "country": ("country",),
    "plan": ("plan", "tier"),
    "email": ("email",),
}


def _first_values(con: duckdb.DuckDBPyConnection, path: Path, n: int = 20) -> list[str]:
    rows = con.execute(f"select line from {lines_sql(path)} limit {int(n)}").fetchall()
    return [r[0] or "" for r in rows]


def _looks_like_data(line: str) -> bool:
    fields = line.split()
    return (
        bool(fields)
        and sum(bool(re.fullmatch(r"[\d.,/:+-]+", f)) for f in fields) >= len(fields) / 2
    )


def _name_fields(samples: list[list[str]]) -> list[str]:
    """Names for the fields of a headerless file, from what their values look like."""
    names = []
    for i in range(len(samples[0])):
        values = [s[i] for s in samples if len(s) > i]
        if (
            all(
                re.fullmatch(r"(19|20)\d{6}", v) or re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", v)
                for v in values
            )
            and "date" not in names
        ):
            names.append("date")
        elif i == 0:
            names.append("customer_id")
        elif all(re.fullmatch(r"-?\d+\.\d+", v) for v in values) and "amount" not in names:
            names.append("amount")
        elif all(re.fullmatch(r"\d{1,3}", v) for v in values) and "units" not in names:
            names.append("units")
        else:
            names.append(f"field_{i + 1}")
    return names


def _pick(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[c] for c in candidates if c in lower), None)


def _timestamp_format(values: list[str]) -> str | None:
    found = timestamp_format_of(values)
    return found[0] if found else None


def _yaml_value(text: str) -> str:
    return json.dumps(text) if not re.fullmatch(r"[A-Za-z_][\w.]*", text) else text


def suggest_source(path: Path, root: Path, con: duckdb.DuckDBPyConnection | None = None) -> str:
    """A commented source block (YAML, indented for `sources:`) for one file."""
    con = con or duckdb.connect()
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"--source {path}: no such file")
    name = re.sub(r"[^a-z0-9_]", "_", path.name.split(".")[0].lower()).strip("_") or "source"
    if not name[0].isalpha():
        name = "s_" + name
    try:
        shown = path.relative_to(root).as_posix()
    except ValueError:
        shown = path.as_posix()
    fmt = next(
        (f for s, f in EXTENSIONS.items() if path.name.lower().removesuffix(".gz").endswith(s)),
        "csv",
    )
    lines = [f"  {name}:", f"    path: {_yaml_value(shown)}"]
    options: list[str] = []
    columns: list[str]
    values: dict[str, list[str]] = {}
    if fmt == "parquet":
        rel = con.execute(f"select * from read_parquet({sql_literal(str(path))}) limit 20")
        columns = [d[0] for d in rel.description]
        rows = rel.fetchall()
        values = {c: [str(r[i]) for r in rows if r[i] is not None] for i, c in enumerate(columns)}
    elif fmt == "jsonl":
        first = [
            json.loads(line)
            for line in _first_values(con, path, 20)
            if line.strip().startswith("{")
        ]
        columns = list(dict.fromkeys(k for row in first for k in row))
        values = {c: [str(r[c]) for r in first if r.get(c) is not None] for c in columns}
    else:
        sample = _first_values(con, path)
        if (
            sample
            and _looks_like_data(sample[0])
            and not ("," in sample[0] or "\t" in sample[0] or ";" in sample[0])
        ):
            split = [line.split() for line in sample if line.strip()]
            columns = _name_fields(split)
            options = ["delimiter: whitespace", "header: false", f"columns: [{', '.join(columns)}]"]
            values = {c: [s[i] for s in split if len(s) > i] for i, c in enumerate(columns)}
        else:
            sniffed = con.execute(
                f"select Delimiter, Columns from sniff_csv({sql_literal(str(path))}, header = true, all_varchar = true, ignore_errors = true)"
            ).fetchone()
            columns = [c["name"] for c in sniffed[1]]
            if sniffed[0] not in (",", "(empty)"):
                options.append(
                    f"delimiter: {json.dumps(sniffed[0]) if sniffed[0] != chr(9) else 'tab'}"
                )
            rows = con.execute(
                f"select * from read_csv({sql_literal(str(path))}, header = true, all_varchar = true, ignore_errors = true) limit 20"
            ).fetchall()
            values = {c: [r[i] for r in rows if r[i] is not None] for i, c in enumerate(columns)}

    preset = known_export(columns)
    picked = {target: _pick(columns, names) for target, names in CANDIDATES.items()}
    if (
        preset is None
        and picked["event_name"] is None
        and picked["revenue"]
        and picked["occurred_at"]
    ):
        preset = "orders"
    if preset and preset != "orders":
        lines.append(f"    preset: {preset}              # docs/presets.md")
        if options:
            lines += ["    options:", *(f"      {o}" for o in options)]
        return "\n".join(lines) + "\n"
    if preset == "orders":
        lines.append(
            "    preset: orders               # each row a purchase event; docs/presets.md"
        )
    else:
        lines.append("    kind: events")
    time_column = picked["occurred_at"]
    fmt_guess = _timestamp_format(values.get(time_column, [])) if time_column else None
    if fmt_guess:
        options.append(f"timestamp_format: '{fmt_guess}'")
    options.append("# timezone: UTC                # the zone of timestamps written without one")
    lines += ["    options:", *(f"      {o}" for o in options)]
    lines.append("    mapping:")
    for target in ("user_id", "event_name", "occurred_at", "event_id", "revenue", "platform"):
        column = picked[target]
        if target == "event_name" and column is None:
            lines.append(
                "      event_name: {constant: purchase}   # no event column: name the action"
            )
        elif column is None:
            if target in ("user_id", "occurred_at"):
                lines.append(
                    f"      {target}: ???                    # required: the column that holds it"
                )
        elif not (preset == "orders" and target in ("event_id", "platform")) or column:
            lines.append(f"      {target}: {_yaml_value(column)}")
    users = {t: _pick(columns, names) for t, names in USER_COLUMNS.items()}
    users = {t: c for t, c in users.items() if c and c not in picked.values()}
    if users:
        lines.append("    users:                       # per-event columns that describe the user")
        lines += [f"      {t}: {_yaml_value(c)}" for t, c in users.items()]
    rest = [c for c in columns if c not in picked.values() and c not in users.values()]
    if rest:
        lines.append(f"    # not mapped: {', '.join(rest[:20])}")
    return "\n".join(lines) + "\n"


def suggest_sources(files: list[Path], root: Path) -> str:
    con = duckdb.connect()
    blocks = [suggest_source(f, root, con) for f in files]
    return "\n".join(blocks)
