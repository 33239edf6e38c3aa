"""Campaign performance as a Dagster asset, after the audience and before the publication:
what the win-back programme caused against the holdout, per segment, step and channel, with
95 % intervals, durability, revenue, cost and ROI (winback.campaign_engine, docs/campaigns.md),
and the report a marketer reads (winback.campaign_report), attached here and published.
"""

from pathlib import Path

import dagster as dg

from orchestration.audiences import AUDIENCE, load_rules
from orchestration.dbt import mart_asset_keys
from orchestration.resources import WarehouseResource, WinbackSettings

CAMPAIGNS = dg.AssetKey(["campaigns", "campaign_performance"])
GROUP = "campaigns"
CHECKS = {
    "holdout_never_contacted": (
        True,
        "No holdout user measured got a win-back message in the cycle: a contacted holdout "
        "would bias every lift towards zero.",
    ),
    "cells_reconcile": (
        True,
        "Every cell's targeted and holdout counts equal its measured exposures.",
    ),
    "intervals_hold_their_estimates": (
        True,
        "Every rate is a share of its group; every interval holds its estimate and lies "
        "within [-1, 1].",
    ),
    "holdout_share": (
        False,
        "Sample-ratio check: the holdout's share of the users measured matches the setting "
        "(binomial z-test, |z| < 3.29); a mismatch says the comparison is not a fair one.",
    ),
}


def report_dir(warehouse: Path) -> Path:
    """Where the campaign report is written beside the warehouse; the publication copies it."""
    warehouse = Path(warehouse)
    return warehouse.parent / f"{warehouse.stem}_reports"


@dg.asset(
    key=CAMPAIGNS,
    deps=[AUDIENCE, *mart_asset_keys(["user_activity_daily"])],
    group_name=GROUP,
    kinds={"duckdb"},
    check_specs=[
        dg.AssetCheckSpec(name, asset=CAMPAIGNS, blocking=blocking, description=description)
        for name, (blocking, description) in CHECKS.items()
    ],
    description="What the win-back campaigns caused against the holdout: reactivation within "
    "the window, lift with 95 % intervals, durability, revenue, cost and ROI per segment, step, "
    "channel and day, and the programme per month (marts.campaign_*); the report as Markdown "
    "and HTML.",
)
def campaign_performance(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, winback: WinbackSettings
):
    from winback.campaign_engine import CampaignError, build_campaigns, check_campaigns
    from winback.campaign_report import write_report

    rules = load_rules(winback)
    with warehouse.get_connection() as con:
        try:
            result = build_campaigns(con, rules)
        except CampaignError as exc:
            raise dg.Failure(description=f"campaigns: {exc}") from None
        checks = check_campaigns(con, rules.holdout.share)
    written = write_report(
        report_dir(Path(warehouse.path)),
        result.lift,
        result.programme,
        result.as_of_date,
        rules.measurement,
        rules.holdout.share,
    )
    context.log.info(describe(result))
    yield dg.MaterializeResult(metadata=metadata(result, written))
    for name, passed, line in checks:
        blocking = CHECKS[name][0]
        yield dg.AssetCheckResult(
            check_name=name,
            passed=passed,
            severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
            description=line,
        )


def describe(result) -> str:
    segments = result.lift[result.lift["step"] == "cycle"]
    significant = segments[segments["lift_ci_low"] > 0]
    return (
        f"campaigns as of {result.as_of_date}: {result.exposures:,} exposures "
        f"({result.measured:,} with a closed window, {result.pending:,} pending); "
        f"{len(significant)} of {len(segments)} segments with a lift above 0 at 95 %"
    )


def metadata(result, written: dict) -> dict:
    from winback.campaign_report import _pct

    segments = result.lift[result.lift["step"] == "cycle"].sort_values("segment")
    rows = "\n".join(
        f"| {r.segment} | {r.targeted:,} | {r.holdout:,} | {_pct(r.reactivation_rate_targeted)} "
        f"| {_pct(r.reactivation_rate_holdout)} | {_pct(r.lift)} "
        f"| [{_pct(r.lift_ci_low)}, {_pct(r.lift_ci_high)}] |"
        for r in segments.itertuples()
    )
    meta = {
        "as_of_date": str(result.as_of_date),
        "exposures": result.exposures,
        "measured": result.measured,
        "pending": result.pending,
        "lift_by_segment": dg.MetadataValue.md(
            "| segment | targeted | holdout | reactivated (T) | reactivated (H) | lift | 95 % "
            "interval |\n|---|---|---|---|---|---|---|\n" + rows
        ),
        "report_html": dg.MetadataValue.path(str(written["html"])),
        "report_markdown": dg.MetadataValue.path(str(written["md"])),
    }
    if "png" in written:
        import base64

        encoded = base64.b64encode(written["png"].read_bytes()).decode()
        meta["lift_chart"] = dg.MetadataValue.md(
            f"![lift by segment](data:image/png;base64,{encoded})"
        )
    return meta


defs = dg.Definitions(assets=[campaign_performance])
