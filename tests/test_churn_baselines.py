"""The churn backtest's baselines and metrics (ml/churn/): the BG/NBD fit against simulated
customers with known parameters, its per-customer predictions against an independent
derivation, the metrics on hand-made vectors with exact values, and both baselines on the
generator's purchases scenario."""

import datetime as dt
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.optimize import minimize
from scipy.special import betaln

from ml.churn import baselines, bgnbd, metrics
from tests.churn_fixtures import purchase_orders

# the parameters the purchases scenario simulates: CDNOW's (Fader, Hardie and Lee 2005), alpha
# in days
TRUTH = {"r": 0.243, "alpha": 27.0, "a": 0.793, "b": 2.426}
CDNOW_ALPHA_WEEKS = 4.414  # the paper's alpha, fitted in weeks on the real CDNOW sample


def _simulate(n: int, seed: int, days: int = 546, acquisition_days: int = 84) -> pd.DataFrame:
    """BG/NBD in continuous time, written apart from the generator: first purchases uniform over
    the acquisition days, Poisson purchases at rate lambda ~ Gamma(r, alpha), death after each
    repeat purchase with probability p ~ Beta(a, b). The last kept purchase of `points`
    uniform purchase times is their x-th order statistic, T * Beta(x, points - x + 1)."""
    rng = np.random.default_rng(seed)
    t = days - rng.uniform(0, acquisition_days, n)
    lam = rng.gamma(TRUTH["r"], 1 / TRUTH["alpha"], n)
    p = rng.beta(TRUTH["a"], TRUTH["b"], n)
    points = rng.poisson(lam * t)
    x = np.minimum(points, rng.geometric(p))
    tx = np.where(x > 0, t * rng.beta(np.maximum(x, 1), points - x + 1), 0.0)
    return pd.DataFrame({"frequency": x, "recency": tx, "T": t})


def _orders(root: Path, customers: int = 3_000, seed: int = 42) -> pd.DataFrame:
    return purchase_orders(root, customers, seed)[["user_id", "activity_date"]]


def _relative_errors(params: bgnbd.BgNbdParams) -> dict[str, float]:
    return {k: getattr(params, k) / v - 1 for k, v in TRUTH.items()}


# --- summarise --------------------------------------------------------------------------------


def test_summarise_counts_distinct_days_up_to_the_end_inclusive():
    tx = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u1", "u2", "u3", "u3", "u4"],
            "activity_date": [
                "2024-01-01",
                "2024-01-01",  # same day: one repeat-purchase opportunity, not two
                "2024-01-05",
                "2024-01-11",  # after the end: ignored
                "2024-01-03",
                "2024-01-02",
                "2024-01-10",  # on the end day: counted
                "2024-02-01",  # first active after the end: not in the summary
            ],
        }
    )
    summary = bgnbd.summarise(tx, dt.date(2024, 1, 10))
    expected = pd.DataFrame(
        {"frequency": [1, 0, 1], "recency": [4, 0, 8], "T": [9, 7, 8]},
        index=pd.Index(["u1", "u2", "u3"], name="user_id"),
    )
    pd.testing.assert_frame_equal(summary, expected)


def test_summarise_compares_zoned_times_by_their_utc_day():
    tx = pd.DataFrame(
        {
            "customer": ["c", "c"],
            "at": ["2024-01-01 23:30+00:00", "2024-01-03 05:00+09:00"],
        }
    )
    summary = bgnbd.summarise(tx, "2024-01-04", user="customer", date="at")
    assert summary.loc["c"].tolist() == [1, 1, 3]  # 2024-01-03 05:00+09 is 01-02 in UTC
    tokyo = tx.assign(at=pd.to_datetime(["2024-01-02 08:30", "2024-01-03 05:00"]))
    tokyo["at"] = tokyo["at"].dt.tz_localize("Asia/Tokyo")
    summary = bgnbd.summarise(tokyo, "2024-01-04", user="customer", date="at")
    assert summary.loc["c"].tolist() == [1, 1, 3]


def test_a_summary_that_is_no_purchase_history_is_refused_with_its_row():
    bad = pd.DataFrame({"frequency": [2, 0], "recency": [10, 5], "T": [30, 30]}, index=["a", "b"])
    with pytest.raises(ValueError, match=r"row 'b'.*recency must be 0 when frequency is 0"):
        bgnbd.fit(bad)
    late = pd.DataFrame({"frequency": [1], "recency": [40], "T": [30]}, index=["z"])
    with pytest.raises(ValueError, match=r"row 'z'.*recency must be <= T"):
        bgnbd.p_alive(bgnbd.BgNbdParams(0.2, 20, 0.8, 2.4, 0.0), late)
    with pytest.raises(ValueError, match="no customer has a repeat purchase"):
        bgnbd.fit(pd.DataFrame({"frequency": [0, 0], "recency": [0, 0], "T": [5, 9]}))


