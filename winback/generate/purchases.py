"""The `purchases` scenario: a store whose customers buy every few weeks to months, shaped like
the CDNOW purchase log (23,570 customers who first bought in the first quarter of 1997, 69,659
purchase records over 18 months), with a known buy-till-you-die truth.

The model is BG/NBD (Fader, Hardie and Lee, 2005), exactly as the paper states it, so a fitted
BG/NBD should recover the parameters below:

- every customer makes a first purchase on a day drawn uniformly from the first 12 weeks
  (`ACQUISITION_DAYS`, as in CDNOW), at a uniform time of that day;
- while alive, a customer buys at the times of a Poisson process with rate
  lambda ~ Gamma(shape `R`, rate `ALPHA` per day);
- right after each *repeat* purchase the customer dies with probability p ~ Beta(`A`, `B`), and
  never buys again. The first purchase is not followed by a dropout (BG/NBD's assumption: a
  customer with no repeat purchase is alive), so the number of repeat purchases a customer
  makes before dying is Geometric(p) on 1, 2, 3, ...

`R`, `A` and `B` are the paper's estimates for CDNOW; `ALPHA` is its 4.414 weeks scaled down to
27 days so that the full 18 months hold as many purchases as the real log (the paper fitted a
39-week calibration period on a 1/10 sample; its estimates give about 6 % fewer). Several
purchases by one customer on one day are kept as separate lines, as CDNOW has them (about 1.5 %
of repeat purchases fall on the day of the previous one); `purchase_days` in the truth counts
distinct days, the frequency BG/NBD tools compute after merging them.

An order has units ~ Geometric(`UNITS_P`) (1, 2, 3, ...; median 2) and an amount of units times a
price per unit: the customer's price level (lognormal, median `UNIT_PRICE_MEDIAN` dollars) times
the order's own lognormal noise, rounded to cents (median order about $25, as in CDNOW).

Landing file (the only one written): `orders.txt`, the orders export of an older system: no
header, one purchase per line, `customer_id date units amount` separated and aligned with spaces
like CDNOW (`00001 19970101  1  11.77`), customer ids zero-padded to 5 digits (more when there
are more customers), dates YYYYMMDD, sorted by customer then date.

Ground truth, `purchases_customers.csv` in the truth folder, one row per customer (dates ISO,
booleans true/false, empty = null):

- `customer_id`: as in `orders.txt`;
- `first_purchase_date`, `last_purchase_date`: the first and last dates in `orders.txt`;
- `purchases`: lines in `orders.txt` (the first purchase included); `purchase_days`: distinct
  dates among them;
- `lambda_per_day`: the purchase rate while alive; `expected_gap_days`: 1 / lambda, the mean time
  between purchases while alive (can be far longer than the data);
- `observed_mean_gap_days`: (last - first purchase date) / (purchases - 1), empty for one purchase;
- `p_dropout`: the probability of dying after each repeat purchase;
- `alive_at_end`: whether the customer is still alive on the last day of the data;
- `stopped_date`: for a customer who died before the end, the date of the last purchase (the
  one after which they died); empty for the customers alive at the end;
- `purchases_next_365_days`: purchases the same process makes in the 365 days after the data
  (what a buy-till-you-die model forecasts; 0 for dead customers);
- `unit_price_level`: the customer's median price per unit, dollars.

The population parameters are the module's constants; `generate_purchases` writes both files
and removes what an earlier run of either scenario wrote into the two folders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from winback.generate.helpers import ragged_arange, random_stream, sql_literal
from winback.generate.writers import clean_previous, copy_query

# BG/NBD parameters (time in days)
R = 0.243
ALPHA = 27.0
A = 0.793
B = 2.426
ACQUISITION_DAYS = 84  # first purchases spread uniformly over the first 12 weeks
FUTURE_DAYS = 365  # truth only: purchases in the year after the data

UNITS_P = 0.42  # units ~ Geometric(0.42): median 2, mean 2.4 (CDNOW: median 2, mean 2.4)
MAX_UNITS = 99
UNIT_PRICE_MEDIAN = 14.0  # dollars
CUSTOMER_PRICE_SIGMA = 0.2  # lognormal spread of the customers' price levels
ORDER_PRICE_SIGMA = 0.25  # lognormal spread of one customer's orders around their level

DEFAULT_CUSTOMERS = 23_570
DEFAULT_START = dt.date(1997, 1, 1)
DEFAULT_MONTHS = 18

ORDERS_FILE = "orders.txt"
TRUTH_FILE = "purchases_customers.csv"
ID_WIDTH = 5

# random streams (independent of the product scenario's), so adding draws to one part never
# shifts another
STREAM_CUSTOMERS, STREAM_PURCHASES, STREAM_ORDERS = 100, 101, 102


@dataclass
class Customers:
    n: int
    first_time: np.ndarray  # days from the start (fractional) of the first purchase
    lam: np.ndarray  # purchases per day while alive
    p: np.ndarray  # dropout probability after each repeat purchase
    dropout_after: np.ndarray  # the repeat purchase after which the customer dies (1, 2, ...)
    price_level: np.ndarray  # median dollars per unit


@dataclass
class Purchases:
    """Every purchase until the end of the future horizon, sorted by customer then time."""

    customer: np.ndarray  # customer index
    time: np.ndarray  # days from the start (fractional)
    units: np.ndarray
    cents: np.ndarray


@dataclass
class PurchasesSummary:
    customers: int
    purchases: int  # lines in orders.txt
    start: dt.date
    end: dt.date  # last day covered
    one_time_share: float  # customers with a single purchase
    alive_share: float  # customers alive at the end
    files: list[str] = field(default_factory=list)  # relative to the landing folder
    truth_files: list[str] = field(default_factory=list)  # relative to the truth folder


def draw_customers(n: int, days: int, seed: int) -> Customers:
    rng = random_stream(seed, STREAM_CUSTOMERS)
    first_time = rng.uniform(0, min(ACQUISITION_DAYS, days), n)
    lam = rng.gamma(R, 1 / ALPHA, n)
    p = rng.beta(A, B, n)
    dropout_after = rng.geometric(p)
    price_level = UNIT_PRICE_MEDIAN * np.exp(rng.normal(0, CUSTOMER_PRICE_SIGMA, n))
    return Customers(n, first_time, lam, p, dropout_after, price_level)


def simulate_purchases(c: Customers, horizon: int, seed: int) -> Purchases:
    """First purchases plus the repeat purchases until `horizon` (days from the start): the
    Poisson process's points on (first_time, horizon) are uniform order statistics given their
    number; a customer keeps the first `dropout_after` of them."""
    rng = random_stream(seed, STREAM_PURCHASES)
    span = horizon - c.first_time
    points = rng.poisson(c.lam * span)
    owner = np.repeat(np.arange(c.n, dtype=np.int64), points)
    u = rng.random(len(owner))
    order = np.lexsort((u, owner))
    u = u[order]  # owner is sorted already, so it keeps its order
    keep = ragged_arange(points) < np.repeat(np.minimum(points, c.dropout_after), points)
    repeat_owner, repeat_time = owner[keep], c.first_time[owner[keep]] + u[keep] * span[owner[keep]]

    customer = np.concatenate([np.arange(c.n, dtype=np.int64), repeat_owner])
    time = np.concatenate([c.first_time, repeat_time])
    order = np.lexsort((time, customer))
    customer, time = customer[order], time[order]

    rng = random_stream(seed, STREAM_ORDERS)
    units = np.minimum(rng.geometric(UNITS_P, len(customer)), MAX_UNITS)
    price = c.price_level[customer] * np.exp(rng.normal(0, ORDER_PRICE_SIGMA, len(customer)))
    cents = np.rint(units * price * 100).astype(np.int64)
    return Purchases(customer, time, units, cents)


def customer_ids(n: int) -> list[str]:
    width = max(ID_WIDTH, len(str(n)))
    return [str(i).zfill(width) for i in range(1, n + 1)]


def write_orders(path: Path, pu: Purchases, ids: list[str], start: dt.date, days: int) -> None:
    """The fixed-width export, written with plain string formatting (DuckDB's writers have no
    fixed-width text format)."""
    day_text = [f"{start + dt.timedelta(days=d):%Y%m%d}" for d in range(days)]
    day = np.floor(pu.time).astype(np.int64)
    lines = [
        f"{ids[c]} {day_text[d]} {n:2d} {cents // 100:3d}.{cents % 100:02d}\n"
        for c, d, n, cents in zip(
            pu.customer.tolist(), day.tolist(), pu.units.tolist(), pu.cents.tolist(), strict=True
        )
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="ascii", newline="") as f:
        f.write("".join(lines))


def write_customers_truth(
    con: duckdb.DuckDBPyConnection,
    c: Customers,
    pu: Purchases,
    ids: list[str],
    start: dt.date,
    days: int,
    path: Path,
) -> tuple[np.ndarray, np.ndarray]:
    """The truth file; returns every customer's purchases in the data and whether they are
    alive at the end."""
    inside = pu.time < days
    customer, day = pu.customer[inside], np.floor(pu.time[inside]).astype(np.int64)
    purchases = np.bincount(customer, minlength=c.n)
    future = np.bincount(pu.customer[~inside], minlength=c.n)
    last_index = np.cumsum(purchases) - 1
    first_day = np.floor(c.first_time).astype(np.int64)
    last_day = day[last_index]
    new_day = np.ones(len(day), dtype=bool)
    new_day[1:] = (customer[1:] != customer[:-1]) | (day[1:] != day[:-1])
    purchase_days = np.bincount(customer[new_day], minlength=c.n)
    alive = purchases - 1 < c.dropout_after
    table = pa.table(
        {
            "customer_idx": np.arange(c.n, dtype=np.int64),
            "customer_id": ids,
            "first_day": first_day,
            "last_day": last_day,
            "purchases": purchases,
            "purchase_days": purchase_days,
            "lam": c.lam,
            "p": c.p,
            "alive": alive,
            "future": future,
            "price_level": c.price_level,
        }
    )
    con.register("c", table)
    d0 = f"date {sql_literal(start.isoformat())}"
    copy_query(
        con,
        f"""select customer_id,
                   {d0} + first_day::integer as first_purchase_date,
                   {d0} + last_day::integer as last_purchase_date,
                   purchases,
                   purchase_days,
                   lam as lambda_per_day,
                   1 / lam as expected_gap_days,
                   case when purchases > 1
                        then round((last_day - first_day) / (purchases - 1), 2) end
                       as observed_mean_gap_days,
                   p as p_dropout,
                   alive as alive_at_end,
                   case when not alive then {d0} + last_day::integer end as stopped_date,
                   future as purchases_next_{FUTURE_DAYS}_days,
                   round(price_level, 2) as unit_price_level
            from c order by customer_idx""",
        path,
        "csv",
    )
    con.unregister("c")
    return purchases, alive


def clean_previous_purchases(landing_dir: Path, truth_dir: Path) -> None:
    """Remove what an earlier run of either scenario wrote (and nothing else), so that the
    landing folder holds this scenario's file only."""
    clean_previous(landing_dir, truth_dir)
    for p in (landing_dir / ORDERS_FILE, truth_dir / TRUTH_FILE):
        if p.is_file():
            p.unlink()


