"""Churn models: plain Python, no Dagster import (feature frames in, fitted models and scores
out). Filled in by the churn-scoring issues."""
