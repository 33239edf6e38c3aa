"""Pictures for asset metadata: PNGs embedded as markdown (the Dagster UI renders them)."""

import base64
import datetime as dt
import io

import dagster as dg
import duckdb

from winback.disengagement import PATTERNS, SIGNALS


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


VALUE_TIERS = {"high": "#264653", "mid": "#2a9d8f", "low": "#8ab17d"}
LABELS = {
    "engaged": "#2a9d8f",
    "recently_active": "#e9c46a",
    "disengaged": "#f4a261",
    "inactive": "#e76f51",
}


def pattern_metadata(con: duckdb.DuckDBPyConnection) -> dict:
    """Users per disengagement pattern (by value tier) as a chart, and the counts."""
    frame = con.execute(
        "select pattern, value_tier, is_provisional, count(*) as users "
        "from marts.user_disengagement_patterns group by all"
    ).df()
    if frame.empty:
        return {}
    table = frame.pivot_table(
        index="pattern", columns="value_tier", values="users", aggfunc="sum", fill_value=0
    ).reindex(list(PATTERNS), fill_value=0)
    plt = _figure()
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=90)
    left = 0
    for tier, colour in VALUE_TIERS.items():
        if tier in table:
            ax.barh(table.index, table[tier], left=left, label=f"{tier} value", color=colour)
            left = left + table[tier]
    for y, total in enumerate(table.sum(axis=1)):
        ax.text(total, y, f" {int(total):,}", va="center", fontsize=8)
    ax.invert_yaxis()
    as_of = con.execute("select max(as_of_date) from marts.user_disengagement_patterns").fetchone()
    ax.set_title(f"Users by disengagement pattern, as of {as_of[0]}")
    ax.legend(fontsize=8, loc="lower right")
    by_pattern = frame.groupby("pattern")["users"].sum()
    return {
        "pattern_distribution": png_markdown(fig, "pattern distribution"),
        "users_by_pattern": dg.MetadataValue.json({p: int(by_pattern.get(p, 0)) for p in PATTERNS}),
        "provisional_patterns": int(frame.loc[frame.is_provisional, "users"].sum()),
    }


def health_metadata(con: duckdb.DuckDBPyConnection, back_days: int = 60) -> dict:
    """On the latest day: the health score distribution per engagement label, users per label
    and per firing signal. And a backtest that needs no ground truth: the score `back_days`
    before, against whether those users then went `back_days` days without any activity."""
    # the last day the spans cover (the view's max(activity_date) would expand every user-day)
    latest = con.execute("select max(valid_to) from marts.user_day_spans").fetchone()[0]
    if latest is None:
        return {}
    frame = con.execute(
        "select user_id, health_score, engagement_label, days_since_last_active, "
        + ", ".join(f"signal_{s}" for s in SIGNALS)
        + " from marts.user_daily_health where activity_date = ?",
        [latest],
    ).df()
    plt = _figure()
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=90)
    present = [label for label in LABELS if (frame.engagement_label == label).any()]
    ax.hist(
        [frame.loc[frame.engagement_label == label, "health_score"] for label in present],
        bins=range(0, 105, 5),
        stacked=True,
        label=present,
        color=[LABELS[label] for label in present],
    )
    ax.set_xlabel("health score")
    ax.set_ylabel("users")
    ax.set_title(f"Health score by engagement label, {latest}")
    ax.legend(fontsize=8)
    metadata = {
        "health_distribution": png_markdown(fig, "health score distribution"),
        "users_by_engagement_label": dg.MetadataValue.json(
            {k: int(v) for k, v in frame.engagement_label.value_counts().items()}
        ),
        "users_by_firing_signal": dg.MetadataValue.json(
            {s: int(frame[f"signal_{s}"].sum()) for s in SIGNALS}
        ),
        "median_health_score": float(frame.health_score.median()),
    }
    # the users active in the 28 days before the past day; quiet since: no activity after it
    past = con.execute(
        "select user_id, health_score from marts.user_daily_health "
        "where activity_date = ? and days_since_last_active < 28",
        [latest - dt.timedelta(days=back_days)],
    ).df()
    backtest = past.merge(frame[["user_id", "days_since_last_active"]], on="user_id")
    backtest["went_quiet"] = backtest.days_since_last_active >= back_days
    if backtest.went_quiet.nunique() == 2:
        from sklearn.metrics import roc_auc_score

        metadata[f"backtest_auc_{back_days}d"] = round(
            float(roc_auc_score(~backtest.went_quiet, backtest.health_score)), 3
        )
        metadata[f"backtest_users_{back_days}d"] = len(backtest)
    return metadata


def alerts_metadata(con: duckdb.DuckDBPyConnection) -> dict:
    counts = con.execute(
        "select count(*) filter (where crossed_into_at_risk) as crossed_into_at_risk, "
        + ", ".join(f"count(*) filter (where new_signals like '%{s}%') as new_{s}" for s in SIGNALS)
        + " from marts.disengagement_alerts"
    ).df()
    return {
        "alerts_by_reason": dg.MetadataValue.json({k: int(v) for k, v in counts.iloc[0].items()})
    }


def _chart(key: str, draw):
    def metadata(con: duckdb.DuckDBPyConnection) -> dict:
        chart = draw(con)
        return {} if chart is None else {key: chart}

    return metadata


MART_METADATA = {
    "cohort_retention": _chart("retention_heatmap", retention_heatmap),
    "lifecycle": _chart("lifecycle_chart", lifecycle_chart),
    "daily_activity": _chart("daily_activity_chart", daily_activity_chart),
    "user_disengagement_patterns": pattern_metadata,
    "user_daily_health": health_metadata,
    "disengagement_alerts": alerts_metadata,
}


# the per-user-per-day views over user_day_spans: one row per user per day a span covers
SPAN_VIEWS = ("user_daily_engagement", "user_daily_health")


def mart_row_count(con: duckdb.DuckDBPyConnection, name: str, schema: str = "marts") -> int:
    """Rows of a mart; for the per-day views, counted from the spans they expand (counting the
    view itself would expand users x days, the cost the spans exist to avoid)."""
    if name in SPAN_VIEWS:
        return con.execute(
            f"select coalesce(sum(datediff('day', valid_from, valid_to) + 1), 0) "
            f"from {schema}.user_day_spans"
        ).fetchone()[0]
    return con.execute(f'select count(*) from {schema}."{name}"').fetchone()[0]


def mart_metadata(con: duckdb.DuckDBPyConnection, model_name: str) -> dict:
    """Row count and, for some marts, charts and figures."""
    metadata: dict = {"dagster/row_count": mart_row_count(con, model_name)}
    if model_name in MART_METADATA:
        metadata.update(MART_METADATA[model_name](con))
    return metadata
