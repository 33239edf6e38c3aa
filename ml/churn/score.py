"""Daily scoring of the churn model, and the tables its backtest is shown with.

- `score_users`: one row per user of a feature frame with the calibrated churn probability, up
  to three reasons that raise it (`ml.churn.reasons`: sentences and the features they name,
  null where fewer than three features raise the risk) and the model version. Deterministic:
  the same model and frame give the same table bit for bit. Rows are scored in blocks, so
  memory stays bounded; 1M users with about 60 features take seconds, not minutes
  (`benchmarks/churn_scoring.py` has the figures).
- `calibration_table`: predicted against observed churn by bin of predicted probability, per
  model and fold of `train.fold_predictions`.
- `lift_table`: churn rate, lift and the share of churners captured by decile of predicted
  risk, per model and fold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.churn import metrics, reasons
from ml.churn.dataset import LABEL, USER, Date
from ml.churn.train import ChurnModel

SCORE_COLUMNS = (
    USER,
    "as_of_date",
    "churn_probability",
    *(f"reason_{k}" for k in range(1, reasons.N_REASONS + 1)),
    *(f"feature_{k}" for k in range(1, reasons.N_REASONS + 1)),
    "model_version",
)
GROUP = ["model", "kind", "fold"]
DECILES = 10


def score_users(
    model: ChurnModel, frame: pd.DataFrame, as_of_date: Date, model_version: str
) -> pd.DataFrame:
    """`user_id`, `as_of_date`, `churn_probability` (float64, `model.predict_proba`'s: bit
    for bit for the trees; the logistic regression's is computed in blocks of rows, and its
    BLAS sums can differ in the last bit with a block's rows), `reason_1` ... `reason_3`, `feature_1` ... `feature_3` (the features the reasons
    name; None where fewer features raise the risk) and `model_version`: one row per row of
    `frame`, in its order. `frame` holds `user_id` and the model's feature columns (others are
    ignored)."""
    if USER not in frame.columns:
        raise ValueError(f"score_users: the frame has no {USER!r} column")
    # a model with fewer features than reasons (the recency fallback has one) names what it
    # has; the other reason columns stay empty
    n = min(reasons.N_REASONS, len(model.features))
    p, picked, x = reasons.reason_indices(model, frame, n)
    columns = reasons.reason_columns(model, picked, x)
    for k in range(n + 1, reasons.N_REASONS + 1):
        columns[f"reason_{k}"] = np.full(len(x), None, dtype=object)
        columns[f"feature_{k}"] = np.full(len(x), None, dtype=object)
    out = pd.DataFrame(
        {
            USER: frame[USER].to_numpy(),
            "as_of_date": pd.Timestamp(as_of_date).normalize(),
            "churn_probability": p.astype(np.float64),
        }
    )
    for name, values in columns.items():
        out[name] = values
    out["model_version"] = str(model_version)
    return out[list(SCORE_COLUMNS)]


def _groups(predictions: pd.DataFrame, what: str):
    needed = [*GROUP, LABEL, "churn_probability"]
    missing = [c for c in needed if c not in predictions.columns]
    if missing:
        raise ValueError(
            f"{what}: the predictions have no column {missing} (train.fold_predictions gives them)"
        )
    return predictions.groupby(GROUP, sort=False)


def calibration_table(predictions: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """`train.fold_predictions` output as reliability rows: `model`, `kind`, `fold`, `bin`
    (0-based), `bin_lower`, `bin_upper`, `users`, `mean_predicted`, `observed_rate`, from
    `metrics.calibration_bins` (equal-width bins of [0, 1]; empty bins left out). Groups in
    the order the predictions list them."""
    parts = []
    for (model, kind, fold), group in _groups(predictions, "calibration_table"):
        table = metrics.calibration_bins(
            group[LABEL].to_numpy(), group["churn_probability"].to_numpy(), bins=bins
        )
        parts.append(
            pd.DataFrame(
                {
                    "model": model,
                    "kind": kind,
                    "fold": fold,
                    "bin": table["bin"].to_numpy(),
                    "bin_lower": table["lower"].to_numpy(),
                    "bin_upper": table["upper"].to_numpy(),
                    "users": table["count"].to_numpy(),
                    "mean_predicted": table["predicted_mean"].to_numpy(),
                    "observed_rate": table["observed_rate"].to_numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _expected_churners(y: np.ndarray, p: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Churners among the first `edges` rows by descending p, with tied scores counted at
    their group's churn rate (the expected value over every order of the ties, as
    `metrics.top_share_lift` does): cumulative, one value per edge."""
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order].astype(float)
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    ends = np.r_[starts[1:], len(ps)]
    group_churners = np.add.reduceat(ys, starts)
    before = np.r_[0.0, np.cumsum(group_churners)]
    rate = group_churners / (ends - starts)
    out = np.empty(len(edges))
    for i, edge in enumerate(edges):
        g = np.searchsorted(starts, edge, side="right") - 1  # the group holding row `edge`
        if edge >= len(ps):
            out[i] = before[-1]
        else:
            out[i] = before[g] + (edge - starts[g]) * rate[g]
    return out


def lift_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per `model`, `kind` and `fold` of `train.fold_predictions`: `decile` 1..10 by predicted
    risk, highest first (decile d holds rows ceil(n (d-1) / 10) to ceil(n d / 10); deciles
    without a row are left out), `users`, `churn_rate`, `lift` (churn_rate / the group's
    churn rate) and `cumulative_capture` (the share of the group's churners in deciles 1..d).

    Users with equal scores are not split by row order: a tied group straddling a decile edge
    counts at its own churn rate on each side, so churn rates can be fractions of a user, a
    constant score gives a lift of exactly 1 everywhere, and decile 1's lift is
    `metrics.top_share_lift`."""
    rows = []
    for (model, kind, fold), group in _groups(predictions, "lift_table"):
        y = group[LABEL].to_numpy(dtype=float)
        p = group["churn_probability"].to_numpy(dtype=float)
        n = len(y)
        edges = -(-np.arange(DECILES + 1) * n // DECILES)  # ceil(n d / 10)
        cumulative = _expected_churners(y, p, edges)
        total, overall = y.sum(), y.mean()
        for d in range(1, DECILES + 1):
            users = int(edges[d] - edges[d - 1])
            if users == 0:
                continue
            rate = (cumulative[d] - cumulative[d - 1]) / users
            rows.append(
                {
                    "model": model,
                    "kind": kind,
                    "fold": fold,
                    "decile": d,
                    "users": users,
                    "churn_rate": rate,
                    "lift": rate / overall if overall > 0 else np.nan,
                    "cumulative_capture": cumulative[d] / total if total > 0 else np.nan,
                }
            )
    return pd.DataFrame(rows)
