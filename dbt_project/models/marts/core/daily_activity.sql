{#- One row per UTC day from the first activity to the as-of date, days without activity
    included (zeros), so charts and moving averages need no gap filling. -#}
with activity as (
    select * from {{ ref('user_activity_daily') }}
    where activity_date <= {{ as_of_date() }}
),

users as (
    select * from {{ ref('users') }}
),

spine as (
    {{ date_spine('(select min(activity_date) from activity)', as_of_date()) }}
),

per_day as (
    select
        activity_date,
        count(*) as active_users,
        sum(case when is_core_active then 1 else 0 end) as core_active_users,
        sum(events) as events,
        sum(revenue) as revenue
    from activity
    group by activity_date
),

signups as (
    select signup_date, count(*) as signups
    from users
    group by signup_date
),

first_actives as (
    select first_active_date, count(*) as first_time_active_users
    from users
    where first_active_date is not null
    group by first_active_date
),

final as (
    select
        spine.date_day as activity_date,
        coalesce(per_day.active_users, 0) as active_users,
        coalesce(per_day.core_active_users, 0) as core_active_users,
        coalesce(per_day.events, 0) as events,
        coalesce(per_day.revenue, 0) as revenue,
        coalesce(signups.signups, 0) as signups,
        coalesce(first_actives.first_time_active_users, 0) as first_time_active_users
    from spine
    left join per_day on spine.date_day = per_day.activity_date
    left join signups on spine.date_day = signups.signup_date
    left join first_actives on spine.date_day = first_actives.first_active_date
)

select * from final
