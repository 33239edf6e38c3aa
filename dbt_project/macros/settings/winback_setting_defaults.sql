{#- Every winback setting with its default: the one place defaults live (dbt_project.yml lists
    the same names as vars, null unless set there). What each one means: docs/metrics.md
    (engagement), docs/disengagement.md (patterns, signals, health) and the comments in
    dbt_project.yml (the run settings: lookback_days, core_events, value tiers). Read a setting
    with setting(name), never var(): only the per-run as_of_date and start_date, and the
    preset that picks defaults, are plain vars. -#}
{% macro winback_setting_defaults() %}
    {{ return({
        'lookback_days': 3,
        'core_events': ['view_dashboard', 'create_report', 'share_report'],
        'high_value_plans': ['enterprise'],
        'mid_value_plans': ['pro'],
        'value_tier_high_revenue': 1000,
        'value_tier_mid_revenue': 100,

        'reporting_timezone': 'UTC',
        'week_start': 'monday',
        'activity_events': none,
        'retention_start_events': none,
        'retention_return_events': none,
        'lifecycle_new_basis': 'signup',
        'retention_cohort_type': 'first_time',
        'report_start_date': none,
        'mau_window_days': 30,
        'retention_max_days': 30,
        'retention_max_weeks': 12,
        'retention_max_months': 6,
        'retention_on_or_after_horizon': 'as_of_date',
        'at_risk_after_days': 7,
        'dormant_after_days': 28,
        'churned_after_days': 60,

        'cadence': 'fixed',
        'short_window_days': 7,
        'long_window_days': 28,
        'usual_gap_basis': 'window',

        'activation_window_days': 14,
        'never_activated_max_active_days': 3,
        'stopped_after_days': 14,
        'stopped_gap_multiple': 3,
        'substantial_use_min_active_days': 8,
        'abrupt_min_active_days_last_7': 3,
        'decline_min_peak_active_days': 10,
        'power_user_min_peak_active_days': 12,
        'decline_max_drop_ratio': 0.5,
        'decline_max_weekly_trend': 0.0,
        'involuntary_active_within_days': 14,

        'usage_drop_window_days': 30,
        'usage_drop_min_pct': 20,
        'usage_drop_min_prior_active_days': 4,
        'no_core_action_days': 14,
        'help_events': ['view_help'],
        'help_window_days': 7,
        'help_min_visits': 1,
        'unsubscribe_window_days': 30,
        'payment_failure_window_days': 30,

        'depth_events': ['export_data', 'configure_integration', 'invite_teammate', 'api_call'],
        'health_weights': {'frequency': 20, 'recency': 15, 'breadth': 15, 'depth': 35, 'message_engagement': 15},
        'health_frequency_target_days': 12,
        'health_breadth_target_features': 5,
        'health_depth_target_share': 0.25,
        'health_recency_horizon_days': 30,
        'health_message_window_days': 60,
        'health_message_target_rate': 0.5,
        'engaged_within_days': 7,
        'engaged_min_health_score': 50,
        'disengaged_after_days': 30,
        'inactive_after_days': 90,

        'churn_horizon_days': 30,
        'churn_activity_events': none,
        'churn_snapshot_every_days': 7,
        'churn_training_snapshots': 26,
        'churn_retrain_every_days': 7,
        'churn_high_risk_min': 0.6,
        'churn_medium_risk_min': 0.3,
    }) }}
{% endmacro %}
