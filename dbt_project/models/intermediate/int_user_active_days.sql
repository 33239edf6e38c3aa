-- depends_on: {{ ref('int_events_deduplicated') }}
-- depends_on: {{ ref('user_activity_daily') }}
{#- The days each user was active: any event, or only the `activity_events` setting's events. -#}
{%- set activity_events = setting('activity_events') %}

{%- if activity_events %}
with events as (
    select * from {{ ref('int_events_deduplicated') }}
    where event_date <= {{ as_of_date() }}
        and {{ event_in_setting('event_name', 'activity_events') }}
),

final as (
    select
        user_id,
        event_date as activity_date,
        count(*) as events,
        sum(case when event_name in {{ sql_list(setting('core_events')) }} then 1 else 0 end)
            as core_actions
    from events
    group by user_id, event_date
)
{%- else %}
with final as (
    select user_id, activity_date, events, core_actions
    from {{ ref('user_activity_daily') }}
    where activity_date <= {{ as_of_date() }}
)
{%- endif %}

select * from final
