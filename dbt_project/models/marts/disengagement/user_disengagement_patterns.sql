{#- Grain: one row per known user as of the as-of date: how they are drifting away, with the
    evidence the rule used. Point-in-time: built for a past as-of date it only reads what had
    happened by then (user_daily_engagement rows and billing events up to that day).

    Rules, first match wins (thresholds are settings, docs/disengagement.md):
      involuntary          a payment failed and none went through since, and the user was
                           still active within involuntary_active_within_days before it
      never_activated      no activity at all, or at most never_activated_max_active_days active
                           days, all in the first activation_window_days, and that window is over
      abrupt_abandonment   stopped (see below) after substantial use (at least
                           substantial_use_min_active_days active days in the long window
                           before the last one) and still at least abrupt_min_active_days_last_7
                           in its last short window: no decline before the stop
      progressive_decline  stopped after substantial use with a thinning last short window; or,
                           stopped or not, activity over the long window to the last active day
                           at most decline_max_drop_ratio of the user's peak long window (which
                           had at least decline_min_peak_active_days) and a weekly trend at most
                           decline_max_weekly_trend
      steady               none of these
    Stopped: no activity for at least stopped_after_days and at least stopped_gap_multiple
    times the user's usual gap between active days, so weekly users are not "stopped" after one
    quiet fortnight. The usual gap (usual_gap_basis): `window`, the long window / the active
    days in the long window up to the last one; or `gaps`, the mean gap between those active
    days (the long window with only one), which a short history does not stretch.
    The pattern is provisional while the user is younger than activation_window_days.
    The windows are the settings short_window_days (7, the "weeks" of the trend) and
    long_window_days (28): the columns named _7 and _28 count over them (docs/cadence.md). -#}
{%- set activation_window = setting('activation_window_days') | int %}
{%- set short_window = setting('short_window_days') | int %}
{%- set long_window = setting('long_window_days') | int %}
{%- set active_day = 'case when is_active then 1 else 0 end' %}
{%- set usual_gap_basis = setting('usual_gap_basis') %}

with users as (
    select user_id, signup_date, plan, value_tier, payment_failures as payment_failures_total
    from {{ ref('users') }}
),

