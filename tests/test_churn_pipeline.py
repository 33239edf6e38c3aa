"""Churn risk through the real pipeline: a generated product (800 users, 100 days) ingested
and built by `run_pipeline` (Dagster assets, a real `dbt build`, the churn assets, the churn
marts' checks, the publication), then the training, gate and scoring steps of
`ml.churn.pipeline` on that warehouse's real features and labels."""

import datetime as dt
import shutil

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.churn import registry
from ml.churn.pipeline import (
    ChurnSettings,
    HistoryTooShort,
    feasible_folds,
    read_settings,
    registry_folder,
    retrain_reason,
    score,
    train_and_gate,
    training_frame,
)
from orchestration.churn import ChurnModelConfig, churn_model, churn_scores, churn_training_set
from orchestration.dbt import winback_churn_marts
from orchestration.runner import _run_resources, run_pipeline
from tests.instances import pooled_instance
from winback.generate import generate
from winback.settings import load_config

START = dt.date(2025, 1, 6)
DAYS = 100
AS_OF = START + dt.timedelta(days=DAYS - 1)
NOW = dt.datetime(2025, 5, 10, tzinfo=dt.UTC)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("churn")
    landing, truth = root / "landing", root / "truth"
    generate(landing, truth, users=800, days=DAYS, start=START, seed=11, dirty_share=0.0)
    config = load_config(
        {
            "landing_dir": str(landing),
            "warehouse": str(root / "warehouse.duckdb"),
            "publish_dir": str(root / "published"),
            "truth_dir": str(truth),
            "as_of_date": AS_OF.isoformat(),
            "now": NOW.isoformat(),
        }
    )
    instance = pooled_instance(root / "dagster_home")
    summary = run_pipeline(config, instance=instance, progress=lambda m: None)
    assert summary.success, summary.errors
    return {"config": config, "summary": summary, "instance": instance}


def query(run, sql: str, params=None) -> pd.DataFrame:
    with duckdb.connect(str(run["config"].warehouse), read_only=True) as con:
        return con.execute(sql, params or []).df()


def frames(run) -> tuple[pd.DataFrame, ChurnSettings]:
    with duckdb.connect(str(run["config"].warehouse), read_only=True) as con:
        return training_frame(con), read_settings(con)


def scoring(run) -> pd.DataFrame:
    from ml.churn.pipeline import scoring_frame

    with duckdb.connect(str(run["config"].warehouse), read_only=True) as con:
        return scoring_frame(con)


def test_every_known_user_is_scored_by_the_promoted_version_and_published(run):
    summary, config = run["summary"], run["config"]
    assert {"churn_scores", "churn_model_evaluation", "churn_calibration"} <= set(summary.published)
    known = query(
        run,
        "select count(*) as n from marts.users where least(signup_date, first_active_date) <= ?",
        [AS_OF],
    )["n"][0]
    scores = query(run, "select * from marts.churn_scores")
    assert len(scores) == scores["user_id"].nunique() == known == 800
    assert (scores["as_of_date"] == pd.Timestamp(AS_OF)).all()
    assert scores["churn_probability"].between(0, 1).all()
    assert set(scores["risk_tier"]) <= {"high", "medium", "low"}
    # the tiers follow the cut-offs
    high = scores["churn_probability"] >= 0.6
    medium = ~high & (scores["churn_probability"] >= 0.3)
    assert (scores.loc[high, "risk_tier"] == "high").all()
    assert (scores.loc[medium, "risk_tier"] == "medium").all()
    current = registry.current(registry_folder(config.warehouse))
    assert set(scores["model_version"]) == {current["id"]}
    # a reason is a sentence about a feature of the model
    named = scores.dropna(subset=["reason_1"])
    assert len(named) > 0.5 * len(scores)
    assert set(named["feature_1"]) <= set(current["features"])
    # the published file holds the same rows
    published = pd.read_parquet(config.publish_dir / "parquet" / "churn_scores.parquet")
    assert len(published) == len(scores)


