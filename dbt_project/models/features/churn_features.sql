{#- Grain: one row per known user per churn snapshot date (churn_snapshots): the features of the
    churn model, each computed only from what had happened by the end of that date, so a row
    for a past snapshot is what was knowable then and the model learns on the same kind of row
    it scores. Point-in-time by construction: every source is filtered on the snapshot date
    (the sparse activity days, messages, survey answers and billing events through a window or
    an as-of join; user_daily_engagement and user_daily_health, themselves point-in-time, on
    the row of that very day). docs/churn.md lists every feature.

    Known at T: signed up (users.signup_date) or seen (a first event) on or before T. A user
    known only from a profile gets their tenure and zero counts; lapsed users stay in with
    their recency.

    Left out on purpose, because the users file holds only their latest value (no history),
    so at a past snapshot they would tell the model the future: plan, country, acquisition
    channel, consent and e-mail status. The value tier is recomputed from the revenue up to T
    (value_tier_high_revenue / value_tier_mid_revenue), not from the plan.

    The pattern flags apply the rules of user_disengagement_patterns at T to the qualifying
    activity, with one simplification: a progressive decline is judged on the drop ratio and
    the stop alone, without the 8-week trend. -#}
{%- set long_window = setting('long_window_days') | int %}
{%- set short_window = setting('short_window_days') | int %}
{%- set activation_window = setting('activation_window_days') | int %}
{%- set states = ['new', 'resurrected', 'reactivated', 'current', 'at_risk', 'dormant', 'churned'] %}
{%- set reasons = ['complexity', 'missing_feature', 'price', 'competitor', 'no_longer_needed', 'technical_issue', 'other'] %}

with snapshots as (
    select snapshot_date from {{ ref('churn_snapshots') }}
),

days as (
    select * from {{ ref('churn_activity_days') }}
),

known_users as (
    select users.user_id, least(users.signup_date, seen.first_event_date) as known_since
    from {{ ref('users') }} as users
    left join (
        select user_id, min(activity_date) as first_event_date from days group by user_id
    ) as seen on users.user_id = seen.user_id
),

population as (
    select known_users.user_id, snapshots.snapshot_date, known_users.known_since
    from known_users
    inner join snapshots on known_users.known_since <= snapshots.snapshot_date
),

{#- Counts over trailing windows: each day joins the snapshots within a year after it. -#}
windowed as (
    select
        days.user_id,
        snapshots.snapshot_date,
        {%- for n in [7, 28, 90] %}
        count(*) filter (where days.is_qualifying and days.activity_date > snapshots.snapshot_date - {{ n }}) as active_days_{{ n }},
        {%- endfor %}
        count(*) filter (where days.is_qualifying
            and days.activity_date <= snapshots.snapshot_date - 28
            and days.activity_date > snapshots.snapshot_date - 56) as active_days_prior_28,
        coalesce(sum(days.events) filter (where days.activity_date > snapshots.snapshot_date - 28), 0) as events_28,
        coalesce(sum(days.events) filter (where days.activity_date > snapshots.snapshot_date - 90), 0) as events_90,
        coalesce(sum(days.core_actions) filter (where days.activity_date > snapshots.snapshot_date - 28), 0) as core_actions_28,
        coalesce(sum(days.revenue) filter (where days.activity_date > snapshots.snapshot_date - 90), 0) as revenue_90,
        coalesce(sum(days.revenue), 0) as revenue_365,
        count(*) filter (where days.revenue > 0 and days.activity_date > snapshots.snapshot_date - 90) as purchases_90
    from days
    inner join snapshots
        on days.activity_date <= snapshots.snapshot_date
        and days.activity_date > snapshots.snapshot_date - 365
    group by days.user_id, snapshots.snapshot_date
),

{#- Running totals on each qualifying day, with the active days of the long and short windows
    that end on it (the pattern rules read them on the last active day). -#}
qualifying as (
    select
        user_id,
        activity_date,
        count(*) over (by_user range between {{ long_window - 1 }} preceding and current row) as active_days_long,
        count(*) over (by_user range between {{ short_window - 1 }} preceding and current row) as active_days_short,
        min(activity_date) over (by_user range between {{ long_window - 1 }} preceding and current row) as first_active_in_window,
        min(activity_date) over (partition by user_id) as first_active_date
    from (
        select user_id, activity_date from days where is_qualifying
    ) as q
    window by_user as (partition by user_id order by activity_date)
),

qualifying_running as (
    select
        user_id,
        activity_date as last_active_date,
        first_active_date,
        count(*) over running as active_days_total,
        max(active_days_long) over running as peak_active_days_28,
        active_days_long as active_days_28_before_stop,
        active_days_short as active_days_7_before_stop,
        first_active_in_window,
        sum(case when activity_date < first_active_date + {{ activation_window }} then 1 else 0 end)
            over running as active_days_first_window
    from qualifying
    window running as (partition by user_id order by activity_date rows between unbounded preceding and current row)
),

all_running as (
    select
        user_id,
        activity_date as last_event_date,
        sum(revenue) over running as revenue_total,
        sum(case when revenue > 0 then 1 else 0 end) over running as purchases_total,
        max(case when revenue > 0 then activity_date end) over running as last_purchase_date
    from days
    window running as (partition by user_id order by activity_date rows between unbounded preceding and current row)
),

messages as (
    select user_id, message_id, message_event, message_event_date
    from {{ ref('stg_landing__messages') }}
),

{#- Each message once, on the day it was first received (sent or delivered) and first engaged
    with (opened or clicked), as user_daily_health counts them. -#}
message_firsts as (
    select
        user_id,
        message_id,
        min(case when message_event in ('sent', 'delivered') then message_event_date end) as received_date,
        min(case when message_event in ('open', 'click') then message_event_date end) as engaged_date
    from messages
    group by user_id, message_id
),

message_days as (
    select user_id, received_date as message_date, 1 as received, 0 as engaged
    from message_firsts where received_date is not null
    union all
    select user_id, engaged_date, 0, 1
    from message_firsts where engaged_date is not null
),

messages_windowed as (
    select
        message_days.user_id,
        snapshots.snapshot_date,
        sum(received) as messages_received_90,
        sum(engaged) as messages_opened_90
    from message_days
    inner join snapshots
        on message_days.message_date <= snapshots.snapshot_date
        and message_days.message_date > snapshots.snapshot_date - 90
    group by message_days.user_id, snapshots.snapshot_date
),

opens as (
    select distinct user_id, message_event_date as open_date
    from messages
    where message_event in ('open', 'click')
),

surveys as (
    select user_id, submitted_date, reason_code
    from (
        select
            user_id, submitted_date, reason_code,
            row_number() over (partition by user_id, submitted_date order by submitted_at desc, source_row desc) as n
        from {{ ref('stg_landing__survey_responses') }}
    ) as ranked
    where n = 1
),

billing as (
    select user_id, billing_date, billing_event
    from {{ ref('stg_landing__billing') }}
    where billing_event in ('payment_failed', 'payment_succeeded')
),

failures as (
    select user_id, billing_date, count(*) over (partition by user_id order by billing_date rows unbounded preceding) as failures_so_far
    from (select distinct user_id, billing_date from billing where billing_event = 'payment_failed') as f
),

successes as (
    select distinct user_id, billing_date from billing where billing_event = 'payment_succeeded'
),

engagement as (
    select user_id, activity_date, state, feature_breadth_28d
    from ({{ user_daily_engagement_rows('select snapshot_date as day from ' ~ ref('churn_snapshots')) }}) as rows
),

health as (
    select
        user_id, activity_date, health_score, usage_change_pct, days_since_last_core_action,
        help_visits_recent, messages_received_recent, messages_engaged_recent,
        signal_usage_drop, signal_no_core_action, signal_help_visits, signal_unsubscribed,
        signal_payment_failure
    from ({{ user_daily_health_rows('select snapshot_date as day from ' ~ ref('churn_snapshots')) }}) as rows
),

joined as (
    select
        population.user_id,
        population.snapshot_date,
        population.known_since,
        q.first_active_date,
        q.last_active_date,
        q.active_days_total,
        q.active_days_first_window,
        q.peak_active_days_28,
        q.active_days_28_before_stop,
        q.active_days_7_before_stop,
        q.first_active_in_window,
        a.revenue_total,
        a.purchases_total,
        a.last_purchase_date,
        w.active_days_7, w.active_days_28, w.active_days_90, w.active_days_prior_28,
        w.events_28, w.events_90, w.core_actions_28, w.revenue_90, w.revenue_365, w.purchases_90,
        m.messages_received_90, m.messages_opened_90,
        o.open_date as last_open_date,
        s.reason_code as survey_reason,
        f.billing_date as last_failure_date,
        f.failures_so_far,
        ok.billing_date as last_success_date,
        e.state, e.feature_breadth_28d,
        h.health_score, h.usage_change_pct, h.days_since_last_core_action,
        h.help_visits_recent, h.messages_received_recent, h.messages_engaged_recent,
        h.signal_usage_drop, h.signal_no_core_action, h.signal_help_visits,
        h.signal_unsubscribed, h.signal_payment_failure
    from population
    asof left join qualifying_running as q
        on population.user_id = q.user_id and population.snapshot_date >= q.last_active_date
    asof left join all_running as a
        on population.user_id = a.user_id and population.snapshot_date >= a.last_event_date
    left join windowed as w
        on population.user_id = w.user_id and population.snapshot_date = w.snapshot_date
    left join messages_windowed as m
        on population.user_id = m.user_id and population.snapshot_date = m.snapshot_date
    asof left join opens as o
        on population.user_id = o.user_id and population.snapshot_date >= o.open_date
    asof left join surveys as s
        on population.user_id = s.user_id and population.snapshot_date >= s.submitted_date
    asof left join failures as f
        on population.user_id = f.user_id and population.snapshot_date >= f.billing_date
    asof left join successes as ok
        on population.user_id = ok.user_id and population.snapshot_date >= ok.billing_date
    left join engagement as e
        on population.user_id = e.user_id and population.snapshot_date = e.activity_date
    left join health as h
        on population.user_id = h.user_id and population.snapshot_date = h.activity_date
),

evidence as (
    select
        *,
        date_diff('day', last_active_date, snapshot_date) as days_since_last_activity,
        date_diff('day', first_active_date, snapshot_date) as days_since_first_activity,
        date_diff('day', known_since, snapshot_date) + 1 as tenure_days,
        {%- if setting('usual_gap_basis') == 'gaps' %}
        case when active_days_28_before_stop > 1
            then date_diff('day', first_active_in_window, last_active_date) / (active_days_28_before_stop - 1)
            when active_days_28_before_stop = 1 then {{ long_window }}.0
        end as usual_gap_days,
        {%- else %}
        {{ long_window }}.0 / active_days_28_before_stop as usual_gap_days,
        {%- endif %}
        active_days_28_before_stop / nullif(peak_active_days_28, 0) as drop_ratio,
        last_failure_date is not null
            and (last_success_date is null or last_failure_date > last_success_date)
            as has_unresolved_payment_failure
    from joined
),

flags as (
    select
        *,
        coalesce(days_since_last_activity >= {{ setting('stopped_after_days') }}
            and days_since_last_activity >= {{ setting('stopped_gap_multiple') }} * usual_gap_days, false)
            as has_stopped,
        coalesce(active_days_28_before_stop >= {{ window_count_setting('substantial_use_min_active_days', 'long_window_days') }}, false)
            as had_substantial_use
    from evidence
),

final as (
    select
        user_id,
        snapshot_date,
        -- recency, frequency, tenure
        days_since_last_activity,
        days_since_first_activity,
        tenure_days,
        coalesce(active_days_7, 0) as active_days_7,
        coalesce(active_days_28, 0) as active_days_28,
        coalesce(active_days_90, 0) as active_days_90,
        coalesce(active_days_total, 0) as active_days_total,
        coalesce(active_days_prior_28, 0) as active_days_prior_28,
        (coalesce(active_days_28, 0) - active_days_prior_28) / nullif(active_days_prior_28, 0)
            as activity_change_28,
        usual_gap_days,
        days_since_last_activity / usual_gap_days as overdue_ratio,
        -- BG/NBD's summary of the qualifying days: repeat days, first to last, first to T
        active_days_total - 1 as frequency,
        date_diff('day', first_active_date, last_active_date) as recency,
        days_since_first_activity as "T",
        -- volume and value
        coalesce(events_28, 0) as events_28,
        coalesce(events_90, 0) as events_90,
        coalesce(core_actions_28, 0) as core_actions_28,
        days_since_last_core_action,
        coalesce(revenue_90, 0) as revenue_90,
        coalesce(revenue_365, 0) as revenue_365,
        coalesce(revenue_total, 0) as revenue_total,
        coalesce(purchases_90, 0) as purchases_90,
        coalesce(purchases_total, 0) as purchases_total,
        date_diff('day', last_purchase_date, snapshot_date) as days_since_last_purchase,
        case when coalesce(revenue_total, 0) >= {{ sql_number(setting('value_tier_high_revenue'), 'value_tier_high_revenue') }} then 1 else 0 end as is_value_high,
        case when coalesce(revenue_total, 0) >= {{ sql_number(setting('value_tier_mid_revenue'), 'value_tier_mid_revenue') }}
            and coalesce(revenue_total, 0) < {{ sql_number(setting('value_tier_high_revenue'), 'value_tier_high_revenue') }} then 1 else 0 end as is_value_mid,
        -- breadth and lifecycle state at T
        feature_breadth_28d as feature_breadth_28,
        {%- for s in states %}
        case when state = {{ sql_string(s) }} then 1 else 0 end as is_state_{{ s }},
        {%- endfor %}
        -- weak signals and health at T
        health_score,
        usage_change_pct,
        help_visits_recent,
        messages_received_recent,
        messages_engaged_recent,
        {%- for signal in ['usage_drop', 'no_core_action', 'help_visits', 'unsubscribed', 'payment_failure'] %}
        case when signal_{{ signal }} then 1 else 0 end as signal_{{ signal }},
        {%- endfor %}
        {%- for signal in ['usage_drop', 'no_core_action', 'help_visits', 'unsubscribed', 'payment_failure'] %}
        case when signal_{{ signal }} then 1 else 0 end{% if not loop.last %} +{% endif %}
        {%- endfor %} as active_signals,
        -- the disengagement pattern at T (its evidence, then the rules)
        coalesce(peak_active_days_28, 0) as peak_active_days_28,
        drop_ratio,
        case when has_stopped then 1 else 0 end as has_stopped,
        case when last_active_date is null
            or (days_since_first_activity + 1 >= {{ activation_window }}
                and active_days_total <= {{ setting('never_activated_max_active_days') }}
                and active_days_total = active_days_first_window)
            then 1 else 0 end as pattern_never_activated,
        case when has_unresolved_payment_failure and last_active_date is not null
            and last_active_date >= last_failure_date - {{ setting('involuntary_active_within_days') | int }}
            then 1 else 0 end as pattern_involuntary,
        case when has_stopped and had_substantial_use
            and active_days_7_before_stop >= {{ window_count_setting('abrupt_min_active_days_last_7', 'short_window_days') }}
            then 1 else 0 end as pattern_abrupt_abandonment,
        case when (has_stopped and had_substantial_use
                and active_days_7_before_stop < {{ setting('abrupt_min_active_days_last_7') }})
            or (peak_active_days_28 >= {{ window_count_setting('decline_min_peak_active_days', 'long_window_days') }}
                and drop_ratio <= {{ setting('decline_max_drop_ratio') }})
            then 1 else 0 end as pattern_progressive_decline,
        -- messages, survey, payments up to T
        coalesce(messages_received_90, 0) as messages_received_90,
        coalesce(messages_opened_90, 0) as messages_opened_90,
        date_diff('day', last_open_date, snapshot_date) as days_since_last_message_open,
        case when survey_reason is not null then 1 else 0 end as has_survey_response,
        {%- for r in reasons %}
        case when survey_reason = {{ sql_string(r) }} then 1 else 0 end as survey_reason_{{ r }},
        {%- endfor %}
        coalesce(failures_so_far, 0) as payment_failures_total,
        case when has_unresolved_payment_failure then 1 else 0 end as has_unresolved_payment_failure
    from flags
)

select * from final
