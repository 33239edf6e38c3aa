"""Speed and memory of daily churn scoring (ml.churn.score.score_users: probability and the
three reasons) on a synthetic population with every feature column of the feature model.

    .venv/bin/python benchmarks/churn_scoring.py              # 1,000,000 users
    .venv/bin/python benchmarks/churn_scoring.py --users 200000

Builds a labelled frame (4 monthly snapshots of --train-users / 4 users each), fits `hgb` and
`logistic` with `train.fit_final`, then scores --users users of one snapshot with each model
(one OpenMP / BLAS thread, like the tests: on this shared 2-core machine a second OpenMP
thread made the trees' predictions slower, not faster). Prints one block: seconds, rows per
second and the process's peak RSS after each stage. Not a pass/fail test; the published
target is 1M users in under 30 s per model including the reasons.

The population is synthetic but shaped like the feature model's output: whole-number counts,
days with NaN where nothing happened yet, fractions and percentages, 0/1 flags, one-hot
states, patterns and survey answers; the label follows recency, the trend and the signals
plus noise, so that both models learn real splits on many features.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from winback.contract import SURVEY_REASONS  # noqa: E402

# the lifecycle states of user_daily_engagement and the patterns churn_features flags
STATES = ("new", "resurrected", "reactivated", "current", "at_risk", "dormant", "churned")
PATTERNS = ("never_activated", "abrupt_abandonment", "progressive_decline", "involuntary")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_features(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` users' feature columns (no user_id, snapshot_date or label)."""
    rng = np.random.default_rng(seed)
    nan = np.nan
    tenure = np.minimum(rng.gamma(1.5, 250, n).astype(int) + 1, 2_000)
    never = rng.random(n) < 0.05
    rate = rng.beta(1.2, 4.0, n)  # share of days a user is active while engaged
    stopped = ~never & (rng.random(n) < 0.35)
    gap = np.maximum(1.0, np.round(1 / np.maximum(rate, 0.01), 1))
    since_last = np.where(
        stopped,
        np.minimum(tenure, 14 + rng.geometric(1 / 60, n)),
        np.minimum(tenure, rng.geometric(np.clip(rate, 0.02, 1), n) - 1),
    ).astype(float)
    since_last[never] = nan
    decline = np.clip(rng.normal(1.0, 0.35, n), 0.05, 2.0)  # recent rate vs before

    def active(window: int, recent: bool = True) -> np.ndarray:
        p = np.clip(rate * (decline if recent else 1.0), 0, 1)
        days = rng.binomial(window, p).astype(float)
        quiet = stopped & (since_last >= window) if recent else never
        days[quiet | never] = 0
        return np.minimum(days, np.minimum(tenure, window))

    a7, a28, a90 = active(7), active(28), active(90)
    a28 = np.maximum(a28, a7)
    a90 = np.maximum(a90, a28)
    prior28 = active(28, recent=False)
    total = np.maximum(a90, rng.binomial(tenure, rate * 0.8)).astype(float)
    change = np.where(prior28 > 0, (a28 - prior28) / np.maximum(prior28, 1), nan)
    purchases_total = np.where(never, 0, rng.poisson(rate * tenure / 20)).astype(float)
    bought = purchases_total > 0
    first_buy = np.where(bought, rng.uniform(0, 1, n) * tenure, nan)
    since_purchase = np.where(bought, np.minimum(first_buy, rng.geometric(0.02, n)), nan)
    purchases_90 = np.where(bought, np.minimum(purchases_total, rng.poisson(rate * 4)), 0)
    order = np.round(rng.lognormal(3.5, 0.6, n), 2)
    revenue_total = np.round(purchases_total * order, 2)
    revenue_365 = np.round(np.minimum(revenue_total, purchases_90 * 3.5 * order), 2)
    revenue_90 = np.round(np.minimum(revenue_365, purchases_90 * order), 2)
    events_28 = (a28 * rng.poisson(6, n)).astype(float)
    core_28 = np.floor(events_28 * rng.beta(2, 3, n))
    since_core = np.where(rng.random(n) < 0.9, since_last + rng.geometric(0.1, n) - 1, nan)
    help_visits = rng.poisson(0.4 + 1.5 * stopped, n).astype(float)
    received = rng.poisson(4, n).astype(float)
    engaged = rng.binomial(received.astype(int), np.clip(rate * 1.5, 0, 1)).astype(float)
    unsubscribed = (rng.random(n) < 0.08).astype(float)
    payment_failures = rng.poisson(0.15 + 0.3 * stopped, n).astype(float)
    unresolved = ((payment_failures > 0) & (rng.random(n) < 0.4)).astype(float)
    signals = {
        "signal_usage_drop": (np.nan_to_num(change, nan=0) <= -0.5).astype(float),
        "signal_no_core_action": (np.nan_to_num(since_core, nan=999) > 14).astype(float),
        "signal_help_visits": (help_visits >= 3).astype(float),
        "signal_unsubscribed": unsubscribed,
        "signal_payment_failure": unresolved,
    }
    peak = np.maximum(a28, rng.binomial(28, np.clip(rate * 1.3, 0, 1))).astype(float)
    state = np.select(
        [tenure <= 28, stopped & (since_last > 28), prior28 == 0],
        [STATES.index("new"), STATES.index("dormant"), STATES.index("reactivated")],
        default=STATES.index("current"),
    )
    pattern = np.where(
        never,
        0,
        np.where(unresolved == 1, 3, np.where(decline < 0.6, 2, 1)),
    )
    surveyed = stopped & (rng.random(n) < 0.06)
    reason = rng.integers(0, len(SURVEY_REASONS), n)
    opened_90 = rng.binomial(rng.poisson(12, n), np.clip(rate * 1.2, 0, 1)).astype(float)
    value = rng.random(n)
    health = np.round(
        np.clip(100 * (0.6 * rate + 0.4 * np.exp(-np.nan_to_num(since_last, nan=90) / 30)), 0, 100),
        1,
    )
    frame = {
        "days_since_last_activity": since_last,
        "days_since_first_activity": np.where(never, nan, tenure - rng.integers(0, 3, n)),
        "tenure_days": tenure.astype(float),
        "active_days_7": a7,
        "active_days_28": a28,
        "active_days_90": a90,
        "active_days_total": total,
        "active_days_prior_28": prior28,
        "activity_change_28": np.round(change, 3),
        "usual_gap_days": np.where(total >= 2, gap, nan),
        "overdue_ratio": np.where(total >= 2, np.round(since_last / gap, 3), nan),
        "frequency": np.where(bought, purchases_total - 1, nan),
        "recency": np.where(bought, np.floor(first_buy - since_purchase).clip(0), nan),
        "T": np.where(bought, np.floor(first_buy), nan),
        "events_28": events_28,
        "events_90": events_28 + (a90 - a28) * rng.poisson(5, n),
        "core_actions_28": core_28,
        "days_since_last_core_action": since_core,
        "revenue_90": revenue_90,
        "revenue_365": revenue_365,
        "revenue_total": revenue_total,
        "purchases_90": purchases_90.astype(float),
        "purchases_total": purchases_total,
        "days_since_last_purchase": since_purchase,
        "feature_breadth_28": np.minimum(a28, rng.poisson(3 * rate + 1, n)).astype(float),
        **{f"is_state_{s}": (state == i).astype(float) for i, s in enumerate(STATES)},
        "health_score": health,
        "usage_change_pct": np.round(change * 100, 1),
        "help_visits_recent": help_visits,
        "messages_received_recent": received,
        "messages_engaged_recent": engaged,
        **signals,
        "active_signals": sum(signals.values()),
        "peak_active_days_28": peak,
        "drop_ratio": np.where(peak > 0, np.round(a28 / np.maximum(peak, 1), 3), nan),
        "has_stopped": stopped.astype(float),
        **{
            f"pattern_{p}": ((pattern == i) & (stopped | never)).astype(float)
            for i, p in enumerate(PATTERNS)
        },
        "messages_received_90": received * 3,
        "messages_opened_90": opened_90,
        "days_since_last_message_open": np.where(opened_90 > 0, rng.integers(0, 90, n), nan),
        "has_survey_response": surveyed.astype(float),
        **{
            f"survey_reason_{r}": (surveyed & (reason == i)).astype(float)
            for i, r in enumerate(SURVEY_REASONS)
        },
        "payment_failures_total": payment_failures,
        "has_unresolved_payment_failure": unresolved,
        "is_value_high": (value > 0.85).astype(float),
        "is_value_mid": ((value > 0.5) & (value <= 0.85)).astype(float),
    }
    out = pd.DataFrame(frame)
    # counts are whole numbers in the feature model: Int64 would be the warehouse's type, but
    # the training frame contract is float with NaN; keep the always-known counts as ints
    for column in ("tenure_days", "active_days_7", "active_days_28", "help_visits_recent"):
        out[column] = out[column].astype("int64")
    return out


