{#- Feature breadth as changes, from name-days on or after `since_sql` (none: all history).
    A feature (event name) counts toward a user's 28-day breadth from the day it is used until
    27 days after its last use. Uses less than 28 days apart form one covered stretch: +1 on
    its first day, -1 on the day after it ends. A running sum over days from `since` gives the
    exact breadth for every day at least 27 days after `since` (breadth on day d depends only
    on uses in [d - 27, d]). Cross-file duplicates cannot change a set of (user, name, day),
    so this reads staging and skips the deduplication. -#}
{% macro feature_breadth_changes(since_sql=none) %}
    with name_days as (
        select distinct user_id, event_name, event_date
        from {{ ref('stg_landing__events') }}
        where event_date <= {{ as_of_date() }}
        {%- if since_sql %}
            and event_date >= {{ since_sql }}
        {%- endif %}
    ),

    neighbours as (
        select
            user_id,
            event_date,
            lag(event_date) over by_name as previous_use,
            lead(event_date) over by_name as next_use
        from name_days
        window by_name as (partition by user_id, event_name order by event_date)
    ),

    changes as (
        select user_id, event_date as change_date, 1 as change
        from neighbours
        where previous_use is null or {{ dbt.datediff('previous_use', 'event_date', 'day') }} > 28
        union all
        select user_id, cast({{ dbt.dateadd('day', 28, 'event_date') }} as date) as change_date, -1 as change
        from neighbours
        where next_use is null or {{ dbt.datediff('event_date', 'next_use', 'day') }} > 28
    )

    select user_id, change_date, sum(change) as breadth_change
    from changes
    group by user_id, change_date
{% endmacro %}