def generate_purchases(
    landing_dir: Path,
    truth_dir: Path,
    *,
    customers: int = DEFAULT_CUSTOMERS,
    days: int = 546,  # 1997-01-01 to 1998-06-30
    start: dt.date = DEFAULT_START,
    seed: int = 42,
    progress: Callable[[str], None] | None = None,
) -> PurchasesSummary:
    """Write `orders.txt` to `landing_dir` and `purchases_customers.csv` to `truth_dir`.

    Deterministic: the same arguments give byte-identical files."""
    if customers < 1 or days < 1:
        raise ValueError("customers and days must be positive")
    say = progress or (lambda _msg: None)
    landing_dir, truth_dir = Path(landing_dir), Path(truth_dir)
    end = start + dt.timedelta(days=days - 1)

    c = draw_customers(customers, days, seed)
    pu = simulate_purchases(c, days + FUTURE_DAYS, seed)
    ids = customer_ids(customers)
    inside = pu.time < days

    clean_previous_purchases(landing_dir, truth_dir)
    truth_dir.mkdir(parents=True, exist_ok=True)
    write_orders(
        landing_dir / ORDERS_FILE,
        Purchases(pu.customer[inside], pu.time[inside], pu.units[inside], pu.cents[inside]),
        ids,
        start,
        days,
    )
    con = duckdb.connect()
    try:
        purchases, alive = write_customers_truth(
            con, c, pu, ids, start, days, truth_dir / TRUTH_FILE
        )
    finally:
        con.close()
    summary = PurchasesSummary(
        customers=customers,
        purchases=int(purchases.sum()),
        start=start,
        end=end,
        one_time_share=float(np.mean(purchases == 1)),
        alive_share=float(np.mean(alive)),
        files=[ORDERS_FILE],
        truth_files=[TRUTH_FILE],
    )
    say(
        f"customers: {customers:,} ({summary.one_time_share:.1%} bought once, "
        f"{summary.alive_share:.1%} alive at the end)"
    )
    say(f"purchases: {summary.purchases:,} lines in {ORDERS_FILE}")
    return summary
