{#- One row per user known by the as-of date: from the users file (signed up by then) or seen
    in events. A user with no profile gets signup_at = first event. -#}
with activity as (
    select
        user_id,
        min(activity_date) as first_active_date,
        max(activity_date) as last_active_date,
        count(*) as active_days,
        sum(events) as total_events,
        sum(core_actions) as core_actions,
        sum(revenue) as event_revenue,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at
    from {{ ref('user_activity_daily') }}
    where activity_date <= {{ as_of_date() }}
    group by user_id
),

profiles as (
    select * from {{ ref('int_users_profiles_latest') }}
),

messaging as (
    select * from {{ ref('int_users_messaging_summarised') }}
),

billing as (
    select * from {{ ref('int_users_billing_summarised') }}
),

surveys as (
    select * from {{ ref('int_users_surveys_latest') }}
),

known_users as (
    select user_id from activity
    union
    select user_id from profiles
    where {{ local_date('signup_at') }} <= {{ as_of_date() }}
),

joined as (
    select
        known_users.user_id,
        coalesce(profiles.signup_at, activity.first_event_at) as signup_at,
        case when profiles.signup_at is not null then 'users_file' else 'first_event' end
            as signup_source,
        activity.first_active_date,
        activity.last_active_date,
        coalesce(activity.active_days, 0) as active_days,
        coalesce(activity.total_events, 0) as total_events,
        coalesce(activity.core_actions, 0) as core_actions,
        coalesce(activity.event_revenue, 0) + coalesce(billing.billing_revenue, 0)
            as lifetime_revenue,
        coalesce(billing.billing_plan, profiles.plan, 'unknown') as plan,
        profiles.country,
        profiles.acquisition_channel,
        profiles.email,
        coalesce(profiles.email_opt_in, false) as email_opt_in,
        coalesce(profiles.sms_opt_in, false) as sms_opt_in,
        coalesce(messaging.messages_sent, 0) as messages_sent,
        coalesce(messaging.messages_opened, 0) as messages_opened,
        coalesce(messaging.messages_clicked, 0) as messages_clicked,
        messaging.last_message_open_at,
        coalesce(messaging.has_unsubscribed_email, false) as has_unsubscribed_email,
        coalesce(messaging.has_hard_bounced_email, false) as has_hard_bounced_email,
        coalesce(messaging.has_complained, false) as has_complained,
        coalesce(billing.payment_failures, 0) as payment_failures,
        billing.last_payment_failed_at,
        billing.cancelled_at,
        surveys.latest_survey_reason,
        surveys.latest_survey_at,
        coalesce(surveys.survey_responses, 0) as survey_responses
    from known_users
    left join activity on known_users.user_id = activity.user_id
    left join profiles on known_users.user_id = profiles.user_id
    left join messaging on known_users.user_id = messaging.user_id
    left join billing on known_users.user_id = billing.user_id
    left join surveys on known_users.user_id = surveys.user_id
),

final as (
    select
        user_id,
        {{ as_of_date() }} as as_of_date,
        signup_at,
        signup_source,
        {{ local_date('signup_at') }} as signup_date,
        {{ period_start('week', local_date('signup_at')) }} as signup_week,
        {{ period_start('month', local_date('signup_at')) }} as signup_month,
        first_active_date,
        last_active_date,
        {{ dbt.datediff('last_active_date', as_of_date(), 'day') }} as days_since_last_active,
        active_days,
        total_events,
        core_actions,
        lifetime_revenue,
        plan,
        case
            when plan in {{ sql_list(setting('high_value_plans')) }}
                or lifetime_revenue >= {{ sql_number(setting('value_tier_high_revenue'), 'value_tier_high_revenue') }} then 'high'
            when plan in {{ sql_list(setting('mid_value_plans')) }}
                or lifetime_revenue >= {{ sql_number(setting('value_tier_mid_revenue'), 'value_tier_mid_revenue') }} then 'mid'
            else 'low'
        end as value_tier,
        country,
        acquisition_channel,
        email_opt_in,
        sms_opt_in,
        messages_sent,
        messages_opened,
        messages_clicked,
        last_message_open_at,
        has_unsubscribed_email,
        has_hard_bounced_email,
        has_complained,
        email is not null
            and email_opt_in
            and not has_unsubscribed_email
            and not has_hard_bounced_email
            and not has_complained as is_email_contactable,
        payment_failures,
        last_payment_failed_at,
        cancelled_at,
        latest_survey_reason,
        latest_survey_at,
        survey_responses,
        active_days > 0 as has_activity
    from joined
)

select * from final
