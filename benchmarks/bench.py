"""Speed and memory figures for winback (not a pass/fail test: machines here are noisy).

    python benchmarks/bench.py                 # demo (20k users), 1M and 10M events
    python benchmarks/bench.py --sizes 1000000 # just one size

For each data set: generate it (not counted), then ingest every landing file (Dagster partition
runs: validation, quarantine, GE batch checks), then build the marts (dbt build incl. tests,
full refresh), train and score the churn model, build the churn marts and publish them (the
seconds of each step are printed; "churn backtest" and "churn final_fit" are the training). For the Parquet data sets the last day of events is held back
and lands afterwards ("daily"): its ingestion plus the incremental rebuild and publication is
what the daily run costs. "total" is ingest + marts (the daily run is extra). Each stage runs in its own process so its peak memory (RSS of the process and of
the dbt subprocess) is its own. Prints one table at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the least work any events pipeline must do, timed on the same files in the same run: seconds
# on a noisy machine do not hold, multiples of the floor do (WINBACK_FLOOR overrides the path)
FLOOR = Path(os.environ.get("WINBACK_FLOOR", ROOT.parent / "shared" / "bench" / "floor.py"))
NEW_DAY_FILE = "events_new_day.parquet"
EVENTS_PER_USER = 91  # measured: 1.82M events for 20k users, 13.4M for 147k


def _peak_mib() -> tuple[float, float]:
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kib / 1024, children_kib / 1024


def stage(name: str, workdir: Path, as_of: str | None) -> dict:
    """Run one stage in this process and return its figures."""
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    import dagster as dg

    from orchestration.runner import build_marts, ingest_landing_file
    from winback.ingest import landing_files
    from winback.settings import load_config

    config = load_config(
        {
            "landing_dir": str(workdir / "landing"),
            "warehouse": str(workdir / "warehouse.duckdb"),
            "publish_dir": str(workdir / "published"),
            "as_of_date": as_of,
        }
    )
    instance = dg.DagsterInstance.ephemeral()
    started = time.perf_counter()
    rows, steps = 0, {}
    if name == "ingest":
        files = landing_files(config.landing_dir)
        for i, rel in enumerate(files, 1):
            outcome = ingest_landing_file(rel, config, instance)
            if not outcome.success:
                raise SystemExit(f"ingest failed: {rel}: {outcome.error}")
            if rel.startswith("events/"):
                rows += outcome.rows_read
            print(
                f"    [{i}/{len(files)}] {rel} {outcome.seconds:.1f}s", file=sys.stderr, flush=True
            )
    elif name == "marts":
        result = build_marts(config, instance, full_refresh=True)
        if not result.success:
            raise SystemExit("dbt build / publish failed")
        rows = _raw_events(config)
        steps = _step_seconds(result)
    elif name == "daily":
        # the held-back last day lands, is ingested, and the marts are rebuilt incrementally
        held = workdir / "held_back" / NEW_DAY_FILE
        target = config.landing_dir / "events" / NEW_DAY_FILE
        target.write_bytes(held.read_bytes())
        outcome = ingest_landing_file(f"events/{NEW_DAY_FILE}", config, instance)
        if not outcome.success:
            raise SystemExit(f"ingest failed: {outcome.error}")
        result = build_marts(config, instance)
        if not result.success:
            raise SystemExit("dbt build / publish failed")
        rows = outcome.rows_read
        steps = _step_seconds(result)
    seconds = time.perf_counter() - started
    self_mib, children_mib = _peak_mib()
    return {
        "stage": name,
        "seconds": seconds,
        "events": rows,
        "peak_mib": self_mib,
        "dbt_peak_mib": children_mib,
        "models": _model_seconds() if name != "ingest" else {},
        "steps": steps,
    }


def _step_seconds(result) -> dict[str, float]:
    """Seconds per step of the marts run (the dbt builds, the churn steps, the publication),
    and the churn model's own split (backtest, final fit) when it trained."""
    seconds = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            seconds[event.step_key] = round(event.event_specific_data.duration_ms / 1000, 1)
        if event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            if materialization.asset_key.path == ["ml", "churn_model"]:
                for key, value in materialization.metadata.items():
                    if key.startswith("seconds_"):
                        seconds[f"churn {key[8:]}"] = value.value
    return seconds


def _model_seconds() -> dict[str, float]:
    """Seconds per model and for all data tests of the dbt build that just ran."""
    from orchestration.dbt import DBT_TARGET_DIR

    results = json.loads((DBT_TARGET_DIR / "run_results.json").read_text())["results"]
    seconds: dict[str, float] = {"(data tests)": 0.0}
    for r in results:
        name = r["unique_id"].split(".")
        if name[0] == "model":
            seconds[name[-1]] = round(r["execution_time"], 1)
        elif name[0] == "test":
            seconds["(data tests)"] += r["execution_time"]
    seconds["(data tests)"] = round(seconds["(data tests)"], 1)
    return seconds


def _raw_events(config) -> int:
    import duckdb

    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        return con.execute("select count(*) from raw.events").fetchone()[0]


