{#- Per user, as of the as-of date: the latest survey answer and how many they gave. -#}
with responses as (
    select * from {{ ref('stg_landing__survey_responses') }}
    where submitted_date <= {{ as_of_date() }}
),

ranked as (
    select
        responses.*,
        row_number() over (
            partition by user_id order by submitted_at desc, source_file desc, source_row desc
        ) as recency_rank,
        count(*) over (partition by user_id) as survey_responses
    from responses
),

final as (
    select
        user_id,
        reason_code as latest_survey_reason,
        submitted_at as latest_survey_at,
        survey_responses
    from ranked
    where recency_rank = 1
)

select * from final
