"""Churn risk, plain Python on DataFrames, no Dagster import.

- `bgnbd`: the BG/NBD buy-till-you-die model, fitted by maximum likelihood with scipy.
- `baselines`: the recency and BG/NBD baselines and the churn label they are judged on.
- `metrics`: the figures every model of the backtest is judged by, and calibration bins.
- `dataset`: the training-set contract (one row per user per snapshot, features, label), the
  labelled snapshots and the temporal, purged folds.
- `train`: the candidate models (logistic regression, gradient-boosted trees), calibrated on a
  later slice than they learn on; the backtest against the baselines; the choice of a model
  and its final fit.
- `registry`: model versions on disk with a JSON card, and when to retrain.
- `gates`: the promotion gate against the baselines, and the population stability index.
- `reasons`: the top reasons per user, in words a CRM person understands.
- `score`: every user scored with tier-ready probabilities and reasons; the calibration and
  lift tables of a backtest.
- `plots`: the calibration plot and the lift chart.
- `pipeline`: the steps end to end on a warehouse (features in, `ml` tables out), which the
  Dagster assets in `orchestration.churn` call.
"""
