"""Churn risk as Dagster assets: `ml/churn_training_set` -> `ml/churn_model` -> `ml/churn_scores`,
between the dbt features (`features` schema) and the churn marts (dbt models reading the `ml`
tables as sources). The work itself is plain Python in `ml.churn` (`ml.churn.pipeline`);
docs/churn.md says what each step does and how to read its checks.

- `ml/churn_training_set`: the labelled point-in-time snapshots (a view over the features and
  labels), checked: every label window has closed by the as-of date, both classes occur.
- `ml/churn_model`: trains only when needed (no model, `winback run --retrain` / run config
  `retrain: true`, the current model older than churn_retrain_every_days, or the horizon or the
  features changed); backtests the candidates against the recency and BG/NBD baselines,
  gates the chosen one (`promotion_gate` check) and saves every version under the warehouse
  folder. A blocked candidate never replaces the current version.
- `ml/churn_scores`: every known user on the as-of date scored by the current version, with
  risk tier and reasons; blocking check on completeness and range, non-blocking drift check.
"""

import datetime as dt

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from orchestration.charts import png_markdown
from orchestration.dbt import winback_dbt_models
from orchestration.resources import WarehouseResource, WinbackSettings

GROUP = "churn"
TRAINING_SET = dg.AssetKey(["ml", "churn_training_set"])
MODEL = dg.AssetKey(["ml", "churn_model"])
SCORES = dg.AssetKey(["ml", "churn_scores"])
EVALUATION = dg.AssetKey(["ml", "churn_model_evaluation"])
CALIBRATION = dg.AssetKey(["ml", "churn_calibration"])


class ChurnModelConfig(dg.Config):
    """Launchpad / run config of the churn model."""

    retrain: bool = False
    """Train a new version now, whatever the age of the current one (winback run --retrain)."""


def _now(winback: WinbackSettings) -> dt.datetime:
    settings = winback.config()
    return settings.now or dt.datetime.now(dt.UTC)


def _folder(warehouse: WarehouseResource):
    from ml.churn.pipeline import registry_folder

    return registry_folder(warehouse.path)


def _features_key(name: str) -> dg.AssetKey:
    return get_asset_key_for_model([winback_dbt_models], name)


def _table(frame) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.to_markdown(index=False, floatfmt=".4f"))


