-- depends_on: {{ ref('int_user_active_days') }}
{#- Grain: one row per user per day, the same rows as user_daily_engagement (from the user's
    first active day to the as-of date). Point-in-time: every column uses only what happened
    up to that day. docs/disengagement.md documents every column and setting.

    Weak signals: a flag per signal and `<signal>_since`, the first day of the current firing
    (a signal that stops and fires again gets a new date; null while it is not firing).
      usage_drop       active days in the last usage_drop_window_days are down by at least
                       usage_drop_min_pct % on the window before (which had at least
                       usage_drop_min_prior_active_days active days)
      no_core_action   no core action (the core_events setting) for no_core_action_days days or more
                       (counted from the first active day for users without any)
      help_visits      at least help_min_visits visits to help pages in the last help_window_days
      unsubscribed     an unsubscribe in the last unsubscribe_window_days
      payment_failure  a payment failed in the last payment_failure_window_days and none has
                       gone through since (a success the same day resolves it)

    Health score 0-100: the weighted mean of five component scores (0-100), with the
    `health_weights` setting; message_engagement is left out (its weight shared by the others)
    for users who received no message in the window. "The long window" is long_window_days
    (28 by default; events_28d and depth_events_28d count over it, docs/cadence.md).
      frequency           active days in the long window / health_frequency_target_days
      breadth             distinct features (event names) in the last 28 days / health_breadth_target_features
      depth               depth of integration: the share of the long window's events that are
                          `depth_events` (integrations, API, exports, invites) / health_depth_target_share
      recency             1 - days since last active / health_recency_horizon_days
      message_engagement  messages opened or clicked / received in the last
                          health_message_window_days, over health_message_target_rate
    Engagement label, from the days since the last touch (product activity or a message
    opened or clicked): engaged (active in the last engaged_within_days and a score of at least
    engaged_min_health_score), recently_active (touched within disengaged_after_days),
    disengaged (within inactive_after_days), inactive. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_incremental_window('activity_date') }}",
    )
}}
{%- set signals = disengagement_signals() %}
{%- set usage_window = setting('usage_drop_window_days') | int %}
{%- set help_window = setting('help_window_days') | int %}
{%- set unsubscribe_window = setting('unsubscribe_window_days') | int %}
{%- set payment_window = setting('payment_failure_window_days') | int %}
{%- set message_window = setting('health_message_window_days') | int %}
{%- set inactive_after = setting('inactive_after_days') | int %}
{%- set long_window = setting('long_window_days') | int %}
{%- set w = health_weights() %}
{#- Incremental: the rows from the window start, computed over enough history for every window
    (plus one day, so the day before the window has exact flags), and the first day of each
    signal still firing carried from the row before the window. -#}
{%- set window_start = incremental_window_start('activity_date') %}
{%- set history = [2 * usage_window, help_window, unsubscribe_window, payment_window, message_window, long_window] | max + 1 %}
{%- set history_start = dbt.dateadd('day', -1 * history, window_start) if window_start else none %}

with engagement as (
    select
        user_id, activity_date, is_active, events, core_actions, feature_breadth_28d,
        first_active_date, last_active_date, days_since_last_active, state
    from {{ ref('user_daily_engagement') }}
    where activity_date <= {{ as_of_date() }}
    {%- if history_start %}
        and activity_date >= {{ history_start }}
    {%- endif %}
),

signal_days as (
    select * from {{ ref('int_user_signal_days') }}
    {%- if history_start %}
    where signal_date >= {{ history_start }}
    {%- endif %}
),

core_before_history as (
    {%- if history_start %}
    select user_id, max(activity_date) as last_core_action_date
    from {{ ref('int_user_active_days') }}
    where core_actions > 0 and activity_date < {{ history_start }}
    group by user_id
    {%- else %}
    select cast(null as varchar) as user_id, cast(null as date) as last_core_action_date
    where false
    {%- endif %}
),

carried as (
    {%- if window_start %}
    select
        user_id,
        last_message_engaged_date as carried_last_message_engaged_date
        {%- for s in signals %}, {{ s }}_since as carried_{{ s }}_since{% endfor %}
    from {{ this }}
    where activity_date = {{ dbt.dateadd('day', -1, window_start) }}
    {%- else %}
    select
        cast(null as varchar) as user_id,
        cast(null as date) as carried_last_message_engaged_date
        {%- for s in signals %}, cast(null as date) as carried_{{ s }}_since{% endfor %}
    where false
    {%- endif %}
),

joined as (
    select
        engagement.*,
        coalesce(signal_days.help_visits, 0) as help_visits,
        coalesce(signal_days.depth_events, 0) as depth_events,
        coalesce(signal_days.messages_received, 0) as messages_received,
        coalesce(signal_days.messages_engaged, 0) as messages_engaged,
        coalesce(signal_days.unsubscribes, 0) as unsubscribes,
        coalesce(signal_days.payment_failures, 0) as payment_failures,
        coalesce(signal_days.payments_succeeded, 0) as payments_succeeded,
        core_before_history.last_core_action_date as last_core_action_before_history,
        carried.carried_last_message_engaged_date
        {%- for s in signals %},
        carried.carried_{{ s }}_since
        {%- endfor %}
    from engagement
    left join signal_days
        on engagement.user_id = signal_days.user_id
        and engagement.activity_date = signal_days.signal_date
    left join core_before_history on engagement.user_id = core_before_history.user_id
    left join carried on engagement.user_id = carried.user_id
),

{#- The grid is dense (a row per user per day), so "n preceding rows" is "the last n days". #}
windowed as (
    select
        *,
        sum(case when is_active then 1 else 0 end) over (
            by_day rows between {{ usage_window - 1 }} preceding and current row
        ) as active_days_recent,
        coalesce(sum(case when is_active then 1 else 0 end) over (
            by_day rows between {{ 2 * usage_window - 1 }} preceding and {{ usage_window }} preceding
        ), 0) as active_days_prior,
        coalesce(
            max(case when core_actions > 0 then activity_date end) over (by_day rows unbounded preceding),
            last_core_action_before_history
        ) as last_core_action_date,
        sum(case when is_active then 1 else 0 end) over (
            by_day rows between {{ long_window - 1 }} preceding and current row
        ) as active_days_long,
        sum(events) over (by_day rows between {{ long_window - 1 }} preceding and current row) as events_28d,
        sum(depth_events) over (by_day rows between {{ long_window - 1 }} preceding and current row) as depth_events_28d,
        sum(help_visits) over (
            by_day rows between {{ help_window - 1 }} preceding and current row
        ) as help_visits_recent,
        sum(unsubscribes) over (
            by_day rows between {{ unsubscribe_window - 1 }} preceding and current row
        ) as unsubscribes_recent,
        max(case when payment_failures > 0 then activity_date end) over (
            by_day rows between {{ payment_window - 1 }} preceding and current row
        ) as last_payment_failure_date,
        max(case when payments_succeeded > 0 then activity_date end) over (
            by_day rows between {{ payment_window - 1 }} preceding and current row
        ) as last_payment_success_date,
        sum(messages_received) over (
            by_day rows between {{ message_window - 1 }} preceding and current row
        ) as messages_received_recent,
        sum(messages_engaged) over (
            by_day rows between {{ message_window - 1 }} preceding and current row
        ) as messages_engaged_recent,
        coalesce(
            max(case when messages_engaged > 0 then activity_date end) over (by_day rows unbounded preceding),
            carried_last_message_engaged_date
        ) as last_message_engaged_date
    from joined
    window by_day as (partition by user_id order by activity_date)
),

flagged as (
    select
        *,
        {{ dbt.datediff('coalesce(last_core_action_date, first_active_date)', 'activity_date', 'day') }}
            as days_since_last_core_action,
        active_days_prior >= {{ setting('usage_drop_min_prior_active_days') }}
            and active_days_recent * 100 <= active_days_prior * (100 - {{ setting('usage_drop_min_pct') }})
            as signal_usage_drop,
        {{ dbt.datediff('coalesce(last_core_action_date, first_active_date)', 'activity_date', 'day') }}
            >= {{ setting('no_core_action_days') }} as signal_no_core_action,
        help_visits_recent >= {{ setting('help_min_visits') }} as signal_help_visits,
        unsubscribes_recent > 0 as signal_unsubscribed,
        last_payment_failure_date is not null
            and (last_payment_success_date is null or last_payment_success_date < last_payment_failure_date)
            as signal_payment_failure
    from windowed
),

{#- A firing started the day after the last day the signal was off (one running max, no
    lag). In an incremental run only the days from the one before the window are exact (that
    day's windows have the history they need), so only those rows are kept here; a signal on
    since before the window keeps the date carried from that day's row; one that has never
    been off started on the user's first active day. #}
scored as (
    select
        *,
        {%- for s in signals %}
        {%- set last_off = 'max(case when not signal_' ~ s ~ ' then activity_date end) over (partition by user_id order by activity_date rows unbounded preceding)' %}
        case when signal_{{ s }} then coalesce(
            cast({{ dbt.dateadd('day', 1, last_off) }} as date),
            carried_{{ s }}_since,
            first_active_date
        ) end as {{ s }}_since,
        {%- endfor %}
        round(least(100, 100.0 * active_days_long / {{ window_count_setting('health_frequency_target_days', 'long_window_days') }}), 1)
            as frequency_score,
        round(greatest(0, 100.0 * (1 - days_since_last_active / {{ setting('health_recency_horizon_days') }})), 1)
            as recency_score,
        round(least(100, 100.0 * feature_breadth_28d / {{ setting('health_breadth_target_features') }}), 1)
            as breadth_score,
        round(case when events_28d > 0
            then least(100, 100.0 * depth_events_28d / events_28d / {{ setting('health_depth_target_share') }})
            else 0 end, 1) as depth_score,
        round(case when messages_received_recent > 0
            then least(100, 100.0 * messages_engaged_recent / messages_received_recent / {{ setting('health_message_target_rate') }})
            end, 1) as message_engagement_score
    from flagged
    {%- if window_start %}
    where activity_date >= {{ dbt.dateadd('day', -1, window_start) }}
    {%- endif %}
),

final as (
    select
        user_id,
        activity_date,
        state,
        days_since_last_active,
        active_days_recent,
        active_days_prior,
        case when active_days_prior > 0
            then round(100.0 * (active_days_recent - active_days_prior) / active_days_prior, 1)
        end as usage_change_pct,
        last_core_action_date,
        days_since_last_core_action,
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
        greatest(last_active_date, coalesce(last_message_engaged_date, last_active_date)) as last_touch_date
    from scored
    {%- if window_start %}
    where activity_date >= {{ window_start }}
    {%- endif %}
),

labelled as (
    select
        *,
        case
            when days_since_last_active < {{ setting('engaged_within_days') }}
                and health_score >= {{ setting('engaged_min_health_score') }} then 'engaged'
            when {{ dbt.datediff('last_touch_date', 'activity_date', 'day') }} < {{ setting('disengaged_after_days') }}
                then 'recently_active'
            when {{ dbt.datediff('last_touch_date', 'activity_date', 'day') }} < {{ inactive_after }}
                then 'disengaged'
            else 'inactive'
        end as engagement_label
    from final
)

select * from labelled
