{#- Grain: one row per user per UTC day with any event, up to the as-of date.
    Incremental: each run deletes the days from the window start on (and any day after the
    as-of date) and rebuilds the half-open window [start, as-of + 1 day). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_incremental_window('activity_date') }}",
    )
}}

{%- set window_start = incremental_window_start('activity_date') %}

with events as (
    select * from {{ ref('int_events_deduplicated') }}
    where event_date < {{ dbt.dateadd('day', 1, as_of_date()) }}
    {%- if window_start %}
        and event_date >= {{ window_start }}
    {%- endif %}
),

daily as (
    select
        user_id,
        event_date as activity_date,
        count(*) as events,
        count(distinct event_name) as distinct_event_names,
        sum(case when event_name in {{ sql_list(setting('core_events')) }} then 1 else 0 end)
            as core_actions,
        coalesce(sum(revenue), 0) as revenue,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at
    from events
    group by user_id, event_date
),

final as (
    select
        daily.*,
        core_actions > 0 as is_core_active
    from daily
)

select * from final
