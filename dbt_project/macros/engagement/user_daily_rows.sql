{#- The rows of user_daily_engagement and user_daily_health from user_day_spans: every day of
    every span (the views), or only the days `on_days` lists (a query with a date column `day`,
    e.g. the churn snapshots or the as-of date), which costs a range join on the spans instead
    of the expansion to users x days. Both views and the models that read a few days of them
    use these, so a day's row is the same whichever way it is read. -#}
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

{% macro user_daily_health_rows(on_days=none) %}
{%- set signals = disengagement_signals() %}
{%- set w = health_weights() %}

with days as (
    {{ user_day_span_days(on_days) }}
),

recency as (
    select
        *,
        {{ dbt.datediff('last_active_date', 'activity_date', 'day') }} as days_since_last_active,
        round(greatest(0, 100.0 * (1 - {{ dbt.datediff('last_active_date', 'activity_date', 'day') }} / {{ setting('health_recency_horizon_days') }})), 1)
            as recency_score
    from days
),

final as (
    select
        user_id,
        activity_date,
        state,
        days_since_last_active,
        active_days_recent,
        active_days_prior,
        usage_change_pct,
        last_core_action_date,
        {{ dbt.datediff('core_action_reference_date', 'activity_date', 'day') }} as days_since_last_core_action,
        events_28d,
        depth_events_28d,
        help_visits_recent,
        unsubscribes_recent,
        messages_received_recent,
        messages_engaged_recent,
        last_payment_failure_date,
        last_message_engaged_date,
        {%- for s in signals %}
        signal_{{ s }},
        {{ s }}_since,
        {%- endfor %}
        active_signals,
        frequency_score,
        recency_score,
        breadth_score,
        depth_score,
        message_engagement_score,
        cast(round(
            ({{ w.frequency }} * frequency_score + {{ w.recency }} * recency_score
             + {{ w.breadth }} * breadth_score + {{ w.depth }} * depth_score
             + {{ w.message_engagement }} * coalesce(message_engagement_score, 0))
            / nullif({{ w.frequency + w.recency + w.breadth + w.depth }}
               + case when message_engagement_score is not null then {{ w.message_engagement }} else 0 end, 0)
        ) as integer) as health_score,
        last_touch_date
    from recency
),

labelled as (
    select
        *,
        case
            when days_since_last_active < {{ setting('engaged_within_days') }}
                and health_score >= {{ setting('engaged_min_health_score') }} then 'engaged'
            when {{ dbt.datediff('last_touch_date', 'activity_date', 'day') }} < {{ setting('disengaged_after_days') }}
                then 'recently_active'
            when {{ dbt.datediff('last_touch_date', 'activity_date', 'day') }} < {{ setting('inactive_after_days') }}
                then 'disengaged'
            else 'inactive'
        end as engagement_label
    from final
)

select * from labelled
{% endmacro %}

{#- Each span's row on each of its days (column activity_date), or only on the days `on_days`
    lists: the part both kinds of rows share. -#}
{% macro user_day_span_days(on_days=none) %}
with spans as (
    select * from {{ ref('user_day_spans') }}
),

span_days as (
    {%- if on_days %}
    select spans.*, on_days.day as activity_date
    from spans
    inner join ({{ on_days }}) as on_days
        on on_days.day between spans.valid_from and spans.valid_to
    {%- else %}
    {#- a range join on a spine of days rather than an unnest of each span: a reader's filter
        on activity_date (one day, a month) reaches the spine, so it reads only the spans
        around those days instead of expanding them all #}
    select spans.*, spine.day as activity_date
    from spans
    inner join (
        select cast(unnest(generate_series(min(valid_from), max(valid_to), interval 1 day)) as date) as day
        from spans
    ) as spine
        on spine.day between spans.valid_from and spans.valid_to
    {%- endif %}
)

select * from span_days
{% endmacro %}
