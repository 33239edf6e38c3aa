"""`winback`: the command line beside the Dagster UI.

winback init       a project folder: winback.yml (sources, column mapping, settings, paths)
winback profile    what the data looks like and the settings that fit it, before a run
winback generate   demo data into a landing folder
winback run        ingest the new and changed landing files and materialize everything
winback status     what the warehouse holds (files, quarantine, marts)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import textwrap
import time
import traceback
from pathlib import Path

from winback.model_settings import parse_assignment
from winback.settings import ENVIRONMENT, load_config


def _path_options(parser: argparse.ArgumentParser, *names: str) -> None:
    for name in names:
        variable, default = ENVIRONMENT[name]
        parser.add_argument(
            "--" + name.replace("_", "-"),
            default=None,
            help=f"(env {variable}, default {default or 'none'})",
        )


def _project_location(args: argparse.Namespace) -> str | None:
    """--project, else a winback.yml in the current folder (unless WINBACK_PROJECT says)."""
    from winback.project import PROJECT_FILE

    if getattr(args, "project", None):
        return args.project
    if not os.environ.get("WINBACK_PROJECT") and Path(PROJECT_FILE).is_file():
        return str(Path(PROJECT_FILE).resolve())
    return None


def _config(args: argparse.Namespace):
    names = ("landing_dir", "warehouse", "publish_dir", "truth_dir", "earliest_date", "as_of_date")
    overrides = {n: getattr(args, n, None) for n in names}
    overrides["project"] = _project_location(args)
    overrides["lock_wait"] = getattr(args, "wait", None)
    return load_config(overrides)


def _ensure_dagster_home() -> None:
    """Use (and create) the project's DAGSTER_HOME so runs are kept and show in the UI."""
    from orchestration.dagster_home import ensure_dagster_home

    ensure_dagster_home(
        Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    )


def _run_log(config) -> Path:
    logs = config.warehouse.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"winback-run-{dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"


def _project_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project",
        metavar="PATH",
        help="a project folder or its winback.yml (env WINBACK_PROJECT; default: winback.yml in "
        "the current folder, if any)",
    )


def cmd_init(args: argparse.Namespace) -> int:
    from winback.project import init_project
    from winback.suggest import suggest_sources

    folder = Path(args.path).expanduser().resolve()
    sources_yaml = suggest_sources([Path(f) for f in args.source], folder) if args.source else None
    file = init_project(folder, args.name, sources_yaml)
    print(f"Wrote {file}, audiences.yml and the folders landing/, warehouse/, published/.")
    if args.source:
        print("  Check the guessed sources (kind, options, mapping), then run:")
    else:
        print("  Declare your files under `sources:` (an example is there, commented), then run:")
    print(f"  winback profile --project {folder}   # what the data looks like, suggested settings")
    print(f"  winback run --project {folder}")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from orchestration.runner import RunRefused, check_landing
    from winback.profile import build_profile, render

    config = _config(args)
    project = config.project()
    settings = dict(project.settings) if project else {}
    settings.update(dict(parse_assignment(pair) for pair in args.set or []))
    try:
        planned = check_landing(config.landing_dir, project)
    except RunRefused as exc:
        print(f"winback: {exc}")
        return exc.exit_code
    print(
        f"Reading {len(planned)} file(s) of {config.project_file or config.landing_dir} into a "
        "scratch database (the warehouse is not touched)"
    )
    started = time.perf_counter()
    result = build_profile(
        planned,
        config.landing_dir,
        config.validation,
        settings,
        progress=lambda m: print(m, flush=True),
    )
    for line in render(result):
        print(line)
    print(f"  ({time.perf_counter() - started:.1f}s)")
    return 0 if result.users else 1


def cmd_run(args: argparse.Namespace) -> int:
    config = _config(args)
    settings = dict(parse_assignment(pair) for pair in args.set or [])
    # a new warehouse's dbt parse starts now, on the other core, while Dagster is imported
    from orchestration.parse_ahead import ParseAhead

    parse = ParseAhead(config.warehouse)
    try:
        return _run(args, config, settings, parse)
    finally:
        parse.stop()


