"""Jobs, the hourly schedule and the landing sensor.

- `cx_hourly` (hourly partitions): load what landed (dlt, cursor-incremental), then the
  event-driven dbt models for that batch and the partition's window, then the alert rules
  (ops/alerts) for its hour(s).
- `cx_daily_kpis` (daily partitions): the KPI marts, for the periods the batches changed and the
  partition's day; then `analytics/published`, the read-only copy analysts query.
The schedules run them for the latest complete hour (CX_HOURLY_CRON, default 10 past every hour;
CX_KPI_CRON, default 40 past); the sensor runs both as soon as new landing files appear. Both jobs write
DuckDB: their steps share the duckdb_writer pool, so runs queue instead of colliding.
"""

import datetime as dt
from pathlib import Path

import dagster as dg

from ingestion.settings import CRONS, Settings, cron
from orchestration.defs.shared import DAILY, DUCKDB_POOL, HOURLY
from orchestration.defs.transform.assets import cx_dbt_daily_kpis, cx_dbt_hourly
from orchestration.recovery import recover_dead_runs, report_pool_waits

# Every step writes DuckDB, so the duckdb_writer pool runs them one at a time anyway; one process
# per run saves re-importing dagster, dbt and dlt for every step (~10-20 s each on 2 cores).
# The pool still applies across runs: a second run's writer waits for this one's.
cx_hourly = dg.define_asset_job(
    name="cx_hourly",
    selection=dg.AssetSelection.groups("ingestion", "alerts")
    | dg.AssetSelection.assets(cx_dbt_hourly),
    partitions_def=HOURLY,
    description="Load what landed, rebuild the event-driven models for that batch and hour, "
    "then judge the alert rules for the hour.",
    executor_def=dg.in_process_executor,
)
cx_daily_kpis = dg.define_asset_job(
    name="cx_daily_kpis",
    selection=dg.AssetSelection.assets(cx_dbt_daily_kpis) | dg.AssetSelection.groups("publish"),
    partitions_def=DAILY,
    description="Recompute the KPI marts for the periods that changed and the partition's day, "
    "then publish the marts to the analysts' read-only copy.",
    executor_def=dg.in_process_executor,
)


def latest_complete_hour(now: dt.datetime) -> str:
    now = now.astimezone(dt.UTC)
    return (now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)).strftime(
        "%Y-%m-%d-%H:%M"
    )


def _run_requests(hour_key: str, run_key: str | None) -> list[dg.RunRequest]:
    return [
        dg.RunRequest(
            job_name="cx_hourly", partition_key=hour_key, run_key=run_key and f"{run_key}-hourly"
        ),
        dg.RunRequest(
            job_name="cx_daily_kpis",
            partition_key=hour_key[:10],
            run_key=run_key and f"{run_key}-daily",
        ),
    ]


def _hourly_schedule(name: str, job, cron_env: str, which: int, text: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=name,
        cron_schedule=cron(cron_env),
        job=job,
        execution_timezone="UTC",
        description=f"Every hour ({cron_env}, default '{CRONS[cron_env]}'): {text}",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return _run_requests(latest_complete_hour(context.scheduled_execution_time), None)[which]

    return _schedule


cx_hourly_schedule = _hourly_schedule(
    "cx_hourly_schedule", cx_hourly, "CX_HOURLY_CRON", 0,
    "load and model the latest complete hour.",
)  # fmt: skip
cx_daily_kpis_schedule = _hourly_schedule(
    "cx_daily_kpis_schedule", cx_daily_kpis, "CX_KPI_CRON", 1,
    "after the hourly run, the KPI marts of that hour's day.",
)  # fmt: skip


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
    jobs=[cx_hourly, cx_daily_kpis],
    minimum_interval_seconds=60,
    description="Starts the hourly and KPI runs as soon as new files land (newest file mtime).",
)
def cx_landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    newest = newest_landing_file(Settings.from_env().landing_dir)
    if newest is None or (context.cursor and float(context.cursor) >= newest[0]):
        return dg.SensorResult(skip_reason="no new landing files")
    hour = latest_complete_hour(dt.datetime.now(dt.UTC))
    return dg.SensorResult(
        run_requests=_run_requests(hour, run_key=f"landing-{newest[0]:.6f}"),
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
    jobs=[cx_hourly, cx_daily_kpis],
    schedules=[cx_hourly_schedule, cx_daily_kpis_schedule],
    sensors=[cx_landing_sensor, cx_recovery_sensor],
)
