"""What every domain shares: the DuckDB writer pool and the warehouse settings resource."""

from __future__ import annotations

import dagster as dg

from ingestion.settings import Settings, partitions_start

# DuckDB allows one writing process: every asset that writes the warehouse runs in this pool,
# whose limit (1) is set in the instance's dagster.yaml (orchestration/dagster.yaml).
DUCKDB_POOL = "duckdb_writer"

# Event-driven assets are partitioned by UTC hour, the KPI marts by UTC day. A partition's run
# processes what has landed since the last run *and* rebuilds its own window (a backfill of a
# range rebuilds that range): see docs/operations.md.
HOURLY = dg.HourlyPartitionsDefinition(start_date=partitions_start(), timezone="UTC")
# end_offset=1: today is a partition already, so its KPIs are refreshed every hour, not tomorrow.
DAILY = dg.DailyPartitionsDefinition(
    start_date=partitions_start()[:10], timezone="UTC", end_offset=1
)


class WarehouseResource(dg.ConfigurableResource):
    """Where the warehouse, landing folders and dlt state live, resolved at run time from the
    CX_* environment variables (see ingestion/settings.py and docs/operations.md)."""

    def settings(self) -> Settings:
        return Settings.from_env()


defs = dg.Definitions(resources={"warehouse": WarehouseResource()})