def test_the_evaluation_holds_the_three_candidates_and_both_baselines_per_fold(run):
    evaluation = query(run, "select * from marts.churn_model_evaluation")
    assert set(evaluation["model"]) == {"logistic", "hgb", "bgnbd_calibrated", "recency", "bgnbd"}
    per_fold = evaluation.groupby("fold")["model"].nunique()
    assert (per_fold == 5).all() and len(per_fold) >= 1
    assert evaluation["roc_auc"].between(0, 1).all()
    chosen = evaluation[evaluation["is_chosen"]]
    assert chosen["model"].nunique() == 1 and set(chosen["kind"]) == {"candidate"}
    # the gate's verdict as recorded = the gate's rule on the recorded figures
    latest = evaluation[evaluation["fold"] == evaluation["fold"].max()].set_index("model")
    name = chosen["model"].iat[0]
    rule = latest.at[name, "roc_auc"] > latest.at["recency", "roc_auc"] and latest.at[
        name, "brier"
    ] <= min(latest.at["recency", "brier"], latest.at["bgnbd", "brier"])
    assert bool(latest.at[name, "is_promoted"]) == rule
    calibration = query(run, "select * from marts.churn_calibration")
    # every model of a fold is judged on the same rows: the bins of each hold them all
    per_model = calibration.groupby(["fold", "model"])["users"].sum()
    assert (per_model.groupby("fold").nunique() == 1).all()
    rows = evaluation.groupby("fold")["validation_rows"].first()
    assert (per_model.groupby("fold").first() == rows).all()


def test_same_inputs_give_the_same_model_and_bit_identical_scores(run, tmp_path):
    frame, settings = frames(run)
    today = scoring(run)
    cards, scores = [], []
    for name in ("a", "b"):
        folder = tmp_path / name
        outcome = train_and_gate(frame, settings, folder, created_at=NOW, has_current=False)
        cards.append(outcome.card)
        scores.append(score(today, folder, settings, NOW)[0])
    assert cards[0]["id"] == cards[1]["id"]
    pd.testing.assert_frame_equal(scores[0], scores[1], check_exact=True)


def test_a_model_trained_on_shuffled_labels_is_blocked_and_the_previous_keeps_scoring(
    run, tmp_path
):
    frame, settings = frames(run)
    folder = tmp_path / "models"
    shutil.copytree(registry_folder(run["config"].warehouse), folder)
    previous = registry.current(folder)
    # the labels the models learn from are shuffled (within each snapshot); the validation
    # snapshots of the backtest (the latest three) keep the true ones it is judged on
    shuffled = frame.copy()
    rng = np.random.default_rng(0)
    validation = sorted(frame["snapshot_date"].unique())[-3:]
    learn = ~shuffled["snapshot_date"].isin(validation)
    shuffled.loc[learn, "label"] = (
        shuffled[learn]
        .groupby("snapshot_date")["label"]
        .transform(lambda s: rng.permutation(s.to_numpy()))
        .to_numpy(dtype=shuffled["label"].dtype)
    )
    assert (shuffled["label"] != frame["label"]).sum() > 100
    outcome = train_and_gate(
        shuffled, settings, folder, created_at=NOW + dt.timedelta(days=8), has_current=True
    )
    assert not outcome.gate_passed and not outcome.promoted
    # blocked by one rule or both: a model of BG/NBD's features alone can keep BG/NBD's ranking
    # by the luck of a coefficient's sign, but not honest probabilities
    assert any(r.startswith("blocked:") for r in outcome.gate_reasons), outcome.gate_reasons
    assert outcome.card["id"] != previous["id"]
    assert (folder / outcome.card["id"] / "card.json").exists()  # kept for a look
    assert registry.current(folder)["id"] == previous["id"]
    scores, card = score(scoring(run), folder, settings, NOW)
    assert card["id"] == previous["id"]
    assert set(scores["model_version"]) == {previous["id"]}


