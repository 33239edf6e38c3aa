"""What a new churn model must pass before it replaces the current one, and how far today's
scores have drifted from the training ones.

- `promotion_gate`: a candidate is promoted only if, on the latest backtest fold, its ROC AUC
  beats the recency baseline's (a model that ranks no better than "days since last seen" is
  not worth its complexity) and its Brier score is no worse than the better baseline's (its
  probabilities are at least as honest as the simplest ones). Otherwise the previous version
  keeps scoring.
- `population_stability_index`: the usual PSI between the training scores and today's, for a
  non-blocking drift report.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

# a bin that holds no score on one side counts as holding this share, so that ln(a / e)
# stays finite: an empty bin facing 10 % of the other side then adds (0.1 - 1e-4) *
# ln(0.1 / 1e-4), about 0.69, already a "significant shift" on its own, which it is
PSI_EPSILON = 1e-4
# the industry's rule of thumb (Siddiqi, "Credit Risk Scorecards"): below 0.1 stable, 0.1 to
# 0.25 a moderate shift worth a look, above 0.25 a significant shift
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.25


def _figure(metrics: Mapping[str, float], key: str, who: str) -> float:
    if key not in metrics:
        raise ValueError(f"promotion gate: the {who} metrics have no {key!r}")
    return float(metrics[key])


def promotion_gate(
    candidate_metrics: Mapping[str, float],
    baseline_metrics: Mapping[str, Mapping[str, float]],
) -> tuple[bool, list[str]]:
    """(passed, reasons) for a candidate's latest-fold metrics against the baselines' on the
    same fold (`{"recency": {...}, "bgnbd": {...}}`, each with `roc_auc` and `brier`). The
    reasons say, for each rule, the figures and whether it held; a missing or NaN figure
    fails its rule. The recency baseline is required: it is the bar every model must clear."""
    if "recency" not in baseline_metrics:
        raise ValueError(
            "promotion gate: no recency baseline among the baselines "
            f"{sorted(baseline_metrics)}; the backtest must include it"
        )
    reasons, passed = [], True
    auc = _figure(candidate_metrics, "roc_auc", "candidate")
    recency_auc = _figure(baseline_metrics["recency"], "roc_auc", "recency baseline")
    if auc > recency_auc:
        reasons.append(
            f"ok: ROC AUC {auc:.4f} on the latest fold beats the recency baseline's "
            f"{recency_auc:.4f}"
        )
    else:
        passed = False
        reasons.append(
            f"blocked: ROC AUC {auc:.4f} on the latest fold does not beat the recency "
            f"baseline's {recency_auc:.4f}"
        )
    briers = {name: _figure(m, "brier", f"{name} baseline") for name, m in baseline_metrics.items()}
    # a baseline without a Brier score (NaN) sets no bar; ties go to the first name
    best = min(briers, key=lambda name: (np.nan_to_num(briers[name], nan=np.inf), name))
    brier = _figure(candidate_metrics, "brier", "candidate")
    if brier <= briers[best]:
        reasons.append(
            f"ok: Brier score {brier:.4f} is at or below the better baseline's ({best}, "
            f"{briers[best]:.4f})"
        )
    else:
        passed = False
        reasons.append(
            f"blocked: Brier score {brier:.4f} is worse than the better baseline's ({best}, "
            f"{briers[best]:.4f})"
        )
    return passed, reasons


def gate_metrics(
    results: pd.DataFrame, model_name: str
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The latest fold's metrics of `model_name` and of every baseline, from a
    `ml.churn.train.backtest` table, in the shape `promotion_gate` takes."""
    latest = results[results["fold"] == results["fold"].max()]
    rows = latest.set_index("model")
    if model_name not in rows.index:
        raise ValueError(
            f"gate_metrics: no model {model_name!r} in the latest fold (models: "
            f"{sorted(rows.index)})"
        )
    figures = ["roc_auc", "pr_auc", "brier", "log_loss", "top_decile_lift"]
    candidate = {k: float(rows.at[model_name, k]) for k in figures}
    baselines = {
        str(name): {k: float(rows.at[name, k]) for k in figures}
        for name in rows.index[rows["kind"] == "baseline"]
    }
    return candidate, baselines


def _scores(values, name: str) -> np.ndarray:
    scores = np.asarray(values, dtype=float)
    if scores.ndim != 1 or len(scores) == 0:
        raise ValueError(f"population_stability_index: {name} must be a non-empty 1-d vector")
    if not np.isfinite(scores).all():
        bad = int(np.flatnonzero(~np.isfinite(scores))[0])
        raise ValueError(f"population_stability_index: {name} at position {bad} is not finite")
    return scores


def population_stability_index(expected_scores, actual_scores, bins: int = 10) -> float:
    """PSI = sum over bins of (a - e) * ln(a / e), e and a the shares of the expected
    (training) and actual (today's) scores in each bin.

    Bins are cut at the expected scores' quantiles (deciles by default), the usual choice:
    each bin then holds about 1 / `bins` of the training scores, and the first and last bins
    are open, so scores outside the training range still count. Tied quantiles merge into one
    bin (a score distribution with plateaus has fewer bins). An empty share is replaced by
    `PSI_EPSILON`. 0 for identical distributions; grows with the shift."""
    if bins < 2:
        raise ValueError(f"population_stability_index: bins must be >= 2, got {bins}")
    expected = _scores(expected_scores, "expected_scores")
    actual = _scores(actual_scores, "actual_scores")
    cuts = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)[1:-1]))
    e = np.bincount(np.searchsorted(cuts, expected, side="right"), minlength=len(cuts) + 1)
    a = np.bincount(np.searchsorted(cuts, actual, side="right"), minlength=len(cuts) + 1)
    e_share = np.maximum(e / len(expected), PSI_EPSILON)
    a_share = np.maximum(a / len(actual), PSI_EPSILON)
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))


def psi_verdict(psi: float) -> str:
    """ "stable", "moderate shift" or "significant shift" by the usual PSI thresholds."""
    if psi < PSI_MODERATE:
        return "stable"
    if psi < PSI_SIGNIFICANT:
        return "moderate shift"
    return "significant shift"
