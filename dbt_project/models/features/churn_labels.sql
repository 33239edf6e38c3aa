{#- Grain: one row per user per training snapshot (churn_snapshots.is_training): the label the
    churn model learns, 1 when the user has no qualifying activity in (T, T + horizon], else 0.
    Labels look into the future, so they live here, apart from the features, and no mart may
    read them (tests/test_churn_pipeline.py checks the lineage); only training snapshots whose
    window has closed by the as-of date exist. -#}
with snapshots as (
    select snapshot_date, label_window_end from {{ ref('churn_snapshots') }} where is_training
),

population as (
    select features.user_id, features.snapshot_date, snapshots.label_window_end
    from {{ ref('churn_features') }} as features
    inner join snapshots on features.snapshot_date = snapshots.snapshot_date
),

qualifying as (
    select user_id, activity_date from {{ ref('churn_activity_days') }} where is_qualifying
),

{#- the first qualifying day after T -#}
next_activity as (
    select population.*, qualifying.activity_date as next_active_date
    from population
    asof left join qualifying
        on population.user_id = qualifying.user_id
        and population.snapshot_date < qualifying.activity_date
),

final as (
    select
        user_id,
        snapshot_date,
        label_window_end,
        next_active_date,
        case when next_active_date is null or next_active_date > label_window_end then 1 else 0 end
            as label
    from next_activity
)

select * from final
