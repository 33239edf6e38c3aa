"""The candidate churn models, their temporal backtest against the baselines, the choice of a
model and its final fit.

Candidates (scikit-learn, both deterministic):

- `logistic`: a Pipeline that imputes the training median, takes a signed log1p (counts,
  days and amounts are heavy-tailed: a user inactive for 400 days is not ten times more lost
  than one inactive for 40, and the recency baseline uses log(1 + days) for the same reason),
  standardises, and fits an L2-regularised `LogisticRegression`;
- `hgb`: `HistGradientBoostingClassifier`, small (100 trees of at most 15 leaves: half a
  second on 40,000 rows), no early stopping (its validation split would be a random one,
  across snapshots), fixed `random_state`, missing values routed natively.

Calibration: the model is fitted on the earlier training snapshots and a sigmoid (Platt) map
on the latest training snapshot, through `CalibratedClassifierCV(FrozenEstimator(model))`;
never on the validation fold. A slice *later* than the fitting one is what the model will
meet in use: churn rates drift as a customer base ages, and calibrating on the latest labelled
snapshot pulls the probabilities towards the most recent rate. `CalibratedClassifierCV` with
its own cv would calibrate on folds cut across time and average several models; the explicit
split keeps one model and one map, and says which snapshots each saw.

Sigmoid rather than isotonic: it is strictly increasing, so calibration never changes the
ranking (ROC AUC, lift and a user's reasons are the model's own), while isotonic's step
function gives whole groups of users the same probability, down to 0 or 1 at the ends.
Measured on the purchases scenario's backtest (3,000 customers, 3 folds, both candidates),
isotonic's Brier score was 0.0001 to 0.002 worse on every fold and its log loss 0.30 to 0.54
against sigmoid's 0.30 to 0.31, for a ROC AUC within 0.007 either way. The cost is a less flexible map: a model whose miscalibration is not a sigmoid keeps part of it,
which the Brier score of the backtest shows.

Baselines (judged on the same rows): `recency` (`ml.churn.baselines.fit_recency_baseline`
on every training snapshot) and, when the frame has BG/NBD's `frequency`, `recency` and `T`,
`bgnbd` (fitted on each validation snapshot's own histories, which needs no label). A row that
a baseline cannot score (no activity yet: no days since the last activity, no purchase history)
gets the training churn rate of such rows, or the overall training rate if there were none.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from ml.churn import baselines as base
from ml.churn import bgnbd, metrics
from ml.churn.dataset import (
    LABEL,
    SNAPSHOT,
    USER,
    Date,
    Fold,
    feature_columns,
    labelled_snapshots,
    snapshots,
    split_folds,
    validate_frame,
)

CANDIDATES = ("logistic", "hgb", "bgnbd_calibrated")
BASELINES = ("recency", "bgnbd")
CALIBRATION = "sigmoid"
# the column the recency baseline reads; without it, BG/NBD's T - recency
DAYS_SINCE_LAST = "days_since_last_activity"

# Newton-Cholesky, not scikit-learn's default lbfgs: the same L2 objective, solved in about 7
# iterations instead of 80-110 on the demo's features (half the fitting time, ROC AUC equal
# to the fourth decimal: 0.98367 against 0.98364 on the latest fold)
MODEL_PARAMS: dict[str, dict[str, object]] = {
    "logistic": {"C": 1.0, "max_iter": 1000, "solver": "newton-cholesky"},
    "bgnbd_calibrated": {"C": 1.0, "max_iter": 1000, "solver": "newton-cholesky"},
    "hgb": {
        "max_iter": 100,
        "learning_rate": 0.1,
        "max_leaf_nodes": 15,
        "min_samples_leaf": 100,
        "l2_regularization": 1.0,
        "early_stopping": False,
        "random_state": 0,
    },
}
PREPROCESSING = {
    "logistic": "median imputation, signed log1p, standardisation",
    "bgnbd_calibrated": "BG/NBD's log-odds features only, median imputation, standardisation",
    "hgb": "none (the trees route missing values)",
}
METRIC_COLUMNS = ("roc_auc", "pr_auc", "brier", "log_loss", "top_decile_lift", "churn_rate", "n")


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """sign(x) * log(1 + |x|): the log's compression for counts and days, defined for the
    negative changes a trend feature can have."""
    return np.sign(x) * np.log1p(np.abs(x))


def build_estimator(name: str) -> ClassifierMixin:
    """An unfitted candidate with the module's parameters."""
    if name == "logistic":
        return Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("log", FunctionTransformer(signed_log1p, feature_names_out="one-to-one")),
                ("scale", StandardScaler()),
                ("model", LogisticRegression(**MODEL_PARAMS["logistic"])),
            ]
        )
    if name == "hgb":
        return HistGradientBoostingClassifier(**MODEL_PARAMS["hgb"])
    if name == "bgnbd_calibrated":
        return Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
                ("model", LogisticRegression(**MODEL_PARAMS["bgnbd_calibrated"])),
            ]
        )
    raise ValueError(f"unknown model {name!r}; the candidates are {list(CANDIDATES)}")


