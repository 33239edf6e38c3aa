{#- The five components of the health score, in the order of user_daily_health's columns
    (`<component>_score`); the keys the health_weights setting may use. HEALTH_COMPONENTS in
    winback/model_settings.py is the same list (tests/test_drift.py keeps the two equal). -#}
{% macro health_components() %}
    {{ return(['frequency', 'recency', 'breadth', 'depth', 'message_engagement']) }}
{% endmacro %}
