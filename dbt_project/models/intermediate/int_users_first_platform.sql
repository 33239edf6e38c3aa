{#- The platform of each user's first event that has one (a stable per-user dimension).
    Cross-file duplicates cannot change it, so this reads staging. -#}
with events as (
    select user_id, platform, occurred_at, event_id
    from {{ ref('stg_landing__events') }}
    where platform is not null and event_date <= {{ as_of_date() }}
),

final as (
    select
        user_id,
        {{ first_value_by('platform', "cast(occurred_at as varchar) || event_id") }} as first_platform
    from events
    group by user_id
)

select * from final
