"""The main job (every asset, landing → raw → staging → marts) and its daily schedule."""

from __future__ import annotations

import dagster as dg

# Every step writes DuckDB, so the duckdb_writer pool runs them one at a time anyway; one process
# per run saves re-importing dagster, dbt and dlt for every step (~10-20 s each on 2 cores).
# The pool still applies across runs: a second run's writer waits for this one's.
cx_full_pipeline = dg.define_asset_job(
    name="cx_full_pipeline",
    selection=dg.AssetSelection.all(),
    description="Load new landing files and API records, then rebuild staging and marts.",
    executor_def=dg.in_process_executor,
)

daily_schedule = dg.ScheduleDefinition(
    name="cx_full_pipeline_daily",
    job=cx_full_pipeline,
    cron_schedule="15 2 * * *",
    execution_timezone="UTC",
    description="Every day at 02:15 UTC, after the previous day's files have landed.",
)

defs = dg.Definitions(jobs=[cx_full_pipeline], schedules=[daily_schedule])