@dg.asset(
    key=TRAINING_SET,
    deps=[_features_key("churn_features"), _features_key("churn_labels")],
    group_name=GROUP,
    kinds={"duckdb"},
    check_specs=[
        dg.AssetCheckSpec(
            "label_windows_closed",
            asset=TRAINING_SET,
            blocking=True,
            description="Every label window (T, T + horizon] has passed by the as-of date: no "
            "label that is not known yet.",
        ),
        dg.AssetCheckSpec(
            "both_classes",
            asset=TRAINING_SET,
            description="Churners and non-churners both occur.",
        ),
    ],
    description="The churn model's training set: one row per user per past snapshot whose "
    "label window has closed, the point-in-time features with the label (a view in the "
    "warehouse: ml.churn_training_set).",
)
def churn_training_set(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from ml.churn.pipeline import ensure_tables

    with warehouse.get_connection() as con:
        ensure_tables(con)
        con.execute(
            "create or replace view ml.churn_training_set as "
            "select features.*, labels.label, labels.label_window_end "
            "from features.churn_features as features "
            "inner join features.churn_labels as labels using (user_id, snapshot_date)"
        )
        per_snapshot = con.execute(
            "select snapshot_date, count(*) as users, round(avg(label), 4) as churn_rate "
            "from ml.churn_training_set group by snapshot_date order by snapshot_date"
        ).df()
        open_windows, as_of = con.execute(
            "select count(*) filter (where label_window_end > settings.as_of_date), "
            "any_value(settings.as_of_date) "
            "from ml.churn_training_set cross join features.churn_settings as settings"
        ).fetchone()
    rows = int(per_snapshot["users"].sum()) if len(per_snapshot) else 0
    context.log.info(
        f"churn training set: {rows:,} rows over {len(per_snapshot)} snapshots as of {as_of}"
    )
    churners = float((per_snapshot["users"] * per_snapshot["churn_rate"]).sum())
    rate = churners / rows if rows else float("nan")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "snapshots": len(per_snapshot),
            "churn_rate": rate,
            "per_snapshot": _table(per_snapshot.astype({"snapshot_date": str})),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="label_windows_closed",
                passed=open_windows == 0,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"rows_with_open_window": int(open_windows or 0)},
                description=(
                    "every label window (T, T + horizon] has passed by the as-of date"
                    if not open_windows
                    else f"{open_windows} rows have a label window still open on {as_of}: "
                    "their label is not known yet"
                ),
            ),
            dg.AssetCheckResult(
                check_name="both_classes",
                passed=bool(rows) and 0 < rate < 1,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"rows": rows, "churn_rate": rate},
                description="churners and non-churners both occur (a model needs both)",
            ),
        ],
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            MODEL,
            deps=[TRAINING_SET],
            group_name=GROUP,
            kinds={"scikitlearn"},
            description="The churn model: retrained when needed, backtested against the "
            "recency and BG/NBD baselines, gated, versioned under the warehouse folder.",
        ),
        dg.AssetSpec(
            EVALUATION,
            deps=[MODEL],
            group_name=GROUP,
            kinds={"duckdb"},
            description="The backtest of every model version trained (ml.churn_model_evaluation).",
        ),
        dg.AssetSpec(
            CALIBRATION,
            deps=[MODEL],
            group_name=GROUP,
            kinds={"duckdb"},
            description="Predicted vs observed churn by bin per version (ml.churn_calibration).",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "promotion_gate",
            asset=MODEL,
            blocking=True,
            description="A new version replaces the current one only if its ROC AUC on the "
            "latest backtest fold beats the recency baseline's and its Brier score is at or "
            "below the better baseline's. A blocked candidate is saved but never scores.",
        )
    ],
)
def churn_model(
    context: dg.AssetExecutionContext,
    config: ChurnModelConfig,
    warehouse: WarehouseResource,
    winback: WinbackSettings,
):
    from ml.churn import registry
    from ml.churn.pipeline import (
        ChurnDataError,
        describe_card,
        read_settings,
        retrain_reason,
        train_and_gate,
        training_frame,
        write_evaluation,
    )

    folder = _folder(warehouse)
    now = _now(winback)
    with warehouse.get_connection() as con:
        settings = read_settings(con)
        features = [
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns where table_schema = "
                "'features' and table_name = 'churn_features' and column_name not in "
                "('user_id', 'snapshot_date') order by ordinal_position"
            ).fetchall()
        ]
    current = registry.current(folder)
    why = retrain_reason(current, settings, features, now, force=config.retrain)
    if why is None:
        context.log.info(f"churn model: keeping {describe_card(current)}")
        yield dg.MaterializeResult(
            asset_key=MODEL,
            metadata={
                "model_version": current["id"],
                "model_name": current["model_name"],
                "trained": False,
                "registry": dg.MetadataValue.path(str(folder)),
            },
        )
        yield from _evaluation_results(warehouse, trained=False)
        yield dg.AssetCheckResult(
            check_name="promotion_gate",
            passed=True,
            description=f"no new candidate today; {current['id']} keeps scoring",
        )
        return
    context.log.info(f"churn model: training ({why})")
    with warehouse.get_connection() as con:
        frame = training_frame(con)
    try:
        outcome = train_and_gate(
            frame,
            settings,
            folder,
            created_at=now,
            has_current=current is not None,
            meanwhile=_charts,  # drawn while the final model fits
        )
    except ChurnDataError as exc:
        # not enough labelled history (or one class only): a data condition, not a failure of
        # the run; the current version, if any, keeps scoring, else there are no scores today
        keeps = f"{current['id']} keeps scoring" if current else "no churn scores until then"
        context.log.warning(f"churn model: not trained: {exc}; {keeps}")
        yield dg.MaterializeResult(
            asset_key=MODEL,
            metadata={
                "trained": False,
                "not_trained_because": str(exc),
                "model_version": current["id"] if current else "none",
                "registry": dg.MetadataValue.path(str(folder)),
            },
        )
        yield from _evaluation_results(warehouse, trained=False)
        yield dg.AssetCheckResult(
            check_name="promotion_gate",
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"no candidate could be trained: {exc}; {keeps}",
        )
        return
    with warehouse.get_connection() as con:
        write_evaluation(con, outcome, settings)
    scoring = outcome.scoring_card or current
    for line in outcome.gate_reasons:
        context.log.info(f"promotion gate: {line}")
    latest = outcome.results[outcome.results["fold"] == outcome.results["fold"].max()]
    metadata = {
        "model_version": scoring["id"],
        "model_name": scoring["model_name"],
        "candidate_version": outcome.card["id"],
        "candidate": outcome.chosen,
        "trained": True,
        "why_trained": why,
        "promoted": outcome.promoted,
        "gate": dg.MetadataValue.md("\n".join(f"- {r}" for r in outcome.gate_reasons)),
        "latest_fold": _table(
            latest[["model", "kind", "roc_auc", "pr_auc", "brier", "log_loss", "top_decile_lift"]]
        ),
        "training_rows": len(frame),
        "registry": dg.MetadataValue.path(str(folder)),
        **{f"seconds_{k}": round(v, 1) for k, v in outcome.seconds.items()},
        **outcome.meanwhile,
    }
    if outcome.fallback_card is not None:
        context.log.warning(
            "churn model: the candidate was blocked and no model scored before; the baseline "
            f"fallback {outcome.fallback_card['id']} scores until a candidate passes"
        )
    yield dg.MaterializeResult(asset_key=MODEL, metadata=metadata)
    yield from _evaluation_results(warehouse, trained=True)
    if outcome.promoted:
        description = f"{outcome.card['id']} ({outcome.chosen}) passed and now scores"
    elif outcome.fallback_card is not None:
        description = (
            f"{outcome.card['id']} ({outcome.chosen}) blocked; the fallback "
            f"{outcome.fallback_card['id']} scores"
        )
    else:
        description = (
            f"{outcome.card['id']} ({outcome.chosen}) blocked; {current['id']} keeps scoring"
        )
    yield dg.AssetCheckResult(
        check_name="promotion_gate",
        passed=outcome.gate_passed,
        # the candidate is kept out either way; a version still scores, so the run goes on
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in outcome.gate_reasons))
        },
    )


