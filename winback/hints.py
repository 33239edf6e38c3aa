"""What to do about a file winback could not take: the known export it looks like, a delimiter
or header it seems to have, a date format the contract does not read. Each hint names the
setting of winback.yml (a source's preset, options or mapping) that fixes it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import duckdb

from winback.contract import FileKind
from winback.sources import lines_sql

# the columns (lower case) that give an export away; a preset of winback.presets reads it
EXPORT_SIGNATURES: dict[str, tuple[str, set[str]]] = {
    "segment": (
        "a Segment / RudderStack export",
        {
            "anonymousid",
            "anonymous_id",
            "messageid",
            "message_id",
            "userid",
            "receivedat",
            "received_at",
            "sentat",
            "sent_at",
        },
    ),
    "snowplow": (
        "a Snowplow enriched-events export",
        {
            "domain_userid",
            "collector_tstamp",
            "dvce_created_tstamp",
            "app_id",
            "network_userid",
            "se_action",
            "derived_tstamp",
        },
    ),
    "ga4": (
        "a GA4 BigQuery export",
        {
            "event_timestamp",
            "user_pseudo_id",
            "event_params",
            "event_date",
            "event_bundle_sequence_id",
        },
    ),
    "amplitude": (
        "an Amplitude export",
        {
            "event_type",
            "amplitude_id",
            "event_time",
            "event_properties",
            "user_properties",
            "device_id",
        },
    ),
    "mixpanel": (
        "a Mixpanel export",
        {"distinct_id", "$insert_id", "mp_processing_time_ms", "$distinct_id_before_identity"},
    ),
    "orders": (
        "an orders table",
        {
            "order_id",
            "customer_id",
            "order_date",
            "amount",
            "total",
            "customer",
            "price",
            "order_total",
        },
    ),
}
DELIMITERS = {";": "';'", "\t": "tab", "|": "'|'", ",": "','"}
# a value of a timestamp column that is not ISO 8601, and the format that reads it
TIMESTAMP_SHAPES = (  # shape, format, the other reading of the same shape
    (re.compile(r"^\d{8}$"), "%Y%m%d", None),
    (re.compile(r"^\d{14}$"), "%Y%m%d%H%M%S", None),
    (re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$"), "%d/%m/%Y", "%m/%d/%Y"),
    (re.compile(r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}$"), "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M"),
    (
        re.compile(r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}$"),
        "%d/%m/%Y %H:%M:%S",
        "%m/%d/%Y %H:%M:%S",
    ),
    (re.compile(r"^\d{1,2}\.\d{1,2}\.\d{4}$"), "%d.%m.%Y", None),
    (re.compile(r"^\d{9,10}(\.\d+)?$"), "epoch_s", None),
    (re.compile(r"^\d{12,13}$"), "epoch_ms", None),
    (re.compile(r"^\d{15,16}$"), "epoch_us", None),
    (re.compile(r"^\d{18,19}$"), "epoch_ns", None),
)


def timestamp_format_of(values: Iterable[str | None]) -> tuple[str, str | None, str] | None:
    """The format that reads every one of these values (format, the other reading, an example),
    or None when they are not all of one known shape."""
    import datetime as dt

    texts = [(v or "").strip() for v in values if (v or "").strip()]
    for pattern, fmt, other in TIMESTAMP_SHAPES:
        if not texts or not all(pattern.match(t) for t in texts):
            continue
        readings = [f for f in (fmt, other) if f]
        if fmt.startswith("epoch"):
            return fmt, None, texts[0]
        for reading in readings:
            try:
                for t in texts:
                    dt.datetime.strptime(t, reading)
            except ValueError:
                continue
            alternative = next((r for r in readings if r != reading), None)
            if alternative:  # does the other reading work too? then say both
                try:
                    for t in texts:
                        dt.datetime.strptime(t, alternative)
                except ValueError:
                    alternative = None
            return reading, alternative, texts[0]
    return None


def known_export(columns: Iterable[str]) -> str | None:
    """The preset whose export these columns look like (at least two tell-tale columns)."""
    lower = {c.strip().lower() for c in columns}
    best, score = None, 1
    for preset, (_, signature) in EXPORT_SIGNATURES.items():
        hits = len(lower & signature)
        if hits > score:
            best, score = preset, hits
    return best


def _looks_like_data(name: str) -> bool:
    return bool(re.fullmatch(r"[\s\d.,:/+-]+", name.strip())) and any(ch.isdigit() for ch in name)


def rejection_hint(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str, columns: list[str], kind: FileKind
) -> str:
    """`. Hint: ...` for a file rejected for its columns, or '' when nothing more is known."""
    hints = []
    preset = known_export(columns)
    if preset:
        what = EXPORT_SIGNATURES[preset][0]
        hints.append(
            f"the columns look like {what}: declare it as a source with `preset: {preset}` in "
            "winback.yml (winback init, docs/sources.md)"
        )
    first = _first_line(con, path) if fmt == "csv" else ""
    header_is_data = bool(columns) and all(
        _looks_like_data(c) or re.fullmatch(r"column\d+", c) for c in columns
    )
    spaced = len(columns) == 1 and re.search(r"\S\s+\S", columns[0])
    if fmt == "csv" and (header_is_data or spaced) and re.search(r"\S\s+\S", first):
        what = "looks like data, not a header, and " if header_is_data else ""
        hints.append(
            f"the first line ({first!r}) {what}its fields are separated by spaces: declare the "
            "file as a source with `options: {delimiter: whitespace, header: false, columns: "
            "[...]}` (`winback init --source FILE` guesses them)"
        )
    elif fmt == "csv" and header_is_data:
        hints.append(
            f"the first line ({first!r}) looks like data, not a header: declare the file as a "
            "source with `options: {header: false, columns: [...]}`"
        )
    elif fmt == "csv" and len(columns) == 1:
        found = [label for ch, label in DELIMITERS.items() if ch in columns[0]]
        if found:
            hints.append(
                f"the header is one column holding {found[0]}: the fields seem separated by "
                f"{found[0]}; declare the file as a source with `options: {{delimiter: ...}}`"
            )
    if not hints and kind.name == "events":
        hints.append(
            "map your columns to the contract's (user_id, event_name, occurred_at) in a source "
            "of winback.yml: `winback init` writes one to edit"
        )
    return (". Hint: " + "; ".join(hints)) if hints else ""


def _first_line(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    try:
        row = con.execute(f"select line from {lines_sql(path)} limit 1").fetchone()
    except duckdb.Error:
        return ""
    return (row[0] or "")[:80] if row else ""


def timestamp_format_hint(
    column: str, values: Iterable[str | None], declared: bool, share: float = 1.0
) -> str | None:
    """For rows quarantined by `<column>_is_timestamp`: the format their values are in, when
    most of the file's values failed (`share`) and every sampled one reads with that format (a
    few garbled values among ISO timestamps get no hint: they are just bad)."""
    if share < 0.5:
        return None
    found = timestamp_format_of(values)
    if found is None:
        return None
    fmt, other, example = found
    where = (
        "in the source's options (or `format:` on the column's mapping)"
        if declared
        else "in a source of winback.yml for this file"
    )
    also = f" (or '{other}' if that is how they are written)" if other else ""
    return (
        f"{column} values like {example!r} are not ISO 8601: set "
        f"`timestamp_format: '{fmt}'`{also} {where}"
    )
