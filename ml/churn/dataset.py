"""The training-set contract of the churn model, and the temporal folds of its backtest.

A training frame has one row per user per snapshot date T:

- `user_id`: any hashable key;
- `snapshot_date`: a date (the features were computed from what had happened by the end of
  that day, nothing later);
- feature columns: every other column except `label` (`feature_columns`). They must be
  numeric or boolean; a categorical attribute (lifecycle state, disengagement pattern, survey
  reason) comes one-hot encoded as `is_`/`has_` columns by the feature model, so that both
  model families read the same table and a reason can name the column;
- `label`: 1 = no qualifying activity in (T, T + H], 0 = active again in that window, missing
  while the window has not fully passed. `labelled_snapshots` keeps only the snapshots whose
  window has passed by the as-of date, the only ones a model may learn from or be judged on.

Missing values: a feature may be missing (NaN / None / pd.NA), e.g. no purchase yet, no
message ever sent. Gradient-boosted trees route missing values natively (each split learns
which side they go to). The logistic regression cannot, so its Pipeline imputes the training
median, then scales (`ml.churn.train`); the median is learnt on the training rows only, so
it is part of the fitted model. Infinite values are refused: they are a bug upstream, not a
signal.

Folds are temporal, never random: a fold validates on one snapshot (or a few consecutive
ones) and trains on the snapshots whose label window had *closed* by the first validation
date, T_k + H <= T_v. A snapshot only a few days before T_v is therefore not in its training
set: its label would look into (T_v, T_v + H], the very window being predicted, and at T_v
nobody could have known it. This is the purge that López de Prado describes for overlapping
labels; without it the backtest flatters the model.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

USER = "user_id"
SNAPSHOT = "snapshot_date"
LABEL = "label"
RESERVED = (USER, SNAPSHOT, LABEL)

Date = str | dt.date | pd.Timestamp


def _day(value: Date) -> pd.Timestamp:
    return pd.Timestamp(value).normalize()


def _check_horizon(horizon_days: int) -> pd.Timedelta:
    if int(horizon_days) != horizon_days or horizon_days < 1:
        raise ValueError(f"horizon_days must be a whole number of days >= 1, got {horizon_days!r}")
    return pd.Timedelta(days=int(horizon_days))


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The feature columns of a training frame, in the frame's order: every column but
    `user_id`, `snapshot_date` and `label`. A non-numeric column is refused by name rather than
    dropped, so that a feature never disappears from the model without anyone noticing."""
    features = [c for c in frame.columns if c not in RESERVED]
    if not features:
        raise ValueError(
            "training frame: no feature column (every column is user_id, snapshot_date or label)"
        )
    text = [
        c
        for c in features
        if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]
    if text:
        raise ValueError(
            f"training frame: feature column(s) {text} are not numeric; encode a category as "
            "one is_<value> boolean column per value in the feature model"
        )
    return features


def validate_frame(frame: pd.DataFrame, labelled: bool = False) -> pd.DataFrame:
    """The frame with `snapshot_date` as a day and the features checked, or an error naming
    the column, row and rule. With `labelled`, every label must be 0 or 1."""
    missing = [c for c in (USER, SNAPSHOT) if c not in frame.columns]
    if labelled and LABEL not in frame.columns:
        missing.append(LABEL)
    if missing:
        raise ValueError(f"training frame: no column {missing}")
    features = feature_columns(frame)
    out = frame.copy()
    out[SNAPSHOT] = pd.to_datetime(out[SNAPSHOT]).dt.normalize()
    if out[SNAPSHOT].isna().any():
        row = out.index[out[SNAPSHOT].isna()][0]
        raise ValueError(f"training frame: row {row!r} has no snapshot_date")
    duplicated = out.duplicated([USER, SNAPSHOT])
    if duplicated.any():
        row = out.index[duplicated][0]
        raise ValueError(
            f"training frame: row {row!r} repeats user {out.at[row, USER]!r} on snapshot "
            f"{out.at[row, SNAPSHOT].date()}; one row per user per snapshot"
        )
    values = out[features].astype(float).to_numpy()
    infinite = np.isinf(values)
    if infinite.any():
        i, j = np.argwhere(infinite)[0]
        raise ValueError(
            f"training frame: row {out.index[i]!r}, column {features[j]!r} is infinite; "
            "use NaN for an unknown value"
        )
    if labelled:
        label = out[LABEL]
        bad = label.isna() | ~label.isin([0, 1])
        if bad.any():
            row = out.index[bad.to_numpy()][0]
            where = f"training frame: row {row!r} (snapshot {out.at[row, SNAPSHOT].date()})"
            if pd.isna(out.at[row, LABEL]):
                raise ValueError(
                    f"{where} has no label; a snapshot used for training must have its label "
                    "window closed and every row labelled (labelled_snapshots keeps those)"
                )
            raise ValueError(f"{where} has label {out.at[row, LABEL]}; labels must be 0 or 1")
        out[LABEL] = label.astype("int64")
    return out


