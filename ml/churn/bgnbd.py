"""The BG/NBD buy-till-you-die model (Fader, Hardie and Lee, 2005, "Counting your customers
the easy way"), fitted by maximum likelihood with scipy.

While alive, a customer buys at the times of a Poisson process with rate lambda ~ Gamma(r,
rate alpha); right after each repeat purchase they die with probability p ~ Beta(a, b). Per
customer, the model needs only `frequency` (repeat purchases: purchase days after the first),
`recency` (time from the first to the last purchase) and `T` (time from the first purchase to
the end of the calibration period), all in days here; `alpha` is then in days too, and the
other three parameters do not depend on the time unit.

`lifetimes` implements the same model but breaks on pandas 3, and pymc-marketing's default
priors move the estimates away from the maximum-likelihood ones (../shared/STACK-NOTES.md), so
this module fits the published log-likelihood directly: the four parameters on a log scale,
L-BFGS-B from a fixed starting point, no randomness, so the same data always gives the same
parameters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1

SUMMARY_COLUMNS = ("frequency", "recency", "T")

# log(r), log(alpha / mean T), log(a), log(b): alpha starts at the data's time scale, so the
# starting point means the same whether times are in days or weeks
_START = np.array([0.0, 0.0, 0.0, 0.0])
_MAX_ITERATIONS = 500
# L-BFGS-B stops when an iteration changes the mean log-likelihood by less than this (relative)
_TOLERANCE = 1e-12


@dataclass(frozen=True)
class BgNbdParams:
    """Fitted BG/NBD parameters (alpha in the summary's time unit, days for `summarise`) and the
    maximised log-likelihood (summed over customers)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float


Date = str | dt.date | pd.Timestamp


def utc_days(values: pd.Series) -> pd.Series:
    """The UTC day (a naive midnight timestamp) of each date, datetime or string: times with a
    zone or an offset are converted to UTC, times without one are taken as UTC already, so
    zoned and naive data compare."""
    return pd.to_datetime(values, utc=True).dt.tz_localize(None).dt.normalize()


def utc_day(value: Date) -> pd.Timestamp:
    """The UTC day of one date, as `utc_days` reads a column."""
    return utc_days(pd.Series([value])).iloc[0]


def summarise(
    transactions: pd.DataFrame,
    observation_end: Date,
    user: str = "user_id",
    date: str = "activity_date",
) -> pd.DataFrame:
    """One row per user who was active by `observation_end` (inclusive), indexed by `user` and
    sorted: `frequency` = distinct active days - 1, `recency` = days from the first to the last
    active day, `T` = days from the first active day to `observation_end`.

    Several purchases on one day count once, as `lifetimes` counts them: BG/NBD's Poisson
    process has no two purchases at the same instant, and a basket split into several orders
    is one visit. Rows after `observation_end` are ignored, so the same transactions serve a
    calibration period and its holdout."""
    missing = [c for c in (user, date) if c not in transactions.columns]
    if missing:
        raise ValueError(f"summarise: transactions have no column {missing}")
    if transactions[[user, date]].isna().any().any():
        bad = transactions.index[transactions[[user, date]].isna().any(axis=1)][0]
        raise ValueError(f"summarise: row {bad!r} has an empty {user} or {date}; drop or fix it")
    end = utc_day(observation_end)
    days = utc_days(transactions[date])
    frame = pd.DataFrame({"user": transactions[user].to_numpy(), "day": days.to_numpy()})
    frame = frame[frame["day"] <= end].drop_duplicates()
    by_user = frame.groupby("user", sort=True)["day"]
    first, last, active_days = by_user.min(), by_user.max(), by_user.size()
    summary = pd.DataFrame(
        {
            "frequency": (active_days - 1).astype("int64"),
            "recency": (last - first).dt.days.astype("int64"),
            "T": (end - first).dt.days.astype("int64"),
        }
    )
    summary.index.name = user
    return summary


def _arrays(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """frequency, recency and T as floats, after checking that they describe purchase
    histories: a row that breaks a rule is named with the rule, since a wrong summary would
    otherwise give a silently wrong fit."""
    missing = [c for c in SUMMARY_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"BG/NBD summary has no column {missing}; build it with summarise()")
    x, tx, t = (summary[c].to_numpy(dtype=float) for c in SUMMARY_COLUMNS)
    rules = [
        (~np.isfinite(x) | ~np.isfinite(tx) | ~np.isfinite(t), "values must be finite numbers"),
        (x < 0, "frequency must be >= 0"),
        (x != np.round(x), "frequency must be a whole number of repeat purchases"),
        (tx < 0, "recency must be >= 0"),
        (tx > t, "recency must be <= T (the last purchase cannot follow the period's end)"),
        ((x == 0) & (tx != 0), "recency must be 0 when frequency is 0"),
    ]
    for broken, rule in rules:
        if broken.any():
            i = int(np.argmax(broken))
            raise ValueError(
                f"BG/NBD summary row {summary.index[i]!r} (frequency={x[i]}, recency={tx[i]}, "
                f"T={t[i]}): {rule}"
            )
    return x, tx, t


@dataclass(frozen=True)
class _Histories:
    """Distinct (frequency, recency, T) rows with how many customers share each, and the
    distinct frequencies: daily data has many ties, and the special functions depend on the
    frequency only, so computing them once per distinct value makes an evaluation cheap."""

    x: np.ndarray
    tx: np.ndarray
    t: np.ndarray
    weight: np.ndarray
    x_values: np.ndarray  # distinct frequencies
    x_index: np.ndarray  # x == x_values[x_index]

    @classmethod
    def of(cls, x: np.ndarray, tx: np.ndarray, t: np.ndarray) -> _Histories:
        rows = pd.DataFrame({"x": x, "tx": tx, "t": t}).groupby(["x", "tx", "t"], sort=True)
        counts = rows.size()
        ux, utx, ut = (counts.index.get_level_values(c).to_numpy(float) for c in ("x", "tx", "t"))
        x_values, x_index = np.unique(ux, return_inverse=True)
        return cls(ux, utx, ut, counts.to_numpy(float), x_values, x_index)


def _log_likelihoods_and_gradient(
    r: float, alpha: float, a: float, b: float, h: _Histories, gradient: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Each distinct history's log-likelihood, equation (6) of the paper in logs: ln(A1 A2)
    plus the log of the sum of the "alive at T" term and, for repeat buyers, the "died right
    after the last purchase" term; and, if asked, its derivatives by ln r, ln alpha, ln a and
    ln b (one row per parameter).

    The analytic gradient lets L-BFGS-B converge in a few dozen evaluations instead of five
    times as many with finite differences."""
    x, tx, t, xv, xi = h.x, h.tx, h.t, h.x_values, h.x_index
    ln_a1_a2 = (gammaln(r + xv) + gammaln(a + b) + gammaln(b + xv) - gammaln(a + b + xv))[xi] - (
        gammaln(r) + gammaln(b) - r * np.log(alpha)
    )
    alive = -(r + x) * np.log(alpha + t)
    # np.maximum keeps b + x - 1 positive for the x = 0 rows, whose term is dropped anyway
    b_x_1 = b + np.maximum(x, 1) - 1
    died = np.where(x > 0, np.log(a) - np.log(b_x_1) - (r + x) * np.log(alpha + tx), -np.inf)
    log_sum = np.logaddexp(alive, died)
    ll = ln_a1_a2 + log_sum
    if not gradient:
        return ll, None
    w_alive, w_died = np.exp(alive - log_sum), np.exp(died - log_sum)
    psi_r_x, psi_b_x, psi_a_b_x = (digamma(v + xv)[xi] for v in (r, b, a + b))
    d_r = (
        psi_r_x
        - digamma(r)
        + np.log(alpha)
        - w_alive * np.log(alpha + t)
        - w_died * np.log(alpha + tx)
    )
    d_alpha = r / alpha - (r + x) * (w_alive / (alpha + t) + w_died / (alpha + tx))
    d_a = digamma(a + b) - psi_a_b_x + w_died / a
    d_b = psi_b_x - digamma(b) + digamma(a + b) - psi_a_b_x - w_died / b_x_1
    return ll, np.vstack([r * d_r, alpha * d_alpha, a * d_a, b * d_b])


def fit(summary: pd.DataFrame) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters for a `summarise` frame.

    Customers with the same history are fitted once with a weight and the log-likelihood
    comes with its analytic gradient: a fit on 20,000 customers' daily data takes about a
    tenth of a second."""
    x, tx, t = _arrays(summary)
    if len(x) == 0:
        raise ValueError("BG/NBD fit: the summary has no customers")
    if not (x > 0).any():
        raise ValueError(
            "BG/NBD fit: no customer has a repeat purchase, so the dropout parameters a and b "
            "cannot be estimated; use a longer calibration period"
        )
    histories = _Histories.of(x, tx, t)
    total = float(histories.weight.sum())
    scale = max(float(np.mean(t)), 1.0)

    def negative_mean(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(log_params)
        ll, grad = _log_likelihoods_and_gradient(r, alpha * scale, a, b, histories)
        return -float(histories.weight @ ll) / total, -(grad @ histories.weight) / total

    result = minimize(
        negative_mean,
        _START,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-15.0, 15.0)] * 4,
        options={"maxiter": _MAX_ITERATIONS, "ftol": _TOLERANCE, "gtol": 1e-9},
    )
    if not np.isfinite(result.fun):
        raise RuntimeError(f"BG/NBD fit failed: {result.message}")
    r, alpha, a, b = np.exp(result.x)
    return BgNbdParams(
        r=float(r),
        alpha=float(alpha * scale),
        a=float(a),
        b=float(b),
        log_likelihood=-float(result.fun) * total,
    )


def log_likelihood(params: BgNbdParams, summary: pd.DataFrame) -> float:
    """The summed log-likelihood of `summary` under `params`."""
    h = _Histories.of(*_arrays(summary))
    ll, _ = _log_likelihoods_and_gradient(
        params.r, params.alpha, params.a, params.b, h, gradient=False
    )
    return float(h.weight @ ll)


def _log_odds_dead(params: BgNbdParams, x: np.ndarray, tx: np.ndarray, t: np.ndarray):
    """ln(P(dead) / P(alive)) at T; -inf for customers with no repeat purchase (alive for
    sure: BG/NBD lets a customer die only right after a repeat purchase)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_odds = (
        np.log(a)
        - np.log(b + np.maximum(x, 1) - 1)
        + (r + x) * (np.log(alpha + t) - np.log(alpha + tx))
    )
    return np.where(x > 0, log_odds, -np.inf)


def p_alive(params: BgNbdParams, summary: pd.DataFrame) -> np.ndarray:
    """P(alive at T | frequency, recency, T), equation (11) of the paper."""
    x, tx, t = _arrays(summary)
    return expit(-_log_odds_dead(params, x, tx, t))


def _check_horizon(horizon_days: float) -> float:
    if not np.isfinite(horizon_days) or horizon_days < 0:
        raise ValueError(f"horizon_days must be a finite number >= 0, got {horizon_days!r}")
    return float(horizon_days)


# within this distance of a = 1, equation (10)'s 0 / 0 is interpolated (see expected_purchases)
_NEAR_ONE = 1e-3


def _expected_if_alive(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, t: np.ndarray, h: float
) -> np.ndarray:
    """E[purchases in (T, T + h] | alive at T]: the part of equation (10) after P(alive).

    The paper's (1 - z)^(r + x) 2F1(r + x, b + x; a + b + x - 1; z), with z = h / (alpha + T
    + h), multiplies a vanishing power by a huge hypergeometric value for frequent buyers (both
    overflow past a few hundred purchases); Euler's transformation 2F1(A, B; C; z) =
    (1 - z)^(C - A - B) 2F1(C - A, C - B; C; z) turns it into (1 - z)^(a - 1)
    2F1(a + b - 1 - r, a - 1; a + b + x - 1; z), whose parameters stay small."""
    z = h / (alpha + t + h)
    decayed = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    return (a + b + x - 1) / (a - 1) * (1 - decayed)


def expected_purchases(
    params: BgNbdParams, summary: pd.DataFrame, horizon_days: float
) -> np.ndarray:
    """E[purchases in (T, T + horizon] | frequency, recency, T], equation (10) of the paper.

    The formula is 0 / 0 at a = 1 and loses digits near it (about 1e-10 / |a - 1| relative), so
    for |a - 1| < 1e-3 it is interpolated linearly in a between a = 1 -+ 1e-3, where it is
    smooth: the error is then about 1e-6 relative."""
    x, tx, t = _arrays(summary)
    h = _check_horizon(horizon_days)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if abs(a - 1) >= _NEAR_ONE:
        if_alive = _expected_if_alive(r, alpha, a, b, x, t, h)
    else:
        below = _expected_if_alive(r, alpha, 1 - _NEAR_ONE, b, x, t, h)
        above = _expected_if_alive(r, alpha, 1 + _NEAR_ONE, b, x, t, h)
        weight = (a - (1 - _NEAR_ONE)) / (2 * _NEAR_ONE)
        if_alive = below + weight * (above - below)
    return np.maximum(if_alive, 0.0) * expit(-_log_odds_dead(params, x, tx, t))


def p_no_purchase(params: BgNbdParams, summary: pd.DataFrame, horizon_days: float) -> np.ndarray:
    """P(no purchase in (T, T + horizon] | frequency, recency, T): what a churn label "no
    activity in the next `horizon_days`" compares with.

    = P(dead at T) + P(alive at T) * P(no purchase in the horizon | alive). Given alive at T,
    the rate's posterior is Gamma(r + x, alpha + T) (the dropout coin only enters through
    (1 - p)^x, which does not involve lambda), and a customer with no purchase in the horizon
    has had no chance to die in it, so the second factor is the Poisson's zero count averaged
    over that posterior: ((alpha + T) / (alpha + T + horizon))^(r + x)."""
    x, tx, t = _arrays(summary)
    h = _check_horizon(horizon_days)
    log_decay = (params.r + x) * (np.log(params.alpha + t) - np.log(params.alpha + t + h))
    alive = expit(-_log_odds_dead(params, x, tx, t))
    # 1 - alive * (1 - decay), with expm1 so that short horizons keep their precision
    return np.clip(1 + alive * np.expm1(log_decay), 0.0, 1.0)
