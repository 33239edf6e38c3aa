"""A fast events generator for the large benchmark sizes (10M, 100M events), in DuckDB SQL.

    python benchmarks/fast_events.py --events 100000000 --landing bench_out/100000000/landing

`winback.generate` simulates every user in Python (about a minute per million events): fine for
the demo and 1M, far too slow for 100M. This writes the same landing layout from SQL instead:

- landing/users/users.parquet: user_id, signup_at, plan, country, acquisition_channel,
  email_opt_in, sms_opt_in;
- landing/events/events_YYYY-MM.parquet, one file per calendar month: event_id, user_id,
  event_name, occurred_at (ISO text, as exports carry it), properties (JSON text), revenue
  (decimal, on purchases only), platform.

The shape is a product's, drawn per user from a hash (deterministic: the same arguments give
the same rows): daily users, weekly users, sporadic users, churners who are active until a stop
day (half of them fading out before it), and sign-ups who never come back; the demo's event
names (a session_start opens each active day, then the demo's vocabulary by weight, purchases
with revenue). A few rows are dirty so validation and quarantine do real work: exact duplicates
(about 1 in 1,000 rows) and, about 1 in 5,000 each, a missing user_id, a timestamp that is not
one, a timestamp in the future, an event name in odd case with spaces, properties that are not
a JSON object. The number of users is set from a sample so the total lands near --events.

Prints: events=<n> users=<n> files=<n> seconds=<s>
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import duckdb

# user types: (name, share, probability of an active day, max events on an active day)
TYPES = (
    ("daily", 0.25, 0.60, 5),
    ("weekly", 0.25, 0.15, 5),
    ("sporadic", 0.20, 0.04, 4),
    ("churner", 0.15, 0.50, 5),
    ("never_activated", 0.15, 0.0, 2),
)
# event names after the day's first session_start, cumulative weights (the demo's vocabulary)
NAMES = (
    ("view_dashboard", 0.30),
    ("create_report", 0.14),
    ("share_report", 0.06),
    ("export_data", 0.08),
    ("configure_integration", 0.05),
    ("invite_teammate", 0.05),
    ("api_call", 0.18),
    ("view_help", 0.05),
    ("session_start", 0.07),
    ("purchase", 0.02),
)
PLANS = ("free", "free", "free", "pro", "pro", "enterprise")
COUNTRIES = ("US", "US", "FR", "DE", "GB", "ES", "CA", "BR", "IN")
CHANNELS = ("organic", "paid_search", "social", "referral", "partner")
PLATFORMS = ("web", "web", "ios", "android")


def _pick(values: tuple[str, ...], expr: str) -> str:
    return f"({list(values)!r})[(1 + ({expr}) % {len(values)})::int]"


def _users_sql(n_users: int, days: int, seed: int) -> str:
    """One row per user: its type, signup day, stop day (churners) and activity probability."""
    type_case, edge = "case", 0.0
    for i, (_, share, _, _) in enumerate(TYPES):
        edge += share
        type_case += f" when r_type < {edge:.4f} then {i}"
    type_case += f" else {len(TYPES) - 1} end"
    probability = "case t " + " ".join(f"when {i} then {p}" for i, (_, _, p, _) in enumerate(TYPES))
    max_events = "case t " + " ".join(f"when {i} then {k}" for i, (_, _, _, k) in enumerate(TYPES))
    return f"""
        select uid, t, signup_day, {probability} end as p, {max_events} end as max_events,
               (case when t = 3 then signup_day + 7
                          + (hash(uid, {seed}, 'stop') % greatest({days} - signup_day - 7, 1))
                     when t = 4 then signup_day
                     else {days} end)::int as stop_day,
               hash(uid, {seed}, 'fade') % 2 = 0 as fades
        from (
            select uid, {type_case} as t,
                   -- more users early: the signup day is the square of a uniform draw
                   floor(pow(r_signup, 2) * {int(days * 0.85)})::int as signup_day
            from (
                select range as uid,
                       (hash(range, {seed}, 'type') % 1000000) / 1e6 as r_type,
                       (hash(range, {seed}, 'signup') % 1000000) / 1e6 as r_signup
                from range({n_users})
            )
        )
    """


def _events_sql(n_users: int, days: int, first: int, last: int, start: dt.date, seed: int) -> str:
    """The clean events of days [first, last) plus the dirty rows, as the landing file has them."""
    names, edge = "case", 0.0
    for name, weight in NAMES:
        edge += weight
        names += f" when r_name < {edge:.4f} then '{name}'"
    names += " else 'view_dashboard' end"
    return f"""
        with users as ({_users_sql(n_users, days, seed)}),
        active as (
            select uid, day, (1 + hash(uid, day, {seed}, 'k') % max_events)::int as k
            from users cross join (select range as day from range({first}, {last})) d
            where day >= signup_day and day <= stop_day
              and (day = signup_day
                   or (hash(uid, day, {seed}, 'active') % 1000000) / 1e6
                      < p * case when t = 3 and fades
                                 then (stop_day - day + 1) / (stop_day - signup_day + 1)
                                 else 1 end)
        ),
        clean as (
            select uid, day, j,
                   hash(uid, day, j, {seed}, 'row') as h,
                   (hash(uid, day, j, {seed}, 'name') % 1000000) / 1e6 as r_name
            from (select uid, day, unnest(range(k)) as j from active)
        ),
        named as (
            select uid, day, j, h,
                   case when j = 0 then 'session_start' else {names} end as event_name
            from clean
        ),
        rows as (
            select printf('e%08d%03d%02d', uid, day, j) as event_id,
                   case when h % 5000 = 1 then null else printf('u%08d', uid) end as user_id,
                   case when h % 5000 = 4 then '  ' || upper(event_name) else event_name end
                       as event_name,
                   case when h % 5000 = 2 then 'not-a-date'
                        when h % 5000 = 3 then '2099-01-01T00:00:00Z'
                        else strftime(date '{start.isoformat()}' + to_days(day::int)
                                      + to_seconds(((h // 5000) % 86400)::int), '%Y-%m-%dT%H:%M:%SZ')
                   end as occurred_at,
                   case when h % 5000 = 5 then '{{oops'
                        else '{{"session":' || (j + 1) || '}}' end as properties,
                   case when event_name = 'purchase'
                        then ([9.99, 29.0, 99.0, 199.0])[(1 + (h // 7) % 4)::int]::decimal(10, 2)
                   end as revenue,
                   {_pick(PLATFORMS, "uid")} as platform,
                   h
            from named
        )
        select * exclude (h) from rows
        union all
        select * exclude (h) from rows where h % 1000 = 7  -- exact duplicates
    """


def events_per_user(days: int, start: dt.date, seed: int, sample: int = 5_000) -> float:
    con = duckdb.connect()
    n = con.execute(
        f"select count(*) from ({_events_sql(sample, days, 0, days, start, seed)})"
    ).fetchone()[0]
    return n / sample


def generate(
    events: int,
    landing: Path,
    days: int = 180,
    start: dt.date = dt.date(2025, 11, 3),
    seed: int = 7,
) -> dict:
    started = time.perf_counter()
    n_users = max(10, round(events / events_per_user(days, start, seed)))
    (landing / "events").mkdir(parents=True, exist_ok=True)
    (landing / "users").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("set preserve_insertion_order = false")
    con.execute(
        f"""copy (
            select printf('u%08d', uid) as user_id,
                   strftime(date '{start.isoformat()}' + to_days(signup_day)
                            + to_seconds((hash(uid, {seed}, 's') % 86400)::int), '%Y-%m-%dT%H:%M:%SZ')
                       as signup_at,
                   {_pick(PLANS, "hash(uid, 'plan')")} as plan,
                   {_pick(COUNTRIES, "hash(uid, 'country')")} as country,
                   {_pick(CHANNELS, "hash(uid, 'channel')")} as acquisition_channel,
                   hash(uid, 'email') % 3 > 0 as email_opt_in,
                   hash(uid, 'sms') % 5 = 0 as sms_opt_in
            from ({_users_sql(n_users, days, seed)})
        ) to '{landing / "users" / "users.parquet"}' (format parquet)"""
    )
    total, files = 0, 0
    month = start.replace(day=1)
    end = start + dt.timedelta(days=days)
    while month < end:
        following = (month + dt.timedelta(days=32)).replace(day=1)
        first = max(0, (month - start).days)
        last = min(days, (following - start).days)
        path = landing / "events" / f"events_{month:%Y-%m}.parquet"
        con.execute(
            f"copy ({_events_sql(n_users, days, first, last, start, seed)}) to '{path}' "
            "(format parquet, row_group_size 1000000)"
        )
        total += con.execute(f"select count(*) from read_parquet('{path}')").fetchone()[0]
        files += 1
        month = following
    return {
        "events": total,
        "users": n_users,
        "files": files,
        "end": (end - dt.timedelta(days=1)).isoformat(),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, required=True, help="about how many events")
    parser.add_argument("--landing", required=True, help="the landing folder to write into")
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--start", default="2025-11-03")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    out = generate(
        args.events, Path(args.landing), args.days, dt.date.fromisoformat(args.start), args.seed
    )
    print(" ".join(f"{k}={v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