def _xy(frame: pd.DataFrame, features: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    return frame[features].astype(float), frame[LABEL].to_numpy(dtype=int)


def _two_classes(y: np.ndarray, what: str, dates: tuple[pd.Timestamp, ...]) -> None:
    if len(y) == 0 or y.min() == y.max():
        days = ", ".join(str(d.date()) for d in dates)
        raise ValueError(
            f"{what} (snapshots {days}): the labels need both churners and non-churners, "
            f"got {len(y)} rows with churn rate {y.mean() if len(y) else float('nan'):.3f}"
        )


@dataclass
class ChurnModel:
    """A fitted, calibrated candidate: `estimator` learnt on `fit_snapshots`, its sigmoid map
    on `calibration_snapshots`. `medians` are the training medians of the features (the
    "typical" value a reason compares with, and the reference of the trees' contributions)."""

    name: str
    features: list[str]
    estimator: ClassifierMixin
    calibrated: CalibratedClassifierCV
    medians: dict[str, float]
    fit_snapshots: tuple[pd.Timestamp, ...]
    calibration_snapshots: tuple[pd.Timestamp, ...]
    n_rows: int
    params: dict[str, object] = field(default_factory=dict)

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise ValueError(
                f"churn model {self.name}: the frame has no feature column {missing} "
                "(it was trained on them)"
            )
        return frame[self.features].astype(float)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probabilities, one per row."""
        return self.calibrated.predict_proba(self.matrix(frame))[:, 1]

    def raw_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """The fitted model's own probabilities, before calibration."""
        return self.estimator.predict_proba(self.matrix(frame))[:, 1]

    @property
    def training_window(self) -> dict[str, object]:
        every = sorted(self.fit_snapshots + self.calibration_snapshots)
        return {
            "first_snapshot": str(every[0].date()),
            "last_snapshot": str(every[-1].date()),
            "snapshots": len(every),
            "rows": self.n_rows,
            "fit_snapshots": [str(d.date()) for d in self.fit_snapshots],
            "calibration_snapshots": [str(d.date()) for d in self.calibration_snapshots],
        }


# the most rows a model learns on: beyond it, a fixed sample of the fitting rows (a hash of user
# and snapshot, so the same frame always gives the same sample). Measured on the demo (20,000
# users, 21 weekly snapshots): the logistic fit is the slow part (about 5 s per 150,000 rows
# on 2 cores), and ROC AUC moves in the fourth decimal between 100,000 and 150,000 rows.
MAX_FIT_ROWS = 100_000
# the backtest's folds compare the candidates with each other and with the baselines; they
# learn on fewer rows than the final model. Measured on the demo (3 folds, logistic and hgb):
# 24.3 s with 100,000 rows per fold, 15.1 s with 40,000, for a latest-fold ROC AUC within
# 0.0006 (hgb 0.9872 against 0.9867, logistic 0.9820 against 0.9822) and the same choice.
BACKTEST_FIT_ROWS = 40_000
# scikit-learn's OpenMP threads per fit: one. Measured on the demo's training set (2 cores, a
# dbt build or another run on the other core): HistGradientBoostingClassifier fitted in 6.9 s
# with one thread and 97.5 s with two (the threads spin waiting for each other), the
# logistic regression in 5.3 s against 10.9 s.
THREADS = 1


def in_thread_limits(fn, *args, **kwargs):
    """`fn(*args, **kwargs)` on `THREADS` OpenMP threads. The limit is per thread: a pool
    thread starts with every core whatever its caller's threadpool_limits, so work sent to a
    pool thread sets it there, through this."""
    with threadpool_limits(THREADS):
        return fn(*args, **kwargs)


# the (fold, candidate) fits run on this many threads: scikit-learn's fitting loops release
# the GIL, so two fits share two cores, each with one OpenMP thread (set in the pool thread
# itself: until 2026-11-30 each fit ran two, four threads on two cores). Measured on the demo:
# 15.2 s one after the other, 9.7 s on two threads, identical figures; 11.5 s with one OpenMP
# thread per fit against 11.1-13.6 s with two.
BACKTEST_WORKERS = 2


def sample_rows(frame: pd.DataFrame, max_rows: int = MAX_FIT_ROWS) -> pd.DataFrame:
    """At most `max_rows` rows of `frame`, the same ones for the same frame: those with the
    smallest hash of (user_id, snapshot_date), kept in the frame's order."""
    if len(frame) <= max_rows:
        return frame
    keys = pd.util.hash_pandas_object(frame[[USER, SNAPSHOT]], index=False).to_numpy()
    keep = np.sort(np.argsort(keys, kind="stable")[:max_rows])
    return frame.iloc[keep]


def fit_model(
    frame: pd.DataFrame,
    name: str,
    calibration_snapshots: int = 1,
    method: str = CALIBRATION,
    max_fit_rows: int = MAX_FIT_ROWS,
) -> ChurnModel:
    """Candidate `name` fitted on a labelled frame: the model on every snapshot but the last
    `calibration_snapshots` (at most `max_fit_rows` of their rows, `sample_rows`), its
    calibration on those."""
    frame = validate_frame(frame, labelled=True)
    features = feature_columns(frame)
    dates = snapshots(frame)
    if len(dates) <= calibration_snapshots:
        raise ValueError(
            f"fit {name}: {len(dates)} labelled snapshot(s); need more than "
            f"calibration_snapshots={calibration_snapshots} (the model learns on the earlier "
            "ones, its calibration on the latest)"
        )
    fit_dates = tuple(dates[:-calibration_snapshots])
    cal_dates = tuple(dates[-calibration_snapshots:])
    split = Fold(0, fit_dates, cal_dates)
    fit_rows, cal_rows = sample_rows(split.train(frame), max_fit_rows), split.validation(frame)
    # a feature with no value at all in the fitting rows (no message ever sent, in a store's
    # order log) tells the model nothing, and the trees cannot bin it: the model leaves it out
    features = [c for c in features if fit_rows[c].notna().any()]
    if name in FEATURE_SUBSETS:
        features = [c for c in features if c in FEATURE_SUBSETS[name]]
        if not features:
            raise ValueError(
                f"fit {name}: the frame has none of its features {list(FEATURE_SUBSETS[name])} "
                "with a value (with_bgnbd_features adds them where there is repeat activity)"
            )
    x_fit, y_fit = _xy(fit_rows, features)
    x_cal, y_cal = _xy(cal_rows, features)
    _two_classes(y_fit, f"fit {name}", fit_dates)
    _two_classes(y_cal, f"calibrate {name}", cal_dates)
    estimator = build_estimator(name).fit(x_fit, y_fit)
    calibrated = CalibratedClassifierCV(FrozenEstimator(estimator), method=method)
    calibrated.fit(x_cal, y_cal)
    medians = x_fit.median(skipna=True)
    return ChurnModel(
        name=name,
        features=features,
        estimator=estimator,
        calibrated=calibrated,
        medians={c: float(medians[c]) for c in features},
        fit_snapshots=fit_dates,
        calibration_snapshots=cal_dates,
        n_rows=len(frame),
        params={
            **MODEL_PARAMS[name],
            "preprocessing": PREPROCESSING[name],
            "calibration": method,
            "calibration_snapshots": calibration_snapshots,
        },
    )


def _labelled(
    frame: pd.DataFrame, as_of_date: Date | None, horizon_days: int | None
) -> pd.DataFrame:
    if as_of_date is None:
        # whole snapshots without a label are still open; a snapshot labelled for some users
        # only is an error (validate_frame names the row), not something to drop row by row
        labelled_dates = frame.loc[frame[LABEL].notna(), SNAPSHOT].unique()
        return validate_frame(frame[frame[SNAPSHOT].isin(labelled_dates)], labelled=True)
    if horizon_days is None:
        raise ValueError("as_of_date needs horizon_days to tell which label windows have passed")
    return labelled_snapshots(frame, as_of_date, horizon_days)


def fit_final(
    frame: pd.DataFrame,
    model_name: str,
    *,
    as_of_date: Date | None = None,
    horizon_days: int | None = None,
) -> ChurnModel:
    """The model to score with: candidate `model_name` fitted on every labelled snapshot
    (snapshots with no label at all are left out; with `as_of_date`, only the snapshots whose
    window has passed by then are kept). Deterministic: the same frame gives bit-identical
    predictions."""
    return fit_model(_labelled(frame, as_of_date, horizon_days), model_name)


# --- baselines in a fold ----------------------------------------------------------------------


def _days_since_last(frame: pd.DataFrame) -> np.ndarray | None:
    if DAYS_SINCE_LAST in frame.columns:
        return frame[DAYS_SINCE_LAST].to_numpy(dtype=float)
    if {"T", "recency"} <= set(frame.columns):
        return (frame["T"] - frame["recency"]).to_numpy(dtype=float)
    return None


def _fallback_rate(y_train: np.ndarray, unscorable_train: np.ndarray) -> float:
    """The training churn rate of the rows a baseline cannot score, or the overall one."""
    if unscorable_train.any():
        return float(y_train[unscorable_train].mean())
    return float(y_train.mean())


def recency_baseline_proba(train: pd.DataFrame, validation: pd.DataFrame) -> np.ndarray:
    days_train, days_val = _days_since_last(train), _days_since_last(validation)
    if days_train is None or days_val is None:
        raise ValueError(
            f"recency baseline: the frame has no {DAYS_SINCE_LAST!r} column (nor BG/NBD's T "
            "and recency to derive it); add it or run the backtest with baselines=False"
        )
    y = train[LABEL].to_numpy(dtype=int)
    known_train, known_val = np.isfinite(days_train), np.isfinite(days_val)
    model = base.fit_recency_baseline(days_train[known_train], y[known_train])
    p = np.full(len(validation), _fallback_rate(y, ~known_train))
    p[known_val] = model.predict(days_val[known_val])
    return p


def has_bgnbd_columns(frame: pd.DataFrame) -> bool:
    return set(bgnbd.SUMMARY_COLUMNS) <= set(frame.columns)


BGNBD_FEATURES = ("bgnbd_logit_alive", "bgnbd_logit_no_purchase", "bgnbd_expected_purchases")
# candidates that read only some features: `bgnbd_calibrated` is BG/NBD itself, its log-odds
# calibrated by a logistic regression (what a CRM analyst's BG/NBD becomes once its
# probabilities are made honest): on data that is BG/NBD by construction, where no other
# feature adds anything, it is the candidate that can match the baseline's ranking
FEATURE_SUBSETS = {"bgnbd_calibrated": BGNBD_FEATURES}


def _logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), clipped to +-20: a probability on the scale a logistic model adds."""
    p = np.clip(np.asarray(p, dtype=float), 2e-9, 1 - 2e-9)
    return np.log(p) - np.log1p(-p)


def with_bgnbd_features(frame: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """The frame with BG/NBD's view of each user as three more features: the log-odds of
    P(alive) and of P(no qualifying day in the horizon), and the expected qualifying days in
    it, from BG/NBD fitted
    on each snapshot's own histories (frequency, recency, T at that date; no label is read, so
    a snapshot's values depend on nothing after it). The candidates then start from what the
    buy-till-you-die model knows and add what it cannot see (messages, signals, trends).
    Users without a history (nothing to summarise) get NaN. A frame without the summary
    columns is returned as it is."""
    if not has_bgnbd_columns(frame):
        return frame
    cols = list(bgnbd.SUMMARY_COLUMNS)
    out = frame.copy()
    for name in BGNBD_FEATURES:
        out[name] = np.nan
    snapshot = out[SNAPSHOT].to_numpy()
    known = out[cols].notna().all(axis=1).to_numpy()
    for date in np.unique(snapshot):
        rows = (snapshot == date) & known
        summary = out.loc[rows, cols].astype(float)
        # a fit needs some repeat activity to say anything
        if len(summary) < 20 or (summary["frequency"] > 0).sum() < 5:
            continue
        params = bgnbd.fit(summary)
        # daily products (hundreds of active days) push the hypergeometric term of the
        # expected count past float range for the most frequent users: a value that is not
        # finite is left unknown (NaN, which the models handle) rather than warned about
        with np.errstate(all="ignore"):
            values = {
                "bgnbd_logit_alive": _logit(bgnbd.p_alive(params, summary)),
                "bgnbd_logit_no_purchase": _logit(
                    bgnbd.p_no_purchase(params, summary, horizon_days)
                ),
                "bgnbd_expected_purchases": bgnbd.expected_purchases(params, summary, horizon_days),
            }
        for name, value in values.items():
            value = np.asarray(value, dtype=float)
            out.loc[rows, name] = np.where(np.isfinite(value), value, np.nan)
    return out


def bgnbd_baseline_proba(
    train: pd.DataFrame, validation: pd.DataFrame, horizon_days: int
) -> np.ndarray:
    """P(no purchase in the horizon) from BG/NBD fitted on each validation snapshot's own
    histories (frequency, recency, T at that date: no label involved)."""
    cols = list(bgnbd.SUMMARY_COLUMNS)
    y = train[LABEL].to_numpy(dtype=int)
    unscorable_train = train[cols].isna().any(axis=1).to_numpy()
    p = np.full(len(validation), _fallback_rate(y, unscorable_train))
    snapshot = validation[SNAPSHOT].to_numpy()
    for date in np.unique(snapshot):
        rows = (snapshot == date) & validation[cols].notna().all(axis=1).to_numpy()
        if rows.any():
            summary = validation.loc[rows, cols]
            params = bgnbd.fit(summary)
            p[rows] = base.bgnbd_churn_probability(params, summary, horizon_days)
    return p


# --- backtest ---------------------------------------------------------------------------------


def runnable_candidates(frame: pd.DataFrame, models: tuple[str, ...] = CANDIDATES) -> tuple:
    """The candidates `frame` can fit: one that reads only some features runs when the frame
    has them."""
    return tuple(
        m for m in models if m not in FEATURE_SUBSETS or set(FEATURE_SUBSETS[m]) & set(frame)
    )


def fold_predictions(
    frame: pd.DataFrame,
    horizon_days: int,
    baselines: bool = True,
    *,
    n_folds: int = 3,
    min_train_snapshots: int = 2,
    as_of_date: Date | None = None,
    models: tuple[str, ...] = CANDIDATES,
) -> pd.DataFrame:
    """Every validation row's churn probability per fold and model: `fold`, `model`, `kind`
    (candidate / baseline), `user_id`, `snapshot_date`, `label`, `churn_probability`. What
    `backtest` scores, and what a calibration table or lift chart is drawn from. The candidates'
    fits run on `BACKTEST_WORKERS` threads."""
    labelled = _labelled(frame, as_of_date, horizon_days)
    models = runnable_candidates(frame, models)
    folds = split_folds(
        labelled, n_folds, min_train_snapshots=min_train_snapshots, horizon_days=horizon_days
    )

    def candidate(job: tuple[Fold, str]) -> np.ndarray:
        fold, name = job
        model = fit_model(fold.train(labelled), name, max_fit_rows=BACKTEST_FIT_ROWS)
        return model.predict_proba(fold.validation(labelled))

    jobs = [(fold, name) for fold in folds for name in models]
    with ThreadPoolExecutor(max_workers=BACKTEST_WORKERS) as pool:
        # in_thread_limits: without it, two fits ran four OpenMP threads on two cores
        fitted = dict(
            zip(
                ((f.number, n) for f, n in jobs),
                pool.map(functools.partial(in_thread_limits, candidate), jobs),
                strict=True,
            )
        )
    parts = []
    for fold in folds:
        train, validation = fold.train(labelled), fold.validation(labelled)
        predictions: dict[str, tuple[str, np.ndarray]] = {
            name: ("candidate", fitted[fold.number, name]) for name in models
        }
        if baselines:
            predictions["recency"] = ("baseline", recency_baseline_proba(train, validation))
            if has_bgnbd_columns(labelled):
                p = bgnbd_baseline_proba(train, validation, horizon_days)
                predictions["bgnbd"] = ("baseline", p)
        for name, (kind, p) in predictions.items():
            parts.append(
                pd.DataFrame(
                    {
                        "fold": fold.number,
                        "model": name,
                        "kind": kind,
                        USER: validation[USER].to_numpy(),
                        SNAPSHOT: validation[SNAPSHOT].to_numpy(),
                        LABEL: validation[LABEL].to_numpy(),
                        "churn_probability": p,
                        "train_start": fold.train_snapshots[0],
                        "train_end": fold.train_snapshots[-1],
                        "train_snapshots": len(fold.train_snapshots),
                        "validation_start": fold.validation_snapshots[0],
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def score_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """`fold_predictions` summed up: one row per fold and model with `ml.churn.metrics`'
    figures, folds oldest first, candidates before baselines."""
    keys = ["fold", "model", "kind", "validation_start", "train_start", "train_end"]
    rows = []
    for key, group in predictions.groupby(keys, sort=False):
        figures = metrics.evaluate(group[LABEL].to_numpy(), group["churn_probability"].to_numpy())
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "train_snapshots": group["train_snapshots"].iat[0],
            }
            | {k: figures[k] for k in METRIC_COLUMNS}
        )
    return pd.DataFrame(rows)


def backtest(
    frame: pd.DataFrame,
    horizon_days: int,
    baselines: bool = True,
    *,
    n_folds: int = 3,
    min_train_snapshots: int = 2,
    as_of_date: Date | None = None,
    models: tuple[str, ...] = CANDIDATES,
) -> pd.DataFrame:
    """The temporal backtest as a tidy table: per fold and model (the candidates, then the
    recency and, with BG/NBD's columns, the BG/NBD baselines) ROC AUC, PR AUC, Brier, log loss,
    top-decile lift, churn rate and rows, with the fold's validation and training dates."""
    predictions = fold_predictions(
        frame,
        horizon_days,
        baselines,
        n_folds=n_folds,
        min_train_snapshots=min_train_snapshots,
        as_of_date=as_of_date,
        models=models,
    )
    return score_predictions(predictions)


def latest_fold(results: pd.DataFrame) -> pd.DataFrame:
    """The rows of the latest fold, indexed by model."""
    return results[results["fold"] == results["fold"].max()].set_index("model")


def choose_model(results: pd.DataFrame) -> str:
    """The candidate with the best ROC AUC on the latest fold; ties go to the lower Brier
    score, then to the name (so the choice never depends on row order). Baselines are not
    candidates: they are what a candidate must beat (`ml.churn.gates`)."""
    latest = latest_fold(results[results["kind"] == "candidate"]).reset_index()
    if latest.empty:
        raise ValueError("choose_model: the backtest has no candidate model")
    ranked = latest.sort_values(["roc_auc", "brier", "model"], ascending=[False, True, True])
    return str(ranked["model"].iat[0])
