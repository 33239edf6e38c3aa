with source as (
    select * from {{ source('landing', 'billing') }}
),

renamed as (
    select
        user_id,
        occurred_at,
        {{ local_date("occurred_at") }} as billing_date,
        billing_event,
        amount,
        plan,
        _source_file as source_file,
        _source_row as source_row
    from source
)

select * from renamed
