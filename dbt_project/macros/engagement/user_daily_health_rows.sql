{#- The rows of user_daily_health from user_day_spans, like user_daily_engagement_rows: every
    day of every span (the view), or only the days `on_days` lists (a range join). -#}
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
