with source as (
    select * from {{ source('landing', 'survey_responses') }}
),

renamed as (
    select
        user_id,
        submitted_at,
        {{ local_date("submitted_at") }} as submitted_date,
        reason_code,
        comment,
        _source_file as source_file,
        _source_row as source_row
    from source
)

select * from renamed
