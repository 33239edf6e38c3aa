{#- Grain: one row per dimension ('usage_cohort' or 'pattern'), group and survey reason.
    Why users say they left, by who they were: power users who leave over a missing feature
    and occasional users overwhelmed by complexity need opposite fixes (docs/campaigns.md).

    usage_cohort: never_activated (the never-activated pattern); power (at least
    `power_user_min_peak_active_days` active days in their best 28 days); occasional (the
    rest). A user's reason is the latest answer on or before the as-of date.
    surveyed: users sent a survey message (a campaign id with "survey" in it) on or before the
    as-of date; response_rate is respondents / surveyed, where anyone was surveyed. -#}
{%- set power_min = setting('power_user_min_peak_active_days') | int %}

with patterns as (
    select
        user_id,
        pattern,
        case
            when pattern = 'never_activated' then 'never_activated'
            when coalesce(peak_active_days_28, 0) >= {{ power_min }} then 'power'
            else 'occasional'
        end as usage_cohort
    from {{ ref('user_disengagement_patterns') }}
),

surveyed as (
    select distinct user_id
    from {{ ref('stg_landing__messages') }}
    where message_event = 'sent'
      and campaign_id like '%survey%'
      and cast(occurred_at as date) <= {{ as_of_date() }}
),

answers as (
    select user_id, latest_survey_reason as reason_code
    from {{ ref('int_users_surveys_latest') }}
),

users as (
    select
        patterns.user_id,
        patterns.pattern,
        patterns.usage_cohort,
        surveyed.user_id is not null as is_surveyed,
        answers.reason_code
    from patterns
    left join surveyed on patterns.user_id = surveyed.user_id
    left join answers on patterns.user_id = answers.user_id
),

by_group as (
    select 'usage_cohort' as dimension, usage_cohort as group_name, * exclude (usage_cohort, pattern)
    from users
    union all
    select 'pattern' as dimension, pattern as group_name, * exclude (usage_cohort, pattern)
    from users
),

group_totals as (
    select
        dimension,
        group_name,
        count(*) as users,
        count(*) filter (where is_surveyed) as surveyed_users,
        count(*) filter (where reason_code is not null) as respondents,
        count(*) filter (where is_surveyed and reason_code is not null) as surveyed_respondents
    from by_group
    group by dimension, group_name
),

reasons as (
    select dimension, group_name, reason_code, count(*) as reason_users
    from by_group
    where reason_code is not null
    group by dimension, group_name, reason_code
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        totals.dimension,
        totals.group_name,
        reasons.reason_code,
        totals.users,
        totals.surveyed_users,
        totals.respondents,
        round(totals.respondents / totals.users, 4) as respondent_share,
        case when totals.surveyed_users > 0
            then round(totals.surveyed_respondents / totals.surveyed_users, 4)
        end as response_rate,
        coalesce(reasons.reason_users, 0) as reason_users,
        case when totals.respondents > 0
            then round(coalesce(reasons.reason_users, 0) / totals.respondents, 4)
        end as reason_share
    from group_totals as totals
    left join reasons
        on totals.dimension = reasons.dimension and totals.group_name = reasons.group_name
)

select * from final
