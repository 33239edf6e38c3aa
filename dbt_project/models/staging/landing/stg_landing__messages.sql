with source as (
    select * from {{ source('landing', 'messages') }}
),

renamed as (
    select
        message_id,
        campaign_id,
        user_id,
        channel,
        message_event,
        occurred_at,
        {{ local_date("occurred_at") }} as message_event_date,
        _source_file as source_file,
        _source_row as source_row
    from source
)

select * from renamed