# --- the fit ----------------------------------------------------------------------------------


def test_fit_recovers_the_parameters_of_a_continuous_time_simulation():
    """20,000 customers over 18 months. Tolerances are three standard deviations of the
    relative errors over 100 seeds (r 1.5 %, alpha 2.5 %, a 4.6 %, b 6.6 %, a / (a + b) 2.1 %;
    mean errors all within 1 %): a and b are the least identified, their ratio, the mean
    dropout probability, much better."""
    fitted = bgnbd.fit(_simulate(20_000, seed=2005))
    errors = _relative_errors(fitted)
    assert abs(errors["r"]) < 0.05
    assert abs(errors["alpha"]) < 0.08
    assert abs(errors["a"]) < 0.14
    assert abs(errors["b"]) < 0.20
    mean_dropout = fitted.a / (fitted.a + fitted.b)
    assert mean_dropout == pytest.approx(TRUTH["a"] / (TRUTH["a"] + TRUTH["b"]), rel=0.07)


def test_fit_recovers_the_purchases_scenario_from_its_orders_file_quickly(tmp_path):
    """The whole path: the generator's fixed-width orders, summarised by day, fitted. Days
    are coarser than the simulation's continuous time and same-day orders merge (1.5 % of
    repeat purchases), which lowers the purchase rate r / alpha by a few per cent: alpha comes
    out about 5 % high, so its band is shifted up by that much. In weeks, alpha is of the order of the paper's 4.414
    weeks for the real CDNOW sample (the scenario scales it to 27 days)."""
    summary = bgnbd.summarise(_orders(tmp_path, 20_000, seed=42), "1998-06-30")
    start = time.process_time()
    fitted = bgnbd.fit(summary)
    cpu_seconds = time.process_time() - start
    errors = _relative_errors(fitted)
    assert abs(errors["r"]) < 0.06
    assert -0.03 < errors["alpha"] < 0.13
    assert abs(errors["a"]) < 0.14
    assert abs(errors["b"]) < 0.20
    assert 0.5 < (fitted.alpha / 7) / CDNOW_ALPHA_WEEKS < 2
    assert cpu_seconds < 2.0, f"fit took {cpu_seconds:.2f} CPU seconds (usually about 0.2)"


def test_fit_reaches_the_maximum_deterministically_in_any_time_unit():
    summary = _simulate(2_000, seed=7)
    fitted = bgnbd.fit(summary)
    assert bgnbd.fit(summary) == fitted  # bit for bit
    assert bgnbd.log_likelihood(fitted, summary) == pytest.approx(fitted.log_likelihood)

    # Nelder-Mead started at the truth finds no higher likelihood
    def negative(log_params):
        return -bgnbd.log_likelihood(bgnbd.BgNbdParams(*np.exp(log_params), 0.0), summary)

    start = np.log([TRUTH[k] for k in ("r", "alpha", "a", "b")])
    other = minimize(negative, start, method="Nelder-Mead", options={"fatol": 1e-9})
    assert -other.fun <= fitted.log_likelihood + 1e-6

    weeks = bgnbd.fit(summary.assign(recency=summary["recency"] / 7, T=summary["T"] / 7))
    assert weeks.alpha == pytest.approx(fitted.alpha / 7, rel=1e-4)
    for name in ("r", "a", "b"):
        assert getattr(weeks, name) == pytest.approx(getattr(fitted, name), rel=1e-4)


# --- per-customer predictions -----------------------------------------------------------------

PARAMS = bgnbd.BgNbdParams(r=0.243, alpha=27.0, a=0.793, b=2.426, log_likelihood=0.0)
HISTORIES = pd.DataFrame(
    {
        "frequency": [0, 0, 1, 5, 20, 3, 1500],  # the last: daily activity for years
        "recency": [0, 0, 30, 200, 400, 10, 1990],
        "T": [0, 300, 100, 300, 420, 500, 2000],
    }
)


