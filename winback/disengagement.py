"""The vocabulary of the disengagement marts, for the Python that reads them (charts, the
evaluation against the demo's ground truth). The dbt models own the rules: these names must
match `user_disengagement_patterns.pattern` and the `disengagement_signals()` macro."""

PATTERNS = (
    "steady",
    "progressive_decline",
    "abrupt_abandonment",
    "never_activated",
    "involuntary",
)
SIGNALS = ("usage_drop", "no_core_action", "help_visits", "unsubscribed", "payment_failure")