def _run(args: argparse.Namespace, config, settings: dict, parse) -> int:
    _ensure_dagster_home()
    # the dbt manifest must exist before anything imports the dbt assets
    from orchestration.project import ensure_manifest

    ensure_manifest()
    from orchestration.runner import RunRefused, run_pipeline
    from winback.locking import WarehouseBusy

    log_path = _run_log(config)
    with log_path.open("w") as log:

        def progress(message: str) -> None:
            print(message, flush=True)
            log.write(message + "\n")
            log.flush()

        started = time.perf_counter()
        try:
            summary = run_pipeline(
                config,
                full_refresh=args.full_refresh,
                progress=progress,
                preset=args.preset,
                settings=settings,
                allow_mixed=args.add_sources,
                retrain=args.retrain,
                reingest=args.reingest,
                parse_ahead=parse,
            )
        except RunRefused as exc:
            progress(f"winback: {exc}")
            return exc.exit_code
        except WarehouseBusy as exc:
            progress(f"winback: {exc}")
            return 3
        except Exception as exc:  # a bug: one line here, the trace in the log
            log.write(traceback.format_exc())
            print(f"winback: unexpected error: {type(exc).__name__}: {exc}".splitlines()[0])
            print(f"  details: {log_path}")
            return 1
        _print_summary(config, summary, progress, started)
        if summary.details:
            log.write("\nFull errors\n" + "\n\n".join(summary.details) + "\n")
            progress(f"  details of the errors: {log_path}")
    return 0 if summary.success else 1


def _print_summary(config, summary, progress, started: float) -> None:
    from winback.reports import (
        audience_summary,
        campaign_summary,
        churn_summary,
        disengagement_summary,
    )

    totals = summary.totals()
    progress("")
    progress("Summary")
    progress(
        f"  files ingested     {sum(f.success for f in summary.files)} of {len(summary.files)}"
    )
    if summary.unchanged:
        progress(
            f"  files unchanged    {len(summary.unchanged)} (skipped: raw holds them already; "
            "winback run --reingest reads them again)"
        )
    progress(f"  rows read          {totals['rows_read']:>12,}")
    progress(f"  rows loaded        {totals['rows_loaded']:>12,}")
    progress(f"  rows quarantined   {totals['rows_quarantined']:>12,}")
    progress(f"  duplicates dropped {totals['duplicates_dropped']:>12,}")
    if totals["rows_quarantined"] and config.warehouse.exists():
        for kind, rule, n in summary.quarantine_rules:
            progress(f"      {kind:<17} {rule:<34} {n:>8,}")
    if summary.published:
        progress(f"  published to {summary.publish_dir}/winback.duckdb and parquet/:")
        for table, rows in summary.published.items():
            progress(f"      {table:<28} {rows:>12,} rows")
    disengagement = disengagement_summary(config.publish_dir) if summary.published else None
    if disengagement:
        progress(f"  disengagement as of {disengagement['as_of']}:")
        progress("      " + " · ".join(f"{p} {n:,}" for p, n in disengagement["patterns"]))
        progress("      " + " · ".join(f"{label} {n:,}" for label, n in disengagement["labels"]))
        alerts, crossed = disengagement["alerts"]
        progress(
            f"      alerts today: {alerts:,} ({crossed:,} crossed into at risk, the rest started "
            "firing a weak signal): disengagement_alerts"
        )
    churn = churn_summary(config.publish_dir) if summary.published else None
    if churn:
        progress(
            f"  churn risk as of {churn['as_of']} ({churn['horizon']}-day horizon, "
            f"{churn['model']} {churn['version']}):"
        )
        progress("      " + " · ".join(f"{tier} risk {n:,}" for tier, n in churn["tiers"]))
        progress(
            "      latest backtest fold: "
            + " · ".join(
                f"{m} AUC {auc:.3f} Brier {b:.3f}" for m, _, auc, b in churn["latest_fold"]
            )
        )
    audience = audience_summary(config.publish_dir) if summary.published else None
    if audience:
        progress(
            f"  win-back audience as of {audience['as_of']}: {audience['targeted']:,} targeted, "
            f"{audience['holdout']:,} holdout (not contacted), {audience['exported']:,} "
            "contacts exported today (audience_export_*):"
        )
        progress(
            f"      {'segment':<26} {'channel':<17} {'targeted':>9} {'holdout':>8} "
            f"{'exported':>9} {'excluded':>9}"
        )
        for segment, channel, targeted, holdout, exported, excluded in audience["sizes"]:
            progress(
                f"      {segment:<26} {channel:<17} {targeted:>9,} {holdout:>8,} "
                f"{exported:>9,} {excluded:>9,}"
            )
        if audience["reasons"]:
            progress(
                "      not contacted today: "
                + " · ".join(f"{reason} {n:,}" for reason, n in audience["reasons"])
            )
    campaigns = campaign_summary(config.publish_dir) if summary.published else None
    if campaigns and (campaigns["measured"] or campaigns["pending"]):
        progress(
            f"  campaigns against the holdout: {campaigns['measured']:,} exposures measured, "
            f"{campaigns['pending']:,} still in their window (campaign_lift, "
            "reports/campaigns.html):"
        )
        for segment, t, h, rate_t, rate_h, lift, low, high in campaigns["segments"]:
            if lift is None or lift != lift:
                continue
            progress(
                f"      {segment:<26} reactivated {rate_t:6.1%} targeted ({t:,}) vs "
                f"{rate_h:6.1%} holdout ({h:,}): lift {100 * lift:+.1f} pts "
                f"[{100 * low:+.1f}, {100 * high:+.1f}]"
            )
    if summary.marts_success:
        _print_build_settings(summary, progress)
    for error in summary.errors:
        progress(f"  ERROR: {error}")
    progress(f"  total time {time.perf_counter() - started:.1f}s")


