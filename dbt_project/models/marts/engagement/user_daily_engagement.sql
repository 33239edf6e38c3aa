{#- Grain: one row per user per day, from the user's first active day to the as-of date, days
    without activity included. Point-in-time: every column of a row uses only events up to
    that day (trailing windows), so a row is what was knowable that day. A view: the rows
    are computed on read from user_day_spans (stored sparsely, a row per span of days with
    the same values), so storage follows the activity, not users x days.

    state, one per user per day (thresholds are settings):
      new          active today for the first time
      resurrected  active today after more than dormant_after_days without activity
      reactivated  active today after more than at_risk_after_days without activity
      current      active within the last at_risk_after_days days
      at_risk      last active at_risk_after_days to dormant_after_days - 1 days ago
      dormant      last active dormant_after_days to churned_after_days - 1 days ago
      churned      last active churned_after_days or more days ago -#}
{{ config(materialized='view') }}

{{ user_daily_engagement_rows() }}
