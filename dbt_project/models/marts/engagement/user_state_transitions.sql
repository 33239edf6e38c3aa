{#- Grain: day x from_state x to_state: how many users moved from yesterday's state to today's
    (from_state 'none' on a user's first active day). States: user_daily_engagement.
    Counted from user_day_spans without expanding it to users x days: a span's first day moves
    its user from the previous span's state (or 'none'); every later day of the span keeps the
    user in its state, counted as a running sum over days of spans starting and ending. -#}
with spans as (
    select
        user_id,
        valid_from,
        valid_to,
        state,
        coalesce(lag(state) over (partition by user_id order by valid_from), 'none') as previous_state
    from {{ ref('user_day_spans') }}
),

span_starts as (
    select valid_from as activity_date, previous_state as from_state, state as to_state, count(*) as users
    from spans
    group by valid_from, previous_state, state
),

{#- the days after a span's first: +1 from the second day, -1 after the last #}
stays as (
    select state, cast({{ dbt.dateadd('day', 1, 'valid_from') }} as date) as change_date, 1 as change
    from spans
    where valid_to > valid_from
    union all
    select state, cast({{ dbt.dateadd('day', 1, 'valid_to') }} as date), -1
    from spans
    where valid_to > valid_from
),

stay_changes as (
    select state, change_date, sum(change) as change
    from stays
    group by state, change_date
),

days as (
    {{ date_spine('(select min(valid_from) from spans)', '(select max(valid_to) from spans)') }}
),

states as (
    select distinct state from stay_changes
),

staying as (
    select
        days.date_day as activity_date,
        states.state,
        sum(coalesce(stay_changes.change, 0)) over (
            partition by states.state order by days.date_day rows unbounded preceding
        ) as users
    from days
    cross join states
    left join stay_changes
        on stay_changes.state = states.state and stay_changes.change_date = days.date_day
),

counted as (
    select activity_date, from_state, to_state, users from span_starts
    union all
    select activity_date, state, state, users from staying where users > 0
),

final as (
    select activity_date, from_state, to_state, cast(sum(users) as bigint) as users
    from counted
    group by activity_date, from_state, to_state
)

select * from final
