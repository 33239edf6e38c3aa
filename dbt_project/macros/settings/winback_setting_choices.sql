{#- The values a text setting may take (the others are free text only where listed here). -#}
{% macro winback_setting_choices() %}
    {{ return({
        'week_start': ['monday', 'sunday'],
        'lifecycle_new_basis': ['signup', 'first_event'],
        'retention_cohort_type': ['first_time', 'recurring'],
        'retention_on_or_after_horizon': ['as_of_date', 'last_reported_period'],
        'cadence': ['fixed', 'auto'],
        'usual_gap_basis': ['window', 'gaps'],
    }) }}
{% endmacro %}
