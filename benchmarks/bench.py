"""Speed and memory figures for winback, as users run it (not a pass/fail test).

    python benchmarks/bench.py                          # tiny, demo, purchases, 1M, 10M
    python benchmarks/bench.py --sizes tiny,purchases,200000
    python benchmarks/bench.py --sizes 100000000        # make bench-100m

Every figure is also given as a multiple of the floor (../shared/bench/floor.py: load the
events into a DuckDB file and build one user x day aggregate, nothing a pipeline can skip),
measured on the same files in the same run: seconds on a shared machine do not hold, multiples
of the floor do. docs/benchmarks.md says what each stage measures and the targets.

Data sets (generation is not timed):
  tiny       a landing folder with 10 events (CSV)
  demo       `winback generate` defaults: 20k users, 180 days, CSV
  purchases  `winback generate --scenario purchases` (CDNOW's shape: ~70k purchases by 23,570
             customers over 18 months), declared as a project source by `winback init --source`
  N          about N events as Parquet, the last day held back for the daily stages
             (`winback generate` up to --fast-from events, benchmarks/fast_events.py above)

Stages:
  run           `winback run` on the landing folder, a fresh DAGSTER_HOME, no WINBACK_* from the
                calling shell: wall-clock seconds, peak RSS of the process tree (the CLI and its
                dbt subprocesses: the largest of them, from wait4)
  daily_run     (N only) the held-back last day lands as a new file, then `winback run`
  daily_sensor  (N only) the warehouse, published folder and instance reset to before the new
                day; the landing sensor of the code location is evaluated (its cursor knows the
                history) and the runs it requests are executed in order in one process, as the
                daemon would launch them
For every `winback run` the per-step seconds (ingestion, dbt build, churn, publication) and
the slowest dbt models are read back from the run history and printed as detail.

Writes <workdir>/results.json (one object per data set and stage) and prints one table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FLOOR = Path(os.environ.get("WINBACK_FLOOR", ROOT.parent / "shared" / "bench" / "floor.py"))
NEW_DAY_FILE = "events_new_day.parquet"
EVENTS_PER_USER = 91  # winback generate: 1.82M events for 20k users, 13.4M for 147k
DEFAULT_SIZES = "tiny,demo,purchases,1000000,10000000"
# the daily stages run for Parquet data sets up to this size (the 100M stage: the run only)
DAILY_UP_TO = 10_000_000
MIB = 1024 * 1024


# --- running a command and measuring it -------------------------------------------------------


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The calling environment without winback's and Dagster's settings, quiet dbt."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WINBACK_") and k not in ("DAGSTER_HOME", "PYTHONPATH")
    }
    env.update(DBT_SEND_ANONYMOUS_USAGE_STATS="false", DO_NOT_TRACK="1", PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


def fresh_dagster_home(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    from orchestration.dagster_home import ensure_dagster_home

    ensure_dagster_home(path)  # the dagster.yaml a user's first `winback run` writes
    return path


def measured(cmd: list[str], env: dict[str, str], log: Path, cwd: Path) -> dict:
    """Run cmd to completion; wall seconds, exit code and the peak RSS of its process tree
    (wait4's ru_maxrss: the largest of the process and the descendants it waited for)."""
    with log.open("w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": seconds, "rc": proc.returncode, "peak_mib": usage.ru_maxrss / 1024}


def winback_run(ds: DataSet, label: str, extra_env: dict[str, str] | None = None) -> dict:
    cmd = [str(BIN / "winback"), "run"]
    if ds.project:
        cmd += ["--project", str(ds.project)]
    else:
        cmd += ["--landing-dir", str(ds.landing)]
    cmd += ["--warehouse", str(ds.warehouse), "--publish-dir", str(ds.published)]
    env = clean_env({"DAGSTER_HOME": str(ds.dagster_home), **(extra_env or {})})
    since = time.time()
    log = ds.dir / f"{label}.log"
    figures = measured(cmd, env, log, cwd=ds.dir)
    figures["log"] = str(log)
    figures["detail"] = detail = run_detail(log.read_text(), ds.dagster_home, since)
    if detail.get("cli_total_s") is not None:  # start-up: imports, the dbt manifest check
        detail["outside_cli_timer_s"] = round(figures["seconds"] - detail["cli_total_s"], 1)
    return figures


def run_detail(output: str, dagster_home: Path, since: float) -> dict:
    """What the CLI printed (seconds of ingestion and of the marts) and, from the run history,
    the seconds of each step of the marts run and of the slowest dbt models."""
    detail: dict = {}
    files = re.findall(r"^\s+\[\d+/\d+\] (\S+): .*\((\d+\.\d)s\)$", output, re.M)
    detail["ingest_s"] = round(sum(float(s) for _, s in files), 1)
    detail["files"] = len(files)
    # "Ingesting 1 of 12 file(s)" when unchanged files are skipped
    planned = re.search(r"Ingesting (\d+) of (\d+) file", output)
    if planned:
        detail["skipped_files"] = int(planned.group(2)) - int(planned.group(1))
    marts = re.search(r"marts built and published \((\d+\.\d)s\)", output)
    detail["marts_s"] = float(marts.group(1)) if marts else None
    total = re.search(r"total time (\d+\.\d)s", output)
    detail["cli_total_s"] = float(total.group(1)) if total else None
    try:
        detail.update(history_detail(dagster_home, since))
    except Exception as exc:  # detail only: never fail the bench for it
        detail["history_error"] = f"{type(exc).__name__}: {exc}"
    return detail


def history_detail(dagster_home: Path, since: float) -> dict:
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    import dagster as dg

    steps: dict[str, float] = {}
    models: dict[str, float] = {}
    with dg.DagsterInstance.get() as instance:
        for run in instance.get_runs():
            stats = instance.get_run_stats(run.run_id)
            if not stats.start_time or stats.start_time < since:
                continue
            for record in instance.get_records_for_run(run.run_id, limit=100_000).records:
                event = record.event_log_entry.dagster_event
                if event is None:
                    continue
                if event.event_type_value == "STEP_SUCCESS":
                    key = event.step_key
                    if run.tags.get("dagster/partition"):
                        key = "ingest " + key
                    seconds = event.event_specific_data.duration_ms / 1000
                    steps[key] = round(steps.get(key, 0) + seconds, 1)
                elif event.event_type_value == "ASSET_MATERIALIZATION":
                    mat = event.event_specific_data.materialization
                    meta = mat.metadata
                    if "Execution Duration" in meta:
                        models[mat.asset_key.path[-1]] = round(meta["Execution Duration"].value, 1)
                    for key, value in meta.items():
                        if key.startswith("seconds_"):
                            steps[f"churn {key[8:]}"] = value.value
    os.environ.pop("DAGSTER_HOME", None)
    slowest = dict(sorted(models.items(), key=lambda kv: -kv[1])[:8])
    return {"steps": steps, "dbt_models_s": slowest}


# --- the data sets ---------------------------------------------------------------------------


class DataSet:
    def __init__(self, name: str, root: Path):
        self.name = name
        self.dir = root / name
        self.landing = self.dir / "landing"
        self.warehouse = self.dir / "warehouse" / "winback.duckdb"
        self.published = self.dir / "published"
        self.dagster_home = self.dir / "dagster_home"
        self.project: Path | None = None
        self.events = 0
        self.last_day: str | None = None
        self.floor_input = self.landing  # where floor.py reads events*.{csv,parquet}
        self.daily = False
        self.notes: list[str] = []

    def reset(self) -> None:
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        fresh_dagster_home(self.dagster_home)


def make_tiny(ds: DataSet) -> None:
    (ds.landing / "events").mkdir(parents=True)
    rows = ["event_id,user_id,event_name,occurred_at,revenue"]
    for i in range(10):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=i // 2)
        revenue = "19.99" if i == 7 else ""
        name = ("session_start", "view_dashboard", "create_report", "purchase")[i % 4]
        if revenue:
            name = "purchase"
        rows.append(f"e{i},u{i % 3},{name},{day}T1{i % 10}:00:00Z,{revenue}")
    (ds.landing / "events" / "events_tiny.csv").write_text("\n".join(rows) + "\n")
    ds.events = 10


def make_demo(ds: DataSet) -> None:
    from winback.generate import generate

    summary = generate(ds.landing, ds.dir / "truth", users=20_000, events_format="csv")
    ds.events = summary.events


def make_purchases(ds: DataSet) -> None:
    """The generator's CDNOW-like orders.txt, declared as a source of a project by `winback
    init --source` (the orders preset it guesses), with the settings docs/churn.md and
    docs/cadence.md give for a store: purchases are the core and churn events, a 90-day churn
    horizon, inactivity thresholds from the data's own rhythm."""
    orders_dir = ds.dir / "orders"
    env = clean_env()
    subprocess.run(
        [
            str(BIN / "winback"),
            "generate",
            "--scenario",
            "purchases",
            "--landing-dir",
            str(orders_dir),
            "--truth-dir",
            str(ds.dir / "truth"),
        ],
        check=True,
        env=env,
        cwd=ds.dir,
        stdout=subprocess.DEVNULL,
    )
    orders = orders_dir / "orders.txt"
    ds.project = ds.dir / "store"
    subprocess.run(
        [str(BIN / "winback"), "init", str(ds.project), "--source", str(orders)],
        check=True,
        env=env,
        cwd=ds.dir,
        stdout=subprocess.DEVNULL,
    )
    yml = ds.project / "winback.yml"
    text = yml.read_text()
    settings = (
        "settings:\n"
        "  cadence: auto\n"
        "  core_events: [purchase]\n"
        "  churn_horizon_days: 90\n"
        "  churn_activity_events: [purchase]\n"
    )
    text, n = re.subn(r"^settings:\n", settings, text, count=1, flags=re.M)
    if n != 1:
        raise SystemExit(f"{yml}: no `settings:` section to add the store's settings to")
    yml.write_text(text)
    ds.landing = ds.project / "landing"
    ds.warehouse = ds.project / "warehouse" / "winback.duckdb"
    ds.published = ds.project / "published"
    # floor.py reads events files: the same purchases as events (user, name, time, revenue)
    ds.floor_input = ds.dir / "floor_input"
    (ds.floor_input / "events").mkdir(parents=True)
    lines = ["user_id,event_name,occurred_at,revenue"]
    for line in orders.read_text().splitlines():
        customer, day, _units, amount = line.split()
        lines.append(f"{customer},purchase,{day[:4]}-{day[4:6]}-{day[6:]}T00:00:00Z,{amount}")
    (ds.floor_input / "events" / "events_orders.csv").write_text("\n".join(lines) + "\n")
    ds.events = len(lines) - 1
    ds.notes.append(f"floor on orders.txt as an events CSV ({ds.events:,} rows)")


def make_events(ds: DataSet, n: int, fast: bool) -> None:
    if fast:
        out = subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "fast_events.py"),
                "--events",
                str(n),
                "--landing",
                str(ds.landing),
            ],
            check=True,
            capture_output=True,
            text=True,
            env=clean_env(),
        ).stdout
        facts = dict(kv.split("=", 1) for kv in out.split())
        ds.events, ds.last_day = int(facts["events"]), facts["end"]
        ds.notes.append(f"benchmarks/fast_events.py: {facts['users']} users")
    else:
        from winback.generate import generate

        users = max(1000, round(n / EVENTS_PER_USER))
        summary = generate(ds.landing, ds.dir / "truth", users=users, events_format="parquet")
        ds.events, ds.last_day = summary.events, summary.end.isoformat()
        ds.notes.append(f"winback generate: {users} users")


