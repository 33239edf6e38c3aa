"""Do the campaign marts' 95 % intervals hold the true effect? The closed loop
(winback.generate.closed_loop) over several seeds, with the simulated effect on and at zero:
per segment x step cell, whether Newcombe's interval of the lift covers the cell's true effect
(with the effect at zero, the truth is 0 in every cell), and per segment (whole cycles) the
same for the segments with at least --min-segment targeted users.

    .venv/bin/python benchmarks/campaign_coverage.py --seeds 10 --users 6000 --days 60

Prints one line per seed and the coverage; exits 1 when a coverage is under --target.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd


def one(seed: int, users: int, days: int, scale: float) -> pd.DataFrame:
    from winback.generate.closed_loop import Loop, LoopSettings

    with tempfile.TemporaryDirectory() as folder:
        settings = LoopSettings(users=users, days=days, seed=seed, effect_scale=scale)
        loop = Loop(Path(folder) / "loop.duckdb", settings)
        outcome = loop.run()
        loop.con.close()
    lift = outcome.lift[outcome.lift["targeted"].gt(0) & outcome.lift["holdout"].gt(0)].copy()
    # with the effect at zero the truth is 0, whatever the sample's potential outcomes say
    lift["truth"] = lift["true_effect"] if scale else 0.0
    lift["covered"] = (lift["lift_ci_low"] <= lift["truth"]) & (
        lift["truth"] <= lift["lift_ci_high"]
    )
    lift["seed"], lift["scale"] = seed, scale
    return lift


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--users", type=int, default=6000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--target", type=float, default=0.90)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--min-segment", type=int, default=1000)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    jobs = [(s, args.users, args.days, scale) for scale in (1.0, 0.0) for s in range(args.seeds)]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        frames = list(pool.map(one, *zip(*jobs, strict=True)))
    cells = pd.concat(frames, ignore_index=True)
    failed = False
    segments = cells[(cells["step"] == "cycle") & (cells["targeted"] >= args.min_segment)]
    cells = cells[cells["step"] != "cycle"]
    for r in segments.itertuples():
        print(
            f"  segment {r.segment} (seed {r.seed}, effect x{r.scale}): {r.targeted:,} targeted,"
            f" lift {100 * r.lift:+.1f} pts [{100 * r.lift_ci_low:+.1f}, "
            f"{100 * r.lift_ci_high:+.1f}], truth {100 * r.truth:+.1f}: "
            + ("covered" if r.covered else "NOT covered")
        )
    if len(segments):
        print(
            f"segments with >= {args.min_segment:,} targeted: {segments['covered'].sum()} of "
            f"{len(segments)} intervals hold the truth"
        )
    for scale, label in ((1.0, "effect on"), (0.0, "effect zero")):
        part = cells[cells["scale"] == scale]
        for seed, group in part.groupby("seed"):
            print(
                f"  {label} seed {seed}: {group['covered'].sum()}/{len(group)} cells covered, "
                f"mean |lift - truth| {abs(group['lift'] - group['truth']).mean():.3f}"
            )
        share = part["covered"].mean()
        failed |= share < args.target
        print(
            f"{label}: the 95 % interval covers the truth in {part['covered'].sum()} of "
            f"{len(part)} segment x step cells over {args.seeds} seeds = {share:.1%} "
            f"(target {args.target:.0%})"
        )
    print(f"({time.perf_counter() - started:.0f}s, {args.users} users x {args.days} days per run)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
