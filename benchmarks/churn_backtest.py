"""The churn backtest of a built warehouse, printed: every fold and model (the candidates and
the baselines), the chosen candidate and the promotion gate's verdict, with the seconds it took.
Reads the warehouse only (its `features` schema); trains in memory, saves nothing.

    .venv/bin/python benchmarks/churn_backtest.py data/warehouse/winback.duckdb

Build the warehouse first (`make demo`, or `winback run` on a project; for the purchases
scenario: `winback generate --scenario purchases`, `winback init store --source
data/landing/orders.txt`, `settings: {churn_horizon_days: 90}`, `winback run`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from ml.churn import gates, train  # noqa: E402
from ml.churn.pipeline import THREADS, feasible_folds, read_settings, training_frame  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", help="a warehouse built by winback run")
    args = parser.parse_args()
    with duckdb.connect(args.warehouse, read_only=True) as con:
        settings = read_settings(con)
        frame = training_frame(con)
    started = time.perf_counter()
    folds = feasible_folds(frame, settings.horizon_days)
    frame = train.with_bgnbd_features(frame, settings.horizon_days)
    with threadpool_limits(THREADS):
        results = train.backtest(frame, settings.horizon_days, n_folds=folds)
    seconds = time.perf_counter() - started
    chosen = train.choose_model(results)
    passed, reasons = gates.promotion_gate(*gates.gate_metrics(results, chosen))
    print(
        f"as of {settings.as_of_date}, {settings.horizon_days}-day horizon: {len(frame):,} "
        f"labelled rows over {frame['snapshot_date'].nunique()} snapshots, {folds} folds, "
        f"{seconds:.1f}s"
    )
    shown = ["fold", "model", "kind", "roc_auc", "pr_auc", "brier", "log_loss"]
    shown += ["top_decile_lift", "churn_rate", "n"]
    print(results[shown].to_string(index=False, float_format=lambda v: f"{v:.6f}"))
    print(f"chosen: {chosen}; gate {'passed' if passed else 'blocked'}")
    for line in reasons:
        print(f"  {line}")


if __name__ == "__main__":
    main()
