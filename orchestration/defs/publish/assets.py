"""The published warehouse: after the KPI marts of a run are built, `analytics/published` copies
every mart into the read-only file analysts query (and Parquet), swapped atomically
(publish/publisher.py, docs/analysts.md)."""

import dagster as dg

from orchestration.defs.shared import DUCKDB_POOL, HOURLY, WarehouseResource
from publish import publisher

# Every mart the dbt project builds: the publish step runs after all of them.
PUBLISHED_MARTS = (
    "dim_users", "fct_events", "fct_page_views", "fct_sessions", "fct_feedback_experience",
    "fct_survey_responses", "fct_tickets", "kpi_daily", "kpi_daily_by_segment",
    "kpi_funnel_daily", "kpi_hourly", "kpi_hourly_by_segment", "kpi_retention_weekly",
    "kpi_sentiment_by_experience", "kpi_support_daily",
)  # fmt: skip


@dg.asset(
    key=["analytics", "published"],
    group_name="publish",
    partitions_def=HOURLY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,  # it reads the warehouse file, which a writer would hold exclusively
    # after the alert rules too: the snapshot's status schema shows the dashboard the alerts
    deps=[
        *(dg.AssetKey(["marts", mart]) for mart in PUBLISHED_MARTS),
        dg.AssetKey(["ops", "alerts"]),
    ],
    description="The marts copied to the read-only analytics file (CX_ANALYTICS_PATH) and to "
    "Parquet (CX_PUBLISHED_DIR/current), swapped atomically once their KPI totals match "
    "their facts.",
)
def cx_published(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    settings = warehouse.settings()
    snap = publisher.publish(
        settings.duckdb_path, settings.analytics_path, settings.published_dir, context.run.run_id,
        memory_limit=settings.duckdb_memory_limit,
    )  # fmt: skip
    context.log.info(
        "published snapshot %s: %d marts, %d rows in %.1f s -> %s",
        snap.snapshot_id, len(snap.tables), sum(snap.tables.values()), snap.seconds, snap.path,
    )  # fmt: skip
    rows = "\n".join(f"| {name} | {count:,} |" for name, count in snap.tables.items())
    modes = "\n".join(f"| {name} | {mode} |" for name, mode in snap.modes.items())
    checks = "\n".join(f"| {name} | {a:,} | {b:,} |" for name, (a, b) in snap.checks.items())
    return dg.MaterializeResult(
        metadata={
            "snapshot_id": snap.snapshot_id,
            "analytics_file": dg.MetadataValue.path(str(snap.path)),
            "parquet_dir": dg.MetadataValue.path(str(settings.published_dir / "current")),
            "marts": len(snap.tables),
            "rows": sum(snap.tables.values()),
            "tables": dg.MetadataValue.md("| mart | rows |\n|---|---:|\n" + rows),
            # How each mart came over: "full" (copied whole) or "N persons" (only the persons
            # dbt rebuilt since the snapshot the file started from - the previous one, or the
            # one before it when base_file is "spare": publisher.PERSON_MARTS).
            "copied": dg.MetadataValue.md("| mart | copied |\n|---|---|\n" + modes),
            "consistency": dg.MetadataValue.md(
                "| check | KPI total | fact total |\n|---|---:|---:|\n" + checks
            ),
            # What the new file started from: "spare" (the snapshot before the previous one,
            # patched in place), "copy" (of the previous one, patched) or "new".
            "base_file": snap.base,
            "snapshots_removed": snap.removed,
            "status_tables": dg.MetadataValue.json(snap.status),
            "seconds": round(snap.seconds, 2),
            "seconds_by_step": dg.MetadataValue.json(snap.steps),
        }
    )


defs = dg.Definitions(assets=[cx_published])
