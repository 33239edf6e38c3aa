{#- Grain: one row per user per day with at least one event up to the as-of date (sparse): the
    day's events, core actions and revenue, and whether any of its events counts as
    qualifying activity for churn (churn_activity_events, else activity_events, else every
    event). What the features and the labels are counted from. -#}
with events as (
    select user_id, event_date, event_name, revenue
    from {{ ref('int_events_deduplicated') }}
    where event_date <= {{ as_of_date() }}
),

final as (
    select
        user_id,
        event_date as activity_date,
        count(*) as events,
        sum(case when event_name in {{ sql_list(setting('core_events')) }} then 1 else 0 end)
            as core_actions,
        coalesce(sum(revenue), 0) as revenue,
        bool_or({{ churn_qualifying('event_name') }}) as is_qualifying
    from events
    group by user_id, event_date
)

select * from final
