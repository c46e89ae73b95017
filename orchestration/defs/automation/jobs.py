"""Jobs, the hourly schedule and the landing sensor.

- `cx_hourly` (hourly partitions): one run a batch. Load what landed (dlt, cursor-incremental),
  check it, build every dbt model for that batch and the partition's window (facts, then the KPI
  marts of the periods that changed), judge the alert rules for its hour(s), and publish the
  marts to `analytics/published`, the read-only copy analysts query.
- `cx_kpis` (hourly partitions): the KPI marts alone over a range of hours, then the publish:
  the recompute an erasure needs once a person's rows are gone (orchestration/privacy.py).
The schedule runs cx_hourly for the latest complete hour (CX_HOURLY_CRON, default 10 past every
hour); the landing sensor runs it as soon as new files land. Every step writes DuckDB: the steps
share the duckdb_writer pool, so runs queue instead of colliding.
"""

import datetime as dt
from pathlib import Path

import dagster as dg

from ingestion.settings import CRONS, Settings, cron
from orchestration.defs.shared import DUCKDB_POOL, HOURLY
from orchestration.defs.transform.assets import KPI_MODELS, cx_dbt
from orchestration.recovery import recover_dead_runs, report_pool_waits

# Every step writes DuckDB, so the duckdb_writer pool runs them one at a time anyway; one process
# per run saves re-importing dagster, dbt and dlt for every step (~10-20 s each on 2 cores).
# The pool still applies across runs: a second run's writer waits for this one's.
cx_hourly = dg.define_asset_job(
    name="cx_hourly",
    selection=dg.AssetSelection.groups("ingestion", "alerts", "publish")
    | dg.AssetSelection.assets(cx_dbt),
    partitions_def=HOURLY,
    description="Load what landed, build the dbt models for that batch and hour (the KPI marts "
    "of the periods that changed included), judge the alert rules for the hour, then publish "
    "the marts to the analysts' read-only copy.",
    executor_def=dg.in_process_executor,
)
cx_kpis = dg.define_asset_job(
    name="cx_kpis",
    selection=KPI_MODELS | dg.AssetSelection.groups("publish"),
    partitions_def=HOURLY,
    description="Recompute the KPI marts for the hours of the partition (and their days) from "
    "the facts as they are now, then publish: what an erasure runs after deleting a person.",
    executor_def=dg.in_process_executor,
)


def latest_complete_hour(now: dt.datetime) -> str:
    now = now.astimezone(dt.UTC)
    return (now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)).strftime(
        "%Y-%m-%d-%H:%M"
    )


@dg.schedule(
    cron_schedule=cron("CX_HOURLY_CRON"),
    job=cx_hourly,
    execution_timezone="UTC",
    description=f"Every hour (CX_HOURLY_CRON, default '{CRONS['CX_HOURLY_CRON']}'): load, model, "
    "judge and publish the latest complete hour.",
)
def cx_hourly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(partition_key=latest_complete_hour(context.scheduled_execution_time))


def landing_files(landing: Path):
    """(modification time, path under the landing folder) of every finished landing file."""
    for folder in ("events", "tickets", "surveys"):
        for path in (landing / folder).rglob("*"):
            hidden = any(part.startswith(".") for part in path.relative_to(landing).parts)
            if path.is_file() and not hidden:  # hidden: a file still being written
                yield path.stat().st_mtime, str(path.relative_to(landing))


def newest_landing_file(landing: Path) -> tuple[float, str] | None:
    return max(landing_files(landing), default=None)


def oldest_landing_file(landing: Path) -> tuple[float, str] | None:
    return min(landing_files(landing), default=None)


@dg.sensor(
    job=cx_hourly,
    minimum_interval_seconds=60,
    description="Starts a cx_hourly run as soon as new files land (newest file mtime).",
)
def cx_landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    newest = newest_landing_file(Settings.from_env().landing_dir)
    if newest is None or (context.cursor and float(context.cursor) >= newest[0]):
        return dg.SensorResult(skip_reason="no new landing files")
    hour = latest_complete_hour(dt.datetime.now(dt.UTC))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=hour, run_key=f"landing-{newest[0]:.6f}")],
        cursor=f"{newest[0]:.6f}",
    )


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed the runs of this host whose process is gone (killed, out of memory, "
    "a reboot) and frees their duckdb_writer slot, so that later runs do not wait forever "
    "(orchestration/recovery.py; the default run launcher has no health check for run monitoring). "
    "A run that has waited over a minute for that pool gets a line in its log naming the holder.",
)
def cx_recovery_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    recovered = recover_dead_runs(context.instance)
    waiting = report_pool_waits(context.instance, DUCKDB_POOL)
    if waiting:
        context.log.info("runs waiting for %s: %s", DUCKDB_POOL, ", ".join(waiting))
    if recovered:
        context.log.warning("recovered %d dead runs: %s", len(recovered), ", ".join(recovered))
        return dg.SkipReason(f"recovered {len(recovered)} dead runs: {', '.join(recovered)}")
    return dg.SkipReason("no dead runs")


defs = dg.Definitions(
    jobs=[cx_hourly, cx_kpis],
    schedules=[cx_hourly_schedule],
    sensors=[cx_landing_sensor, cx_recovery_sensor],
)
