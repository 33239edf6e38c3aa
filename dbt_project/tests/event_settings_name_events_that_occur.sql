{#- A warning, not an error: the settings that name events (activity, core, help and depth
    events, the retention events) and the names among them that never occur up to the as-of
    date, one row each. A typo or another product's default (core_events on a store's data)
    switches a signal or a score component off without a word otherwise. Shown in Dagster as a
    WARN check on user_activity_daily; winback also logs it before the build and keeps it in
    raw.build_warnings (winback.cadence.build_warnings). -#}
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'user_activity_daily'}}}) }}
-- depends_on: {{ ref('user_activity_daily') }}
{%- set named = [] %}
{%- for name in ['activity_events', 'core_events', 'help_events', 'depth_events', 'retention_start_events', 'retention_return_events'] %}
    {%- for event in (setting(name) or []) %}
        {%- do named.append((name, event)) %}
    {%- endfor %}
{%- endfor %}

with named (setting_name, event_name) as (
    {%- if named %}
    values
        {%- for name, event in named %}
        ({{ sql_string(name) }}, {{ sql_string(event) }}){{ ',' if not loop.last }}
        {%- endfor %}
    {%- else %}
    select cast(null as varchar), cast(null as varchar) where false
    {%- endif %}
),

seen as (
    select distinct event_name
    from {{ ref('stg_landing__events') }}
    where event_date <= {{ as_of_date() }}
),

final as (
    select setting_name, event_name
    from named
    where event_name not in (select event_name from seen where event_name is not null)
)

select * from final
