{#- Per user per local day, what the other sources say beyond product activity: help-page
    visits (the `help_events` setting), uses of the deep features (`depth_events`), messages received, opened or clicked, unsubscribes, and
    payments that failed or went through. Up to the as-of date. Days with none are absent. -#}
with help_visits as (
    select
        user_id,
        event_date as signal_date,
        count(distinct case when {{ event_in_setting('event_name', 'help_events') }} then event_id end)
            as help_visits,
        count(distinct case when {{ event_in_setting('event_name', 'depth_events') }} then event_id end)
            as depth_events
    from {{ ref('stg_landing__events') }}
    where event_date <= {{ as_of_date() }}
        and ({{ event_in_setting('event_name', 'help_events') }}
             or {{ event_in_setting('event_name', 'depth_events') }})
    group by user_id, event_date
),

messages as (
    select
        user_id,
        message_event_date as signal_date,
        count(distinct case when message_event in ('sent', 'delivered') then message_id end)
            as messages_received,
        count(distinct case when message_event in ('open', 'click') then message_id end)
            as messages_engaged,
        count(distinct case when message_event = 'unsubscribe' then message_id end)
            as unsubscribes
    from {{ ref('stg_landing__messages') }}
    where message_event_date <= {{ as_of_date() }}
    group by user_id, message_event_date
),

billing as (
    select
        user_id,
        billing_date as signal_date,
        sum(case when billing_event = 'payment_failed' then 1 else 0 end) as payment_failures,
        sum(case when billing_event = 'payment_succeeded' then 1 else 0 end) as payments_succeeded
    from {{ ref('stg_landing__billing') }}
    where billing_date <= {{ as_of_date() }}
    group by user_id, billing_date
),

keys as (
    select user_id, signal_date from help_visits
    union
    select user_id, signal_date from messages
    union
    select user_id, signal_date from billing
),

final as (
    select
        keys.user_id,
        keys.signal_date,
        coalesce(help_visits.help_visits, 0) as help_visits,
        coalesce(help_visits.depth_events, 0) as depth_events,
        coalesce(messages.messages_received, 0) as messages_received,
        coalesce(messages.messages_engaged, 0) as messages_engaged,
        coalesce(messages.unsubscribes, 0) as unsubscribes,
        coalesce(billing.payment_failures, 0) as payment_failures,
        coalesce(billing.payments_succeeded, 0) as payments_succeeded
    from keys
    left join help_visits using (user_id, signal_date)
    left join messages using (user_id, signal_date)
    left join billing using (user_id, signal_date)
)

select * from final
