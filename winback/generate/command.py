"""The generator's command line, one set of options for `winback generate` and
`python -m winback.generate`.

Two scenarios: `product` (the default: a daily-use SaaS product, `generator.generate`) and
`purchases` (a CDNOW-like store with a buy-till-you-die truth, `purchases.generate_purchases`).
The size and date options are shared; their defaults depend on the scenario, so they default
to None here and are resolved once the scenario is known.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import time

from winback.generate import purchases
from winback.generate.generator import generate
from winback.settings import ENVIRONMENT, load_config

SCENARIOS = ("product", "purchases")
# option -> default, per scenario (None: the option does not apply to the scenario)
DEFAULTS = {
    "product": {
        "users": 20_000,
        "days": 180,
        "start": "2025-11-03",
        "dirty_share": 0.005,
        "events_format": "csv",
    },
    "purchases": {
        "users": purchases.DEFAULT_CUSTOMERS,
        "months": purchases.DEFAULT_MONTHS,
        "start": purchases.DEFAULT_START.isoformat(),
        "dirty_share": None,
        "events_format": None,
    },
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The generator's options: where to write (each folder with its environment variable) and
    what to simulate."""
    for name in ("landing_dir", "truth_dir"):
        variable, default = ENVIRONMENT[name]
        parser.add_argument(
            "--" + name.replace("_", "-"),
            default=None,
            help=f"(env {variable}, default {default or 'none'})",
        )
    product, store = DEFAULTS["product"], DEFAULTS["purchases"]
    parser.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="product",
        help="product: a daily-use SaaS product (events, users, messages, survey, billing); "
        "purchases: a CDNOW-like store (orders.txt only) with a BG/NBD ground truth "
        "(default product)",
    )
    parser.add_argument(
        "--users",
        "--customers",
        dest="users",
        type=int,
        default=None,
        metavar="N",
        help=f"how many users (product, default {product['users']}) or customers (purchases, "
        f"default {store['users']}); the two names are the same option",
    )
    span = parser.add_mutually_exclusive_group()
    span.add_argument(
        "--days",
        type=int,
        default=None,
        help=f"days covered (product default {product['days']}; purchases default "
        f"{store['months']} months)",
    )
    span.add_argument(
        "--months", type=int, default=None, help="calendar months covered, instead of --days"
    )
    parser.add_argument(
        "--start",
        default=None,
        help=f"first day of the data, YYYY-MM-DD (product default {product['start']}, "
        f"purchases default {store['start']})",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--dirty-share",
        type=float,
        default=None,
        help=f"product only: share of dirty event rows (default {product['dirty_share']})",
    )
    parser.add_argument(
        "--events-format",
        choices=["csv", "parquet", "jsonl"],
        default=None,
        help=f"product only (default {product['events_format']})",
    )


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months later (the month's last day if it is shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def resolve(args: argparse.Namespace) -> dict:
    """The scenario's settings: what the user passed, the scenario's defaults for the rest."""
    defaults = DEFAULTS[args.scenario]
    for name in ("dirty_share", "events_format"):
        if defaults[name] is None and getattr(args, name) is not None:
            option = "--" + name.replace("_", "-")
            raise ValueError(f"{option} applies only to --scenario product")
    text = args.start or defaults["start"]
    try:
        start = dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--start must be a date as YYYY-MM-DD, got {text!r}") from None
    if args.days is not None:
        days = args.days
    elif args.months is not None or "months" in defaults:
        months = args.months if args.months is not None else defaults["months"]
        if months < 1:
            raise ValueError(f"--months must be at least 1, got {months}")
        days = (add_months(start, months) - start).days
    else:
        days = defaults["days"]
    settings = {
        "users": args.users if args.users is not None else defaults["users"],
        "days": days,
        "start": start,
        "seed": args.seed,
    }
    if args.scenario == "product":
        for name in ("dirty_share", "events_format"):
            value = getattr(args, name)
            settings[name] = value if value is not None else defaults[name]
    return settings


def _print_progress(message: str) -> None:
    print(f"  {message}", flush=True)


def run(args: argparse.Namespace) -> int:
    """Generate with the options `add_arguments` defined and print what was written."""
    config = load_config({"landing_dir": args.landing_dir, "truth_dir": args.truth_dir})
    settings = resolve(args)
    started = time.perf_counter()
    if args.scenario == "purchases":
        s = purchases.generate_purchases(
            config.landing_dir,
            config.truth_dir,
            customers=settings["users"],
            days=settings["days"],
            start=settings["start"],
            seed=settings["seed"],
            progress=_print_progress,
        )
        print(
            f"Generated {s.customers:,} customers and {s.purchases:,} purchases "
            f"({s.start} to {s.end}) in {time.perf_counter() - started:.1f}s "
            f"into {config.landing_dir / s.files[0]}; "
            f"ground truth in {config.truth_dir / s.truth_files[0]}"
        )
        return 0
    summary = generate(config.landing_dir, config.truth_dir, progress=_print_progress, **settings)
    print(
        f"Generated {summary.users:,} users and {summary.events:,} events "
        f"({summary.start} to {summary.end}) in {time.perf_counter() - started:.1f}s "
        f"into {config.landing_dir}; ground truth in {config.truth_dir}"
    )
    return 0
