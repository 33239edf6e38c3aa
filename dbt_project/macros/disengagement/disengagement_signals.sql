{#- The weak signals of user_daily_health, in the order of its columns (`signal_<name>`,
    `<name>_since`); disengagement_alerts reads them by these names. winback/disengagement.py
    holds the same list for Python (tests/test_drift.py keeps the two equal). -#}
{% macro disengagement_signals() %}
    {{ return(['usage_drop', 'no_core_action', 'help_visits', 'unsubscribed', 'payment_failure']) }}
{% endmacro %}
