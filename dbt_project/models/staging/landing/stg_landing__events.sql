with source as (
    select * from {{ source('landing', 'events') }}
),

renamed as (
    select
        event_id,
        user_id,
        event_name,
        occurred_at,
        {{ local_date("occurred_at") }} as event_date,
        properties,
        revenue,
        platform,
        _source_file as source_file,
        _source_row as source_row
    from source
)

select * from renamed
