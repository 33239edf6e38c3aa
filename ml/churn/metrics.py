"""The figures every churn model of the backtest is judged by, baselines included: ranking (ROC
AUC, PR AUC, top-decile lift), probability quality (Brier score, log loss) and calibration by
bin. Deterministic: no resampling, ties handled by formula rather than by row order."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

# probabilities are clipped to [EPSILON, 1 - EPSILON] for the log loss only, so that one
# confident mistake costs about 34.5 nats instead of infinity
LOG_LOSS_EPSILON = 1e-15
TOP_SHARE = 0.10


def _labels_and_scores(y_true, p, name: str) -> tuple[np.ndarray, np.ndarray]:
    """y as 0/1 ints and p as floats, after checking they can be compared: same length, not
    empty, labels binary, probabilities finite and in [0, 1]."""
    y = np.asarray(y_true)
    scores = np.asarray(p, dtype=float)
    if y.ndim != 1 or scores.ndim != 1:
        raise ValueError(f"{name}: labels and probabilities must be 1-d vectors")
    if len(y) != len(scores):
        raise ValueError(f"{name}: {len(y)} labels but {len(scores)} probabilities")
    if len(y) == 0:
        raise ValueError(f"{name}: no rows to evaluate")
    if y.dtype == bool:
        y = y.astype(int)
    elif not np.isin(y, [0, 1]).all():
        bad = np.flatnonzero(~np.isin(y, [0, 1]))[0]
        raise ValueError(
            f"{name}: label at position {bad} is {y[bad].item()!r}; labels must be 0/1 or booleans "
            "(1 = churned)"
        )
    y = y.astype(int)
    broken = ~np.isfinite(scores) | (scores < 0) | (scores > 1)
    if broken.any():
        bad = np.flatnonzero(broken)[0]
        raise ValueError(
            f"{name}: probability at position {bad} is {scores[bad].item()!r}; probabilities must be "
            "finite and within [0, 1]"
        )
    return y, scores


def top_share_lift(y: np.ndarray, p: np.ndarray, share: float = TOP_SHARE) -> float:
    """Churn rate among the `share` of rows with the highest scores (ceil(share * n) rows)
    divided by the overall churn rate.

    Rows tied at the cut-off score are not picked by row order: the tied group contributes
    its own churn rate times the places left, which is the expected value over every order of
    the ties. The result therefore depends on the scores only, and a constant score gives a
    lift of exactly 1."""
    n = len(y)
    k = max(1, math.ceil(share * n))
    rate = y.mean()
    if rate == 0:
        raise ValueError("top-decile lift: no churner among the labels, the lift is undefined")
    order = np.argsort(-p, kind="stable")
    cutoff = p[order[k - 1]]
    above = p > cutoff
    tied = p == cutoff
    places_left = k - int(above.sum())
    churners = y[above].sum() + places_left * y[tied].mean()
    return float(churners / k / rate)


def evaluate(y_true, p_churn) -> dict[str, float | int]:
    """ROC AUC, PR AUC (average precision), Brier score, log loss, top-decile lift, churn rate
    and row count of churn probabilities `p_churn` against labels `y_true` (1 = churned).

    A label vector with a single class is refused: AUC, average precision and lift are then
    undefined, and a made-up 0.5 or 0.0 would pass for a result."""
    y, p = _labels_and_scores(y_true, p_churn, "evaluate")
    if y.min() == y.max():
        only = "churned" if y[0] == 1 else "stayed"
        raise ValueError(
            f"evaluate: all {len(y)} labels say {only}; ROC AUC, PR AUC and lift need both "
            "churners and non-churners (use a longer period or a larger population)"
        )
    clipped = np.clip(p, LOG_LOSS_EPSILON, 1 - LOG_LOSS_EPSILON)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, clipped, labels=[0, 1])),
        "top_decile_lift": top_share_lift(y, p),
        "churn_rate": float(y.mean()),
        "n": len(y),
    }


def calibration_bins(y_true, p, bins: int = 10, strategy: str = "uniform") -> pd.DataFrame:
    """Predicted against observed churn by bin of predicted probability: `bin` (0-based),
    `lower` and `upper` edges, `predicted_mean`, `observed_rate`, `count`; empty bins are left
    out.

    `strategy="uniform"` (default) cuts [0, 1] into `bins` equal widths, so that the bins mean
    the same for every model and every fold and a reliability plot reads directly;
    `"quantile"` cuts at the predictions' quantiles for bins of about equal counts (rows with
    equal predictions stay in one bin, so there can be fewer bins). Bins are half-open
    [lower, upper), the last one closed."""
    y, scores = _labels_and_scores(y_true, p, "calibration_bins")
    if bins < 1:
        raise ValueError(f"calibration_bins: bins must be >= 1, got {bins}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, bins + 1)
    elif strategy == "quantile":
        edges = np.unique(np.quantile(scores, np.linspace(0.0, 1.0, bins + 1)))
        if len(edges) == 1:
            edges = np.array([edges[0], edges[0]])
    else:
        raise ValueError(
            f"calibration_bins: strategy must be 'uniform' or 'quantile', got {strategy!r}"
        )
    index = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, len(edges) - 2)
    frame = pd.DataFrame({"bin": index, "p": scores, "y": y})
    table = frame.groupby("bin", sort=True).agg(
        predicted_mean=("p", "mean"), observed_rate=("y", "mean"), count=("y", "size")
    )
    table.insert(0, "lower", edges[table.index])
    table.insert(1, "upper", edges[table.index + 1])
    return table.reset_index()