def test_p_alive_falls_as_the_last_purchase_gets_older_and_is_one_without_repeat_purchase():
    ages = pd.DataFrame({"frequency": 4, "recency": [300, 250, 150, 50, 5], "T": 300})
    alive = bgnbd.p_alive(PARAMS, ages)
    assert np.all(np.diff(alive) < 0)
    assert 0.8 < alive[0] < 1 and alive[-1] < 0.2
    assert bgnbd.p_alive(PARAMS, HISTORIES)[:2].tolist() == [1.0, 1.0]
    # more purchases in the same span, same silence since: less likely a coincidence to stop
    busy = pd.DataFrame({"frequency": [2, 20], "recency": [200, 200], "T": 300})
    assert np.all(np.diff(bgnbd.p_alive(PARAMS, busy)) < 0)


@pytest.mark.parametrize(
    ("params", "rel"),
    [
        (PARAMS, 1e-6),
        # a = 1 makes equation (10) 0 / 0: the interpolation near it costs a few digits
        (bgnbd.BgNbdParams(r=0.5, alpha=10.0, a=1.0, b=3.0, log_likelihood=0.0), 1e-5),
    ],
)
def test_expected_purchases_match_the_integral_over_the_posterior(params, rel):
    """An independent derivation of equation (10): given alive, lambda ~ Gamma(r + x,
    alpha + T) and p ~ Beta(a, b + x) independently, and E[purchases in t | lambda, p] =
    (1 - exp(-lambda p t)) / p; integrating lambda out leaves one integral over p."""
    alive = bgnbd.p_alive(params, HISTORIES)
    for horizon in (1, 30, 90, 365):
        closed = bgnbd.expected_purchases(params, HISTORIES, horizon)
        for i, (x, _tx, t) in enumerate(HISTORIES.to_numpy(float)):
            k, rate = params.r + x, params.alpha + t

            def integrand(p, k=k, rate=rate, x=x, horizon=horizon):
                beta = np.exp(
                    (params.a - 1) * np.log(p)
                    + (params.b + x - 1) * np.log1p(-p)
                    - betaln(params.a, params.b + x)
                )
                return beta * -np.expm1(k * np.log(rate / (rate + p * horizon))) / p

            integral = integrate.quad(integrand, 0, 1, limit=200)[0]
            assert closed[i] == pytest.approx(alive[i] * integral, rel=rel), (horizon, i)
    assert bgnbd.expected_purchases(params, HISTORIES, 0).tolist() == [0.0] * len(HISTORIES)


def test_p_no_purchase_is_a_probability_falling_with_the_horizon():
    horizons = [0, 1, 7, 30, 90, 365, 3650]
    p = np.array([bgnbd.p_no_purchase(PARAMS, HISTORIES, h) for h in horizons])
    assert np.all((p >= 0) & (p <= 1))
    assert p[0].tolist() == [1.0] * len(HISTORIES)
    assert np.all(np.diff(p, axis=0) <= 0)
    # at least the dead share never buys again
    assert np.all(p[-1] >= 1 - bgnbd.p_alive(PARAMS, HISTORIES))
    # no repeat purchase yet: alive for sure, the gamma-Poisson zero count
    t = HISTORIES["T"].to_numpy()[:2]
    expected = ((PARAMS.alpha + t) / (PARAMS.alpha + t + 90)) ** PARAMS.r
    np.testing.assert_allclose(bgnbd.p_no_purchase(PARAMS, HISTORIES, 90)[:2], expected)
    with pytest.raises(ValueError, match="horizon_days"):
        bgnbd.p_no_purchase(PARAMS, HISTORIES, -1)


# --- metrics ----------------------------------------------------------------------------------


def test_evaluate_gives_the_hand_computed_figures():
    y, p = [1, 0, 1, 0], [0.8, 0.7, 0.6, 0.2]
    result = metrics.evaluate(y, p)
    assert result == {
        "roc_auc": pytest.approx(3 / 4),  # 3 of 4 churner/stayer pairs in the right order
        "pr_auc": pytest.approx((1 + 2 / 3) / 2),  # precision 1 at the 1st churner, 2/3 at the 2nd
        "brier": pytest.approx((0.2**2 + 0.7**2 + 0.4**2 + 0.2**2) / 4),
        "log_loss": pytest.approx(
            -(math.log(0.8) + math.log(0.3) + math.log(0.6) + math.log(0.8)) / 4
        ),
        "top_decile_lift": pytest.approx(2.0),  # ceil(0.4) = 1 row, a churner, over a rate of 1/2
        "churn_rate": 0.5,
        "n": 4,
    }


