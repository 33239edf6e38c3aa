{#- Grain: one row per day (reporting timezone) from the first activity to the as-of date.
    DAU = users active that day; WAU = distinct users active in the trailing 7 days; MAU = in
    the trailing mau_window_days days (30 like PostHog, or 28); stickiness = DAU / MAU.
    New actives: users whose first active day it is; returning actives: the other DAU. -#}
with engagement as (
    select * from {{ ref('user_daily_engagement') }}
),

final as (
    select
        activity_date,
        sum(case when is_active then 1 else 0 end) as dau,
        sum(case when l7 > 0 then 1 else 0 end) as wau,
        sum(case when active_days_in_mau_window > 0 then 1 else 0 end) as mau,
        {{ setting('mau_window_days') }} as mau_window_days,
        sum(case when is_active and activity_date = first_active_date then 1 else 0 end)
            as new_active_users,
        sum(case when is_active and activity_date > first_active_date then 1 else 0 end)
            as returning_active_users,
        sum(case when is_active and core_actions > 0 then 1 else 0 end) as core_active_users
    from engagement
    group by activity_date
)

select
    final.*,
    case when mau > 0 then cast(dau as {{ dbt.type_float() }}) / mau end as stickiness
from final