def _evaluation_results(warehouse: WarehouseResource, trained: bool):
    with warehouse.get_connection() as con:
        counts = {
            key: con.execute(f"select count(*) from ml.{key.path[-1]}").fetchone()[0]
            for key in (EVALUATION, CALIBRATION)
        }
    for key, rows in counts.items():
        yield dg.MaterializeResult(
            asset_key=key, metadata={"dagster/row_count": rows, "new_version": trained}
        )


def _charts(predictions) -> dict:
    from ml.churn.plots import calibration_figure, lift_figure
    from ml.churn.score import calibration_table, lift_table

    return {
        "calibration_plot": png_markdown(
            calibration_figure(calibration_table(predictions)), "calibration"
        ),
        "lift_chart": png_markdown(lift_figure(lift_table(predictions)), "lift"),
    }


@dg.asset(
    key=SCORES,
    deps=[MODEL],
    group_name=GROUP,
    kinds={"duckdb"},
    check_specs=[
        dg.AssetCheckSpec(
            "scores_complete",
            asset=SCORES,
            blocking=True,
            description="One score per known user on the as-of date, every probability in "
            "[0, 1], a risk tier and the model version on every row.",
        ),
        dg.AssetCheckSpec(
            "score_drift",
            asset=SCORES,
            description="Population stability index between the model's training scores and "
            "today's (warns from 0.25, a significant shift).",
        ),
    ],
    description="Every known user on the as-of date scored by the current churn model: "
    "probability, risk tier and the top 3 reasons (table ml.churn_scores, one set of rows per "
    "as-of date).",
)
def churn_scores(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, winback: WinbackSettings
):
    from ml.churn import registry
    from ml.churn.gates import PSI_SIGNIFICANT, psi_verdict
    from ml.churn.pipeline import (
        ChurnDataError,
        describe_card,
        read_settings,
        score,
        score_drift,
        scoring_frame,
        write_scores,
    )

    folder = _folder(warehouse)
    with warehouse.get_connection() as con:
        settings = read_settings(con)
        frame = scoring_frame(con)
        # known on the as-of date: signed up or seen by then (what churn_features counts)
        known = con.execute(
            "select count(*) from marts.users left join (select user_id, "
            "min(activity_date) as first_event_date from features.churn_activity_days "
            "group by user_id) as seen using (user_id) "
            "where least(signup_date, seen.first_event_date) <= ?",
            [settings.as_of_date],
        ).fetchone()[0]
    if registry.current(folder) is None:
        yield from _no_model_yet(context, warehouse, settings, known, folder)
        return
    try:
        scores, card = score(frame, folder, settings, _now(winback))
    except ChurnDataError as exc:
        raise dg.Failure(description=f"churn scores: {exc}") from None
    with warehouse.get_connection() as con:
        write_scores(con, scores, settings.as_of_date)
        stored = con.execute(
            "select count(*), count(distinct user_id), "
            "count(*) filter (where churn_probability between 0 and 1), "
            "count(*) filter (where risk_tier is not null and model_version is not null) "
            "from ml.churn_scores where as_of_date = ?",
            [settings.as_of_date],
        ).fetchone()
    tiers = scores["risk_tier"].value_counts().reindex(["high", "medium", "low"], fill_value=0)
    context.log.info(
        f"churn scores as of {settings.as_of_date}: {len(scores):,} users by "
        f"{describe_card(card)}; " + ", ".join(f"{t} risk {n:,}" for t, n in tiers.items())
    )
    psi = score_drift(card, scores["churn_probability"].to_numpy())
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(scores),
            "as_of_date": str(settings.as_of_date),
            "model_version": card["id"],
            "mean_churn_probability": float(scores["churn_probability"].mean()),
            **{f"{t}_risk_users": int(n) for t, n in tiers.items()},
            "score_distribution": _histogram(scores, settings),
        }
    )
    rows, distinct, in_range, labelled = stored
    complete = rows == distinct == in_range == labelled == known
    yield dg.AssetCheckResult(
        check_name="scores_complete",
        passed=bool(complete),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "known_users": int(known),
            "scored_rows": int(rows),
            "distinct_users": int(distinct),
            "probabilities_in_range": int(in_range),
        },
        description=(
            f"{rows:,} users scored, as many as known on {settings.as_of_date}"
            if complete
            else f"{rows:,} rows for {distinct:,} users, {in_range:,} probabilities in [0, 1], "
            f"{known:,} users known on {settings.as_of_date}: the scores are incomplete"
        ),
    )
    yield dg.AssetCheckResult(
        check_name="score_drift",
        passed=psi is None or psi < PSI_SIGNIFICANT,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"psi": psi if psi is not None else float("nan")},
        description=(
            "no reference distribution in this model's card"
            if psi is None
            else f"PSI {psi:.3f} between the training scores and today's: {psi_verdict(psi)}"
        ),
    )


