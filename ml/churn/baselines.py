"""The two baselines a churn model has to beat in the backtest, and the label they are judged
on.

- Recency: the probability of churning as a logistic function of log(1 + days since the last
  activity), fitted on a training snapshot whose label window has passed. The function is
  strictly increasing in the days when the slope is positive (as it is on any data where
  lapsed users churn more), so it ranks users exactly as days-since-last does, and the
  logistic fit turns that ranking into probabilities that match the training churn rate. The
  log keeps the first weeks, where most of the change happens, from being flattened by a few
  users inactive for years. No penalty: one feature, nothing to shrink.
- BG/NBD: the probability of no purchase in the horizon from frequency, recency and age
  (`ml.churn.bgnbd.p_no_purchase`), fitted on the calibration period's transactions only:
  it never sees a label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from ml.churn import bgnbd

Date = bgnbd.Date


def days_since_last_activity(summary: pd.DataFrame) -> np.ndarray:
    """T - recency of a `bgnbd.summarise` frame: days from the last active day to the
    snapshot date (0 = active on the snapshot date)."""
    return (summary["T"] - summary["recency"]).to_numpy(dtype=float)


def churn_labels(
    transactions: pd.DataFrame,
    summary: pd.DataFrame,
    observation_end: Date,
    horizon_days: int,
    user: str = "user_id",
    date: str = "activity_date",
) -> pd.Series:
    """1 for each user of `summary` with no activity in (observation_end, observation_end +
    horizon_days], else 0, indexed like `summary`.

    The caller makes sure the data reach the window's end: a user with no row in a window the
    data do not cover would be labelled churned."""
    if horizon_days < 1:
        raise ValueError(f"churn_labels: horizon_days must be >= 1, got {horizon_days}")
    end = bgnbd.utc_day(observation_end)
    days = bgnbd.utc_days(transactions[date])
    inside = (days > end) & (days <= end + pd.Timedelta(days=horizon_days))
    came_back = summary.index.isin(transactions.loc[inside.to_numpy(), user].unique())
    return pd.Series((~came_back).astype("int64"), index=summary.index, name="churned")


@dataclass(frozen=True)
class RecencyBaseline:
    """P(churn) = expit(intercept + slope * log(1 + days since the last activity))."""

    intercept: float
    slope: float
    n_train: int
    train_churn_rate: float

    def predict(self, days_since_last: np.ndarray) -> np.ndarray:
        days = np.asarray(days_since_last, dtype=float)
        if (days < 0).any() or not np.isfinite(days).all():
            raise ValueError("recency baseline: days since the last activity must be >= 0")
        return expit(self.intercept + self.slope * np.log1p(days))


def fit_recency_baseline(days_since_last: np.ndarray, churned: np.ndarray) -> RecencyBaseline:
    """The recency baseline fitted on one training snapshot (days since the last activity at
    the snapshot, and the label of the window after it). Deterministic: lbfgs on a convex loss
    from a fixed start."""
    days = np.asarray(days_since_last, dtype=float)
    y = np.asarray(churned).astype(int)
    if len(days) != len(y) or len(y) == 0:
        raise ValueError(
            f"recency baseline: {len(days)} recencies but {len(y)} labels (need the same "
            "number, at least one)"
        )
    if (days < 0).any() or not np.isfinite(days).all():
        raise ValueError("recency baseline: days since the last activity must be >= 0")
    if y.min() == y.max():
        raise ValueError(
            "recency baseline: the training labels have a single class; pick a snapshot with "
            "both churners and non-churners"
        )
    model = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=1000, tol=1e-10)
    model.fit(np.log1p(days).reshape(-1, 1), y)
    return RecencyBaseline(
        intercept=float(model.intercept_[0]),
        slope=float(model.coef_[0, 0]),
        n_train=len(y),
        train_churn_rate=float(y.mean()),
    )


def bgnbd_churn_probability(
    params: bgnbd.BgNbdParams, summary: pd.DataFrame, horizon_days: float
) -> np.ndarray:
    """The BG/NBD baseline: P(no purchase in the next `horizon_days`), the event the churn
    label names. (P(dead) alone would call every customer who is alive but buys rarely a
    stayer, though most of them do not buy within a short horizon either.)"""
    return bgnbd.p_no_purchase(params, summary, horizon_days)
