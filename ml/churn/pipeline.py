"""The churn steps end to end on a warehouse, without Dagster: read the point-in-time features
and labels dbt built (`features` schema), train and gate a model, score the as-of date, and
write what the churn marts read (`ml` schema). `orchestration.churn` calls these as assets.

Tables written (schema `ml`, dbt sources of the churn marts):

- `ml.churn_scores`: one row per user per as-of date scored (a rerun for the same date
  replaces that date's rows): probability, risk tier, top 3 reasons, model version;
- `ml.churn_model_evaluation`: one row per model version, fold and model (the candidates and
  the baselines) with the backtest's figures; a version trained again replaces its rows;
- `ml.churn_calibration`: predicted vs observed churn by bin, per model version, fold, model.

Settings come from `features.churn_settings`, the one row the dbt build resolved, so the
training, the scores and the features always agree on the horizon, the events and the tiers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ml.churn import gates, registry, train
from ml.churn.dataset import LABEL, SNAPSHOT, USER

SCHEMA = "ml"
# scikit-learn's OpenMP threads (train.THREADS: one), for this module's callers
THREADS = train.THREADS
N_FOLDS = 3
RISK_TIERS = ("high", "medium", "low")
# the fallback when the first candidate ever is blocked: the better baseline as a model that
# can be saved and scored, calibrated like the candidates (recency alone, or BG/NBD's log-odds)
FALLBACKS = {
    "recency": ("logistic", ("days_since_last_activity",)),
    "bgnbd": ("bgnbd_calibrated", train.BGNBD_FEATURES),
}

TABLES = {
    "churn_scores": """user_id varchar not null, as_of_date date not null,
        churn_probability double not null, risk_tier varchar not null,
        reason_1 varchar, reason_2 varchar, reason_3 varchar,
        feature_1 varchar, feature_2 varchar, feature_3 varchar,
        model_version varchar not null, model_name varchar not null, scored_at timestamp not null""",
    "churn_model_evaluation": """model_version varchar not null, trained_as_of date not null,
        fold integer not null, model varchar not null, kind varchar not null,
        is_chosen boolean not null, is_promoted boolean not null,
        validation_start date not null, train_start date not null, train_end date not null,
        train_snapshots integer not null, roc_auc double, pr_auc double, brier double,
        log_loss double, top_decile_lift double, churn_rate double, n bigint not null""",
    "churn_calibration": """model_version varchar not null, fold integer not null,
        model varchar not null, kind varchar not null, bin integer not null,
        bin_lower double, bin_upper double, users bigint not null, mean_predicted double,
        observed_rate double""",
}


class ChurnDataError(ValueError):
    """The features or labels cannot train or score a model; the message says why."""


class HistoryTooShort(ChurnDataError):
    """Not enough labelled history for one backtest fold: the run goes on without scores."""


def feasible_folds(frame: pd.DataFrame, horizon_days: int, wanted: int = N_FOLDS) -> int:
    """The most folds (up to `wanted`) the labelled snapshots allow, each with at least two
    training snapshots whose window closed before its validation date; `HistoryTooShort`
    when not even one fits."""
    from ml.churn.dataset import split_folds

    snapshots = frame[SNAPSHOT].nunique() if len(frame) else 0
    for n in range(wanted, 0, -1):
        try:
            split_folds(frame, n, horizon_days=horizon_days)
            return n
        except ValueError:
            continue
    raise HistoryTooShort(
        f"{snapshots} labelled snapshot(s) are too few to backtest a {horizon_days}-day horizon: "
        f"a fold needs two training snapshots at least {horizon_days} days before its "
        f"validation snapshot, so about {2 * horizon_days + 14} days of history before the "
        f"last {horizon_days}; no churn model is trained or scored until there is "
        "(or lower churn_horizon_days)"
    )


@dataclass(frozen=True)
class ChurnSettings:
    as_of_date: dt.date
    horizon_days: int
    activity_events: tuple[str, ...] | None
    snapshot_every_days: int
    training_snapshots: int
    retrain_every_days: int
    high_risk_min: float
    medium_risk_min: float


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    for name, columns in TABLES.items():
        con.execute(f"create table if not exists {SCHEMA}.{name} ({columns})")


def read_settings(con: duckdb.DuckDBPyConnection) -> ChurnSettings:
    row = con.execute(
        "select as_of_date, horizon_days, activity_events, snapshot_every_days, "
        "training_snapshots, retrain_every_days, high_risk_min, medium_risk_min "
        "from features.churn_settings"
    ).fetchone()
    if row is None:
        raise ChurnDataError("features.churn_settings is empty: run the dbt build first")
    events = tuple(row[2]) if row[2] is not None else None
    return ChurnSettings(row[0], int(row[1]), events, *map(int, row[3:6]), *map(float, row[6:]))


def training_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The labelled training snapshots: features joined to their labels, in a fixed order."""
    frame = con.execute(
        "select features.*, labels.label from features.churn_features as features "
        "inner join features.churn_labels as labels using (user_id, snapshot_date) "
        "order by features.snapshot_date, features.user_id"
    ).df()
    frame[SNAPSHOT] = pd.to_datetime(frame[SNAPSHOT])
    return frame


