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
{%- set mau = setting('mau_window_days') | int %}
{%- set at_risk = setting('at_risk_after_days') | int %}
{%- set dormant = setting('dormant_after_days') | int %}
{%- set churned = setting('churned_after_days') | int %}

with active_days as (
    select * from {{ ref('int_user_active_days') }}
),

breadth_changes as (
    select * from {{ ref('int_user_feature_breadth_changes') }}
),

first_days as (
    select user_id, min(activity_date) as first_active_date
    from active_days
    group by user_id
),

days as (
    {{ date_spine('(select min(first_active_date) from first_days)', as_of_date()) }}
),

grid as (
    select first_days.user_id, first_days.first_active_date, days.date_day as activity_date
    from first_days
    inner join days on days.date_day >= first_days.first_active_date
),

joined as (
    select
        grid.user_id,
        grid.activity_date,
        grid.first_active_date,
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
        max(case when is_active then activity_date end) over (
            partition by user_id order by activity_date rows unbounded preceding
        ) as last_active_date,
        max(case when is_active then activity_date end) over (
            partition by user_id order by activity_date
            rows between unbounded preceding and 1 preceding
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
)

select * from final