def hold_back_last_day(ds: DataSet) -> int:
    """Move the last day's events out of the landing folder (they land in the daily stages)."""
    import duckdb

    held = ds.dir / "held_back"
    held.mkdir(exist_ok=True)
    con = duckdb.connect()
    # the rows dated on the last day (future-dated dirty rows stay with the history)
    day = (
        f"coalesce(try_cast(occurred_at as timestamptz) >= timestamptz '{ds.last_day} 00:00:00+00'"
        f" and try_cast(occurred_at as timestamptz) < timestamptz '{ds.last_day} 00:00:00+00'"
        " + interval 1 day, false)"
    )
    parts = []
    for path in sorted((ds.landing / "events").glob("*.parquet")):
        if con.execute(f"select count(*) from read_parquet('{path}') where {day}").fetchone()[0]:
            part = held / f"part_{path.stem}.parquet"
            con.execute(
                f"copy (select * from read_parquet('{path}') where {day}) to '{part}' "
                "(format parquet)"
            )
            kept = path.with_suffix(".tmp")
            con.execute(
                f"copy (select * from read_parquet('{path}') where not ({day})) to '{kept}' "
                "(format parquet)"
            )
            kept.replace(path)
            parts.append(str(part))
            if not con.execute(f"select count(*) from read_parquet('{path}')").fetchone()[0]:
                path.unlink()  # a month file that held only the last day
    con.execute(
        f"copy (select * from read_parquet({parts!r}, union_by_name=true)) "
        f"to '{held / NEW_DAY_FILE}' (format parquet)"
    )
    n = con.execute(f"select count(*) from read_parquet('{held / NEW_DAY_FILE}')").fetchone()[0]
    for part in parts:
        os.remove(part)
    return n


