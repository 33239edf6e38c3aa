{#- Grain: one row per model version, fold, model and probability bin: the mean predicted churn
    probability against the observed churn rate of the users in the bin (a calibrated model
    sits on the diagonal). -#}
select
    model_version,
    fold,
    model,
    kind,
    bin,
    bin_lower,
    bin_upper,
    users,
    mean_predicted,
    observed_rate
from {{ source('ml', 'churn_calibration') }}