def _print_build_settings(summary, progress) -> None:
    """The thresholds `cadence: auto` picked for this build, and the build's warnings."""
    auto = [r for r in summary.build_settings if r["source"] == "auto"]
    if auto:
        progress("  cadence: auto picked (raw.build_settings has every reason):")
        shown = ", ".join(
            f"{r['setting']} {r['value']}" for r in auto if r["setting"].endswith("_days")
        )
        for line in textwrap.wrap(shown, 88):
            progress(f"      {line}")
    for warning in summary.build_warnings:
        progress(f"  WARNING: {warning}")
    for warning in summary.check_warnings:
        progress(f"  CHECK WARNING: {warning}")


def cmd_status(args: argparse.Namespace) -> int:
    import duckdb

    from winback.reports import ingest_status

    config = _config(args)
    if not config.warehouse.exists():
        print(f"No warehouse at {config.warehouse}: run `winback run` first.")
        return 1
    try:
        for table in ingest_status(config.warehouse):
            print(table)
    except duckdb.IOException:
        print(
            f"winback: the warehouse {config.warehouse} is in use by a run; try again when it ends"
        )
        return 3
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from winback.generate.evaluation import report

    config = _config(args)
    if not config.warehouse.exists() or not (config.truth_dir / "users.csv").exists():
        print(
            "winback evaluate needs a built warehouse and the generator's ground truth: run `make demo`."
        )
        return 1
    print(report(config.warehouse, config.truth_dir))
    return 0


def _bounded(kind, low, high):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {text}")
        return value

    return parse