def test_a_perfect_ranking_has_auc_one_and_the_largest_lift_possible():
    few = [1] * 5 + [0] * 95  # fewer churners than the top decile: lift capped at n / k = 10
    scores = np.linspace(1, 0, 100)
    result = metrics.evaluate(few, scores)
    assert (result["roc_auc"], result["pr_auc"], result["top_decile_lift"]) == (1.0, 1.0, 10.0)
    many = [1] * 50 + [0] * 50  # more churners than the top decile: lift = 1 / churn rate
    assert metrics.evaluate(many, scores)["top_decile_lift"] == pytest.approx(2.0)


def test_lift_counts_ties_at_the_cut_off_by_their_churn_rate_not_their_row_order():
    # 20 rows, top decile = 2: one sure top score, then three tied at 0.5 (one churner) for
    # the last place, so the top holds 1 + 1/3 churners; overall churn rate 4 / 20
    y = np.array([1] + [1, 0, 0] + [1, 1] + [0] * 14)
    p = np.array([0.9] + [0.5] * 3 + [0.1] * 16)
    expected = (1 + 1 / 3) / 2 / (4 / 20)
    assert metrics.evaluate(y, p)["top_decile_lift"] == pytest.approx(expected)
    order = np.random.default_rng(0).permutation(len(y))
    assert metrics.evaluate(y[order], p[order])["top_decile_lift"] == pytest.approx(expected)
    assert metrics.evaluate(y, np.full(20, 0.3))["top_decile_lift"] == pytest.approx(1.0)


def test_evaluate_refuses_a_single_class_and_malformed_inputs():
    with pytest.raises(ValueError, match="all 3 labels say stayed"):
        metrics.evaluate([0, 0, 0], [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match="all 2 labels say churned"):
        metrics.evaluate([True, True], [0.1, 0.9])
    with pytest.raises(ValueError, match="position 1 is 1.5;"):
        metrics.evaluate([0, 1], [0.2, 1.5])
    with pytest.raises(ValueError, match="position 2 is 2;"):
        metrics.evaluate([0, 1, 2], [0.2, 0.5, 0.7])
    with pytest.raises(ValueError, match="3 labels but 2 probabilities"):
        metrics.evaluate([0, 1, 1], [0.2, 0.5])


def test_log_loss_clips_certain_mistakes():
    result = metrics.evaluate([1, 0], [0.0, 0.0])
    assert result["log_loss"] == pytest.approx(-math.log(1e-15) / 2, rel=1e-6)


def test_calibration_bins_uniform_and_quantile():
    uniform = metrics.calibration_bins([0, 1, 0, 1, 1], [0.05, 0.15, 0.12, 0.95, 1.0])
    expected = pd.DataFrame(
        {
            "bin": [0, 1, 9],
            "lower": [0.0, 0.1, 0.9],
            "upper": [0.1, 0.2, 1.0],
            "predicted_mean": [0.05, 0.135, 0.975],
            "observed_rate": [0.0, 0.5, 1.0],
            "count": [1, 2, 2],
        }
    )
    pd.testing.assert_frame_equal(uniform, expected, check_dtype=False)
    quantile = metrics.calibration_bins(
        [0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], bins=2, strategy="quantile"
    )
    assert quantile[["lower", "upper", "count"]].to_numpy().tolist() == [
        [0.1, 0.25, 2],
        [0.25, 0.4, 2],
    ]
    assert quantile["observed_rate"].tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="strategy"):
        metrics.calibration_bins([0, 1], [0.1, 0.2], strategy="kmeans")


# --- baselines --------------------------------------------------------------------------------


def test_churn_labels_look_only_at_the_horizon_after_the_end():
    tx = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "b", "c", "c"],
            "activity_date": pd.to_datetime(
                ["2024-01-01", "2024-01-31", "2024-01-02", "2024-02-01", "2024-01-03", "2024-03-02"]
            ),
        }
    )
    summary = bgnbd.summarise(tx, "2024-01-31")
    labels = baselines.churn_labels(tx, summary, "2024-01-31", horizon_days=30)
    # a: last seen on the end day itself; b: back on day 1 of the horizon; c: back too late
    assert labels.to_dict() == {"a": 1, "b": 0, "c": 1}


