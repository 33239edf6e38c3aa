{#- Grain: one row per model version, backtest fold and model (the candidates logistic and hgb,
    the baselines recency and bgnbd): ROC AUC, PR AUC, Brier score, log loss, top-decile lift
    and churn rate on the fold's validation snapshot. docs/churn.md. -#}
select
    model_version,
    trained_as_of,
    fold,
    model,
    kind,
    is_chosen,
    is_promoted,
    validation_start,
    train_start,
    train_end,
    train_snapshots,
    roc_auc,
    pr_auc,
    brier,
    log_loss,
    top_decile_lift,
    churn_rate,
    n as validation_rows
from {{ source('ml', 'churn_model_evaluation') }}