def prepare_manifest() -> None:
    """Parse the dbt project now if a dbt file changed since the manifest (untimed: an installed
    winback has its manifest; `winback run` would otherwise parse it inside the timed run)."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from orchestration.project import ensure_manifest; ensure_manifest()",
        ],
        check=True,
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
    )


def floor_seconds(ds: DataSet) -> float | None:
    """The floor on this data set's events files, or None where floor.py is not at hand."""
    if not FLOOR.exists():
        return None
    out = subprocess.run(
        [sys.executable, str(FLOOR), str(ds.floor_input), str(ds.dir / "floor")],
        check=True,
        capture_output=True,
        text=True,
        env=clean_env(),
    ).stdout
    shutil.rmtree(ds.dir / "floor", ignore_errors=True)
    line = next(x for x in out.splitlines() if x.startswith("floor_seconds="))
    return float(line.split()[0].split("=")[1])


def size_mib(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / MIB
    if not path.exists():
        return 0.0
    files = (p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return sum(p.stat().st_size for p in files) / MIB  # links (current, ...) counted once


def warehouse_mib(ds: DataSet) -> float:
    """The warehouse file (and its write-ahead log, if one is left)."""
    wal = ds.warehouse.with_name(ds.warehouse.name + ".wal")
    return size_mib(ds.warehouse) + size_mib(wal)


# --- the daily stages ------------------------------------------------------------------------


def snapshot(ds: DataSet, to: Path) -> None:
    """The state before the new day: the warehouse folder (file, <stem>_models, logs), the
    published folder and the Dagster instance."""
    if to.exists():
        shutil.rmtree(to)
    to.mkdir()
    for name, path in (
        ("warehouse", ds.warehouse.parent),
        ("published", ds.published),
        ("dagster_home", ds.dagster_home),
    ):
        if path.exists():
            shutil.copytree(path, to / name, symlinks=True)


def restore(ds: DataSet, frm: Path) -> None:
    for name, path in (
        ("warehouse", ds.warehouse.parent),
        ("published", ds.published),
        ("dagster_home", ds.dagster_home),
    ):
        if path.exists():
            shutil.rmtree(path)
        if (frm / name).exists():
            shutil.copytree(frm / name, path, symlinks=True)


def sensor_env(ds: DataSet) -> dict[str, str]:
    """The code location's settings as a deployment sets them (the sensor's resources are
    the Definitions' own: empty fields fall back to these variables)."""
    return clean_env(
        {
            "DAGSTER_HOME": str(ds.dagster_home),
            "WINBACK_LANDING_DIR": str(ds.landing),
            "WINBACK_WAREHOUSE": str(ds.warehouse),
            "WINBACK_PUBLISH_DIR": str(ds.published),
        }
    )


def sensor_main(mode: str, cursor_file: Path) -> None:
    """In a subprocess (env from sensor_env): `cursor` evaluates the sensor on the landing
    folder as it is and saves its cursor (what a sensor that has seen the history keeps);
    `run` evaluates it from that cursor and executes the run requests in order, in process."""
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    from orchestration.project import ensure_manifest

    ensure_manifest()
    import dagster as dg

    from orchestration.automation import landing_files_sensor
    from orchestration.definitions import defs
    from orchestration.resources import WinbackSettings

    instance = dg.DagsterInstance.get()
    cursor = cursor_file.read_text() if mode == "run" else None
    started = time.perf_counter()
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"winback": WinbackSettings()}
    )
    result = landing_files_sensor(context)
    if mode == "cursor":
        cursor_file.write_text(result.cursor if isinstance(result, dg.SensorResult) else "{}")
        return
    if not isinstance(result, dg.SensorResult):
        raise SystemExit(f"the sensor requested nothing: {result}")
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    runs = []
    for request in result.run_requests:
        job = defs.resolve_job_def(request.job_name)
        t0 = time.perf_counter()
        outcome = job.execute_in_process(
            instance=instance,
            partition_key=request.partition_key,
            run_config=request.run_config or None,
            tags=request.tags,
            raise_on_error=False,
        )
        runs.append(
            {
                "job": request.job_name,
                "partition": request.partition_key,
                "seconds": round(time.perf_counter() - t0, 1),
                "success": outcome.success,
            }
        )
        print(
            f"  {request.job_name} {request.partition_key or ''}: "
            f"{'ok' if outcome.success else 'FAILED'} ({runs[-1]['seconds']}s)",
            flush=True,
        )
        if not outcome.success:
            raise SystemExit(f"run {request.job_name} {request.partition_key or ''} failed")
    print("SENSOR " + json.dumps({"seconds": time.perf_counter() - started, "runs": runs}))


