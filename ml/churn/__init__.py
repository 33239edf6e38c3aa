"""Churn risk: the buy-till-you-die and recency baselines, and the metrics every model of the
backtest is judged by. Plain Python on DataFrames, no Dagster import."""
