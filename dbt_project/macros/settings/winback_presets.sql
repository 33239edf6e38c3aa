{#- The presets that reproduce the analytics tools people compare winback with (docs/metrics.md
    says where each value comes from): preset name -> the settings it changes. -#}
{% macro winback_presets() %}
    {{ return({
        'posthog': {
            'week_start': 'sunday',
            'lifecycle_new_basis': 'signup',
            'retention_cohort_type': 'recurring',
            'mau_window_days': 30,
            'retention_on_or_after_horizon': 'last_reported_period',
        },
        'amplitude': {
            'week_start': 'sunday',
            'lifecycle_new_basis': 'first_event',
            'retention_cohort_type': 'first_time',
            'mau_window_days': 28,
            'retention_on_or_after_horizon': 'as_of_date',
        },
        'mixpanel': {
            'week_start': 'monday',
            'lifecycle_new_basis': 'first_event',
            'retention_cohort_type': 'first_time',
            'mau_window_days': 28,
            'retention_on_or_after_horizon': 'as_of_date',
        },
    }) }}
{% endmacro %}