def labelled_snapshots(frame: pd.DataFrame, as_of_date: Date, horizon_days: int) -> pd.DataFrame:
    """The rows whose label window (T, T + horizon] has fully passed by `as_of_date`
    (T + horizon <= as_of_date), with `label` as 0/1 ints. A row of such a snapshot with no
    label is an error: the window has passed, so the label is known and must be there."""
    if LABEL not in frame.columns:
        raise ValueError("labelled_snapshots: the frame has no label column")
    horizon = _check_horizon(horizon_days)
    snapshot = pd.to_datetime(frame[SNAPSHOT]).dt.normalize()
    kept = frame[(snapshot + horizon <= _day(as_of_date)).to_numpy()]
    return validate_frame(kept, labelled=True)


def snapshots(frame: pd.DataFrame) -> list[pd.Timestamp]:
    """The distinct snapshot dates, oldest first."""
    return sorted(pd.to_datetime(frame[SNAPSHOT]).dt.normalize().unique())


@dataclass(frozen=True)
class Fold:
    """One step of the backtest: learn from `train_snapshots` (every label known by the first
    validation date), judge on `validation_snapshots`. `number` counts from 1, oldest first,
    so the latest fold has the highest number."""

    number: int
    train_snapshots: tuple[pd.Timestamp, ...]
    validation_snapshots: tuple[pd.Timestamp, ...]

    def train(self, frame: pd.DataFrame) -> pd.DataFrame:
        return _rows_on(frame, self.train_snapshots)

    def validation(self, frame: pd.DataFrame) -> pd.DataFrame:
        return _rows_on(frame, self.validation_snapshots)


def _rows_on(frame: pd.DataFrame, dates: tuple[pd.Timestamp, ...]) -> pd.DataFrame:
    snapshot = pd.to_datetime(frame[SNAPSHOT]).dt.normalize()
    return frame[snapshot.isin(dates).to_numpy()]


def split_folds(
    frame: pd.DataFrame,
    n_folds: int = 3,
    min_train_snapshots: int = 2,
    *,
    horizon_days: int,
    validation_snapshots: int = 1,
) -> list[Fold]:
    """`n_folds` temporal folds over a labelled frame, oldest first: the last `n_folds` *
    `validation_snapshots` snapshots are validated on in consecutive groups, and each fold
    trains on every snapshot T_k with T_k + horizon <= its first validation date (an
    expanding window, purged of labels that were still open then; see the module docstring).

    `horizon_days` is required because the purge depends on it. A fold with fewer than
    `min_train_snapshots` training snapshots is an error that says how many snapshots the
    frame would need, rather than a silently smaller backtest."""
    if n_folds < 1 or validation_snapshots < 1:
        raise ValueError("split_folds: n_folds and validation_snapshots must be >= 1")
    if min_train_snapshots < 2:
        raise ValueError(
            "split_folds: min_train_snapshots must be >= 2 (the model learns on the earlier "
            "snapshots, its calibration on the latest one)"
        )
    horizon = _check_horizon(horizon_days)
    if LABEL in frame.columns and frame[LABEL].isna().any():
        raise ValueError(
            "split_folds: some labels are missing; keep the snapshots whose window has passed "
            "with labelled_snapshots(frame, as_of_date, horizon_days) first"
        )
    dates = snapshots(frame)
    needed = n_folds * validation_snapshots
    if len(dates) < needed:
        raise ValueError(
            f"split_folds: {len(dates)} snapshots, {n_folds} folds of {validation_snapshots} "
            f"validation snapshot(s) need at least {needed} plus the training ones"
        )
    folds = []
    for number in range(1, n_folds + 1):
        start = len(dates) - (n_folds - number + 1) * validation_snapshots
        validation = tuple(dates[start : start + validation_snapshots])
        train = tuple(d for d in dates[:start] if d + horizon <= validation[0])
        if len(train) < min_train_snapshots:
            raise ValueError(
                f"split_folds: fold {number} (validation from {validation[0].date()}) has "
                f"{len(train)} snapshot(s) whose {int(horizon_days)}-day label window closed "
                f"by then, fewer than min_train_snapshots={min_train_snapshots}; use fewer "
                "folds, a shorter horizon or snapshots reaching further back"
            )
        folds.append(Fold(number, train, validation))
    return folds