def hold_back_last_day(workdir: Path, last_day: str) -> None:
    """Move the last day's events out of the landing folder (it arrives in the daily stage)."""
    import duckdb

    events = workdir / "landing" / "events"
    (workdir / "held_back").mkdir(exist_ok=True)
    con = duckdb.connect()
    for path in sorted(events.glob("*.parquet")):
        day = f"coalesce(try_cast(occurred_at as timestamptz) >= timestamptz '{last_day} 00:00:00+00', false)"
        if con.execute(f"select count(*) from read_parquet('{path}') where {day}").fetchone()[0]:
            con.execute(
                f"copy (select * from read_parquet('{path}') where {day}) "
                f"to '{workdir / 'held_back' / NEW_DAY_FILE}' (format parquet)"
            )
            kept = path.with_suffix(".tmp")
            con.execute(
                f"copy (select * from read_parquet('{path}') where not ({day})) to '{kept}' (format parquet)"
            )
            kept.replace(path)


def run_stage(name: str, workdir: Path, as_of: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--stage", name, "--workdir", str(workdir), "--as-of", as_of],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def generate(workdir: Path, users: int, events_format: str) -> tuple[int, str, float]:
    from winback.generate import generate as gen

    started = time.perf_counter()
    summary = gen(workdir / "landing", workdir / "truth", users=users, events_format=events_format)
    return summary.events, summary.end.isoformat(), time.perf_counter() - started


def floor_seconds(workdir: Path) -> float | None:
    """The floor on this data set's events files, or None where floor.py is not at hand."""
    if not FLOOR.exists():
        return None
    out = subprocess.run(
        [sys.executable, str(FLOOR), str(workdir / "landing"), str(workdir / "floor")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("floor_seconds="))
    return float(line.split()[0].split("=")[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sizes", default="demo,1000000,10000000", help="comma list: demo or event counts"
    )
    parser.add_argument("--workdir", default=str(ROOT / "bench_out"))
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(stage(args.stage, Path(args.workdir), args.as_of)))
        return

    rows = []
    for size in args.sizes.split(","):
        workdir = Path(args.workdir) / size
        subprocess.run(["rm", "-rf", str(workdir)], check=True)
        workdir.mkdir(parents=True)
        if size == "demo":
            users, fmt = 20_000, "csv"
        else:
            users, fmt = max(1000, int(int(size) / EVENTS_PER_USER)), "parquet"
        print(f"== {size}: generating {users:,} users ({fmt}) ...", flush=True)
        events, last_day, gen_seconds = generate(workdir, users, fmt)
        print(f"   {events:,} events generated in {gen_seconds:.1f}s", flush=True)
        stages = ("ingest", "marts")
        day_before = (dt.date.fromisoformat(last_day) - dt.timedelta(days=1)).isoformat()
        if fmt == "parquet":
            hold_back_last_day(workdir, last_day)
            stages = ("ingest", "marts", "daily")
        floor = floor_seconds(workdir)
        if floor:
            print(f"   floor ({FLOOR.name}): {floor:.1f}s", flush=True)
        total = 0.0
        for name in stages:
            print(f"   {name} ...", flush=True)
            as_of = last_day if (name == "daily" or fmt != "parquet") else day_before
            figures = run_stage(name, workdir, as_of)
            if name != "daily":
                total += figures["seconds"]
                figures["events"] = events
            figures.update(size=size, floor=floor)
            rows.append(figures)
            print(
                f"   {name}: {figures['seconds']:.1f}s, peak {figures['peak_mib']:.0f} MiB "
                f"(dbt {figures['dbt_peak_mib']:.0f} MiB)",
                flush=True,
            )
            if figures.get("steps"):
                print(
                    "     steps (s): "
                    + ", ".join(f"{k} {v:.1f}" for k, v in figures["steps"].items()),
                    flush=True,
                )
            slowest = sorted(figures.get("models", {}).items(), key=lambda kv: -kv[1])[:8]
            if slowest:
                print(
                    "     dbt seconds: " + ", ".join(f"{m} {t:.1f}" for m, t in slowest),
                    flush=True,
                )
        rows.append(
            {
                "size": size,
                "stage": "total",
                "seconds": total,
                "events": events,
                "peak_mib": max(r["peak_mib"] for r in rows if r["size"] == size),
                "dbt_peak_mib": max(r["dbt_peak_mib"] for r in rows if r["size"] == size),
                "floor": floor,
            }
        )

    print()
    print(
        f"{'data set':<10} {'stage':<8} {'events':>12} {'seconds':>8} {'x floor':>8} "
        f"{'events/s':>11} {'peak MiB':>9} {'dbt MiB':>8}"
    )
    for r in rows:
        rate = r["events"] / r["seconds"] if r["seconds"] else 0
        multiple = f"{r['seconds'] / r['floor']:.1f}" if r.get("floor") else "-"
        print(
            f"{r['size']:<10} {r['stage']:<8} {r['events']:>12,} {r['seconds']:>8.1f} "
            f"{multiple:>8} {rate:>11,.0f} {r['peak_mib']:>9.0f} {r['dbt_peak_mib']:>8.0f}"
        )


if __name__ == "__main__":
    main()
