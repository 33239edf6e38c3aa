"""Daily churn scoring (ml/churn/score.py, reasons.py, plots.py): probabilities and reasons of
real fitted models on the benchmark's synthetic population (every feature column of the
feature model), the trees' fast median swap against the prediction-based one, and the
calibration and lift tables on hand-made predictions with known answers."""

import io

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from benchmarks.churn_scoring import synthetic_frame
from ml.churn import metrics, plots, reasons, score, train


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One OpenMP / BLAS thread, as in tests/test_churn_models.py (shared 2-core machine)."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def models():
    training = synthetic_frame(3_000, snapshots=4, seed=11)
    return {name: train.fit_final(training, name) for name in ("logistic", "hgb")}


@pytest.fixture(scope="module")
def population():
    return synthetic_frame(2_000, seed=12, labelled=False).sample(frac=1.0, random_state=3)


# --- score_users ------------------------------------------------------------------------------


def test_one_row_per_user_in_order_bit_for_bit_deterministic(models, population):
    for name, model in models.items():
        scored = score.score_users(model, population, "2025-02-01", f"v-{name}")
        assert list(scored.columns) == list(score.SCORE_COLUMNS)
        assert len(scored) == len(population)
        assert scored["user_id"].tolist() == population["user_id"].tolist()
        assert scored["churn_probability"].dtype == np.float64
        assert np.array_equal(scored["churn_probability"], model.predict_proba(population))
        assert (scored["as_of_date"] == pd.Timestamp("2025-02-01")).all()
        assert (scored["model_version"] == f"v-{name}").all()
        assert score.score_users(model, population.iloc[:0], "2025-02-01", "v").empty
        again = score.score_users(model, population, "2025-02-01", f"v-{name}")
        pd.testing.assert_frame_equal(scored, again, check_exact=True)
        # a user's row does not depend on who else is scored: bit for bit for the trees; the
        # logistic regression's own predict_proba (BLAS) can differ in the last bit
        some = population.iloc[::7]
        alone = score.score_users(model, some, "2025-02-01", f"v-{name}")
        pd.testing.assert_frame_equal(
            alone,
            scored.iloc[::7].reset_index(drop=True),
            check_exact=name == "hgb",
            rtol=1e-14,
        )


def test_reasons_name_only_features_that_raise_the_risk(models, population):
    for name, model in models.items():
        scored = score.score_users(model, population, "2025-02-01", "v")
        push = reasons.contributions(model, population).reset_index(drop=True)
        positive = (push > 0).sum(axis=1).to_numpy()
        for k in (1, 2, 3):
            feature = scored[f"feature_{k}"]
            named = feature.notna().to_numpy()
            # a reason exactly where at least k features raise the risk
            assert np.array_equal(named, positive >= k), (name, k)
            assert scored[f"reason_{k}"].notna().to_numpy().tolist() == named.tolist()
            values = np.array(
                [push.at[i, f] for i, f in zip(np.flatnonzero(named), feature[named], strict=True)]
            )
            assert (values > 0).all(), (name, k)
        first = scored["feature_1"].notna()
        assert (
            scored.loc[first, "feature_1"].to_numpy() == push[first].idxmax(axis=1).to_numpy()
        ).all()
        print(
            f"\n{name}: reasons filled "
            + ", ".join(f"{scored[f'reason_{k}'].notna().mean():.1%}" for k in (1, 2, 3))
        )


def test_top_raising_ranks_positive_contributions_ties_to_the_earlier_feature():
    push = np.array(
        [
            [0.3, -0.1, 0.3, 0.0, 0.5],
            [-0.2, -0.1, 0.0, 0.0, -0.3],
            [0.0, 0.1, -0.5, 0.0, 0.0],
        ]
    )
    assert reasons._top_raising(push, 3).tolist() == [[4, 0, 2], [-1, -1, -1], [1, -1, -1]]


def test_fast_tree_swap_equals_the_prediction_based_swap(models, population):
    model = models["hgb"]
    x = model.matrix(population).to_numpy()
    assert reasons._fast_trees(model, x) is not None  # the fast path is the one in use
    fast = reasons.contributions(model, population).to_numpy()
    slow = reasons._median_swap_by_prediction(model, x)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    # hence the same first reason for every user
    assert (reasons._top_raising(fast, 1) == reasons._top_raising(slow, 1)).mean() == 1.0


def test_a_model_the_code_tables_cannot_hold_falls_back_to_prediction(
    models, population, monkeypatch
):
    model, rows = models["hgb"], population.head(300)
    fast = score.score_users(model, rows, "2025-02-01", "v")
    monkeypatch.setattr(reasons, "_MAX_SPLITS", 2)
    assert reasons._fast_trees(model, model.matrix(rows).to_numpy()) is None
    slow = score.score_users(model, rows, "2025-02-01", "v")
    pd.testing.assert_frame_equal(fast, slow)


def test_every_feature_of_the_feature_model_has_a_template():
    """Every column churn_features documents (dbt) and BG/NBD's features have a sentence."""
    import yaml

    from orchestration.project import DBT_PROJECT_DIR

    models = yaml.safe_load(
        (DBT_PROJECT_DIR / "models" / "features" / "_features__models.yml").read_text()
    )["models"]
    (features_model,) = [m for m in models if m["name"] == "churn_features"]
    features = [
        c["name"]
        for c in features_model["columns"]
        if c["name"] not in ("user_id", "snapshot_date")
    ] + list(train.BGNBD_FEATURES)
    assert len(features) > 60
    assert [f for f in features if f not in reasons.REASON_TEMPLATES] == []


def test_new_reason_sentences():
    s = reasons.sentence
    assert s("has_unresolved_payment_failure", 1, 0) == "payment failed and not fixed since"
    assert s("has_unresolved_payment_failure", 0, 0) == "no unresolved payment failure"
    assert s("survey_reason_complexity", 1, 0) == "said it was too complex in the survey"
    assert s("is_value_high", 0, 1) == "not a high-value customer"
    # changes read by their sign, not against the typical change
    assert s("activity_change_28", -0.05, -0.2) == "active days down 5 % vs the previous 4 weeks"
    assert s("activity_change_28", 0.25, 0.5) == "active days up 25 % vs the previous 4 weeks"
    assert s("usage_change_pct", -45.0, 3.0) == "usage down 45 % vs the previous period"
    assert s("active_days_28", 1, 6) == "active only 1 of the last 28 days (typical: 6)"
    assert s("events_28", 0, 40) == "no event in 28 days"
    assert s("active_days_total", 1, 30) == "only 1 active day so far (typical: 30)"
    assert s("days_since_last_message_open", np.nan, 12) == "never opened one of our messages"
    assert (
        s("drop_ratio", 0.25, 0.8)
        == "active only 25 % as much in their last 4 weeks before stopping as at their best "
        "(typical: 80 %)"
    )


# --- calibration and lift tables --------------------------------------------------------------


def _predictions(n: int = 100, churners: int = 30) -> pd.DataFrame:
    """Two models on one fold: `perfect` (p = label) and `constant` (p = 0.25 for all)."""
    label = np.r_[np.ones(churners), np.zeros(n - churners)].astype(int)
    label = np.random.default_rng(0).permutation(label)
    parts = [
        pd.DataFrame(
            {"model": m, "kind": "candidate", "fold": 3, "label": label, "churn_probability": p}
        )
        for m, p in (("perfect", label.astype(float)), ("constant", np.full(n, 0.25)))
    ]
    return pd.concat(parts, ignore_index=True)


