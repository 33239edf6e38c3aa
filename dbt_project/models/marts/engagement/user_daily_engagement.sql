{#- Grain: one row per user per day, from the user's first active day to the as-of date, days
    without activity included. Point-in-time: every column of a row uses only events up to
    that day (trailing windows), so a row is what was knowable that day.

    state, one per user per day (thresholds are settings):
      new          active today for the first time
      resurrected  active today after more than dormant_after_days without activity
      reactivated  active today after more than at_risk_after_days without activity
      current      active within the last at_risk_after_days days
      at_risk      last active at_risk_after_days to dormant_after_days - 1 days ago
      dormant      last active dormant_after_days to churned_after_days - 1 days ago
      churned      last active churned_after_days or more days ago -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_incremental_window('activity_date') }}",
    )
}}
{#- Incremental like user_activity_daily: a run rebuilds the days from the window start. Every
    column is a trailing window, so those days need only the activity of the `history` days
    before them, plus each user's first active day and last active day before that (carried
    from all history, a small aggregate). -#}
{%- set mau = setting('mau_window_days') | int %}
{%- set window_start = incremental_window_start('activity_date') %}
{%- set history = [mau, 28] | max %}
{%- set history_start = dbt.dateadd('day', -1 * history, window_start) if window_start else none %}
{%- set at_risk = setting('at_risk_after_days') | int %}
{%- set dormant = setting('dormant_after_days') | int %}
{%- set churned = setting('churned_after_days') | int %}

with all_active_days as (
    select * from {{ ref('int_user_active_days') }}
),

active_days as (
    select * from all_active_days
    {%- if history_start %}
    where activity_date >= {{ history_start }}
    {%- endif %}
),

users as (
    select
        user_id,
        min(activity_date) as first_active_date
        {%- if history_start %},
        max(case when activity_date < {{ history_start }} then activity_date end)
            as last_active_before_history
        {%- else %},
        cast(null as date) as last_active_before_history
        {%- endif %}
    from all_active_days
    group by user_id
),

breadth_changes as (
    {{ feature_breadth_changes(history_start) }}
),

days as (
    {%- if history_start %}
    {{ date_spine(history_start, as_of_date()) }}
    {%- else %}
    {{ date_spine('(select min(first_active_date) from users)', as_of_date()) }}
    {%- endif %}
),

grid as (
    select users.user_id, users.first_active_date, users.last_active_before_history, days.date_day as activity_date
    from users
    inner join days on days.date_day >= users.first_active_date
),

joined as (
    select
        grid.user_id,
        grid.activity_date,
        grid.first_active_date,
        grid.last_active_before_history,
        active_days.user_id is not null as is_active,
        coalesce(active_days.events, 0) as events,
        coalesce(active_days.core_actions, 0) as core_actions,
        coalesce(breadth_changes.breadth_change, 0) as breadth_change
    from grid
    left join active_days
        on grid.user_id = active_days.user_id and grid.activity_date = active_days.activity_date
    left join breadth_changes
        on grid.user_id = breadth_changes.user_id
        and grid.activity_date = breadth_changes.change_date
),

windowed as (
    select
        user_id,
        activity_date,
        first_active_date,
        is_active,
        events,
        core_actions,
        sum(case when is_active then 1 else 0 end) over (
            partition by user_id order by activity_date rows between 6 preceding and current row
        ) as l7,
        sum(case when is_active then 1 else 0 end) over (
            partition by user_id order by activity_date rows between 27 preceding and current row
        ) as l28,
        sum(case when is_active then 1 else 0 end) over (
            partition by user_id order by activity_date
            rows between {{ mau - 1 }} preceding and current row
        ) as active_days_in_mau_window,
        sum(breadth_change) over (
            partition by user_id order by activity_date rows unbounded preceding
        ) as feature_breadth_28d,
        coalesce(
            max(case when is_active then activity_date end) over (
                partition by user_id order by activity_date rows unbounded preceding
            ),
            last_active_before_history
        ) as last_active_date,
        coalesce(
            max(case when is_active then activity_date end) over (
                partition by user_id order by activity_date
                rows between unbounded preceding and 1 preceding
            ),
            last_active_before_history
        ) as previous_active_date
    from joined
),

final as (
    select
        user_id,
        activity_date,
        is_active,
        events,
        core_actions,
        l7,
        l28,
        active_days_in_mau_window,
        feature_breadth_28d,
        first_active_date,
        last_active_date,
        {{ dbt.datediff('last_active_date', 'activity_date', 'day') }} as days_since_last_active,
        case
            when is_active and previous_active_date is null then 'new'
            when is_active
                and {{ dbt.datediff('previous_active_date', 'activity_date', 'day') }} > {{ dormant }}
                then 'resurrected'
            when is_active
                and {{ dbt.datediff('previous_active_date', 'activity_date', 'day') }} > {{ at_risk }}
                then 'reactivated'
            when {{ dbt.datediff('last_active_date', 'activity_date', 'day') }} < {{ at_risk }}
                then 'current'
            when {{ dbt.datediff('last_active_date', 'activity_date', 'day') }} < {{ dormant }}
                then 'at_risk'
            when {{ dbt.datediff('last_active_date', 'activity_date', 'day') }} < {{ churned }}
                then 'dormant'
            else 'churned'
        end as state
    from windowed
    {%- if window_start %}
    where activity_date >= {{ window_start }}
    {%- endif %}
)

select * from final