def scoring_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The features of every known user on the as-of date (the scoring snapshot)."""
    frame = con.execute(
        "select features.* from features.churn_features as features "
        "inner join features.churn_snapshots as snapshots using (snapshot_date) "
        "where snapshots.is_scoring order by features.user_id"
    ).df()
    frame[SNAPSHOT] = pd.to_datetime(frame[SNAPSHOT])
    return frame


def registry_folder(warehouse: str | Path) -> Path:
    """Where the model versions of a warehouse live: beside it, never in git."""
    path = Path(warehouse)
    return path.parent / f"{path.stem}_models" / "churn"


def _feature_names(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in (USER, SNAPSHOT, LABEL)]


def retrain_reason(
    card: dict | None,
    settings: ChurnSettings,
    features: list[str],
    today: dt.date | dt.datetime,
    force: bool = False,
) -> str | None:
    """Why a new model is trained today, or None when the current one keeps scoring."""
    if force:
        return "asked for (--retrain)"
    if card is None:
        return "no model yet"
    if card.get("horizon_days") != settings.horizon_days:
        return f"the horizon changed ({card.get('horizon_days')} -> {settings.horizon_days} days)"
    extra = card.get("extra", {})
    if extra.get("input_features", card.get("features")) != features and not extra.get("fallback"):
        return "the feature list changed"
    if card.get("extra", {}).get("fallback") and registry.needs_retraining(card, today, 1):
        return "the current model is the recency fallback; trying the candidates again"
    if registry.needs_retraining(card, today, settings.retrain_every_days):
        return f"the current model is {settings.retrain_every_days} or more days old"
    return None


@dataclass
class TrainingOutcome:
    card: dict  # the candidate's card (saved whether or not it was promoted)
    promoted: bool
    gate_passed: bool
    gate_reasons: list[str]
    results: pd.DataFrame  # the backtest, one row per fold and model
    predictions: pd.DataFrame  # fold_predictions
    chosen: str
    fallback_card: dict | None = None  # the recency fallback, when it was promoted instead
    seconds: dict[str, float] = field(default_factory=dict)
    meanwhile: Any = None  # what train_and_gate's `meanwhile` returned

    @property
    def scoring_card(self) -> dict | None:
        if self.promoted:
            return self.card
        return self.fallback_card


def train_and_gate(
    frame: pd.DataFrame,
    settings: ChurnSettings,
    folder: str | Path,
    *,
    created_at: dt.datetime,
    has_current: bool,
    n_folds: int = N_FOLDS,
    meanwhile: Callable[[pd.DataFrame], Any] | None = None,
) -> TrainingOutcome:
    """Backtest the candidates and the baselines, fit the chosen candidate on every labelled
    snapshot, save it, and promote it if it passes the gate. When it is blocked and no model
    was promoted before, the recency fallback is fitted, saved and promoted instead, so that
    every user still gets a calibrated probability.

    `meanwhile(predictions)`, when given, runs on the backtest's predictions while the final
    model fits in another thread (the fit's loops release the GIL: the charts of a backtest
    cost no time on the demo's 6.5 s fit); its result is the outcome's `meanwhile`."""

    n_folds = feasible_folds(frame, settings.horizon_days, n_folds)
    frame = train.with_bgnbd_features(frame, settings.horizon_days)
    with threadpool_limits(THREADS):
        return _train_and_gate(frame, settings, folder, created_at, has_current, n_folds, meanwhile)


def _train_and_gate(
    frame, settings, folder, created_at, has_current, n_folds, meanwhile=None
) -> TrainingOutcome:
    import time

    timings = {}
    started = time.perf_counter()
    try:
        predictions = train.fold_predictions(frame, settings.horizon_days, n_folds=n_folds)
    except ValueError as exc:
        raise ChurnDataError(f"backtest: {exc}") from None
    results = train.score_predictions(predictions)
    timings["backtest"] = time.perf_counter() - started
    chosen = train.choose_model(results)
    candidate, baselines = gates.gate_metrics(results, chosen)
    passed, reasons = gates.promotion_gate(candidate, baselines)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="winback-final-fit") as pool:
        fitting = pool.submit(train.in_thread_limits, train.fit_final, frame, chosen)
        alongside = meanwhile(predictions) if meanwhile is not None else None
        model = fitting.result()
    timings["final_fit"] = time.perf_counter() - started
    extra = {
        # every feature column the training set had (the model leaves out those with no value)
        "input_features": [c for c in _feature_names(frame) if c not in train.BGNBD_FEATURES],
        "reference_score_quantiles": reference_quantiles(model, frame),
        "as_of_date": settings.as_of_date.isoformat(),
        "activity_events": list(settings.activity_events or []),
        "gate": {"passed": passed, "reasons": reasons},
        "chosen_on": "ROC AUC on the latest fold, then Brier",
    }
    card = registry.save(
        folder,
        model,
        created_at=created_at,
        horizon_days=settings.horizon_days,
        metrics=results,
        extra=extra,
    )
    outcome = TrainingOutcome(card, False, passed, reasons, results, predictions, chosen)
    outcome.seconds = timings
    outcome.meanwhile = alongside
    if passed:
        registry.promote(folder, card["id"], promoted_at=created_at)
        outcome.promoted = True
    elif not has_current:
        # the better baseline (by Brier score on the latest fold), as a calibrated model
        better = min(baselines, key=lambda name: (baselines[name]["brier"], name))
        name, features = FALLBACKS["bgnbd" if better == "bgnbd" else "recency"]
        columns = [USER, SNAPSHOT, *[c for c in features if c in frame], LABEL]
        fallback = train.fit_final(frame[columns], name)
        fallback_card = registry.save(
            folder,
            fallback,
            created_at=created_at,
            horizon_days=settings.horizon_days,
            metrics=results,
            extra={
                **extra,
                "reference_score_quantiles": reference_quantiles(fallback, frame),
                "fallback": f"the {better} baseline (the candidate was blocked)",
            },
        )
        registry.promote(folder, fallback_card["id"], promoted_at=created_at)
        outcome.fallback_card = fallback_card
    return outcome


def risk_tiers(p: np.ndarray, settings: ChurnSettings) -> np.ndarray:
    high, medium, low = RISK_TIERS
    return np.where(
        p >= settings.high_risk_min,
        high,
        np.where(p >= settings.medium_risk_min, medium, low),
    )


def write_evaluation(
    con: duckdb.DuckDBPyConnection, outcome: TrainingOutcome, settings: ChurnSettings
) -> None:
    """The backtest of a version, and its calibration, replacing that version's rows."""
    from ml.churn.score import calibration_table

    ensure_tables(con)
    version = outcome.card["id"]
    evaluation = outcome.results.copy()
    evaluation.insert(0, "model_version", version)
    evaluation.insert(1, "trained_as_of", pd.Timestamp(settings.as_of_date))
    evaluation["is_chosen"] = evaluation["model"] == outcome.chosen
    evaluation["is_promoted"] = evaluation["is_chosen"] & outcome.promoted
    calibration = calibration_table(outcome.predictions)
    calibration.insert(0, "model_version", version)
    _replace(con, "churn_model_evaluation", evaluation, "model_version", version)
    _replace(con, "churn_calibration", calibration, "model_version", version)


# each table's column names, in order, from its DDL above
COLUMNS = {name: [c.split()[0] for c in ddl.split(",")] for name, ddl in TABLES.items()}


def _replace(con, table: str, frame: pd.DataFrame, key: str, value) -> None:
    """Replace the rows of `table` whose `key` is `value` with `frame`, in one transaction."""
    columns = ", ".join(COLUMNS[table])
    con.register("incoming_rows", frame[COLUMNS[table]])
    con.execute("begin transaction")
    try:
        con.execute(f"delete from {SCHEMA}.{table} where {key} = ?", [value])
        con.execute(f"insert into {SCHEMA}.{table} ({columns}) select {columns} from incoming_rows")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("incoming_rows")


def score(
    frame: pd.DataFrame, folder: str | Path, settings: ChurnSettings, scored_at: dt.datetime
) -> tuple[pd.DataFrame, dict]:
    """Every user of the scoring frame scored by the current version, with tier and reasons."""
    from ml.churn.score import score_users

    card = registry.current(folder)
    if card is None:
        raise ChurnDataError(f"no churn model has been promoted under {folder}: train first")
    model, card = registry.load(folder, card["id"])
    if frame.empty:
        raise ChurnDataError(
            f"no known user on the as-of date {settings.as_of_date}: nothing to score"
        )
    frame = train.with_bgnbd_features(frame, settings.horizon_days)
    with threadpool_limits(THREADS):
        scores = score_users(model, frame, settings.as_of_date, card["id"])
    scores["risk_tier"] = risk_tiers(scores["churn_probability"].to_numpy(), settings)
    scores["model_name"] = model.name
    scores["scored_at"] = pd.Timestamp(scored_at).tz_localize(None)
    return scores, card


def write_scores(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame, as_of: dt.date) -> None:
    ensure_tables(con)
    frame = scores.copy()
    frame["as_of_date"] = pd.Timestamp(as_of)
    _replace(con, "churn_scores", frame, "as_of_date", pd.Timestamp(as_of).date())


REFERENCE_POINTS = 201


def reference_quantiles(model: train.ChurnModel, frame: pd.DataFrame) -> list[float]:
    """The model's probabilities on its latest training snapshot, as 201 evenly spaced
    quantiles: the reference the drift check compares today's scores with (kept in the card,
    so scoring never re-reads the training set)."""
    latest = frame[frame[SNAPSHOT] == frame[SNAPSHOT].max()]
    p = model.predict_proba(latest)
    return [float(q) for q in np.quantile(p, np.linspace(0, 1, REFERENCE_POINTS))]


def score_drift(card: dict, scores: np.ndarray) -> float | None:
    """PSI between the version's training scores and today's (None for an old card)."""
    reference = card.get("extra", {}).get("reference_score_quantiles")
    if not reference:
        return None
    return gates.population_stability_index(np.asarray(reference), scores)


def describe_card(card: dict) -> str:
    window = card.get("training_window", {})
    return (
        f"{card['model_name']} {card['id']} (trained {card['created_at'][:10]} on "
        f"{window.get('snapshots')} snapshots {window.get('first_snapshot')} to "
        f"{window.get('last_snapshot')}, {window.get('rows'):,} rows)"
    )