def test_calibration_table_by_hand():
    table = score.calibration_table(_predictions())
    assert list(table.columns) == [
        "model", "kind", "fold", "bin", "bin_lower", "bin_upper", "users",
        "mean_predicted", "observed_rate",
    ]  # fmt: skip
    perfect = table[table["model"] == "perfect"]
    assert perfect[["bin", "users", "mean_predicted", "observed_rate"]].values.tolist() == [
        [0, 70, 0.0, 0.0],
        [9, 30, 1.0, 1.0],
    ]
    constant = table[table["model"] == "constant"].iloc[0]
    assert (constant["bin"], constant["users"]) == (2, 100)
    assert constant["bin_lower"] == pytest.approx(0.2) and constant["bin_upper"] == pytest.approx(
        0.3
    )
    assert (constant["mean_predicted"], constant["observed_rate"]) == (0.25, 0.3)


def test_lift_table_by_hand():
    table = score.lift_table(_predictions())
    perfect = table[table["model"] == "perfect"]
    assert perfect["decile"].tolist() == list(range(1, 11))
    assert (perfect["users"] == 10).all()
    assert perfect["churn_rate"].tolist() == [1.0] * 3 + [0.0] * 7
    np.testing.assert_allclose(perfect["lift"], [1 / 0.3] * 3 + [0.0] * 7)
    np.testing.assert_allclose(perfect["cumulative_capture"], [1 / 3, 2 / 3] + [1.0] * 8)
    # a constant score ranks nobody: every decile at the overall rate
    constant = table[table["model"] == "constant"]
    np.testing.assert_allclose(constant["lift"], 1.0)
    np.testing.assert_allclose(constant["cumulative_capture"], np.arange(1, 11) / 10)


def test_lift_of_decile_one_is_the_metrics_top_decile_lift_with_ties():
    rng = np.random.default_rng(4)
    label = rng.integers(0, 2, 105)
    p = np.round(np.clip(label * 0.3 + rng.random(105) * 0.7, 0, 1), 1)  # many ties
    predictions = pd.DataFrame(
        {"model": "m", "kind": "candidate", "fold": 1, "label": label, "churn_probability": p}
    )
    table = score.lift_table(predictions)
    assert table["users"].sum() == 105
    assert table["lift"].iat[0] == pytest.approx(metrics.top_share_lift(label, p))
    assert table["cumulative_capture"].iat[-1] == pytest.approx(1.0)
    # reordering the rows changes nothing
    shuffled = score.lift_table(predictions.sample(frac=1.0, random_state=1))
    pd.testing.assert_frame_equal(table, shuffled)


def test_plots_return_figures():
    from matplotlib.figure import Figure

    predictions = pd.concat(
        [_predictions().assign(fold=2), _predictions().assign(fold=3)], ignore_index=True
    )
    for fig in (
        plots.calibration_figure(score.calibration_table(predictions)),
        plots.lift_figure(score.lift_table(predictions)),
    ):
        assert isinstance(fig, Figure)
        assert "fold 3" in fig.axes[0].get_title()
        fig.savefig(io.BytesIO(), format="png")


def test_a_model_with_fewer_features_than_reasons_leaves_the_other_reasons_empty(population):
    """The recency fallback (promoted when the first candidate is blocked, e.g. on a small
    product's data) has one feature: it is scored with one reason, not refused."""
    from ml.churn.dataset import LABEL, SNAPSHOT, USER
    from ml.churn.pipeline import FALLBACKS

    name, features = FALLBACKS["recency"]
    training = synthetic_frame(3_000, snapshots=4, seed=11)
    fallback = train.fit_final(training[[USER, SNAPSHOT, *features, LABEL]], name)
    assert list(fallback.features) == list(features)
    scored = score.score_users(fallback, population, "2025-02-01", "v-fallback")
    assert list(scored.columns) == list(score.SCORE_COLUMNS)
    assert np.array_equal(scored["churn_probability"], fallback.predict_proba(population))
    named = scored["feature_1"].dropna()
    assert len(named) > 0 and set(named) == set(features)
    assert scored["reason_1"].notna().sum() == len(named)
    for k in (2, 3):
        assert scored[f"reason_{k}"].isna().all() and scored[f"feature_{k}"].isna().all()
