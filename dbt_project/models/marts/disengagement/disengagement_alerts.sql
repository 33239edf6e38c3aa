{#- Grain: one row per user who needs the team's attention on the as-of date: they crossed
    into "at risk" today (user_daily_engagement's state) or a weak signal started firing today
    (user_daily_health's `<signal>_since` is today). With their pattern, health score and the
    facts a campaign needs (value tier, contactability). Rebuilt for each as-of date. -#}
{%- set signals = disengagement_signals() %}

with today as (
    select * from ({{ user_daily_health_rows('select ' ~ as_of_date() ~ ' as day') }}) as rows
),

yesterday as (
    select user_id, state
    from ({{ user_daily_engagement_rows('select cast(' ~ dbt.dateadd('day', -1, as_of_date()) ~ ' as date) as day') }}) as rows
),

flagged as (
    select
        today.*,
        yesterday.state as previous_state,
        today.state = 'at_risk' and coalesce(yesterday.state, '') <> 'at_risk' as crossed_into_at_risk,
        concat_ws(', '
            {%- for s in signals %},
            case when today.{{ s }}_since = today.activity_date then '{{ s }}' end
            {%- endfor %}
        ) as new_signals,
        concat_ws(', '
            {%- for s in signals %},
            case when today.signal_{{ s }} then '{{ s }}' end
            {%- endfor %}
        ) as firing_signals
    from today
    left join yesterday on today.user_id = yesterday.user_id
),

final as (
    select
        flagged.user_id,
        flagged.activity_date as alert_date,
        flagged.crossed_into_at_risk,
        nullif(flagged.new_signals, '') as new_signals,
        nullif(flagged.firing_signals, '') as firing_signals,
        flagged.previous_state,
        flagged.state,
        flagged.days_since_last_active,
        patterns.pattern,
        patterns.is_provisional as pattern_is_provisional,
        flagged.health_score,
        flagged.engagement_label,
        flagged.usage_change_pct,
        flagged.days_since_last_core_action,
        users.plan,
        users.value_tier,
        users.is_email_contactable,
        users.latest_survey_reason
    from flagged
    left join {{ ref('user_disengagement_patterns') }} as patterns on flagged.user_id = patterns.user_id
    left join {{ ref('users') }} as users on flagged.user_id = users.user_id
    where flagged.crossed_into_at_risk or flagged.new_signals <> ''
)

select * from final
