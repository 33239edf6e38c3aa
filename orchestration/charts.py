"""Pictures for asset metadata: PNGs embedded as markdown (the Dagster UI renders them)."""

import base64
import io

import dagster as dg
import duckdb


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_markdown(fig, title: str) -> dg.MetadataValue:
    plt = _figure()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")


def daily_activity_chart(con: duckdb.DuckDBPyConnection) -> dg.MetadataValue | None:
    frame = con.execute(
        "select activity_date, active_users, core_active_users, signups "
        "from marts.daily_activity order by activity_date"
    ).df()
    if frame.empty:
        return None
    plt = _figure()
    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=90)
    ax.plot(frame["activity_date"], frame["active_users"], label="daily active users")
    ax.plot(frame["activity_date"], frame["core_active_users"], label="core-active users")
    ax.bar(frame["activity_date"], frame["signups"], label="signups", color="#bbb")
    ax.set_title("Daily activity")
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    return png_markdown(fig, "daily activity")


def retention_heatmap(
    con: duckdb.DuckDBPyConnection, period: str = "week"
) -> dg.MetadataValue | None:
    frame = con.execute(
        "select cohort_period, period_number, retention_rate_on, cohort_type "
        "from marts.cohort_retention where period_type = ? and dimension = 'all' "
        "order by cohort_period, period_number",
        [period],
    ).df()
    if frame.empty:
        return None
    matrix = frame.pivot(index="cohort_period", columns="period_number", values="retention_rate_on")
    plt = _figure()
    fig, ax = plt.subplots(figsize=(9, max(3, 0.28 * len(matrix))), dpi=90)
    image = ax.imshow(matrix.values, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_yticks(range(len(matrix)), [str(d)[:10] for d in matrix.index], fontsize=7)
    ax.set_xticks(range(len(matrix.columns)), matrix.columns, fontsize=7)
    ax.set_xlabel(f"{period}s since the cohort's {period}")
    ax.set_title(f"{period.capitalize()}ly retention ({frame.cohort_type.iloc[0]} cohorts, 'on')")
    fig.colorbar(image, ax=ax, fraction=0.03)
    return png_markdown(fig, "retention heatmap")


def lifecycle_chart(
    con: duckdb.DuckDBPyConnection, period: str = "week"
) -> dg.MetadataValue | None:
    frame = con.execute(
        "select period_start, status, signed_users from marts.lifecycle where period_type = ? "
        "order by period_start",
        [period],
    ).df()
    if frame.empty:
        return None
    table = frame.pivot(index="period_start", columns="status", values="signed_users").fillna(0)
    plt = _figure()
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=90)
    labels = [str(d)[:10] for d in table.index]
    colours = {
        "new": "#2a9d8f",
        "returning": "#264653",
        "resurrecting": "#e9c46a",
        "dormant": "#e76f51",
    }
    positive = 0
    for status in ("returning", "new", "resurrecting"):
        if status in table:
            ax.bar(labels, table[status], bottom=positive, label=status, color=colours[status])
            positive = positive + table[status]
    if "dormant" in table:
        ax.bar(labels, table["dormant"], label="dormant", color=colours["dormant"])
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_title(f"Lifecycle per {period} (dormant below zero)")
    ax.legend(fontsize=8, loc="upper left")
    ax.tick_params(axis="x", labelrotation=70, labelsize=7)
    return png_markdown(fig, "lifecycle")


MART_CHARTS = {
    "cohort_retention": ("retention_heatmap", retention_heatmap),
    "lifecycle": ("lifecycle_chart", lifecycle_chart),
    "daily_activity": ("daily_activity_chart", daily_activity_chart),
}


def mart_metadata(con: duckdb.DuckDBPyConnection, model_name: str) -> dict:
    """Row count and, for some marts, a chart."""
    metadata: dict = {
        "dagster/row_count": con.execute(f"select count(*) from marts.{model_name}").fetchone()[0]
    }
    if model_name in MART_CHARTS:
        key, draw = MART_CHARTS[model_name]
        chart = draw(con)
        if chart is not None:
            metadata[key] = chart
    return metadata
