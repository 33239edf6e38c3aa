{#- Per user, as of the as-of date: what the message log says about reaching them. -#}
with messages as (
    select * from {{ ref('stg_landing__messages') }}
    where message_event_date <= {{ as_of_date() }}
),

final as (
    select
        user_id,
        count(distinct case when message_event = 'sent' then message_id end) as messages_sent,
        count(distinct case when message_event = 'open' then message_id end) as messages_opened,
        count(distinct case when message_event = 'click' then message_id end) as messages_clicked,
        max(case when message_event = 'open' then occurred_at end) as last_message_open_at,
        max(case when message_event = 'click' then occurred_at end) as last_message_click_at,
        max(case when message_event = 'unsubscribe' and channel = 'email' then 1 else 0 end) = 1
            as has_unsubscribed_email,
        max(case when message_event = 'bounce_hard' and channel = 'email' then 1 else 0 end) = 1
            as has_hard_bounced_email,
        max(case when message_event = 'complaint' then 1 else 0 end) = 1 as has_complained
    from messages
    group by user_id
)

select * from final
