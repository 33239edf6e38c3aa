"""The generator's command line, one set of options for `winback generate` and
`python -m winback.generate`."""

from __future__ import annotations

import argparse
import datetime as dt
import time

from winback.generate.generator import generate
from winback.settings import ENVIRONMENT, load_config


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
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--start", default="2025-11-03", help="first day of the data (YYYY-MM-DD)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dirty-share", type=float, default=0.005)
    parser.add_argument("--events-format", choices=["csv", "parquet", "jsonl"], default="csv")


def run(args: argparse.Namespace) -> int:
    """Generate with the options `add_arguments` defined and print what was written."""
    config = load_config({"landing_dir": args.landing_dir, "truth_dir": args.truth_dir})
    started = time.perf_counter()
    summary = generate(
        config.landing_dir,
        config.truth_dir,
        users=args.users,
        days=args.days,
        start=dt.date.fromisoformat(args.start),
        seed=args.seed,
        dirty_share=args.dirty_share,
        events_format=args.events_format,
        progress=lambda m: print(f"  {m}", flush=True),
    )
    print(
        f"Generated {summary.users:,} users and {summary.events:,} events "
        f"({summary.start} to {summary.end}) in {time.perf_counter() - started:.1f}s "
        f"into {config.landing_dir}; ground truth in {config.truth_dir}"
    )
    return 0