def cmd_simulate(args: argparse.Namespace) -> int:
    """The closed loop: by default through the real pipeline on the demo's warehouse (one
    `winback run` per day, watched in the UI); `--fast`: the engines alone in a scratch
    warehouse (winback.generate.closed_loop). The measured lift is printed beside the truth."""
    if not args.fast:
        return _simulate_pipeline(args)
    import json

    from winback.campaign_report import write_report
    from winback.generate.closed_loop import STEP_EFFECT, TASK_EFFECT, Loop, LoopSettings

    out = Path(args.out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        print(f"winback simulate: {out} is a file, not a folder")
        return 2
    out.mkdir(parents=True, exist_ok=True)
    warehouse = out / "simulation.duckdb"
    warehouse.unlink(missing_ok=True)  # the loop's own file: every simulation starts afresh
    settings = LoopSettings(
        users=args.users, days=args.days, seed=args.seed, effect_scale=args.effect_scale
    )
    print(
        f"Simulating {settings.days} days of win-back for {settings.users:,} users (seed "
        f"{settings.seed}, effect x{settings.effect_scale}) into {warehouse}"
    )
    started = time.perf_counter()
    loop = Loop(warehouse, settings)
    outcome = loop.run(progress=lambda m: print(m, flush=True))
    programme = loop.con.execute("select * from marts.campaign_programme_monthly").df()
    loop.con.close()
    truth = out / "ground_truth"
    truth.mkdir(exist_ok=True)
    outcome.lift.to_csv(truth / "true_effects.csv", index=False)
    outcome.episodes.to_csv(truth / "episodes.csv", index=False)
    (truth / "parameters.json").write_text(
        json.dumps(
            {
                "settings": settings.__dict__,
                "step_effect": STEP_EFFECT,
                "customer_success_task_effect": TASK_EFFECT,
            },
            indent=2,
        )
    )
    written = write_report(
        out / "reports",
        outcome.lift,  # marts.campaign_lift, with the truth beside it
        programme,
        outcome.as_of,
        loop.rules.measurement,
        settings.holdout_share,
    )
    lift = outcome.lift
    cells = lift[lift["targeted"].gt(0) & lift["holdout"].gt(0) & lift["step"].ne("cycle")]
    truth_values = cells["true_effect"] if settings.effect_scale else 0.0
    covered = (cells["lift_ci_low"] <= truth_values) & (truth_values <= cells["lift_ci_high"])
    print(f"  {outcome.exposures:,} exposures; per segment (whole cycles), lift [95 % interval]:")
    for r in lift[lift["step"] == "cycle"].itertuples():
        truth_value = r.true_effect if settings.effect_scale else 0.0
        measured = (
            f"{100 * r.lift:+6.1f} pts [{100 * r.lift_ci_low:+.1f}, {100 * r.lift_ci_high:+.1f}]"
            f", true {100 * truth_value:+.1f}"
            if r.lift == r.lift  # not nan: both groups have users
            else "no lift yet (a group is empty)"
        )
        print(
            f"      {r.segment:<26} {r.targeted:>6,} targeted {r.holdout:>5,} holdout  {measured}"
        )
    print(
        f"  the 95 % interval holds the true effect in {int(covered.sum())} of {len(cells)} "
        f"segment x step cells ({covered.mean():.0%})"
    )
    print(f"  report: {written['html']}; ground truth: {truth}")
    print(f"  ({time.perf_counter() - started:.1f}s)")
    return 0


def _simulate_pipeline(args: argparse.Namespace) -> int:
    from orchestration.simulate import SimulationRefused, run_closed_loop

    config = _config(args)
    _ensure_dagster_home()
    from orchestration.project import ensure_manifest

    ensure_manifest()
    try:
        truth = run_closed_loop(config, args.days, args.seed, args.effect_scale)
    except SimulationRefused as exc:
        print(f"winback simulate: {exc}")
        return 1
    effects = truth["effects"]
    print("  per segment (whole cycles with a closed window), measured lift vs the truth:")
    for r in effects[effects["step"] == "cycle"].itertuples():
        if r.lift != r.lift:
            continue
        inside = r.lift_ci_low <= r.true_effect <= r.lift_ci_high
        print(
            f"      {r.segment:<26} {r.targeted:>6,} targeted {r.holdout:>5,} holdout "
            f"{100 * r.lift:+6.1f} pts [{100 * r.lift_ci_low:+.1f}, {100 * r.lift_ci_high:+.1f}]"
            f", true {100 * r.true_effect:+.1f}: {'inside' if inside else 'OUTSIDE'}"
        )
    cells = effects[(effects["step"] != "cycle") & effects["true_effect"].notna()]
    cells = cells[cells["lift"].notna()]
    covered = (cells["lift_ci_low"] <= cells["true_effect"]) & (
        cells["true_effect"] <= cells["lift_ci_high"]
    )
    print(
        f"  the 95 % interval holds the true effect in {int(covered.sum())} of {len(cells)} "
        f"segment x step cells; report: {config.publish_dir / 'reports' / 'campaigns.html'}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="winback", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    from winback.generate.command import add_arguments as add_generate_arguments
    from winback.generate.command import run as run_generate

    gen = sub.add_parser("generate", help="write the demo data set into a landing folder")
    add_generate_arguments(gen)  # the same options as `python -m winback.generate`
    gen.set_defaults(func=run_generate)

    init = sub.add_parser(
        "init",
        help="write a project folder: winback.yml (sources, mapping, settings, paths) to edit",
    )
    init.add_argument("path", help="the project folder (created if missing)")
    init.add_argument("--name", help="the project's name (default: the folder's)")
    init.add_argument(
        "--source",
        action="append",
        metavar="FILE",
        help="a data file to declare as a source: its columns are read and a mapping guessed "
        "for you to check (repeatable)",
    )
    init.set_defaults(func=cmd_init)

    run = sub.add_parser("run", help="ingest the landing folder and build and publish the marts")
    _project_option(run)
    _path_options(run, "landing_dir", "warehouse", "publish_dir", "earliest_date", "as_of_date")
    run.add_argument(
        "--add-sources",
        action="store_true",
        help="let this run add files from another project or landing folder to a warehouse "
        "that holds data already (refused otherwise)",
    )
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental marts from everything raw holds (files unchanged since "
        "their last ingest are not read again: raw holds them; see --reingest)",
    )
    run.add_argument(
        "--reingest",
        action="store_true",
        help="read every landing file again, even those unchanged since their last ingest "
        "(a file is otherwise ingested once, and again when its content, its source's "
        "definition or the earliest date changes)",
    )
    run.add_argument(
        "--retrain",
        action="store_true",
        help="train a new churn model version now, whatever the age of the current one "
        "(it still has to pass the promotion gate; docs/churn.md)",
    )
    run.add_argument(
        "--wait",
        metavar="SECONDS",
        help="how long to wait for another run on the same warehouse to end (env "
        "WINBACK_LOCK_WAIT, default 600; 0: refuse at once)",
    )
    run.add_argument(
        "--preset",
        choices=["posthog", "amplitude", "mixpanel"],
        help="engagement settings that reproduce this tool (docs/metrics.md)",
    )
    run.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="a dbt setting, e.g. --set week_start=sunday --set mau_window_days=28 (repeatable; "
        "wins over the preset; list in dbt_project/dbt_project.yml)",
    )
    run.set_defaults(func=cmd_run)

    profile = sub.add_parser(
        "profile",
        help="what the data looks like before a first run, and the settings that fit it",
    )
    _project_option(profile)
    _path_options(profile, "landing_dir", "earliest_date")
    profile.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="a setting to take as given"
    )
    profile.set_defaults(func=cmd_profile)

    simulate = sub.add_parser(
        "simulate",
        help="the closed loop for the demo: days of win-back audiences, simulated answers "
        "and true effects, measured against the holdout (never a real warehouse)",
    )
    simulate.add_argument("--days", type=_bounded(int, 1, 365), default=60)
    simulate.add_argument("--users", type=_bounded(int, 100, 200_000), default=6000)
    simulate.add_argument("--seed", type=_bounded(int, 0, 2**31 - 1), default=0)
    simulate.add_argument(
        "--effect-scale",
        type=_bounded(float, 0.0, 5.0),
        default=1.0,
        help="multiplies every true effect (0: the messages cause nothing)",
    )
    simulate.add_argument(
        "--fast",
        action="store_true",
        help="the engines alone in a scratch warehouse (--out), without dbt or Dagster: "
        "seconds per day; for the coverage study",
    )
    simulate.add_argument(
        "--out",
        default="data/simulation",
        help="--fast: the folder written (default data/simulation)",
    )
    _project_option(simulate)
    _path_options(simulate, "landing_dir", "warehouse", "publish_dir", "truth_dir")
    simulate.set_defaults(func=cmd_simulate)

    status = sub.add_parser("status", help="what the warehouse holds")
    _project_option(status)
    _path_options(status, "warehouse")
    status.set_defaults(func=cmd_status)

    evaluate = sub.add_parser(
        "evaluate",
        help="score the disengagement patterns and health score against the demo's ground truth",
    )
    _project_option(evaluate)
    _path_options(evaluate, "warehouse", "truth_dir")
    evaluate.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except ValueError as exc:  # bad settings, dates, paths: one line, before anything runs
        print(f"winback: {exc}")
        code = 2
    if argv is None:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """The `winback` command (not a caller of `main` in its own process) ends here once its work
    is done and written: Python's teardown of the ~4,900 modules a run loads (Dagster, dbt,
    scikit-learn, Great Expectations) took 3-4 s after the summary. The run has closed its
    warehouse connections and committed its Dagster events by now; log handlers are flushed."""
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
