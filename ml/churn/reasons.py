"""Why a user is at risk, in words a CRM person understands: the three features that push the
user's churn probability up the most, each as a sentence with the user's value ("no purchase
for 143 days", "active days down 60 % vs the previous 4 weeks").

How much a feature pushes, per model:

- `logistic`: coefficient x standardised value, the feature's own term of the model's log-odds
  (after the Pipeline's imputation, log and scaling), so relative to the average training
  user. Exact for a linear model, and the sigmoid calibration is increasing, so it ranks the
  same way for the calibrated probability.
- any other model (`hgb`): the change in the calibrated churn probability when that one
  feature is set to its training median, all others kept: p(x) - p(x with x_j = median_j),
  computed in batch (one prediction over all users per feature). It is deterministic, needs
  nothing beyond the model, and reads as "compared with a typical user, this value adds N
  points of risk". It ignores interactions (two features that matter only together each get
  a share) and, unlike SHAP values, the contributions do not sum to the prediction; for three
  sentences that is the trade worth making against SHAP's cost and dependencies.

Reasons are ranked by contribution, highest first, ties by the features' order; a user at low
risk still gets three: the features that raise their risk the most, however little.

`REASON_TEMPLATES` maps feature names to sentences; a feature not in the table gets a generic
sentence naming it. Placeholders: `{value}` and `{typical}` (the training median), formatted
as whole numbers when whole; `{abs_pct}` (|value| x 100, for changes stored as fractions);
`{s}` ("s" unless the value is 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.churn.dataset import SNAPSHOT, USER
from ml.churn.train import ChurnModel

N_REASONS = 3


@dataclass(frozen=True)
class ReasonTemplate:
    """The sentence for a value above the typical one (`high`), below it (`low`, default
    `high`), equal to 0 (`zero`, default by direction) and unknown (`missing`)."""

    high: str
    low: str | None = None
    zero: str | None = None
    missing: str | None = None


REASON_TEMPLATES: dict[str, ReasonTemplate] = {
    "days_since_last_activity": ReasonTemplate(
        "no activity for {value} days",
        low="last active {value} days ago",
        zero="active today",
        missing="no activity recorded yet",
    ),
    "days_since_last_core_action": ReasonTemplate(
        "no core action for {value} days",
        low="last core action {value} days ago",
        missing="never used the core feature",
    ),
    "days_since_last_purchase": ReasonTemplate(
        "no purchase for {value} days",
        low="last purchase {value} days ago",
        missing="never bought",
    ),
    "overdue_ratio": ReasonTemplate(
        "{value} times their usual gap between purchases since the last one",
        low="last purchase within their usual gap ({value} times it)",
    ),
    "purchases_last_90d": ReasonTemplate(
        "{value} purchase{s} in the last 90 days",
        low="only {value} purchase{s} in the last 90 days (typical: {typical})",
        zero="no purchase in the last 90 days",
    ),
    "purchases_last_180d": ReasonTemplate(
        "{value} purchase{s} in the last 180 days",
        low="only {value} purchase{s} in the last 180 days (typical: {typical})",
        zero="no purchase in the last 180 days",
    ),
    "revenue_last_180d": ReasonTemplate(
        "spent ${value} in the last 180 days (typical: ${typical})",
        zero="spent nothing in the last 180 days",
    ),
    "monetary_avg": ReasonTemplate("average order ${value} (typical: ${typical})"),
    "frequency": ReasonTemplate(
        "{value} repeat purchase{s} so far (typical: {typical})",
        zero="never bought again after the first purchase",
    ),
    "recency": ReasonTemplate(
        "{value} days between first and last purchase (typical: {typical})",
        zero="all purchases on a single day",
    ),
    "T": ReasonTemplate("customer for {value} days (typical: {typical})"),
    "tenure_days": ReasonTemplate("signed up {value} days ago (typical: {typical})"),
    "active_days_last_7d": ReasonTemplate(
        "active {value} of the last 7 days", zero="not active in the last 7 days"
    ),
    "active_days_last_28d": ReasonTemplate(
        "active {value} of the last 28 days", zero="not active in the last 28 days"
    ),
    "active_days_change_pct": ReasonTemplate(
        "active days up {abs_pct} % vs the previous 4 weeks",
        low="active days down {abs_pct} % vs the previous 4 weeks",
        zero="active days flat vs the previous 4 weeks",
    ),
    "payment_failures_30d": ReasonTemplate(
        "payment failed {value} time{s} in 30 days", zero="no failed payment in 30 days"
    ),
    "support_tickets_30d": ReasonTemplate(
        "{value} support ticket{s} in 30 days", zero="no support ticket in 30 days"
    ),
    "help_page_views_30d": ReasonTemplate(
        "{value} help-page visit{s} in 30 days", zero="no help-page visit in 30 days"
    ),
    "emails_opened_30d": ReasonTemplate(
        "opened {value} email{s} in 30 days",
        low="opened only {value} email{s} in 30 days (typical: {typical})",
        zero="opened no email in 30 days",
    ),
    "is_unsubscribed": ReasonTemplate(
        "unsubscribed from the newsletter", low="still subscribed to the newsletter"
    ),
}

GENERIC = ReasonTemplate(
    "{label} is high: {value} (typical: {typical})",
    low="{label} is low: {value} (typical: {typical})",
    missing="{label} is not known",
)


def _number(value: float) -> str:
    """Whole numbers without decimals (thousands separated), others to 1 decimal place, or to
    2 significant digits when smaller than 1."""
    if not np.isfinite(value):
        return "unknown"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 1:
        return f"{value:,.1f}"
    return f"{value:.2g}"


def sentence(feature: str, value: float, typical: float) -> str:
    """The reason sentence for one feature value."""
    template = REASON_TEMPLATES.get(feature, GENERIC)
    if not np.isfinite(value):
        text = template.missing or GENERIC.missing
    elif value == 0 and template.zero:
        text = template.zero
    elif np.isfinite(typical) and value < typical:
        text = template.low or template.high
    else:
        text = template.high
    return text.format(
        value=_number(value),
        typical=_number(typical),
        abs_pct=_number(round(abs(value) * 100)) if np.isfinite(value) else "unknown",
        s="" if value == 1 else "s",
        label=feature.replace("_", " "),
    )


def contributions(model: ChurnModel, frame: pd.DataFrame) -> pd.DataFrame:
    """How much each feature pushes each row's churn risk up (see the module docstring), one
    column per feature, indexed like `frame`."""
    x = model.matrix(frame)
    if model.name == "logistic":
        steps = model.estimator
        z = steps[:-1].transform(x)
        values = np.asarray(z) * steps[-1].coef_[0]
    else:
        values = _median_swap_contributions(model, x.to_numpy())
    return pd.DataFrame(values, index=frame.index, columns=model.features)


# rows per prediction call of the median-swap contributions: one call per chunk of users
# rather than one per feature (each call has a fixed cost per tree), at a bounded memory
_BATCH_ROWS = 500_000


def _median_swap_contributions(model: ChurnModel, x: np.ndarray) -> np.ndarray:
    """p(x) - p(x with feature j at its training median), for every row and feature: each
    chunk of users is stacked once as is and once per feature with that feature swapped, and
    scored in one call."""
    n_features = len(model.features)
    medians = np.array([model.medians[f] for f in model.features], dtype=float)
    chunk = max(1, _BATCH_ROWS // (n_features + 1))
    out = np.empty((len(x), n_features))
    for start in range(0, len(x), chunk):
        block = x[start : start + chunk]
        stacked = np.tile(block, (n_features + 1, 1))
        for j in range(n_features):
            stacked[(j + 1) * len(block) : (j + 2) * len(block), j] = medians[j]
        frame = pd.DataFrame(stacked, columns=model.features)
        p = model.calibrated.predict_proba(frame)[:, 1].reshape(n_features + 1, len(block))
        out[start : start + len(block)] = (p[0] - p[1:]).T
    return out


def top_reasons(model: ChurnModel, frame: pd.DataFrame, n: int = N_REASONS) -> pd.DataFrame:
    """`user_id` (and `snapshot_date` when the frame has it), `reason_1` ... `reason_n` and
    the features they name, `feature_1` ... `feature_n`, indexed like `frame`.

    Sentences are built once per distinct (feature, value), not once per user: a million
    users share far fewer distinct values."""
    if n > len(model.features):
        raise ValueError(
            f"top_reasons: {n} reasons asked but the model has {len(model.features)} features"
        )
    push = contributions(model, frame).to_numpy()
    order = np.argsort(-push, axis=1, kind="stable")[:, :n]
    values = model.matrix(frame).to_numpy()
    rows = np.arange(len(frame))
    out = pd.DataFrame(index=frame.index)
    for key in (USER, SNAPSHOT):
        if key in frame.columns:
            out[key] = frame[key].to_numpy()
    features = np.array(model.features, dtype=object)
    for k in range(n):
        picked = pd.DataFrame(
            {"feature": features[order[:, k]], "value": values[rows, order[:, k]]}
        )
        distinct = picked.drop_duplicates().copy()
        distinct["reason"] = [
            sentence(f, v, model.medians[f])
            for f, v in zip(distinct["feature"], distinct["value"], strict=True)
        ]
        # NaN never matches NaN in a merge key, so missing values go through a sentinel
        sentinel = {"value": np.inf}
        reasons = picked.fillna(sentinel).merge(
            distinct.fillna(sentinel), on=["feature", "value"], how="left"
        )
        out[f"reason_{k + 1}"] = reasons["reason"].to_numpy()
        out[f"feature_{k + 1}"] = picked["feature"].to_numpy()
    return out
