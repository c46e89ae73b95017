"""Retention in Dagster: `ops/retention` purges person-level rows older than CX_RETENTION_DAYS
(privacy/retention.py) every day, in the cx_retention job. Erasure requests run
from the shell: `python -m orchestration.privacy erase …` (docs/privacy.md)."""

import dagster as dg

from ingestion.settings import CRONS, cron
from orchestration.defs.shared import DUCKDB_POOL, WarehouseResource
from privacy import retention


@dg.asset(
    key=["ops", "retention"],
    group_name="privacy",
    pool=DUCKDB_POOL,
    description="Person-level rows (raw, staging, intermediate, fact marts) older than "
    "CX_RETENTION_DAYS purged; KPI marts keep their aggregates. Each purge is in "
    "ops.retention_runs.",
)
def cx_retention(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    days = retention.retention_days()
    summary = retention.purge(warehouse.settings(), days)
    deleted = summary["rows_deleted"]
    context.log.info(
        "retention %d days: cutoff %s, %d rows purged from %d tables",
        days, summary["cutoff"].isoformat(), sum(deleted.values()), len(deleted),
    )  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "retention_days": days,
            "cutoff": summary["cutoff"].isoformat(),
            "rows_purged": sum(deleted.values()),
            "by_table": dg.MetadataValue.json(deleted),
        }
    )


cx_retention_job = dg.define_asset_job(
    name="cx_retention",
    selection=dg.AssetSelection.assets(cx_retention),
    description="Purge person-level rows older than CX_RETENTION_DAYS.",
)
cx_retention_schedule = dg.ScheduleDefinition(
    name="cx_retention_schedule",
    job=cx_retention_job,
    cron_schedule=cron("CX_RETENTION_CRON"),
    execution_timezone="UTC",
    description=f"Daily (CX_RETENTION_CRON, default '{CRONS['CX_RETENTION_CRON']}'): the "
    "retention purge.",
)

defs = dg.Definitions(
    assets=[cx_retention], jobs=[cx_retention_job], schedules=[cx_retention_schedule]
)
