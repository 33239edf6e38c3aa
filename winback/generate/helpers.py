"""Small helpers shared by the generator's modules: seeded random streams, SQL literals, time
arithmetic.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from winback.generate.vocabulary import DAY


def random_stream(seed: int, stream: int, part: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, stream, part])


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_list(values) -> str:
    return "[" + ", ".join(sql_literal(v) for v in values) + "]"


def ragged_arange(counts: np.ndarray) -> np.ndarray:
    """0..n-1 for every group of `counts` (concatenated)."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(starts, counts)


def odd_variants(name: str) -> tuple[str, str, str]:
    """Spellings of an event name that are only valid after trim + lower case."""
    head, _, tail = name.partition("_")
    first = (
        f"{head.capitalize()}_{tail.upper()}"
        if tail
        else f"{name[:-3].capitalize()}{name[-3:].upper()}"
    )
    return (
        f"  {first} ",
        f" {name.upper()}",
        f"{'_'.join(p.capitalize() for p in name.split('_'))}  ",
    )


def arrow_timestamps(ts_seconds: np.ndarray) -> pa.Array:
    return pa.array(ts_seconds.astype("datetime64[s]"))


def month_starts(start: dt.date, end_exclusive: dt.date) -> list[dt.date]:
    months = []
    m = start.replace(day=1)
    while m < end_exclusive:
        months.append(m)
        m = (m.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return months


def epoch_seconds(day: dt.date) -> int:
    return int((day - dt.date(1970, 1, 1)).days) * DAY


def times_of_day(
    rng: np.random.Generator, n: int, mean: float = 14.0, sd: float = 4.0
) -> np.ndarray:
    """Seconds of the day: hour ~ Normal(mean, sd) clipped to 0..23, uniform minutes/seconds."""
    hour = np.clip(np.rint(rng.normal(mean, sd, n)), 0, 23).astype(np.int64)
    return hour * 3600 + rng.integers(0, 3600, n)