def _no_model_yet(context, warehouse, settings, known: int, folder):
    """No version was ever promoted (the history is too short to train one): today's scores
    are empty, said loudly, and the rest of the run goes on."""
    from ml.churn.pipeline import ensure_tables

    with warehouse.get_connection() as con:
        ensure_tables(con)
        con.execute("delete from ml.churn_scores where as_of_date = ?", [settings.as_of_date])
    message = (
        f"no churn model under {folder} (ml/churn_model says why, usually a history too short "
        f"for the {settings.horizon_days}-day horizon): {known:,} known users not scored"
    )
    context.log.warning(message)
    yield dg.MaterializeResult(
        metadata={"dagster/row_count": 0, "as_of_date": str(settings.as_of_date), "note": message}
    )
    yield dg.AssetCheckResult(
        check_name="scores_complete",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=message,
        metadata={"known_users": int(known), "scored_rows": 0},
    )
    yield dg.AssetCheckResult(
        check_name="score_drift", passed=True, description="no scores to compare"
    )


def _histogram(scores, settings) -> dg.MetadataValue:
    from orchestration.charts import _figure

    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(scores["churn_probability"], bins=40, range=(0, 1), color="#4c72b0")
    for cut in (settings.medium_risk_min, settings.high_risk_min):
        ax.axvline(cut, color="#c44e52", linestyle="--", linewidth=1)
    ax.set_xlabel("churn probability")
    ax.set_ylabel("users")
    ax.set_title(f"Churn scores as of {settings.as_of_date} (dashed: risk tier cut-offs)")
    return png_markdown(fig, "churn score distribution")


defs = dg.Definitions(assets=[churn_training_set, churn_model, churn_scores])
