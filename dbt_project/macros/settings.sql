{#- Every engagement setting in one place: its default, and the presets that reproduce the
    analytics tools people compare winback with (docs/metrics.md says where each comes from).

    Resolution: an explicit dbt var (--vars '{week_start: sunday}') wins, else the preset chosen
    with the `preset` var, else the default. -#}

{% macro winback_setting_defaults() %}
    {{ return({
        'reporting_timezone': 'UTC',
        'week_start': 'monday',
        'activity_events': none,
        'retention_start_events': none,
        'retention_return_events': none,
        'lifecycle_new_basis': 'signup',
        'retention_cohort_type': 'first_time',
        'report_start_date': none,
        'mau_window_days': 30,
        'retention_max_days': 30,
        'retention_max_weeks': 12,
        'retention_max_months': 6,
        'retention_on_or_after_horizon': 'as_of_date',
        'at_risk_after_days': 7,
        'dormant_after_days': 28,
        'churned_after_days': 60,

        'activation_window_days': 14,
        'never_activated_max_active_days': 3,
        'stopped_after_days': 14,
        'stopped_gap_multiple': 3,
        'substantial_use_min_active_days': 8,
        'abrupt_min_active_days_last_7': 3,
        'decline_min_peak_active_days': 10,
        'decline_max_drop_ratio': 0.5,
        'decline_max_weekly_trend': 0.0,
        'involuntary_active_within_days': 14,

        'usage_drop_window_days': 30,
        'usage_drop_min_pct': 20,
        'usage_drop_min_prior_active_days': 4,
        'no_core_action_days': 14,
        'help_events': ['view_help'],
        'help_window_days': 7,
        'help_min_visits': 1,
        'unsubscribe_window_days': 30,
        'payment_failure_window_days': 30,

        'depth_events': ['export_data', 'configure_integration', 'invite_teammate', 'api_call'],
        'health_weights': {'frequency': 20, 'recency': 15, 'breadth': 15, 'depth': 35, 'message_engagement': 15},
        'health_frequency_target_days': 12,
        'health_breadth_target_features': 5,
        'health_depth_target_share': 0.25,
        'health_recency_horizon_days': 30,
        'health_message_window_days': 60,
        'health_message_target_rate': 0.5,
        'engaged_within_days': 7,
        'engaged_min_health_score': 50,
        'disengaged_after_days': 30,
        'inactive_after_days': 90,
    }) }}
{% endmacro %}

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

{% macro setting(name) %}
    {%- set defaults = winback_setting_defaults() -%}
    {%- if name not in defaults -%}
        {{ exceptions.raise_compiler_error("unknown winback setting '" ~ name ~ "'") }}
    {%- endif -%}
    {%- set explicit = var(name, none) -%}
    {%- if explicit is not none -%}
        {{ return(checked_setting(name, explicit, defaults[name])) }}
    {%- endif -%}
    {%- set preset_name = var('preset', none) -%}
    {%- if preset_name -%}
        {%- set presets = winback_presets() -%}
        {%- if preset_name not in presets -%}
            {{ exceptions.raise_compiler_error("unknown preset '" ~ preset_name ~ "': use one of " ~ presets.keys() | list | join(', ')) }}
        {%- endif -%}
        {%- if name in presets[preset_name] -%}
            {{ return(presets[preset_name][name]) }}
        {%- endif -%}
    {%- endif -%}
    {{ return(defaults[name]) }}
{% endmacro %}

{#- The values a text setting may take (the others are free text only where listed here). -#}
{% macro winback_setting_choices() %}
    {{ return({
        'week_start': ['monday', 'sunday'],
        'lifecycle_new_basis': ['signup', 'first_event'],
        'retention_cohort_type': ['first_time', 'recurring'],
        'retention_on_or_after_horizon': ['as_of_date', 'last_reported_period'],
    }) }}
{% endmacro %}

{#- An explicit value checked against the default's type before any model pastes it into SQL
    (winback's command line and Dagster config check the same with winback.model_settings;
    this covers `dbt build --vars` on its own). -#}
{% macro checked_setting(name, value, default) %}
    {%- set choices = winback_setting_choices() -%}
    {%- set bad = none -%}
    {%- if name in choices and value not in choices[name] -%}
        {%- set bad = "one of " ~ choices[name] | join(', ') -%}
    {%- elif name.endswith('_date') -%}
        {%- do sql_date(value, name) -%}
    {%- elif name == 'reporting_timezone' and not modules.re.match('^[A-Za-z][A-Za-z0-9_+/-]*$', value | string) -%}
        {%- set bad = "an IANA timezone name" -%}
    {%- elif default is number and (value is not number or value is boolean) -%}
        {%- set bad = "a number" -%}
    {%- elif default is mapping and value is not mapping -%}
        {%- set bad = "a mapping" -%}
    {%- elif name.endswith('_events') and (value is string or value is not iterable or value is mapping) -%}
        {%- set bad = "a list of event names" -%}
    {%- endif -%}
    {%- if bad -%}
        {{ exceptions.raise_compiler_error("setting " ~ name ~ " must be " ~ bad ~ ", not " ~ value) }}
    {%- endif -%}
    {{ return(value) }}
{% endmacro %}

{#- The local calendar date of a UTC timestamp in the reporting timezone (DST included). -#}
{% macro local_date(utc_timestamp) -%}
    {{ return(adapter.dispatch('local_date', 'winback')(utc_timestamp)) }}
{%- endmacro %}

{% macro default__local_date(utc_timestamp) -%}
    cast(({{ utc_timestamp }} at time zone 'UTC') at time zone {{ sql_string(setting("reporting_timezone")) }} as date)
{%- endmacro %}

{% macro duckdb__local_date(utc_timestamp) -%}
    {%- if setting('reporting_timezone') | upper == 'UTC' -%}
        cast({{ utc_timestamp }} as date)
    {%- else -%}
        cast(timezone({{ sql_string(setting("reporting_timezone")) }}, cast({{ utc_timestamp }} as timestamptz)) as date)
    {%- endif -%}
{%- endmacro %}

{#- The first day of the period (day, week, month) containing a date, honouring week_start. -#}
{% macro period_start(period, date_sql) -%}
    {%- if period == 'day' -%}
        cast({{ date_sql }} as date)
    {%- elif period == 'week' and setting('week_start') == 'sunday' -%}
        cast({{ dbt.dateadd('day', -1, dbt.date_trunc('week', dbt.dateadd('day', 1, date_sql))) }} as date)
    {%- elif period == 'week' -%}
        cast({{ dbt.date_trunc('week', date_sql) }} as date)
    {%- elif period == 'month' -%}
        cast({{ dbt.date_trunc('month', date_sql) }} as date)
    {%- else -%}
        {{ exceptions.raise_compiler_error("period must be day, week or month, not " ~ period) }}
    {%- endif -%}
{%- endmacro %}

{#- Whole periods from one period start to another. -#}
{% macro periods_between(period, from_sql, to_sql) -%}
    {%- if period == 'week' -%}
        cast({{ dbt.datediff(from_sql, to_sql, 'day') }} / 7 as integer)
    {%- else -%}
        {{ dbt.datediff(from_sql, to_sql, period) }}
    {%- endif -%}
{%- endmacro %}

{#- The weak signals of user_daily_health, in the order of its columns (`signal_<name>`,
    `<name>_since`); disengagement_alerts reads them by these names. -#}
{% macro disengagement_signals() %}
    {{ return(['usage_drop', 'no_core_action', 'help_visits', 'unsubscribed', 'payment_failure']) }}
{% endmacro %}

{#- An SQL predicate: the event name is in the setting's event list. An empty or null list
    means every event (empty_means_all) or none (a signal switched off). -#}
{% macro event_in_setting(name_sql, setting_name, empty_means_all=true) -%}
    {%- set events = setting(setting_name) -%}
    {%- if events -%}
        {{ name_sql }} in {{ sql_list(events) }}
    {%- elif empty_means_all -%}
        true
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}

{#- A date n periods after another (n may be negative). -#}
{% macro period_add(period, n, date_sql) -%}
    {%- if period == 'week' and n is string -%}
        cast({{ dbt.dateadd('day', '7 * (' ~ n ~ ')', date_sql) }} as date)
    {%- elif period == 'week' -%}
        cast({{ dbt.dateadd('day', 7 * n, date_sql) }} as date)
    {%- else -%}
        cast({{ dbt.dateadd(period, n, date_sql) }} as date)
    {%- endif -%}
{%- endmacro %}

{#- The value of `value_sql` on the row with the smallest `order_sql` in a group. -#}
{% macro first_value_by(value_sql, order_sql) -%}
    {{ return(adapter.dispatch('first_value_by', 'winback')(value_sql, order_sql)) }}
{%- endmacro %}

{% macro default__first_value_by(value_sql, order_sql) -%}
    (array_agg({{ value_sql }} order by {{ order_sql }}))[1]
{%- endmacro %}

{% macro duckdb__first_value_by(value_sql, order_sql) -%}
    arg_min({{ value_sql }}, {{ order_sql }})
{%- endmacro %}