def churn_label(features: pd.DataFrame, seed: int = 0) -> np.ndarray:
    """1 = churned: more likely the longer since the last activity, with a falling trend, no
    core action, a payment failure or unsubscription, a survey answer; less likely with
    recent active days and value."""
    rng = np.random.default_rng(seed + 1)
    f = features
    logit = (
        -2.0
        + 0.9 * np.log1p(f["days_since_last_activity"].fillna(120))
        - 0.12 * f["active_days_28"]
        - 0.8 * f["activity_change_28"].fillna(0).clip(-1, 1)
        + 0.6 * f["signal_no_core_action"]
        + 1.5 * f["has_unresolved_payment_failure"]
        + 0.5 * f["signal_unsubscribed"]
        + 0.8 * f["has_survey_response"]
        + 0.3 * f["help_visits_recent"].clip(0, 5)
        - 0.5 * f["is_value_high"]
        - 0.004 * f["revenue_365"].clip(0, 500)
    )
    return (rng.random(len(f)) < 1 / (1 + np.exp(-logit))).astype(int)


def synthetic_frame(
    users: int, snapshots: int = 1, seed: int = 0, labelled: bool = True
) -> pd.DataFrame:
    """`snapshots` monthly snapshots of `users` users each, with user_id, snapshot_date and
    (with `labelled`) label."""
    parts = []
    dates = pd.date_range("2025-01-31", periods=snapshots, freq="ME")
    for i, date in enumerate(dates):
        features = synthetic_features(users, seed=seed * 1_000 + i)
        part = pd.concat(
            [
                pd.DataFrame({"user_id": np.arange(users, dtype="int64"), "snapshot_date": date}),
                features,
            ],
            axis=1,
        )
        if labelled:
            part["label"] = churn_label(features, seed=seed * 1_000 + i)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000, help="users to score")
    parser.add_argument("--train-users", type=int, default=200_000, help="training rows")
    parser.add_argument("--models", default="hgb,logistic")
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    from ml.churn import score, train

    lines = []
    with threadpool_limits(1):
        started = time.perf_counter()
        training = synthetic_frame(args.train_users // 4, snapshots=4, seed=1)
        population = synthetic_frame(args.users, seed=2, labelled=False)
        features = [c for c in population.columns if c not in ("user_id", "snapshot_date")]
        lines.append(
            f"data: {len(training):,} training rows, {len(population):,} users, "
            f"{len(features)} features, {time.perf_counter() - started:.1f} s to build, "
            f"peak RSS {_peak_mib():,.0f} MiB"
        )
        for name in args.models.split(","):
            started = time.perf_counter()
            model = train.fit_final(training, name)
            fit_seconds = time.perf_counter() - started
            started = time.perf_counter()
            scored = score.score_users(model, population, "2025-02-01", f"bench-{name}")
            seconds = time.perf_counter() - started
            filled = scored[["reason_1", "reason_2", "reason_3"]].notna().mean()
            lines.append(
                f"{name:>8}: scored {len(scored):,} users in {seconds:6.1f} s "
                f"({len(scored) / seconds:,.0f} rows/s; fit {fit_seconds:.1f} s), "
                f"peak RSS {_peak_mib():,.0f} MiB, reasons filled "
                + " / ".join(f"{v:.0%}" for v in filled)
            )
    print("\n--- churn scoring benchmark " + "-" * 40)
    print("\n".join(lines))
    print("-" * 68)


if __name__ == "__main__":
    main()
