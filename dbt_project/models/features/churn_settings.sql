-- depends_on: {{ ref('stg_landing__events') }}
{#- Grain: one row: the churn settings this build resolved (docs/churn.md), read by the Python
    training and scoring steps so that they use the same horizon, events and tiers as the
    feature and label models, and the defaults live in one place
    (macros/settings/winback_setting_defaults). -#}
{%- set high = setting('churn_high_risk_min') %}
{%- set medium = setting('churn_medium_risk_min') %}
{%- if medium | float > high | float %}
    {{ exceptions.raise_compiler_error("setting churn_medium_risk_min (" ~ medium ~ ") must be at most churn_high_risk_min (" ~ high ~ ")") }}
{%- endif %}
{%- set events = churn_activity_events() %}

select
    {{ as_of_date() }} as as_of_date,
    {{ sql_number(setting('churn_horizon_days') | int, 'churn_horizon_days') }} as horizon_days,
    {%- if events %}
    {{ sql_array(events) }} as activity_events,
    {%- else %}
    cast(null as varchar[]) as activity_events,
    {%- endif %}
    {{ sql_number(setting('churn_snapshot_every_days') | int, 'churn_snapshot_every_days') }} as snapshot_every_days,
    {{ sql_number(setting('churn_training_snapshots') | int, 'churn_training_snapshots') }} as training_snapshots,
    {{ sql_number(setting('churn_retrain_every_days') | int, 'churn_retrain_every_days') }} as retrain_every_days,
    cast({{ sql_number(high, 'churn_high_risk_min') }} as double) as high_risk_min,
    cast({{ sql_number(medium, 'churn_medium_risk_min') }} as double) as medium_risk_min