def sensor_stage(ds: DataSet, mode: str) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--sensor",
        mode,
        "--cursor-file",
        str(ds.dir / "sensor_cursor.json"),
    ]
    log = ds.dir / f"sensor_{mode}.log"
    figures = measured(cmd, sensor_env(ds), log, cwd=ds.dir)
    figures["log"] = str(log)
    if mode == "run" and figures["rc"] == 0:
        line = next(x for x in log.read_text().splitlines() if x.startswith("SENSOR "))
        figures["detail"] = {"runs": json.loads(line[7:])["runs"]}
    return figures


# --- one data set ----------------------------------------------------------------------------


def bench_data_set(size: str, root: Path, fast_from: int, memory_limit: str | None) -> list[dict]:
    ds = DataSet(size, root)
    ds.reset()
    started = time.perf_counter()
    print(f"== {size}: generating ...", flush=True)
    if size == "tiny":
        make_tiny(ds)
    elif size == "demo":
        make_demo(ds)
    elif size == "purchases":
        make_purchases(ds)
    else:
        n = int(size)
        make_events(ds, n, fast=n >= fast_from)
        ds.daily = n <= DAILY_UP_TO
    held = hold_back_last_day(ds) if ds.daily else 0
    print(
        f"   {ds.events:,} events generated in {time.perf_counter() - started:.0f}s "
        f"({'; '.join(ds.notes)})",
        flush=True,
    )
    prepare_manifest()
    floor = floor_seconds(ds)
    print(f"   floor ({FLOOR.name}): {floor:.1f}s" if floor else "   floor: n/a", flush=True)

    extra = {"WINBACK_DUCKDB_MEMORY_LIMIT": memory_limit} if memory_limit else {}
    rows = []

    def record(stage: str, events: int, figures: dict) -> dict:
        row = {
            "data_set": size,
            "stage": stage,
            "events": events,
            "seconds": round(figures["seconds"], 2),
            "floor_seconds": floor,
            "x_floor": round(figures["seconds"] / floor, 2) if floor else None,
            "events_per_s": round(events / figures["seconds"]) if figures["seconds"] else None,
            "peak_mib": round(figures["peak_mib"]),
            "ok": figures["rc"] == 0,
            "warehouse_mib": round(warehouse_mib(ds), 1),
            "published_mib": round(size_mib(ds.published), 1),
            "memory_limit": memory_limit or "",
            "notes": "; ".join(ds.notes),
            "detail": figures.get("detail", {}),
            "log": figures.get("log"),
        }
        rows.append(row)
        status = "" if row["ok"] else f"  FAILED (exit {figures['rc']}, see {row['log']})"
        multiple = f" = {row['x_floor']:.1f}x floor" if row["x_floor"] else ""
        print(
            f"   {stage}: {row['seconds']:.1f}s{multiple}, peak {row['peak_mib']} MiB, "
            f"warehouse {row['warehouse_mib']} MiB, published {row['published_mib']} MiB"
            f"{status}",
            flush=True,
        )
        print_detail(row["detail"])
        if not row["ok"]:
            print("     " + "\n     ".join(Path(row["log"]).read_text().splitlines()[-15:]))
        return row

    print("   run ...", flush=True)
    full = record("run", ds.events - held, winback_run(ds, "run", extra))
    if ds.daily and full["ok"]:
        before = ds.dir / "before_new_day"
        seen = sensor_stage(ds, "cursor")  # what the sensor has seen: the history
        if seen["rc"] != 0:
            print(f"   sensor cursor FAILED: {seen['log']}", flush=True)
        snapshot(ds, before)
        shutil.copyfile(ds.dir / "held_back" / NEW_DAY_FILE, ds.landing / "events" / NEW_DAY_FILE)
        print("   daily_run ...", flush=True)
        record("daily_run", held, winback_run(ds, "daily_run", extra))
        restore(ds, before)
        if seen["rc"] == 0:
            print("   daily_sensor ...", flush=True)
            record("daily_sensor", held, sensor_stage(ds, "run"))
        shutil.rmtree(before)
    return rows