def test_recency_baseline_rises_with_days_since_last_activity():
    days = np.array([0, 3, 10, 30, 60, 120, 200, 300] * 10)
    churned = (days + np.tile(np.arange(10) * 15, 8) > 120).astype(int)
    model = baselines.fit_recency_baseline(days, churned)
    assert model == baselines.fit_recency_baseline(days, churned)
    p = model.predict(np.array([0, 10, 60, 300]))
    assert np.all(np.diff(p) > 0) and np.all((p > 0) & (p < 1))
    # an unpenalised logistic fit with an intercept matches the training churn rate on average
    assert model.predict(days).mean() == pytest.approx(churned.mean(), abs=1e-6)
    with pytest.raises(ValueError, match="single class"):
        baselines.fit_recency_baseline(days, np.zeros_like(days))


@pytest.fixture(scope="module")
def purchases_split(tmp_path_factory):
    """5,000 customers of the purchases scenario. Test snapshot: calibration on 1997 (the
    first 12 months), label = no purchase in the next 90 days. The recency baseline learns on
    the snapshot before (up to 1997-09-30, labelled by the 90 days after, which end on the
    test snapshot's date): a temporal split, no label of the test window is seen. BG/NBD fits
    on the test snapshot's calibration transactions only."""
    orders = _orders(tmp_path_factory.mktemp("purchases"), 5_000, seed=42)
    horizon, train_end, test_end = 90, "1997-09-30", "1997-12-31"
    train = bgnbd.summarise(orders, train_end)
    train_y = baselines.churn_labels(orders, train, train_end, horizon)
    test = bgnbd.summarise(orders, test_end)
    test_y = baselines.churn_labels(orders, test, test_end, horizon)
    recency = baselines.fit_recency_baseline(baselines.days_since_last_activity(train), train_y)
    params = bgnbd.fit(test)
    return {
        "orders": orders,
        "test": test,
        "y": test_y.to_numpy(),
        "params": params,
        "p_recency": recency.predict(baselines.days_since_last_activity(test)),
        "p_bgnbd": baselines.bgnbd_churn_probability(params, test, horizon),
        "horizon": horizon,
        "test_end": pd.Timestamp(test_end),
    }


def test_both_baselines_beat_a_coin_on_the_purchases_scenario(purchases_split):
    """On seed 42: recency ROC AUC 0.775, PR AUC 0.939, Brier 0.098; BG/NBD 0.793, 0.948,
    0.091; churn rate 0.863 (docstring figures, the assertions hold the floor)."""
    y = purchases_split["y"]
    assert len(y) == 5_000  # every customer bought in the first quarter
    recency = metrics.evaluate(y, purchases_split["p_recency"])
    bg = metrics.evaluate(y, purchases_split["p_bgnbd"])
    assert recency["roc_auc"] > 0.6 and bg["roc_auc"] > 0.6
    # both score better than a constant at the churn rate, whose Brier is rate * (1 - rate)
    coin = bg["churn_rate"] * (1 - bg["churn_rate"])
    assert recency["brier"] < coin and bg["brier"] < coin


def test_bgnbd_is_calibrated_on_the_purchases_scenario(purchases_split):
    """The model is the generator's, so its forecasts must match what happened: the mean
    churn probability against the churn rate, expected against actual purchase days."""
    y, p = purchases_split["y"], purchases_split["p_bgnbd"]
    assert p.mean() == pytest.approx(y.mean(), abs=0.02)
    bins = metrics.calibration_bins(y, p)
    big = bins[bins["count"] >= 200]
    assert np.all(np.abs(big["predicted_mean"] - big["observed_rate"]) < 0.05)

    orders, end = purchases_split["orders"], purchases_split["test_end"]
    window = orders["activity_date"].between(
        end + pd.Timedelta(days=1), end + pd.Timedelta(days=purchases_split["horizon"])
    )
    actual_days = len(orders[window].drop_duplicates())
    expected = bgnbd.expected_purchases(
        purchases_split["params"], purchases_split["test"], purchases_split["horizon"]
    ).sum()
    assert expected == pytest.approx(actual_days, rel=0.05)


def test_one_minus_p_alive_is_the_wrong_churn_score(purchases_split):
    """Why the BG/NBD baseline is P(no purchase in the horizon) and not P(dead): BG/NBD calls
    every one-time buyer alive, yet most of them buy nothing in the next 90 days, so 1 -
    P(alive) ranks churners worse than a coin here."""
    y = purchases_split["y"]
    dead = 1 - bgnbd.p_alive(purchases_split["params"], purchases_split["test"])
    assert metrics.evaluate(y, dead)["roc_auc"] < 0.5
    assert metrics.evaluate(y, purchases_split["p_bgnbd"])["roc_auc"] > 0.75
