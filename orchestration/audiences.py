"""The daily win-back audience as a Dagster asset, after the churn scores and before the
publication: segments, the step due today, the contact policy's exclusions, the persisted
holdout and the exports (winback.audience_engine, docs/audiences.md). Its checks block the
publication: nothing that breaks the contact policy or spends the holdout is ever published.
"""

import dagster as dg

from orchestration.churn import SCORES
from orchestration.dbt import mart_asset_keys
from orchestration.resources import WarehouseResource, WinbackSettings

AUDIENCE = dg.AssetKey(["audiences", "winback_audience"])
GROUP = "audiences"
CHECKS = {
    "exports_respect_contact_policy": "No exported row goes to a user without consent for the "
    "channel, unsubscribed, hard-bounced (email, ads) or who complained, recomputed from the "
    "message log and the users mart.",
    "no_holdout_exported": "No user of the persisted holdout is in any export.",
    "one_segment_one_step": "Every tracked user has one row, one segment and at most one step "
    "today; every open cycle is in the day's audience.",
    "exports_reconcile": "Each export holds as many rows as the audience marks exported for "
    "its channel.",
}


def load_rules(winback: WinbackSettings):
    """The project's audiences.yml (else the default), checked; a Failure names line and key
    (the dbt step checked it already when the run started: the file may have changed since)."""
    from winback.audiences import AudienceRulesError, rules_for

    config = winback.config()
    root = config.project_file.parent if config.project_file else None
    try:
        return rules_for(root)
    except AudienceRulesError as exc:
        raise dg.Failure(description=str(exc)) from None


@dg.asset(
    key=AUDIENCE,
    deps=[
        *mart_asset_keys(["user_disengagement_patterns", "users", "user_daily_health"]),
        SCORES,
    ],
    group_name=GROUP,
    kinds={"duckdb"},
    check_specs=[
        dg.AssetCheckSpec(name, asset=AUDIENCE, blocking=True, description=description)
        for name, description in CHECKS.items()
    ],
    description="Today's win-back audience: one segment per at-risk or inactive user, the "
    "message step due, every exclusion with its reason, the persisted holdout, and the exports "
    "per channel with the day's adds and removes (marts.audience_*).",
)
def winback_audience(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, winback: WinbackSettings
):
    from winback.audience_engine import AudienceError, build_audience, check_audience

    rules = load_rules(winback)
    with warehouse.get_connection() as con:
        try:
            result = build_audience(con, rules)
        except AudienceError as exc:
            raise dg.Failure(description=f"audience: {exc}") from None
        checks = check_audience(con, result.as_of_date)
    if result.rolled_back_days:
        context.log.warning(
            f"audience as of {result.as_of_date}: replaced what {result.rolled_back_days} "
            "earlier run(s) for this date or later had recorded (the holdout is kept)"
        )
    context.log.info(describe(result, rules))
    yield dg.MaterializeResult(metadata=metadata(result, rules))
    for name, passed, line in checks:
        yield dg.AssetCheckResult(
            check_name=name,
            passed=passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=line,
        )


def describe(result, rules) -> str:
    exported = ", ".join(f"{k} {v:,}" for k, v in sorted(result.exported.items())) or "none"
    excluded = ", ".join(f"{k} {v:,}" for k, v in sorted(result.excluded.items())) or "none"
    return (
        f"audience as of {result.as_of_date} (rules {rules.file or 'built-in'}): "
        f"{result.targeted:,} targeted, {result.holdout:,} holdout, {result.steps_due:,} steps "
        f"due; exported: {exported}; excluded (users per reason): {excluded}; "
        f"{result.entered:,} entered, {sum(result.left.values()):,} left, "
        f"{result.sunset:,} moved to the sunset list"
    )


def metadata(result, rules) -> dict:
    rows = "\n".join(
        f"| {s} | {d} | {t:,} | {h:,} | {e:,} | {x:,} |" for s, d, t, h, e, x in result.sizes
    )
    meta = {
        "as_of_date": str(result.as_of_date),
        "rules_file": str(rules.file or "built-in"),
        "targeted": result.targeted,
        "holdout": result.holdout,
        "holdout_share_setting": rules.holdout.share,
        "steps_due": result.steps_due,
        **{f"exported_{k}": v for k, v in sorted(result.exported.items())},
        **{f"excluded_{k}": v for k, v in sorted(result.excluded.items())},
        "entered_today": result.entered,
        "left_today": dg.MetadataValue.json(result.left),
        "moved_to_sunset": result.sunset,
        "sizes": dg.MetadataValue.md(
            "| segment | destination | targeted | holdout | exported | excluded |\n"
            "|---|---|---|---|---|---|\n" + rows
        ),
    }
    chart = sizes_chart(result)
    if chart is not None:
        meta["sizes_chart"] = chart
    return meta


def sizes_chart(result):
    """Targeted, holdout and exported users per segment, as a horizontal bar chart."""
    if not result.sizes:
        return None
    from orchestration.charts import _figure, png_markdown

    per_segment: dict[str, list[int]] = {}
    for segment, _, targeted, holdout, exported, _ in result.sizes:
        totals = per_segment.setdefault(segment, [0, 0, 0])
        totals[0] += targeted
        totals[1] += holdout
        totals[2] += exported
    names = sorted(per_segment)
    plt = _figure()
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.2), dpi=90)
    ys = range(len(names))
    for offset, (label, index) in zip(
        (-0.27, 0, 0.27), (("targeted", 0), ("holdout", 1), ("exported today", 2)), strict=True
    ):
        ax.barh([y + offset for y in ys], [per_segment[n][index] for n in names], 0.27, label=label)
    ax.set_yticks(list(ys), names)
    ax.set_xlabel("users")
    ax.set_title(f"win-back audience as of {result.as_of_date}")
    ax.legend(loc="lower right")
    return png_markdown(fig, "audience sizes")


defs = dg.Definitions(assets=[winback_audience])
