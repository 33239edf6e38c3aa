{#- The events that count as qualifying activity for churn: the churn_activity_events setting,
    else the activity_events setting; an empty list (both unset) means every event. -#}
{% macro churn_activity_events() %}
    {{ return(setting('churn_activity_events') or setting('activity_events') or []) }}
{% endmacro %}
