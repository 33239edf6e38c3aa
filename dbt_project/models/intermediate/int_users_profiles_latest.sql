{#- One profile per user: the last row for that user in file-name order, then row order. -#}
with profiles as (
    select * from {{ ref('stg_landing__users') }}
),

ranked as (
    select
        profiles.*,
        row_number() over (
            partition by user_id order by source_file desc, source_row desc
        ) as recency_rank
    from profiles
),

final as (
    select
        user_id, signup_at, email, plan, country, acquisition_channel, email_opt_in, sms_opt_in
    from ranked
    where recency_rank = 1
)

select * from final
