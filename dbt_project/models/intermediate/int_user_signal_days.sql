{#- Per user per local day, what the other sources say beyond product activity: help-page
    visits (the `help_events` setting), uses of the deep features (`depth_events`; an empty
    list switches either off), messages received, opened or clicked (each message counted
    once, on the first day it was received / opened or clicked), unsubscribes, and payments
    that failed or went through. Up to the as-of date. Days with none are absent. Help and
    depth events are read from staging, counted by distinct event id (an event landing in two
    files counts once): deduplicating all events first costs seconds on every daily run. -#}
with help_visits as (
    select
        user_id,
        event_date as signal_date,
        count(distinct case when {{ event_in_setting('event_name', 'help_events', false) }} then event_id end)
            as help_visits,
        count(distinct case when {{ event_in_setting('event_name', 'depth_events', false) }} then event_id end)
            as depth_events
    from {{ ref('stg_landing__events') }}
    where event_date <= {{ as_of_date() }}
        and ({{ event_in_setting('event_name', 'help_events', false) }}
             or {{ event_in_setting('event_name', 'depth_events', false) }})
    group by user_id, event_date
),

message_firsts as (
    select
        user_id,
        message_id,
        min(case when message_event in ('sent', 'delivered') then message_event_date end) as received_date,
        min(case when message_event in ('open', 'click') then message_event_date end) as engaged_date,
        min(case when message_event = 'unsubscribe' then message_event_date end) as unsubscribed_date
    from {{ ref('stg_landing__messages') }}
    where message_event_date <= {{ as_of_date() }}
    group by user_id, message_id
),

message_days as (
    select user_id, received_date as signal_date, 1 as received, 0 as engaged, 0 as unsubscribed
    from message_firsts where received_date is not null
    union all
    select user_id, engaged_date, 0, 1, 0
    from message_firsts where engaged_date is not null
    union all
    select user_id, unsubscribed_date, 0, 0, 1
    from message_firsts where unsubscribed_date is not null
),

messages as (
    select
        user_id,
        signal_date,
        sum(received) as messages_received,
        sum(engaged) as messages_engaged,
        sum(unsubscribed) as unsubscribes
    from message_days
    group by user_id, signal_date
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
