{#- Grain: one row per user per span of days [valid_from, valid_to] over which every column of
    user_daily_engagement and user_daily_health is constant, except the few that follow the
    day itself (days since the last activity or core action, the recency and health scores,
    the engagement label), which the two views compute on read. The views expand the spans to
    one row per user per day; this table holds only the days something can change, so its
    size follows the activity (a handful of rows per active or signal day), not users x days.

    A span starts on every day a column can change ("points"):
      - an active day a, and a + 1 (activity ends) and a + w for every trailing window w
        (7, 28, the MAU window, the usage-drop windows, the long window) and every state
        threshold (at_risk_after_days, dormant_after_days, churned_after_days);
      - a day with a signal source s (help or depth events, messages, unsubscribes, payments)
        and s + its window;
      - a core action day + no_core_action_days (and the first active day + it);
      - a day feature breadth changes (feature_breadth_changes).
    Every window is a trailing count over days, so a value on a point day equals the dense
    model's: the windows here are RANGE frames over day numbers. A point is kept even when
    nothing changed, which is harmless (two spans with the same values).

    docs/engagement.md and docs/disengagement.md document the columns of the two views. -#}
{%- set signals = disengagement_signals() %}
{%- set mau = setting('mau_window_days') | int %}
{%- set at_risk = setting('at_risk_after_days') | int %}
{%- set dormant = setting('dormant_after_days') | int %}
{%- set churned = setting('churned_after_days') | int %}
{%- set usage_window = setting('usage_drop_window_days') | int %}
{%- set help_window = setting('help_window_days') | int %}
{%- set unsubscribe_window = setting('unsubscribe_window_days') | int %}
{%- set payment_window = setting('payment_failure_window_days') | int %}
{%- set message_window = setting('health_message_window_days') | int %}
{%- set long_window = setting('long_window_days') | int %}
{%- set no_core_days = setting('no_core_action_days') | int %}
{%- set activity_offsets = [1, 7, 28, mau, at_risk, dormant, churned, usage_window, 2 * usage_window, long_window] | unique | list %}
{%- set signal_offsets = [help_window, unsubscribe_window, payment_window, message_window, long_window] | unique | list %}
{%- set day_number = "datediff('day', date '1970-01-01', points.day)" %}

with active_days as (
    select user_id, activity_date as day, events, core_actions
    from {{ ref('int_user_active_days') }}
),

users as (
    select user_id, min(day) as first_active_date
    from active_days
    group by user_id
),

breadth_changes as (
    select changes.user_id, changes.change_date as day, changes.breadth_change
    from ({{ feature_breadth_changes() }}) as changes
    inner join users on changes.user_id = users.user_id
    where changes.change_date >= users.first_active_date
),

signal_days as (
    select signal_days.*, signal_days.signal_date as day
    from {{ ref('int_user_signal_days') }} as signal_days
    inner join users on signal_days.user_id = users.user_id
    where signal_days.signal_date >= users.first_active_date
),

candidate_points as (
    select user_id, day from active_days
    {%- for offset in activity_offsets %}
    union all
    select user_id, cast(day + {{ offset }} as date) from active_days
    {%- endfor %}
    union all
    select user_id, cast(day + {{ no_core_days }} as date) from active_days where core_actions > 0
    union all
    select user_id, cast(first_active_date + {{ no_core_days }} as date) from users
    union all
    select user_id, day from breadth_changes
    union all
    select user_id, day from signal_days
    {%- for offset in signal_offsets %}
    union all
    select user_id, cast(day + {{ offset }} as date) from signal_days
    {%- endfor %}
),

points as (
    select distinct candidate_points.user_id, candidate_points.day
    from candidate_points
    inner join users on candidate_points.user_id = users.user_id
    where candidate_points.day >= users.first_active_date
        and candidate_points.day <= {{ as_of_date() }}
),

joined as (
    select
        points.user_id,
        points.day,
        {{ day_number }} as day_number,
        users.first_active_date,
        active_days.user_id is not null as is_active,
        coalesce(active_days.events, 0) as events,
        coalesce(active_days.core_actions, 0) as core_actions,
        coalesce(breadth_changes.breadth_change, 0) as breadth_change,
        coalesce(signal_days.help_visits, 0) as help_visits,
        coalesce(signal_days.depth_events, 0) as depth_events,
        coalesce(signal_days.messages_received, 0) as messages_received,
        coalesce(signal_days.messages_engaged, 0) as messages_engaged,
        coalesce(signal_days.unsubscribes, 0) as unsubscribes,
        coalesce(signal_days.payment_failures, 0) as payment_failures,
        coalesce(signal_days.payments_succeeded, 0) as payments_succeeded
    from points
    inner join users on points.user_id = users.user_id
    left join active_days on points.user_id = active_days.user_id and points.day = active_days.day
    left join breadth_changes
        on points.user_id = breadth_changes.user_id and points.day = breadth_changes.day
    left join signal_days on points.user_id = signal_days.user_id and points.day = signal_days.day
),

{#- "range between n preceding" over day numbers: the last n + 1 days, whatever rows exist. #}
windowed as (
    select
        *,
        sum(case when is_active then 1 else 0 end) over (
            by_day range between 6 preceding and current row
        ) as l7,
        sum(case when is_active then 1 else 0 end) over (
            by_day range between 27 preceding and current row
        ) as l28,
        sum(case when is_active then 1 else 0 end) over (
            by_day range between {{ mau - 1 }} preceding and current row
        ) as active_days_in_mau_window,
        sum(breadth_change) over (by_day rows unbounded preceding) as feature_breadth_28d,
        max(case when is_active then day end) over (by_day rows unbounded preceding)
            as last_active_date,
        max(case when is_active then day end) over (
            by_day rows between unbounded preceding and 1 preceding
        ) as previous_active_date,
        sum(case when is_active then 1 else 0 end) over (
            by_day range between {{ usage_window - 1 }} preceding and current row
        ) as active_days_recent,
        coalesce(sum(case when is_active then 1 else 0 end) over (
            by_day range between {{ 2 * usage_window - 1 }} preceding and {{ usage_window }} preceding
        ), 0) as active_days_prior,
        max(case when core_actions > 0 then day end) over (by_day rows unbounded preceding)
            as last_core_action_date,
        sum(case when is_active then 1 else 0 end) over (
            by_day range between {{ long_window - 1 }} preceding and current row
        ) as active_days_long,
        sum(events) over (by_day range between {{ long_window - 1 }} preceding and current row)
            as events_28d,
        sum(depth_events) over (by_day range between {{ long_window - 1 }} preceding and current row)
            as depth_events_28d,
        sum(help_visits) over (by_day range between {{ help_window - 1 }} preceding and current row)
            as help_visits_recent,
        sum(unsubscribes) over (
            by_day range between {{ unsubscribe_window - 1 }} preceding and current row
        ) as unsubscribes_recent,
        max(case when payment_failures > 0 then day end) over (
            by_day range between {{ payment_window - 1 }} preceding and current row
        ) as last_payment_failure_date,
        max(case when payments_succeeded > 0 then day end) over (
            by_day range between {{ payment_window - 1 }} preceding and current row
        ) as last_payment_success_date,
        sum(messages_received) over (
            by_day range between {{ message_window - 1 }} preceding and current row
        ) as messages_received_recent,
        sum(messages_engaged) over (
            by_day range between {{ message_window - 1 }} preceding and current row
        ) as messages_engaged_recent,
        max(case when messages_engaged > 0 then day end) over (by_day rows unbounded preceding)
            as last_message_engaged_date,
        lead(day) over by_day as next_point
    from joined
    window by_day as (partition by user_id order by day_number)
),

flagged as (
    select
        *,
        {{ dbt.datediff('last_active_date', 'day', 'day') }} as days_since_point,
        case
            when is_active and previous_active_date is null then 'new'
            when is_active
                and {{ dbt.datediff('previous_active_date', 'day', 'day') }} > {{ dormant }}
                then 'resurrected'
            when is_active
                and {{ dbt.datediff('previous_active_date', 'day', 'day') }} > {{ at_risk }}
                then 'reactivated'
            when {{ dbt.datediff('last_active_date', 'day', 'day') }} < {{ at_risk }}
                then 'current'
            when {{ dbt.datediff('last_active_date', 'day', 'day') }} < {{ dormant }}
                then 'at_risk'
            when {{ dbt.datediff('last_active_date', 'day', 'day') }} < {{ churned }}
                then 'dormant'
            else 'churned'
        end as state,
        active_days_prior >= {{ setting('usage_drop_min_prior_active_days') }}
            and active_days_recent * 100 <= active_days_prior * (100 - {{ setting('usage_drop_min_pct') }})
            as signal_usage_drop,
        {{ dbt.datediff('coalesce(last_core_action_date, first_active_date)', 'day', 'day') }}
            >= {{ no_core_days }} as signal_no_core_action,
        help_visits_recent >= {{ setting('help_min_visits') }} as signal_help_visits,
        unsubscribes_recent > 0 as signal_unsubscribed,
        last_payment_failure_date is not null
            and (last_payment_success_date is null or last_payment_success_date < last_payment_failure_date)
            as signal_payment_failure
    from windowed
),

{#- A firing started on the first day after the last day the signal was off: flags are
    constant within a span, so that is the start of the span after the last span with the flag
    off (the user's first active day when it has never been off). #}
dated as (
    select
        *
        {%- for s in signals %},
        case when signal_{{ s }} then coalesce(
            max(case when not signal_{{ s }} then next_point end) over (
                by_day rows unbounded preceding
            ),
            first_active_date
        ) end as {{ s }}_since
        {%- endfor %}
    from flagged
    window by_day as (partition by user_id order by day_number)
),

final as (
    select
        user_id,
        day as valid_from,
        cast(coalesce(next_point - 1, {{ as_of_date() }}) as date) as valid_to,
        is_active,
        events,
        core_actions,
        l7,
        l28,
        active_days_in_mau_window,
        feature_breadth_28d,
        first_active_date,
        last_active_date,
        state,
        active_days_recent,
        active_days_prior,
        case when active_days_prior > 0
            then round(100.0 * (active_days_recent - active_days_prior) / active_days_prior, 1)
        end as usage_change_pct,
        last_core_action_date,
        coalesce(last_core_action_date, first_active_date) as core_action_reference_date,
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
        {%- for s in signals %}
        case when signal_{{ s }} then 1 else 0 end{{ ' +' if not loop.last }}
        {%- endfor %} as active_signals,
        round(least(100, 100.0 * active_days_long / {{ window_count_setting('health_frequency_target_days', 'long_window_days') }}), 1)
            as frequency_score,
        round(least(100, 100.0 * feature_breadth_28d / {{ setting('health_breadth_target_features') }}), 1)
            as breadth_score,
        round(case when events_28d > 0
            then least(100, 100.0 * depth_events_28d / events_28d / {{ setting('health_depth_target_share') }})
            else 0 end, 1) as depth_score,
        round(case when messages_received_recent > 0
            then least(100, 100.0 * messages_engaged_recent / messages_received_recent / {{ setting('health_message_target_rate') }})
            end, 1) as message_engagement_score,
        greatest(last_active_date, coalesce(last_message_engaged_date, last_active_date)) as last_touch_date
    from dated
)

select * from final