{#- The active days (the rows of user_daily_engagement with is_active): every count below is
    over active days only, the trailing windows as RANGE frames over day numbers, so nothing
    is expanded to users x days. #}
engagement as (
    select
        user_id,
        activity_date,
        true as is_active,
        count(*) over (
            by_day range between {{ short_window - 1 }} preceding and current row
        ) as active_days_short,
        count(*) over (
            by_day range between {{ long_window - 1 }} preceding and current row
        ) as active_days_long,
        min(activity_date) over (partition by user_id) as first_active_date
    from {{ ref('int_user_active_days') }}
    where activity_date <= {{ as_of_date() }}
    window by_day as (partition by user_id order by datediff('day', date '1970-01-01', activity_date))
),

latest as (
    select user_id, min(activity_date) as first_active_date, max(activity_date) as last_active_date
    from engagement
    group by user_id
),

history as (
    select
        engagement.user_id,
        count(*) as active_days_total,
        sum(case when activity_date < {{ dbt.dateadd('day', activation_window, 'engagement.first_active_date') }}
            then 1 else 0 end) as active_days_first_window,
        {#- a trailing count only grows on an active day: its peak is on one #}
        max(active_days_long) as peak_active_days_28
    from engagement
    group by engagement.user_id
),

before_stop as (
    select
        engagement.user_id,
        engagement.active_days_long as active_days_28_before_stop,
        engagement.active_days_short as active_days_7_before_stop
    from engagement
    inner join latest
        on engagement.user_id = latest.user_id and engagement.activity_date = latest.last_active_date
),
{%- if usual_gap_basis == 'gaps' %}

{#- The first active day of the long window that ends on the last active day. #}
window_starts as (
    select engagement.user_id, min(engagement.activity_date) as first_active_in_window
    from engagement
    inner join latest on engagement.user_id = latest.user_id
    where engagement.activity_date <= latest.last_active_date
        and engagement.activity_date > {{ dbt.dateadd('day', -1 * long_window, 'latest.last_active_date') }}
    group by engagement.user_id
),
{%- endif %}

{#- Active days per week (a short window) over the 8 weeks that end on the last active day
    (week 0 is its last short window, week -7 the oldest), whole weeks only (a week cut by the
    first active day would read as a rise); the trend is the least-squares slope over their
    mean. Week j covers the days last - j * short - (short - 1) to last - j * short. #}
weeks as (
    select
        latest.user_id,
        -1 * numbers.j as week_number,
        cast({{ dbt.dateadd('day', '-1 * (numbers.j * ' ~ short_window ~ ' + ' ~ (short_window - 1) ~ ')', 'latest.last_active_date') }} as date) as week_start,
        cast({{ dbt.dateadd('day', '-1 * numbers.j * ' ~ short_window, 'latest.last_active_date') }} as date) as week_end
    from latest
    cross join (select range as j from range(0, 8)) as numbers
),

weekly as (
    select
        weeks.user_id,
        weeks.week_number,
        count(engagement.activity_date) as active_days,
        {{ short_window }} as days
    from weeks
    inner join latest on weeks.user_id = latest.user_id
    left join engagement
        on engagement.user_id = weeks.user_id
        and engagement.activity_date between weeks.week_start and weeks.week_end
    where weeks.week_start >= latest.first_active_date
    group by weeks.user_id, weeks.week_number
),

{#- From integer sums, so the result does not depend on the order rows are added up in:
    slope / mean = n (n Sxy - Sx Sy) / ((n Sxx - Sx^2) Sy). #}
trend as (
    select
        user_id,
        count(*) as trend_weeks,
        count(*) * (count(*) * sum(week_number * active_days) - sum(week_number) * sum(active_days))
            / nullif((count(*) * sum(week_number * week_number) - sum(week_number) * sum(week_number)) * sum(active_days), 0)
            as weekly_trend
    from (
        select user_id, cast(week_number as bigint) as week_number, cast(active_days as bigint) as active_days
        from weekly
        where days = {{ short_window }}
    ) as weeks
    group by user_id
),

billing as (
    select user_id, billing_event, billing_date
    from {{ ref('stg_landing__billing') }}
    where billing_date <= {{ as_of_date() }}
        and billing_event in ('payment_failed', 'payment_succeeded')
),

last_success as (
    select user_id, max(billing_date) as last_payment_success_date
    from billing
    where billing_event = 'payment_succeeded'
    group by user_id
),

{#- The first failure not followed by a success (a success the same day resolves it). #}
unresolved as (
    select billing.user_id, min(billing.billing_date) as unresolved_payment_failure_date
    from billing
    left join last_success on billing.user_id = last_success.user_id
    where billing.billing_event = 'payment_failed'
        and (last_success.last_payment_success_date is null
             or billing.billing_date > last_success.last_payment_success_date)
    group by billing.user_id
),

evidence as (
    select
        users.user_id,
        {{ as_of_date() }} as as_of_date,
        users.signup_date,
        users.plan,
        users.value_tier,
        latest.first_active_date,
        latest.last_active_date,
        {{ dbt.datediff('latest.last_active_date', as_of_date(), 'day') }} as days_since_last_active,
        {{ dbt.datediff('coalesce(latest.first_active_date, users.signup_date)', as_of_date(), 'day') }} + 1
            as tenure_days,
        coalesce(history.active_days_total, 0) as active_days_total,
        coalesce(history.active_days_first_window, 0) as active_days_first_window,
        coalesce(history.peak_active_days_28, 0) as peak_active_days_28,
        before_stop.active_days_28_before_stop,
        before_stop.active_days_7_before_stop,
        before_stop.active_days_28_before_stop / nullif(history.peak_active_days_28, 0) as drop_ratio,
        trend.weekly_trend,
        coalesce(trend.trend_weeks, 0) as trend_weeks,
        {%- if usual_gap_basis == 'gaps' %}
        case when before_stop.active_days_28_before_stop > 1
            then {{ dbt.datediff('window_starts.first_active_in_window', 'latest.last_active_date', 'day') }}
                / (before_stop.active_days_28_before_stop - 1)
            else {{ long_window }}.0
        end as usual_gap_days,
        {%- else %}
        {{ long_window }}.0 / greatest(before_stop.active_days_28_before_stop, 1) as usual_gap_days,
        {%- endif %}
        users.payment_failures_total,
        unresolved.unresolved_payment_failure_date,
        last_success.last_payment_success_date
    from users
    left join latest on users.user_id = latest.user_id
    left join history on users.user_id = history.user_id
    left join before_stop on users.user_id = before_stop.user_id
    {%- if usual_gap_basis == 'gaps' %}
    left join window_starts on users.user_id = window_starts.user_id
    {%- endif %}
    left join trend on users.user_id = trend.user_id
    left join unresolved on users.user_id = unresolved.user_id
    left join last_success on users.user_id = last_success.user_id
),

rules as (
    select
        *,
        last_active_date is not null
            and unresolved_payment_failure_date is not null
            and last_active_date >= {{ dbt.dateadd('day', -1 * setting('involuntary_active_within_days') | int, 'unresolved_payment_failure_date') }}
            as is_involuntary,
        last_active_date is null
            or (tenure_days >= {{ activation_window }}
                and active_days_total <= {{ setting('never_activated_max_active_days') }}
                and active_days_total = active_days_first_window)
            as is_never_activated,
        days_since_last_active >= {{ setting('stopped_after_days') }}
            and days_since_last_active >= {{ setting('stopped_gap_multiple') }} * usual_gap_days
            as has_stopped,
        active_days_28_before_stop >= {{ window_count_setting('substantial_use_min_active_days', 'long_window_days') }}
            as had_substantial_use,
        peak_active_days_28 >= {{ window_count_setting('decline_min_peak_active_days', 'long_window_days') }}
            and drop_ratio <= {{ setting('decline_max_drop_ratio') }}
            and coalesce(weekly_trend, 0) <= {{ setting('decline_max_weekly_trend') }}
            as has_declined
    from evidence
),

final as (
    select
        user_id,
        as_of_date,
        case
            when is_involuntary then 'involuntary'
            when is_never_activated then 'never_activated'
            when has_stopped and had_substantial_use
                and active_days_7_before_stop >= {{ window_count_setting('abrupt_min_active_days_last_7', 'short_window_days') }}
                then 'abrupt_abandonment'
            when has_declined or (has_stopped and had_substantial_use) then 'progressive_decline'
            else 'steady'
        end as pattern,
        tenure_days < {{ activation_window }} as is_provisional,
        signup_date,
        plan,
        value_tier,
        first_active_date,
        last_active_date,
        days_since_last_active,
        tenure_days,
        active_days_total,
        active_days_first_window,
        peak_active_days_28,
        active_days_28_before_stop,
        active_days_7_before_stop,
        round(drop_ratio, 3) as drop_ratio,
        round(weekly_trend, 3) as weekly_trend,
        trend_weeks,
        round(usual_gap_days, 1) as usual_gap_days,
        coalesce(has_stopped, false) as has_stopped,
        payment_failures_total,
        unresolved_payment_failure_date,
        last_payment_success_date
    from rules
)

select * from final
