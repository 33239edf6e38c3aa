"""The campaign report a marketer reads without BI: Markdown and HTML with the lift by segment
and its interval as a chart, the programme per month and the cells per step
(from `winback.campaign_engine`'s marts)."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from pathlib import Path

import pandas as pd

from winback.audiences import Measurement

REPORT_NAME = "campaigns"


def _pct(value) -> str:
    return "–" if pd.isna(value) else f"{100 * value:.1f}%"


def _pp(value) -> str:
    return "–" if pd.isna(value) else f"{100 * value:+.1f} pts"


def _money(value) -> str:
    return "–" if pd.isna(value) else f"{value:,.0f}"


def _interval(low, high) -> str:
    return "–" if pd.isna(low) or pd.isna(high) else f"[{100 * low:+.1f}, {100 * high:+.1f}]"


def lift_chart_png(lift: pd.DataFrame) -> bytes | None:
    """Incremental reactivation per segment (whole cycles) with its 95 % interval."""
    rows = lift[(lift["step"] == "cycle") & lift["lift"].notna()].sort_values("lift")
    if rows.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.4 * len(rows) + 1.4), dpi=90)
    ys = range(len(rows))
    centre = 100 * rows["lift"].to_numpy()
    low = centre - 100 * rows["lift_ci_low"].to_numpy()
    high = 100 * rows["lift_ci_high"].to_numpy() - centre
    ax.errorbar(centre, list(ys), xerr=[low, high], fmt="o", capsize=3, color="#1f77b4")
    ax.axvline(0, color="#888", linewidth=1)
    ax.set_yticks(
        list(ys),
        [f"{s} (n={t:,})" for s, t in zip(rows["segment"], rows["targeted"], strict=True)],
        fontsize=8,
    )
    ax.set_xlabel("incremental reactivation, percentage points (95 % interval)")
    ax.set_title("Win-back lift by segment: targeted vs holdout")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _segment_rows(lift: pd.DataFrame) -> list[list[str]]:
    rows = lift[lift["step"] == "cycle"].sort_values("segment")
    return [
        [
            r.segment,
            f"{r.targeted:,}",
            f"{r.holdout:,}",
            _pct(r.reactivation_rate_targeted),
            _pct(r.reactivation_rate_holdout),
            _pp(r.lift),
            _interval(r.lift_ci_low, r.lift_ci_high),
            _money(r.incremental_revenue),
            _money(r.cost),
            "–" if pd.isna(r.roi) else f"{r.roi:.1f}",
        ]
        for r in rows.itertuples()
    ]


def _step_rows(lift: pd.DataFrame, first_durability: int) -> list[list[str]]:
    rows = lift[lift["step"] != "cycle"].sort_values(["segment", "campaign_id"])
    share = f"durable_{first_durability}d_share_targeted"
    return [
        [
            r.segment,
            r.step,
            str(r.channel),
            f"{r.targeted:,}",
            f"{r.holdout:,}",
            f"{r.sent:,}",
            f"{r.opened:,}",
            _pct(r.reactivation_rate_targeted),
            _pct(r.reactivation_rate_holdout),
            _pp(r.lift),
            _interval(r.lift_ci_low, r.lift_ci_high),
            _pct(getattr(r, share)),
        ]
        for r in rows.itertuples()
    ]


def _programme_rows(programme: pd.DataFrame) -> list[list[str]]:
    return [
        [
            str(r.month)[:7],
            f"{r.targeted:,}",
            f"{r.holdout:,}",
            _pct(r.reactivation_rate_targeted),
            _pct(r.reactivation_rate_holdout),
            f"{r.incremental_reactivations:,.0f}",
            _interval(r.lift_ci_low, r.lift_ci_high),
            _money(r.incremental_revenue),
            _money(r.cost),
            "–" if pd.isna(r.roi) else f"{r.roi:.1f}",
            _pct(r.share_of_at_risk_recovered),
        ]
        for r in programme.itertuples()
    ]


SEGMENT_HEAD = [
    "segment", "targeted", "holdout", "reactivated (targeted)", "reactivated (holdout)",
    "lift", "95 % interval (pts)", "incremental revenue", "cost", "ROI",
]  # fmt: skip
STEP_HEAD = [
    "segment", "step", "channel", "targeted", "holdout", "sent", "opened",
    "reactivated (targeted)", "reactivated (holdout)", "lift", "95 % interval (pts)",
    "durable",
]  # fmt: skip
PROGRAMME_HEAD = [
    "month", "cycles targeted", "cycles held out", "reactivated (targeted)",
    "reactivated (holdout)", "incremental reactivations", "lift 95 % interval (pts)",
    "incremental revenue", "cost", "ROI", "at-risk base recovered",
]  # fmt: skip


def _intro(as_of, measurement: Measurement, holdout_share: float) -> list[str]:
    k = measurement.durability_days[0]
    return [
        f"As of {as_of}. A user reactivates when active within "
        f"{measurement.reactivation_window_days} days after a step was sent; a holdout user "
        f"({holdout_share:.0%} of those entering win-back, never contacted) counts from the day "
        "the step would have been sent. Lift is the targeted rate minus the holdout rate: what "
        "the messages caused. The interval is a 95 % interval (Newcombe); an interval that "
        "holds 0 means the data cannot tell the step from doing nothing.",
        f"Segments are measured per cycle (from the first step to the last step plus the "
        f"window); 'durable' is the share of reactivated users still active {k} days later. "
        f"Revenue counts {measurement.revenue_window_days} days from the reactivation.",
    ]


def markdown(lift, programme, as_of, measurement: Measurement, holdout_share: float) -> str:
    def table(head, rows):
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return lines + ["| " + " | ".join(row) + " |" for row in rows]

    parts = [f"# Win-back campaigns as of {as_of}", "", *_intro(as_of, measurement, holdout_share)]
    parts += ["", "## Lift by segment", "", "![lift by segment](campaigns_lift.png)", ""]
    parts += table(SEGMENT_HEAD, _segment_rows(lift))
    parts += ["", "## The programme per month", ""]
    parts += table(PROGRAMME_HEAD, _programme_rows(programme))
    parts += ["", "## Every step", ""]
    parts += table(STEP_HEAD, _step_rows(lift, measurement.durability_days[0]))
    return "\n".join(parts) + "\n"


def render_html(lift, programme, as_of, measurement, holdout_share, png: bytes | None) -> str:
    def table(head, rows):
        th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
        )
        return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"

    intro = "".join(f"<p>{html.escape(p)}</p>" for p in _intro(as_of, measurement, holdout_share))
    chart = (
        f'<img alt="lift by segment" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        if png
        else "<p>No segment has a closed window yet.</p>"
    )
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:13px;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Win-back campaigns "
        f"{as_of}</title><style>{style}</style></head><body>"
        f"<h1>Win-back campaigns as of {html.escape(str(as_of))}</h1>{intro}"
        f"<h2>Lift by segment</h2>{chart}{table(SEGMENT_HEAD, _segment_rows(lift))}"
        f"<h2>The programme per month</h2>{table(PROGRAMME_HEAD, _programme_rows(programme))}"
        f"<h2>Every step</h2>"
        f"{table(STEP_HEAD, _step_rows(lift, measurement.durability_days[0]))}"
        "</body></html>"
    )


def write_report(
    folder: Path,
    lift: pd.DataFrame,
    programme: pd.DataFrame,
    as_of: dt.date | None,
    measurement: Measurement,
    holdout_share: float,
) -> dict[str, Path]:
    """campaigns.md, campaigns.html and campaigns_lift.png in `folder` (replaced whole)."""
    folder.mkdir(parents=True, exist_ok=True)
    png = lift_chart_png(lift)
    written = {}
    if png:
        written["png"] = folder / f"{REPORT_NAME}_lift.png"
        written["png"].write_bytes(png)
    else:
        (folder / f"{REPORT_NAME}_lift.png").unlink(missing_ok=True)
    written["md"] = folder / f"{REPORT_NAME}.md"
    written["md"].write_text(markdown(lift, programme, as_of, measurement, holdout_share))
    written["html"] = folder / f"{REPORT_NAME}.html"
    written["html"].write_text(render_html(lift, programme, as_of, measurement, holdout_share, png))
    return written