def print_detail(detail: dict) -> None:
    if not detail:
        return
    if detail.get("cli_total_s") is not None:
        skipped = f" ({detail['skipped_files']} skipped)" if detail.get("skipped_files") else ""
        print(
            f"     cli: ingest {detail['ingest_s']}s over {detail['files']} file(s){skipped}, "
            f"marts {detail.get('marts_s')}s, total {detail.get('cli_total_s')}s "
            f"(+{detail.get('outside_cli_timer_s')}s before the CLI's timer starts)"
        )
    if detail.get("steps"):
        print("     steps (s): " + ", ".join(f"{k} {v}" for k, v in detail["steps"].items()))
    if detail.get("dbt_models_s"):
        print(
            "     slowest dbt models (s): "
            + ", ".join(f"{k} {v}" for k, v in detail["dbt_models_s"].items())
        )
    if detail.get("runs"):
        print(
            "     sensor runs (s): "
            + ", ".join(
                f"{r['job']} {r['partition'] or ''} {r['seconds']}".replace("  ", " ")
                for r in detail["runs"]
            )
        )


def print_table(rows: list[dict]) -> None:
    print()
    print(
        f"{'data set':<11} {'stage':<13} {'events':>12} {'seconds':>8} {'x floor':>8} "
        f"{'events/s':>11} {'peak MiB':>9} {'wh MiB':>8} {'pub MiB':>8}"
    )
    for r in rows:
        multiple = f"{r['x_floor']:.1f}" if r["x_floor"] else "-"
        failed = "" if r["ok"] else "  FAILED"
        print(
            f"{r['data_set']:<11} {r['stage']:<13} {r['events']:>12,} {r['seconds']:>8.1f} "
            f"{multiple:>8} {r['events_per_s'] or 0:>11,} {r['peak_mib']:>9,} "
            f"{r['warehouse_mib']:>8.1f} {r['published_mib']:>8.1f}{failed}"
        )
    floors = {r["data_set"]: r["floor_seconds"] for r in rows}
    print(
        "floor seconds: " + ", ".join(f"{k} {v:.1f}" if v else f"{k} -" for k, v in floors.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=DEFAULT_SIZES,
        help=f"comma list of tiny, demo, purchases or event counts ({DEFAULT_SIZES})",
    )
    parser.add_argument("--workdir", default=str(ROOT / "bench_out"))
    parser.add_argument(
        "--fast-from",
        type=int,
        default=10_000_001,
        help="event counts from this size up are generated by "
        "benchmarks/fast_events.py (default: above 10M)",
    )
    parser.add_argument(
        "--memory-limit",
        default=None,
        help="WINBACK_DUCKDB_MEMORY_LIMIT for the runs (default: the profile's "
        "3GB; 8GB for sizes above 10M)",
    )
    parser.add_argument("--sensor", choices=("cursor", "run"), help=argparse.SUPPRESS)
    parser.add_argument("--cursor-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sensor:
        sensor_main(args.sensor, Path(args.cursor_file))
        return

    root = Path(args.workdir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        big = size.isdigit() and int(size) > DAILY_UP_TO
        limit = args.memory_limit or ("8GB" if big else None)
        rows += bench_data_set(size, root, args.fast_from, limit)
        (root / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    print_table(rows)
    print(f"results: {root / 'results.json'}")


if __name__ == "__main__":
    main()
