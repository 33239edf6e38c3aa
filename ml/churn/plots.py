"""Figures of the churn backtest for asset metadata and reports (matplotlib, Agg backend, no
Dagster import): the reliability diagram and the lift by decile, on the latest fold. Each
returns a `matplotlib.figure.Figure` made without pyplot, so that nothing keeps it alive once
the caller has saved it."""

from __future__ import annotations

import pandas as pd

BASELINE_STYLE = {"linestyle": "--", "alpha": 0.8}


def _new_figure(width: float = 5.5, height: float = 4.2):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=90)


def _latest(table: pd.DataFrame, what: str) -> tuple[pd.DataFrame, int]:
    if table.empty:
        raise ValueError(f"{what}: the table is empty")
    fold = int(table["fold"].max())
    return table[table["fold"] == fold], fold


def _style(kind: str) -> dict:
    return BASELINE_STYLE if kind == "baseline" else {}


def calibration_figure(calibration_table: pd.DataFrame):
    """Mean predicted against observed churn rate per bin, one line per model, on the latest
    fold of `score.calibration_table`; the diagonal is perfect calibration. Baselines dashed."""
    latest, fold = _latest(calibration_table, "calibration_figure")
    fig = _new_figure()
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="#999", linewidth=1, label="perfect calibration")
    for (model, kind), group in latest.groupby(["model", "kind"], sort=False):
        ax.plot(
            group["mean_predicted"],
            group["observed_rate"],
            marker="o",
            markersize=4,
            label=f"{model} ({kind})",
            **_style(kind),
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_title(f"Calibration, fold {fold}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def lift_figure(lift_table: pd.DataFrame):
    """Lift by decile of predicted risk (1 = riskiest tenth), one line per model, on the latest
    fold of `score.lift_table`; 1 is what a random order gives. Baselines dashed."""
    latest, fold = _latest(lift_table, "lift_figure")
    fig = _new_figure()
    ax = fig.subplots()
    ax.axhline(1.0, color="#999", linewidth=1, label="random order")
    for (model, kind), group in latest.groupby(["model", "kind"], sort=False):
        ax.plot(
            group["decile"],
            group["lift"],
            marker="o",
            markersize=4,
            label=f"{model} ({kind})",
            **_style(kind),
        )
    ax.set_xticks(range(1, 11))
    ax.set_xlabel("decile of predicted risk (1 = highest)")
    ax.set_ylabel("lift (churn rate / overall rate)")
    ax.set_title(f"Lift by decile, fold {fold}")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig
