{#- Grain: one row per day (reporting timezone) from the first activity to the as-of date.
    DAU = users active that day; WAU = distinct users active in the trailing 7 days; MAU = in
    the trailing mau_window_days days (30 like PostHog, or 28); stickiness = DAU / MAU.
    New actives: users whose first active day it is; returning actives: the other DAU.
    Counted from user_day_spans without expanding it to users x days: a span adds its users to
    a count from its first day and takes them off the day after its last (a running sum over
    days); an active day is a span of its own. -#}
{%- set counted = ['dau', 'wau', 'mau', 'new_active_users', 'returning_active_users', 'core_active_users'] %}

with spans as (
    select
        user_id,
        valid_from,
        valid_to,
        case when is_active then 1 else 0 end as dau,
        case when l7 > 0 then 1 else 0 end as wau,
        case when active_days_in_mau_window > 0 then 1 else 0 end as mau,
        case when is_active and valid_from = first_active_date then 1 else 0 end as new_active_users,
        case when is_active and valid_from > first_active_date then 1 else 0 end as returning_active_users,
        case when is_active and core_actions > 0 then 1 else 0 end as core_active_users
    from {{ ref('user_day_spans') }}
),

changes as (
    select valid_from as change_date
        {%- for c in counted %}, {{ c }}{% endfor %}
    from spans
    union all
    select cast({{ dbt.dateadd('day', 1, 'valid_to') }} as date)
        {%- for c in counted %}, -{{ c }}{% endfor %}
    from spans
),

per_day as (
    select
        change_date
        {%- for c in counted %}, sum({{ c }}) as {{ c }}{% endfor %}
    from changes
    group by change_date
),

days as (
    {{ date_spine('(select min(valid_from) from spans)', '(select max(valid_to) from spans)') }}
),

final as (
    select
        days.date_day as activity_date
        {%- for c in counted %},
        cast(sum(coalesce(per_day.{{ c }}, 0)) over (order by days.date_day rows unbounded preceding) as hugeint) as {{ c }}
        {%- if c == 'mau' %},
        {{ setting('mau_window_days') }} as mau_window_days
        {%- endif %}
        {%- endfor %}
    from days
    left join per_day on days.date_day = per_day.change_date
)

select
    final.*,
    case when mau > 0 then cast(dau as {{ dbt.type_float() }}) / mau end as stickiness
from final