def test_retraining_is_decided_by_age_horizon_features_and_the_flag(run):
    _, settings = frames(run)
    card = registry.current(registry_folder(run["config"].warehouse))
    features = list(card["extra"]["input_features"])  # the columns churn_features had
    created = pd.Timestamp(card["created_at"]).to_pydatetime()
    assert retrain_reason(None, settings, features, created) == "no model yet"
    assert retrain_reason(card, settings, features, created) is None
    assert retrain_reason(card, settings, features, created, force=True).startswith("asked")
    later = created + dt.timedelta(days=settings.retrain_every_days)
    assert "days old" in retrain_reason(card, settings, features, later)
    assert retrain_reason(card, settings, features, later - dt.timedelta(days=1)) is None
    longer = ChurnSettings(**{**settings.__dict__, "horizon_days": 60})
    assert "horizon changed" in retrain_reason(card, longer, features, created)
    assert "feature list" in retrain_reason(card, settings, features[:-1], created)


def test_a_history_shorter_than_two_horizons_trains_nothing_and_says_why(run):
    frame, settings = frames(run)
    first = frame["snapshot_date"].min()
    short = frame[frame["snapshot_date"] <= first + pd.Timedelta(days=14)]
    with pytest.raises(HistoryTooShort, match="too few to backtest a 30-day horizon"):
        feasible_folds(short, settings.horizon_days)
    assert feasible_folds(frame, settings.horizon_days) >= 1


def test_rerun_with_retrain_gives_the_same_version_and_no_duplicate_rows(run):
    config, instance = run["config"], run["instance"]
    before = query(run, "select * from marts.churn_scores order by user_id")
    evaluation = query(run, "select count(*) as n from ml.churn_model_evaluation")["n"][0]
    # the churn steps and the churn marts again (the features are as they were built)
    result = dg.materialize(
        [churn_training_set, churn_model, churn_scores, winback_churn_marts],
        instance=instance,
        resources=_run_resources(config),
        run_config=dg.RunConfig(ops={churn_model.op.name: ChurnModelConfig(retrain=True)}),
        raise_on_error=False,
    )
    assert result.success
    model = [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.event_specific_data.materialization.asset_key == dg.AssetKey(["ml", "churn_model"])
    ][0]
    assert model.metadata["trained"].value is True
    after = query(run, "select * from marts.churn_scores order by user_id")
    columns = [c for c in before.columns if c != "scored_at"]
    pd.testing.assert_frame_equal(before[columns], after[columns], check_exact=True)
    assert query(run, "select count(*) as n from ml.churn_model_evaluation")["n"][0] == evaluation
    assert query(run, "select count(distinct as_of_date) as n from ml.churn_scores")["n"][0] == 1


def test_the_ml_tables_dbt_creates_match_the_ones_python_writes():
    """dbt's on-run-start creates the `ml` source tables empty (macros/churn/ensure_ml_sources)
    with the same columns and types as ml.churn.pipeline.TABLES."""
    import re
    from pathlib import Path

    from ml.churn.pipeline import ensure_tables
    from orchestration.project import DBT_PROJECT_DIR

    macro = (Path(DBT_PROJECT_DIR) / "macros" / "churn" / "ensure_ml_sources.sql").read_text()
    statements = re.findall(r"create (?:schema|table) if not exists [^;]+;", macro)
    assert len(statements) == 4

    def columns(con) -> list[tuple]:
        return con.execute(
            "select table_name, column_name, data_type, is_nullable from information_schema.columns "
            "where table_schema = 'ml' order by table_name, ordinal_position"
        ).fetchall()

    with duckdb.connect() as dbt_side, duckdb.connect() as python_side:
        for statement in statements:
            dbt_side.execute(statement)
        ensure_tables(python_side)
        assert columns(dbt_side) == columns(python_side)
        assert len(columns(dbt_side)) > 30
