{#- Grain: one row per known user on the as-of date of the latest build: the churn probability
    (calibrated: among users scored 0.3, about 30 % churn within the horizon), the risk tier
    (churn_high_risk_min, churn_medium_risk_min), the top 3 reasons and the model version that
    scored. docs/churn.md. -#}
with settings as (
    select as_of_date, horizon_days from {{ ref('churn_settings') }}
),

scores as (
    select * from {{ source('ml', 'churn_scores') }}
),

final as (
    select
        scores.user_id,
        scores.as_of_date,
        scores.churn_probability,
        scores.risk_tier,
        settings.horizon_days,
        scores.reason_1,
        scores.reason_2,
        scores.reason_3,
        scores.feature_1,
        scores.feature_2,
        scores.feature_3,
        scores.model_version,
        scores.model_name,
        scores.scored_at
    from scores
    inner join settings on scores.as_of_date = settings.as_of_date
)

select * from final
