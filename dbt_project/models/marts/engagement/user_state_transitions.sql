{#- Grain: day x from_state x to_state: how many users moved from yesterday's state to today's
    (from_state 'none' on a user's first active day). States: user_daily_engagement. -#}
with states as (
    select
        user_id,
        activity_date,
        state,
        lag(state) over (partition by user_id order by activity_date) as previous_state
    from {{ ref('user_daily_engagement') }}
),

final as (
    select
        activity_date,
        coalesce(previous_state, 'none') as from_state,
        state as to_state,
        count(*) as users
    from states
    group by activity_date, coalesce(previous_state, 'none'), state
)

select * from final
