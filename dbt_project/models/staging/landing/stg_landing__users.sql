with source as (
    select * from {{ source('landing', 'users') }}
),

renamed as (
    select
        user_id,
        signup_at,
        email,
        plan,
        country,
        acquisition_channel,
        email_opt_in,
        sms_opt_in,
        _source_file as source_file,
        _source_row as source_row
    from source
)

select * from renamed
