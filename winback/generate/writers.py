"""The landing files: DuckDB COPY for every format, the cleanup of an earlier run, the events and
users files.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from winback.generate.events import Events
from winback.generate.helpers import (
    arrow_timestamps,
    epoch_seconds,
    month_starts,
    odd_variants,
    random_stream,
    sql_list,
    sql_literal,
)
from winback.generate.users import Users
from winback.generate.vocabulary import (
    ACQUISITION_CHANNELS,
    BAD_PROPERTIES,
    BAD_TIMESTAMPS,
    COUNTRIES,
    DAY,
    DIRTY_KINDS,
    EVENT_NAMES,
    OFFSET_MINUTES,
    OFFSETS,
    PLANS,
    PLATFORMS,
    SOURCES,
    STREAM_DIRTY,
)


def copy_query(con: duckdb.DuckDBPyConnection, sql: str, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        options = "FORMAT csv, HEADER true"
    elif fmt == "parquet":
        options = "FORMAT parquet, COMPRESSION zstd"
    elif fmt == "jsonl":
        options = "FORMAT json"
    else:
        raise ValueError(f"unknown format {fmt!r}")
    con.execute(f"COPY ({sql}) TO {sql_literal(str(path))} ({options})")


EXTENSIONS = {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl"}
GENERATED = {
    "events": re.compile(r"^events_\d{4}-\d{2}\.(csv|parquet|jsonl)$"),
    "users": re.compile(r"^users\.csv$"),
    "messages": re.compile(r"^messages\.jsonl$"),
    "survey_responses": re.compile(r"^survey_responses\.csv$"),
    "billing": re.compile(r"^billing\.parquet$"),
}


def clean_previous(landing_dir: Path, truth_dir: Path) -> None:
    """Remove what an earlier run wrote (and nothing else)."""
    for folder, pattern in GENERATED.items():
        d = landing_dir / folder
        if d.is_dir():
            for p in d.iterdir():
                if p.is_file() and pattern.match(p.name):
                    p.unlink()
    for name in ("users.csv", "dirty_rows.csv"):
        p = truth_dir / name
        if p.is_file():
            p.unlink()


def user_id_sql(col: str, width: int) -> str:
    return f"'u' || lpad(({col} + 1)::varchar, {width}, '0')"


def iso_sql(col: str) -> str:
    return f"strftime({col}, '%Y-%m-%dT%H:%M:%SZ')"


def write_events(
    con: duckdb.DuckDBPyConnection,
    ev: Events,
    landing_dir: Path,
    start: dt.date,
    days: int,
    fmt: str,
    uid_width: int,
    dirty_pos: np.ndarray,
    dirty_kind: np.ndarray,
    seed: int,
    eid_width: int,
) -> tuple[list[str], dict[str, int], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    n = len(ev.ts)
    dirty = np.zeros(n, dtype=np.int8)  # 0 clean, else 1 + index into DIRTY_KINDS
    dirty[dirty_pos] = dirty_kind + 1
    rng = random_stream(seed, STREAM_DIRTY, 1)
    variant = np.zeros(n, dtype=np.int8)
    variant[dirty_pos] = rng.integers(0, 12, len(dirty_pos)) % np.select(
        [
            dirty_kind == DIRTY_KINDS.index("bad_timestamp"),
            dirty_kind == DIRTY_KINDS.index("bad_properties"),
            dirty_kind == DIRTY_KINDS.index("odd_case_name"),
        ],
        [len(BAD_TIMESTAMPS), len(BAD_PROPERTIES), 3],
        1,
    )
    dup = dirty == 1 + DIRTY_KINDS.index("duplicate")

    odd_names = [v for name in EVENT_NAMES for v in odd_variants(name)]
    k = {name: 1 + DIRTY_KINDS.index(name) for name in DIRTY_KINDS}
    offset_cases = " ".join(
        f"when {i} then strftime(ts + to_minutes({m}), '%Y-%m-%dT%H:%M:%S') || {sql_literal(o)}"
        for i, (o, m) in enumerate(zip(OFFSETS, OFFSET_MINUTES, strict=True))
        if i > 0
    )
    select = f"""
        select
            'e' || lpad(eid::varchar, {eid_width}, '0') as event_id,
            case when dirty = {k["missing_user_id"]} then null
                 else {user_id_sql("user_idx", uid_width)} end as user_id,
            case when dirty = {k["odd_case_name"]}
                 then {sql_list(odd_names)}[name * 3 + variant + 1]
                 else {sql_list(EVENT_NAMES)}[name + 1] end as event_name,
            case when dirty = {k["bad_timestamp"]} then {sql_list(BAD_TIMESTAMPS)}[variant + 1]
                 when dirty = {k["future_timestamp"]}
                 then {iso_sql("ts + to_years(2099 - year(ts))")}
                 else case offset_code when 0 then {iso_sql("ts")} {offset_cases} end
            end as occurred_at,
            case when dirty = {k["bad_properties"]} then {sql_list(BAD_PROPERTIES)}[variant + 1]
                 when props = 1 then '{{"session":' || session || ',"source":"'
                      || {sql_list(SOURCES)}[source + 1] || '"}}'
                 when props = 2 then '{{"session":' || session || ',"currency":"EUR"}}'
                 when props = 3 then '{{"session":' || session || '}}'
            end as properties,
            case when cents > 0 then (cents * 0.01)::decimal(10, 2) end as revenue,
            {sql_list(PLATFORMS)}[platform + 1] as platform
        from ev
    """
    start_epoch = epoch_seconds(start)
    end_exclusive = start + dt.timedelta(days=days)
    months = month_starts(start, end_exclusive)
    bounds = [max(epoch_seconds(m), start_epoch) for m in months] + [epoch_seconds(end_exclusive)]
    cuts = np.searchsorted(ev.ts, bounds, side="left")
    files, rows = [], {}
    # per file: event ids (1-based positions), file index, dirty kind
    dirty_records: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    ext = EXTENSIONS[fmt]
    for i, month in enumerate(months):
        lo, hi = int(cuts[i]), int(cuts[i + 1])
        if hi == lo:
            continue  # no file for an empty month (an empty JSON-lines file has no columns)
        idx = np.repeat(np.arange(lo, hi), 1 + dup[lo:hi])  # duplicates right after the original
        rel = f"events/events_{month:%Y-%m}.{ext}"
        table = pa.table(
            {
                "eid": idx + 1,
                "user_idx": ev.user[idx],
                "ts": arrow_timestamps(ev.ts[idx]),
                "name": ev.name[idx],
                "platform": ev.platform[idx],
                "source": ev.source[idx],
                "props": ev.props[idx],
                "session": ev.session[idx],
                "cents": ev.cents[idx],
                "offset_code": ev.offset[idx],
                "dirty": dirty[idx],
                "variant": variant[idx],
            }
        )
        con.register("ev", table)
        copy_query(con, select, landing_dir / rel, fmt)
        con.unregister("ev")
        del table
        files.append(rel)
        rows[rel] = len(idx)
        sel = np.nonzero(dirty[lo:hi])[0] + lo
        dirty_records.append((sel + 1, np.full(len(sel), len(files) - 1), dirty[sel] - 1))
    return files, rows, dirty_records


def write_users(con, u: Users, start: dt.date, path: Path, uid_width: int) -> None:
    ts = epoch_seconds(start) + u.signup_day * DAY + u.signup_secs
    table = pa.table(
        {
            "user_idx": np.arange(u.n, dtype=np.int64),
            "ts": arrow_timestamps(ts),
            "plan": u.plan,
            "country": u.country,
            "channel": u.channel,
            "email_opt_in": u.email_opt_in,
            "sms_opt_in": u.sms_opt_in,
        }
    )
    con.register("u", table)
    copy_query(
        con,
        f"""select {user_id_sql("user_idx", uid_width)} as user_id,
                   {iso_sql("ts")} as signup_at,
                   'user' || lpad((user_idx + 1)::varchar, {uid_width}, '0') || '@example.com'
                       as email,
                   {sql_list(PLANS)}[plan + 1] as plan,
                   {sql_list(COUNTRIES)}[country + 1] as country,
                   {sql_list(ACQUISITION_CHANNELS)}[channel + 1] as acquisition_channel,
                   case when email_opt_in then 'true' else 'false' end as email_opt_in,
                   case when sms_opt_in then 'true' else 'false' end as sms_opt_in
            from u order by user_idx""",
        path,
        "csv",
    )
    con.unregister("u")
