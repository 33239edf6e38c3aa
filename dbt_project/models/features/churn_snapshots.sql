{#- Grain: one row per snapshot date of the churn model. Snapshot 0 is the as-of date (the one
    scored); the training snapshots go back from it every churn_snapshot_every_days days, the
    most recent first, keeping only dates whose label window (T, T + churn_horizon_days] has
    fully passed by the as-of date, at most churn_training_snapshots of them and none before
    the first event. -#}
{%- set horizon = setting('churn_horizon_days') | int %}
{%- set every = setting('churn_snapshot_every_days') | int %}
{%- set count = setting('churn_training_snapshots') | int %}
{#- the first k whose window has closed: as_of - k * every + horizon <= as_of -#}
{%- set first_closed = ((horizon + every - 1) // every) %}

with bounds as (
    select
        {{ as_of_date() }} as as_of_date,
        (select min(event_date) from {{ ref('int_events_deduplicated') }}) as first_event_date
),

steps as (
    select 0 as snapshot_number
    union all
    select range as snapshot_number
    from range({{ first_closed }}, {{ first_closed + count }})
),

final as (
    select
        cast(bounds.as_of_date - cast(steps.snapshot_number * {{ every }} as integer) as date) as snapshot_date,
        steps.snapshot_number,
        steps.snapshot_number = 0 as is_scoring,
        cast(bounds.as_of_date - cast(steps.snapshot_number * {{ every }} as integer) + {{ horizon }} as date)
            as label_window_end,
        steps.snapshot_number > 0 as is_training
    from steps
    cross join bounds
    where steps.snapshot_number = 0
        or bounds.as_of_date - cast(steps.snapshot_number * {{ every }} as integer) >= bounds.first_event_date
)

select * from final
