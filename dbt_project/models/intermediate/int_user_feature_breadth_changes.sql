{#- Feature breadth as changes: a feature (event name) counts toward a user's 28-day breadth
    from the day it is used until 27 days after its last use. Consecutive uses less than 28
    days apart are merged into one covered stretch, so each stretch is a +1 on its first day
    and a -1 on the day after it ends; a running sum over days gives the exact breadth. -#}
with name_days as (
    select distinct user_id, event_name, event_date
    from {{ ref('int_events_deduplicated') }}
    where event_date <= {{ as_of_date() }}
),

gaps as (
    select
        user_id,
        event_name,
        event_date,
        case
            when lag(event_date) over (partition by user_id, event_name order by event_date) is null
                or {{ dbt.datediff(
                    'lag(event_date) over (partition by user_id, event_name order by event_date)',
                    'event_date', 'day') }} > 28
            then 1 else 0
        end as starts_stretch
    from name_days
),

stretches as (
    select
        user_id,
        event_name,
        event_date,
        sum(starts_stretch) over (
            partition by user_id, event_name order by event_date rows unbounded preceding
        ) as stretch_number
    from gaps
),

bounds as (
    select
        user_id,
        min(event_date) as covered_from,
        cast({{ dbt.dateadd('day', 28, 'max(event_date)') }} as date) as covered_until
    from stretches
    group by user_id, event_name, stretch_number
),

changes as (
    select user_id, covered_from as change_date, 1 as change from bounds
    union all
    select user_id, covered_until as change_date, -1 as change from bounds
),

final as (
    select user_id, change_date, sum(change) as breadth_change
    from changes
    group by user_id, change_date
)

select * from final
