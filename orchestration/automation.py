"""Jobs, the daily schedule and the landing-folder sensor.

Runs that write the warehouse must not overlap (DuckDB has one writer): every run holds the
warehouse's run lock for its whole length (`WarehouseResource`, `winback.locking`), whoever
launched it, so a run started while another holds the warehouse waits (WINBACK_LOCK_WAIT) and
then fails with one line naming the holder. `make ui` also configures the instance with
`concurrency: runs: max_concurrent_runs: 1`, so the daemon queues requested runs in order
(ingestion first, then the marts) instead of starting them to wait.
"""

import datetime as dt
import hashlib
import json

import dagster as dg

from orchestration.dbt import DbtBuildConfig, winback_dbt_models
from orchestration.ingest import FILE_PARTITIONS, RAW_ASSETS, raw_asset_key
from orchestration.publish import marts_run_assets
from orchestration.resources import WinbackSettings
from winback.landing import compare_all, plan_ingestion

marts_job = dg.define_asset_job(
    "build_marts",
    selection=dg.AssetSelection.assets(*marts_run_assets()),
    description="dbt build (incremental) and publish the marts for BI.",
)

ingest_jobs = {
    name: dg.define_asset_job(
        f"ingest_{name}",
        selection=dg.AssetSelection.assets(asset),
        partitions_def=FILE_PARTITIONS[name],
        description=f"Validate and load one {name} landing file (a partition).",
    )
    for name, asset in RAW_ASSETS.items()
}


def as_of_for_tick(scheduled: dt.datetime) -> str:
    """A tick at 02:00 on day D builds the marts as of D - 1, the last complete UTC day."""
    return (scheduled.date() - dt.timedelta(days=1)).isoformat()


@dg.schedule(
    job=marts_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    description="Every day at 02:00 UTC: rebuild the marts as of yesterday and publish them.",
)
def daily_marts_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    as_of = as_of_for_tick(context.scheduled_execution_time)
    return dg.RunRequest(
        run_key=f"marts-{as_of}",
        run_config=dg.RunConfig(ops={winback_dbt_models.op.name: DbtBuildConfig(as_of_date=as_of)}),
        tags={"winback/as_of_date": as_of},
    )


@dg.sensor(
    minimum_interval_seconds=30,
    description="Notices new or changed files in the landing folder, registers each as a "
    "partition, ingests it, then rebuilds and publishes the marts. A file only touched (new "
    "modification time, same content) starts no run.",
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def landing_files_sensor(
    context: dg.SensorEvaluationContext, winback: WinbackSettings
) -> dg.SensorResult | dg.SkipReason:
    """The cursor holds, per file, what the sensor last saw of it (`winback.landing.seen_value`:
    size, time, how it is read, content hash); `compare`, which the command line uses against
    raw.ingest_log, decides which files to ingest."""
    config = winback.config()
    sources, root = winback.sources()
    seen = json.loads(context.cursor) if context.cursor else {}
    files = plan_ingestion(config.landing_dir, None, sources, root, config.validation)
    verdicts = compare_all(files, seen)
    planned = [v for v in verdicts if v.to_ingest]
    touched = [v for v in verdicts if v.status == "touched"]
    cursor = json.dumps(
        {**seen, **{v.planned.path: v.seen for v in planned + touched}}, sort_keys=True
    )
    if not planned:
        why = f"no new or changed files in {config.landing_dir}"
        if touched:  # remember their new time, so they are not hashed again
            why += f" ({len(touched)} touched, content unchanged)"
            return dg.SensorResult(skip_reason=why, cursor=cursor)
        return dg.SkipReason(why)
    requests = [
        dg.RunRequest(
            run_key=f"{v.planned.path}@{v.planned.signature}",
            job_name=ingest_jobs[v.planned.kind.name].name,
            partition_key=v.planned.path,
            asset_selection=[raw_asset_key(v.planned.kind)],
        )
        for v in planned
    ]
    batch = "|".join(f"{v.planned.path}@{v.planned.signature}" for v in planned)
    # a stable key (Python's hash() of a string differs from process to process)
    batch_key = hashlib.sha1(batch.encode()).hexdigest()[:16]
    requests.append(dg.RunRequest(run_key=f"marts-after-{batch_key}", job_name=marts_job.name))
    context.log.info(
        f"{len(planned)} new or changed landing file(s): "
        + ", ".join(v.planned.path for v in planned)
    )
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[
            FILE_PARTITIONS[v.planned.kind.name].build_add_request([v.planned.path])
            for v in planned
        ],
        cursor=cursor,
    )


defs = dg.Definitions(
    jobs=[marts_job, *ingest_jobs.values()],
    schedules=[daily_marts_schedule],
    sensors=[landing_files_sensor],
)
