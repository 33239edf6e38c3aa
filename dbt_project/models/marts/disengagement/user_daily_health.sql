{#- Grain: one row per user per day, the same rows as user_daily_engagement (from the user's
    first active day to the as-of date). Point-in-time: every column uses only what happened
    up to that day. docs/disengagement.md documents every column and setting. A view: the rows
    are computed on read from user_day_spans (stored sparsely), so storage follows the
    activity, not users x days.

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
{{ config(materialized='view') }}

{{ user_daily_health_rows() }}
