"""Why a user is at risk, in words a CRM person understands: up to three features that push the
user's churn probability up, the strongest first, each as a sentence with the user's value ("no
activity for 143 days", "active days down 60 % vs the previous 4 weeks").

How much a feature pushes, per model:

- `logistic`: coefficient x standardised value, the feature's own term of the model's log-odds
  (after the Pipeline's imputation, log and scaling), so relative to the average training
  user. Exact for a linear model, and the sigmoid calibration is increasing, so it ranks the
  same way for the calibrated probability.
- any other model (`hgb`): the change in the calibrated churn probability when that one
  feature is set to its training median, all others kept: p(x) - p(x with x_j = median_j).
  It is deterministic, needs nothing beyond the model, and reads as "compared with a typical
  user, this value adds N points of risk". It ignores interactions (two features that matter
  only together each get a share) and, unlike SHAP values, the contributions do not sum to the
  prediction; for three sentences that is the trade worth making against SHAP's cost and
  dependencies.

Only features that raise the risk are reasons: a feature whose contribution is 0 or negative
is never named, and a user with fewer than three risk-raising features gets null (None) in the
remaining `reason_k` / `feature_k` columns rather than a sentence about something that lowers
their risk. Reasons are ranked by contribution, highest first, ties by the features' order.

Speed of the median swap for the trees. Done by prediction, it costs one prediction of every
user per feature: (n_features + 1) predictions, and one prediction of 1M users by
HistGradientBoostingClassifier (100 trees) took 4.5 to 6 s on this 2-core machine, so with 60
features about 6 minutes. Even restricted to the 10-12 most important features it would be a
minute. `_TreeCodes` computes the same numbers exactly in a few seconds instead:

- each tree has at most 14 splits (`max_leaf_nodes=15`); a user's answers to a tree's splits
  (x[f] <= threshold, missing values sent the side the tree learnt) form a 14-bit code, and a
  table of 2^14 entries per tree maps every code to the leaf's value. A prediction is then a
  few comparisons per distinct split and one table look-up per tree, vectorised in numpy;
- setting feature j to its median changes only the bits of the splits on j, to constants: for
  each tree that splits on j, the code with those bits replaced gives the swapped leaf, and
  the swapped log-odds are the user's minus the change of those trees' leaves (a feature is
  used by about 25 of 100 trees; one that no tree uses contributes exactly 0, as does a user
  whose value already is the median);
- the calibration map is applied to the log-odds as `CalibratedClassifierCV` does.

No feature is left out and nothing is approximated: the contributions equal the
prediction-based median swap to within float rounding (the swapped log-odds are summed in a
different order; tests hold them to 1e-12) and the probabilities are bit-identical to
`predict_proba`. The price is reading scikit-learn's fitted internals (`_predictors`' node
arrays, `_baseline_prediction`, the calibrators), which a scikit-learn upgrade may change. So
every call checks itself: the probabilities of its first rows must equal `predict_proba`'s bit
for bit, otherwise (and for a structure it does not handle: categorical splits, more than 16
splits in a tree, several classes) the prediction-based swap runs instead, exact and slow.

`REASON_TEMPLATES` maps feature names to sentences; a feature not in the table gets a generic
sentence naming it. Placeholders: `{value}` and `{typical}` (the training median), formatted
as whole numbers when whole; `{abs_value}` (|value|); `{abs_pct}` (|value| x 100, for changes
stored as fractions); `{s}` ("s" unless the value is 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.churn.dataset import SNAPSHOT, USER
from ml.churn.train import ChurnModel

N_REASONS = 3
LINEAR_MODELS = ("logistic", "bgnbd_calibrated")


@dataclass(frozen=True)
class ReasonTemplate:
    """The sentence for a value above the typical one (`high`), below it (`low`, default
    `high`), equal to 0 (`zero`, default by direction) and unknown (`missing`). With `signed`,
    the direction is the value's sign rather than its place against the typical value (for
    changes: "down 60 %" whatever the typical change is).

    A 0/1 flag has `high` for 1 and `zero` for 0, each true of the user on its own."""

    high: str
    low: str | None = None
    zero: str | None = None
    missing: str | None = None
    signed: bool = False


def _flag(yes: str, no: str) -> ReasonTemplate:
    return ReasonTemplate(yes, zero=no)


def _window_count(thing: str, window: str, none: str) -> ReasonTemplate:
    """A count over a window: `thing` holds {value} and {s}, e.g. "{value} event{s}"."""
    return ReasonTemplate(
        f"{thing} {window}",
        low=f"only {thing} {window} (typical: {{typical}})",
        zero=none,
    )


REASON_TEMPLATES: dict[str, ReasonTemplate] = {
    # BG/NBD's view (ml.churn.train.with_bgnbd_features): log-odds, so no value is shown
    "bgnbd_logit_alive": ReasonTemplate(
        "still active by their own rhythm of activity",
        low="quiet for longer than their own rhythm of activity predicts",
        missing="too little repeat activity to read their rhythm",
    ),
    "bgnbd_logit_no_purchase": ReasonTemplate(
        "by their own rhythm, unlikely to be active again within the horizon",
        low="by their own rhythm, likely to be active again within the horizon",
        missing="too little repeat activity to read their rhythm",
    ),
    "bgnbd_expected_purchases": ReasonTemplate(
        "{value} active days expected in the horizon by their rhythm (typical: {typical})",
        low="only {value} active days expected in the horizon by their rhythm (typical: {typical})",
        missing="too little repeat activity to read their rhythm",
    ),
    # --- recency and tenure
    "days_since_last_activity": ReasonTemplate(
        "no activity for {value} days",
        low="last active {value} days ago",
        zero="active today",
        missing="no activity recorded yet",
    ),
    "days_since_first_activity": ReasonTemplate(
        "first active {value} days ago (typical: {typical})",
        zero="first active today",
        missing="never active yet",
    ),
    "tenure_days": ReasonTemplate(
        "signed up {value} days ago (typical: {typical})",
        low="signed up only {value} days ago (typical: {typical})",
        zero="signed up today",
    ),
    # --- active days
    "active_days_7": ReasonTemplate(
        "active {value} of the last 7 days",
        low="active only {value} of the last 7 days (typical: {typical})",
        zero="not active in the last 7 days",
    ),
    "active_days_28": ReasonTemplate(
        "active {value} of the last 28 days",
        low="active only {value} of the last 28 days (typical: {typical})",
        zero="not active in the last 28 days",
    ),
    "active_days_90": ReasonTemplate(
        "active {value} of the last 90 days",
        low="active only {value} of the last 90 days (typical: {typical})",
        zero="not active in the last 90 days",
    ),
    "active_days_total": _window_count("{value} active day{s}", "so far", "never active"),
    "active_days_prior_28": ReasonTemplate(
        "active {value} of the 28 days before the last 4 weeks (typical: {typical})",
        low="active only {value} of the 28 days before the last 4 weeks (typical: {typical})",
        zero="not active in the 4 weeks before the last 4",
    ),
    "activity_change_28": ReasonTemplate(
        "active days up {abs_pct} % vs the previous 4 weeks",
        low="active days down {abs_pct} % vs the previous 4 weeks",
        zero="active days flat vs the previous 4 weeks",
        missing="not active in the previous 4 weeks, nothing to compare with",
        signed=True,
    ),
    "usual_gap_days": ReasonTemplate(
        "usually {value} days between active days (typical: {typical})",
        low="usually only {value} day{s} between active days (typical: {typical})",
        missing="too few active days to know their usual gap",
    ),
    "overdue_ratio": ReasonTemplate(
        "away for {value} times their usual gap between active days",
        low="back within their usual gap between active days ({value} times it)",
        zero="active today, within their usual gap",
        missing="too few active days to know their usual gap",
    ),
    "peak_active_days_28": ReasonTemplate(
        "active {value} of 28 days at their best (typical: {typical})",
        low="at most {value} active day{s} in any 4 weeks (typical: {typical})",
        zero="never active",
    ),
    "drop_ratio": ReasonTemplate(
        "active {abs_pct} % as much in their last 4 weeks before stopping as at their best",
        low="active only {abs_pct} % as much in their last 4 weeks before stopping as at their "
        "best (typical: {typical_pct} %)",
        zero="not active at all in the 4 weeks before stopping",
        missing="no active weeks to compare with",
    ),
    # --- BG/NBD summary of the active days
    "frequency": ReasonTemplate(
        "{value} repeat purchase{s} so far (typical: {typical})",
        zero="never bought again after the first purchase",
    ),
    "recency": ReasonTemplate(
        "{value} days between first and last purchase (typical: {typical})",
        zero="all purchases on a single day",
    ),
    "T": ReasonTemplate("customer for {value} days (typical: {typical})"),
    # --- usage
    "events_28": _window_count("{value} event{s}", "in the last 28 days", "no event in 28 days"),
    "events_90": _window_count("{value} event{s}", "in the last 90 days", "no event in 90 days"),
    "core_actions_28": _window_count(
        "{value} core action{s}", "in the last 28 days", "no core action in the last 28 days"
    ),
    "days_since_last_core_action": ReasonTemplate(
        "no core action for {value} days",
        low="last core action {value} days ago",
        zero="core action today",
        missing="never used the core feature",
    ),
    "feature_breadth_28": _window_count(
        "used {value} feature{s}", "in the last 28 days", "used no feature in the last 28 days"
    ),
    "usage_change_pct": ReasonTemplate(
        "usage up {abs_value} % vs the previous period",
        low="usage down {abs_value} % vs the previous period",
        zero="usage flat vs the previous period",
        missing="no earlier usage to compare with",
        signed=True,
    ),
    "health_score": ReasonTemplate(
        "health score {value} of 100 (typical: {typical})",
        low="health score only {value} of 100 (typical: {typical})",
        zero="health score 0 of 100",
        missing="no health score yet",
    ),
    # --- purchases and revenue
    "days_since_last_purchase": ReasonTemplate(
        "no purchase for {value} days",
        low="last purchase {value} days ago",
        zero="bought today",
        missing="never bought",
    ),
    "purchases_90": _window_count(
        "{value} purchase{s}", "in the last 90 days", "no purchase in the last 90 days"
    ),
    "purchases_total": _window_count("{value} purchase{s}", "so far", "never bought"),
    "revenue_90": ReasonTemplate(
        "spent ${value} in the last 90 days (typical: ${typical})",
        low="spent only ${value} in the last 90 days (typical: ${typical})",
        zero="spent nothing in the last 90 days",
    ),
    "revenue_365": ReasonTemplate(
        "spent ${value} in the last 365 days (typical: ${typical})",
        low="spent only ${value} in the last 365 days (typical: ${typical})",
        zero="spent nothing in the last 365 days",
    ),
    "revenue_total": ReasonTemplate(
        "spent ${value} so far (typical: ${typical})",
        low="spent only ${value} so far (typical: ${typical})",
        zero="never spent anything",
    ),
    "is_value_high": _flag("a high-value customer", "not a high-value customer"),
    "is_value_mid": _flag("a mid-value customer", "not a mid-value customer"),
    # --- lifecycle state (one-hot: the state on the snapshot date)
    # the lifecycle state on the snapshot date (user_daily_engagement.state)
    "is_state_new": _flag("new: first active day today", "not new"),
    "is_state_resurrected": _flag(
        "back today after a long absence (was dormant)", "not just back from a long absence"
    ),
    "is_state_reactivated": _flag(
        "back today after a short absence (was at risk)", "not just back from a short absence"
    ),
    "is_state_current": _flag("active in the last week", "not active in the last week"),
    "is_state_at_risk": _flag(
        "at risk: last active one to four weeks ago", "not in the at-risk window"
    ),
    "is_state_dormant": _flag("dormant: last active four to eight weeks ago", "not dormant"),
    "is_state_churned": _flag("churned: last active eight weeks ago or more", "not churned"),
    # --- disengagement signals (0/1) and patterns of the users who stopped
    "signal_usage_drop": _flag("usage dropped sharply", "no sharp drop in usage"),
    "signal_no_core_action": _flag("no core action lately", "used the core feature lately"),
    "signal_help_visits": _flag(
        "many help-page visits lately", "no unusual number of help-page visits"
    ),
    "signal_unsubscribed": _flag("unsubscribed from our messages", "still subscribed"),
    "signal_payment_failure": _flag("a payment failed recently", "no recent failed payment"),
    "active_signals": ReasonTemplate(
        "{value} warning sign{s} at once (typical: {typical})", zero="no warning sign"
    ),
    "has_stopped": _flag("has stopped using the product", "still using the product"),
    "pattern_never_activated": _flag(
        "signed up but never really got started", "got started after signing up"
    ),
    "pattern_abrupt_abandonment": _flag(
        "stopped abruptly after regular use", "did not stop abruptly"
    ),
    "pattern_progressive_decline": _flag(
        "use declined gradually before stopping", "no gradual decline before stopping"
    ),
    "pattern_involuntary": _flag(
        "stopped after a payment problem (involuntary churn)", "no sign of involuntary churn"
    ),
    # --- help and messages
    "help_visits_recent": ReasonTemplate(
        "{value} help-page visit{s} recently", zero="no help-page visit recently"
    ),
    "messages_received_recent": ReasonTemplate(
        "received {value} message{s} from us recently (typical: {typical})",
        zero="received no message from us recently",
    ),
    "messages_engaged_recent": ReasonTemplate(
        "engaged with {value} of our recent messages",
        low="engaged with only {value} of our recent messages (typical: {typical})",
        zero="engaged with none of our recent messages",
    ),
    "messages_received_90": ReasonTemplate(
        "received {value} message{s} from us in 90 days (typical: {typical})",
        zero="received no message from us in 90 days",
    ),
    "messages_opened_90": ReasonTemplate(
        "opened {value} of our messages in 90 days",
        low="opened only {value} of our messages in 90 days (typical: {typical})",
        zero="opened none of our messages in 90 days",
    ),
    "days_since_last_message_open": ReasonTemplate(
        "last opened one of our messages {value} days ago",
        zero="opened one of our messages today",
        missing="never opened one of our messages",
    ),
    # --- survey (one-hot: the latest answer)
    "has_survey_response": _flag("answered our survey", "no survey answer"),
    "survey_reason_complexity": _flag(
        "said it was too complex in the survey", "did not call it too complex"
    ),
    "survey_reason_missing_feature": _flag(
        "said in the survey that a feature they need is missing",
        "did not say a feature is missing",
    ),
    "survey_reason_price": _flag(
        "said in the survey that it costs too much", "did not complain about the price"
    ),
    "survey_reason_competitor": _flag(
        "said in the survey they are going to a competitor", "did not mention a competitor"
    ),
    "survey_reason_no_longer_needed": _flag(
        "said in the survey they no longer need it", "did not say they no longer need it"
    ),
    "survey_reason_technical_issue": _flag(
        "reported a technical issue in the survey", "reported no technical issue"
    ),
    "survey_reason_other": _flag(
        "gave another reason for leaving in the survey", "gave no other reason in the survey"
    ),
    # --- payments
    "payment_failures_total": ReasonTemplate(
        "payment failed {value} time{s} so far", zero="no failed payment so far"
    ),
    "has_unresolved_payment_failure": _flag(
        "payment failed and not fixed since", "no unresolved payment failure"
    ),
    # --- names of earlier feature sets, kept for models trained on them
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
        signed=True,
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


def _pct(value: float) -> str:
    return _number(round(abs(value) * 100)) if np.isfinite(value) else "unknown"


def sentence(feature: str, value: float, typical: float) -> str:
    """The reason sentence for one feature value."""
    template = REASON_TEMPLATES.get(feature, GENERIC)
    pivot = 0.0 if template.signed else typical
    if not np.isfinite(value):
        text = template.missing or GENERIC.missing
    elif value == 0 and template.zero:
        text = template.zero
    elif np.isfinite(pivot) and value < pivot:
        text = template.low or template.high
    else:
        text = template.high
    return text.format(
        value=_number(value),
        typical=_number(typical),
        abs_value=_number(abs(value)) if np.isfinite(value) else "unknown",
        abs_pct=_pct(value),
        typical_pct=_pct(typical),
        s="" if value == 1 else "s",
        label=feature.replace("_", " "),
    )


# --- contributions ----------------------------------------------------------------------------

# rows per block: the trees' codes of a block (trees x rows x 2 bytes), its leaf values
# (x 8 bytes) and its split answers stay within a few tens of MB
_BLOCK_ROWS = 32_768
# rows per prediction call of the prediction-based median swap (the fallback)
_BATCH_ROWS = 500_000
# rows of every call checked against predict_proba before the fast path is trusted
_CHECK_ROWS = 2_000
# splits per tree the code tables handle: a table has 2^splits entries
_MAX_SPLITS = 16


def _calibrate(model: ChurnModel, raw: np.ndarray) -> np.ndarray:
    """P(churn) from the trees' log-odds, the arithmetic of `CalibratedClassifierCV`'s
    predict_proba for two classes with a sigmoid map (sum of each calibrated classifier's
    probability from zero, divided by their number)."""
    classifiers = model.calibrated.calibrated_classifiers_
    total = np.zeros(len(raw))
    for classifier in classifiers:
        p = classifier.calibrators[0].predict(raw)
        p[(p > 1.0) & (p <= 1.0 + 1e-5)] = 1.0
        total += p
    total /= len(classifiers)
    return total


class _TreeCodes:
    """A fitted HistGradientBoostingClassifier as per-tree code tables (module docstring):
    `log_odds` and the median-swap `swap_contributions`, in numpy."""

    def __init__(self, model: ChurnModel):
        estimator = model.estimator
        self.model = model
        self.baseline = estimator._baseline_prediction
        medians = np.array([model.medians[f] for f in model.features], dtype=float)
        conditions: dict[tuple[int, float, bool], int] = {}
        self.trees: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        # feature -> [(tree, mask keeping the other splits' bits, the median's bits)]
        self.uses: dict[int, list[tuple[int, np.uint16, np.uint16]]] = {}
        for t, (predictor,) in enumerate(estimator._predictors):
            nodes = predictor.nodes
            internal = np.flatnonzero(nodes["is_leaf"] == 0)
            bit_of = np.zeros(len(nodes), dtype=np.int64)
            bit_of[internal] = np.arange(len(internal))
            keys = []
            for node in internal:
                key = (
                    int(nodes["feature_idx"][node]),
                    float(nodes["num_threshold"][node]),
                    bool(nodes["missing_go_to_left"][node]),
                )
                keys.append(conditions.setdefault(key, len(conditions)))
            self.trees.append(
                (
                    np.array(keys, dtype=np.int64),
                    np.arange(len(internal)),
                    self._table(nodes, bit_of),
                )
            )
            by_feature: dict[int, list[int]] = {}
            for bit, node in enumerate(internal):
                by_feature.setdefault(int(nodes["feature_idx"][node]), []).append(bit)
            for j, bits in by_feature.items():
                clear = np.uint16(0xFFFF)
                fixed = np.uint16(0)
                for bit in bits:
                    node = internal[bit]
                    goes_left = _goes_left(
                        np.array([medians[j]]),
                        float(nodes["num_threshold"][node]),
                        bool(nodes["missing_go_to_left"][node]),
                    )[0]
                    clear &= np.uint16(~(1 << bit) & 0xFFFF)
                    fixed |= np.uint16(int(goes_left) << bit)
                self.uses.setdefault(j, []).append((t, clear, fixed))
        self.conditions = list(conditions)

    @staticmethod
    def supports(model: ChurnModel) -> bool:
        estimator = model.estimator
        try:
            predictors = estimator._predictors
            if estimator.n_trees_per_iteration_ != 1 or estimator._preprocessor is not None:
                return False
            if any(len(cc.calibrators) != 1 for cc in model.calibrated.calibrated_classifiers_):
                return False
            return all(
                len(p) == 1
                and not p[0].nodes["is_categorical"].any()
                and (p[0].nodes["is_leaf"] == 0).sum() <= _MAX_SPLITS
                for p in predictors
            )
        except (AttributeError, KeyError, ValueError, TypeError):
            return False

    @staticmethod
    def _table(nodes: np.ndarray, bit_of: np.ndarray) -> np.ndarray:
        """The leaf value of every code of this tree's splits (bit set = goes left)."""
        splits = int((nodes["is_leaf"] == 0).sum())
        codes = np.arange(2**splits, dtype=np.int64)
        node = np.zeros(len(codes), dtype=np.int64)
        leaf = nodes["is_leaf"].astype(bool)
        while not leaf[node].all():
            left = (codes >> bit_of[node]) & 1
            step = np.where(left == 1, nodes["left"][node], nodes["right"][node])
            node = np.where(leaf[node], node, step)
        return nodes["value"][node].astype(np.float64)

    def _codes(self, x: np.ndarray) -> np.ndarray:
        """(trees, rows) uint16: each tree's answers to its splits."""
        columns = np.asfortranarray(x)
        answers = np.empty((len(self.conditions), len(x)), dtype=np.uint16)
        for c, (feature, threshold, missing_left) in enumerate(self.conditions):
            answers[c] = _goes_left(columns[:, feature], threshold, missing_left)
        codes = np.zeros((len(self.trees), len(x)), dtype=np.uint16)
        for t, (keys, bits, _) in enumerate(self.trees):
            code = codes[t]
            for key, bit in zip(keys, bits, strict=True):
                code |= answers[key] << np.uint16(bit)
        return codes

    def scores(self, x: np.ndarray, swap: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """P(churn) of every row and, with `swap`, every feature's median-swap contribution
        (rows x features)."""
        codes = self._codes(x)
        leaves = np.empty((len(self.trees), len(x)))
        raw = np.zeros(len(x))
        raw += self.baseline[0, 0]
        for t, (_, _, table) in enumerate(self.trees):
            leaves[t] = table[codes[t]]
            raw += leaves[t]
        p = _calibrate(self.model, raw)
        if not swap:
            return p, None
        out = np.zeros((len(x), len(self.model.features)))
        for j, uses in self.uses.items():
            change = np.zeros(len(x))
            for t, clear, fixed in uses:
                swapped = self.trees[t][2][(codes[t] & clear) | fixed]
                change += swapped - leaves[t]
            out[:, j] = p - _calibrate(self.model, raw + change)
        return p, out


def _goes_left(values: np.ndarray, threshold: float, missing_left: bool) -> np.ndarray:
    """A split's answer as HistGradientBoosting's predictor gives it: x <= threshold, a missing
    value to the side the split learnt."""
    left = values <= threshold
    if missing_left:
        left |= np.isnan(values)
    return left


def _median_swap_by_prediction(model: ChurnModel, x: np.ndarray) -> np.ndarray:
    """p(x) - p(x with feature j at its training median), for every row and feature, by
    prediction: each chunk of users is stacked once as is and once per feature with that
    feature swapped, and scored in one call. Exact for any model; (n_features + 1)
    predictions of every row."""
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


def _is_linear(model: ChurnModel) -> bool:
    """A logistic-regression pipeline (`logistic`, `bgnbd_calibrated`): exact terms."""
    return model.name in LINEAR_MODELS


def _fast_trees(model: ChurnModel, x: np.ndarray) -> _TreeCodes | None:
    """The code tables of a tree model when they reproduce its probabilities bit for bit on
    the first rows of `x`, else None (the prediction-based swap runs)."""
    if _is_linear(model) or len(x) == 0 or not _TreeCodes.supports(model):
        return None
    codes = _TreeCodes(model)
    head = x[:_CHECK_ROWS]
    expected = model.calibrated.predict_proba(pd.DataFrame(head, columns=model.features))[:, 1]
    if not np.array_equal(codes.scores(head, swap=False)[0], expected):
        return None
    return codes


def _blocks(model: ChurnModel, x: np.ndarray, swap: bool = True):
    """(start, P(churn), contributions or None) per block of rows."""
    if _is_linear(model):
        steps = model.estimator
        for start in range(0, len(x), _BLOCK_ROWS):
            block = x[start : start + _BLOCK_ROWS]
            frame = pd.DataFrame(block, columns=model.features)
            p = model.calibrated.predict_proba(frame)[:, 1]
            push = np.asarray(steps[:-1].transform(frame)) * steps[-1].coef_[0] if swap else None
            yield start, p, push
        return
    trees = _fast_trees(model, x)
    for start in range(0, len(x), _BLOCK_ROWS):
        block = x[start : start + _BLOCK_ROWS]
        if trees is not None:
            p, push = trees.scores(block, swap)
        else:
            frame = pd.DataFrame(block, columns=model.features)
            p = model.calibrated.predict_proba(frame)[:, 1]
            push = _median_swap_by_prediction(model, block) if swap else None
        yield start, p, push


def contributions(model: ChurnModel, frame: pd.DataFrame) -> pd.DataFrame:
    """How much each feature pushes each row's churn risk up (see the module docstring), one
    column per feature, indexed like `frame`."""
    x = model.matrix(frame).to_numpy()
    values = np.empty((len(x), len(model.features)))
    for start, _, push in _blocks(model, x):
        values[start : start + len(push)] = push
    return pd.DataFrame(values, index=frame.index, columns=model.features)


def _top_raising(push: np.ndarray, n: int) -> np.ndarray:
    """(rows, n) feature indices of the n largest positive contributions, highest first, ties
    to the earlier feature; -1 where fewer than n are positive."""
    push = push.copy()
    rows = np.arange(len(push))
    out = np.full((len(push), n), -1, dtype=np.int64)
    for k in range(n):
        best = np.argmax(push, axis=1)  # the first of equal maxima: the earlier feature
        raising = push[rows, best] > 0
        out[raising, k] = best[raising]
        push[rows, best] = -np.inf
    return out


def reason_indices(
    model: ChurnModel, frame: pd.DataFrame, n: int = N_REASONS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P(churn) per row (what `model.predict_proba` gives), the (rows, n) indices into
    `model.features` of the risk-raising features, strongest first (-1: none), and the
    feature matrix, in blocks of rows so that memory stays bounded at any size."""
    if n > len(model.features):
        raise ValueError(
            f"top_reasons: {n} reasons asked but the model has {len(model.features)} features"
        )
    x = model.matrix(frame).to_numpy()
    p = np.empty(len(x))
    picked = np.empty((len(x), n), dtype=np.int64)
    for start, p_block, push in _blocks(model, x):
        p[start : start + len(p_block)] = p_block
        picked[start : start + len(p_block)] = _top_raising(push, n)
    return p, picked, x


def reason_columns(model: ChurnModel, picked: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
    """`reason_1` ... and `feature_1` ... as object arrays (None where no feature raises the
    risk). Sentences are built once per distinct (feature, value), not once per user: a million
    users share far fewer distinct values."""
    out: dict[str, np.ndarray] = {}
    rows = np.arange(len(x))
    names = np.array(list(model.features) + [None], dtype=object)
    for k in range(picked.shape[1]):
        which = picked[:, k]
        texts = np.full(len(x), None, dtype=object)
        values = x[rows, np.maximum(which, 0)]
        for j in np.unique(which[which >= 0]):
            mine = which == j
            distinct, inverse = np.unique(values[mine], return_inverse=True)
            feature = model.features[j]
            said = [sentence(feature, v, model.medians[feature]) for v in distinct]
            texts[mine] = np.array(said, dtype=object)[inverse.ravel()]
        out[f"reason_{k + 1}"] = texts
        out[f"feature_{k + 1}"] = names[which]
    return out


def top_reasons(model: ChurnModel, frame: pd.DataFrame, n: int = N_REASONS) -> pd.DataFrame:
    """`user_id` (and `snapshot_date` when the frame has it), `reason_1` ... `reason_n` and
    the features they name, `feature_1` ... `feature_n`, indexed like `frame`. Only features
    that raise the risk are named; the remaining columns are None for a user with fewer than
    `n` of them."""
    _, picked, x = reason_indices(model, frame, n)
    out = pd.DataFrame(index=frame.index)
    for key in (USER, SNAPSHOT):
        if key in frame.columns:
            out[key] = frame[key].to_numpy()
    columns = reason_columns(model, picked, x)
    for k in range(n):
        out[f"reason_{k + 1}"] = columns[f"reason_{k + 1}"]
        out[f"feature_{k + 1}"] = columns[f"feature_{k + 1}"]
    return out
