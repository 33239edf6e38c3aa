{#- The rows of user_daily_engagement from user_day_spans: every day of every span (the view),
    or only the days `on_days` lists (a query with a date column `day`, e.g. the churn
    snapshots or the as-of date), a range join on the spans instead of an expansion to users x
    days. The view and the models that read a few of its days use this, so a day's row is the
    same whichever way it is read (user_daily_health_rows: the same for user_daily_health). -#}
{% macro user_daily_engagement_rows(on_days=none) %}
with days as (
    {{ user_day_span_days(on_days) }}
)

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
    state
from days
{% endmacro %}
