"""What every domain shares: the DuckDB writer pool and the warehouse settings resource."""

from __future__ import annotations

import dagster as dg

from ingestion.settings import Settings, partitions_start

# DuckDB allows one writing process: every asset that writes the warehouse runs in this pool,
# whose limit (1) is set in the instance's dagster.yaml (orchestration/dagster.yaml).
DUCKDB_POOL = "duckdb_writer"

# The assets of the pipeline are partitioned by UTC hour. A partition's run processes what has
# landed since the last run *and* rebuilds its own window (a backfill of a range rebuilds that
# range; the KPI marts, the days it touches): see docs/operations.md.
HOURLY = dg.HourlyPartitionsDefinition(start_date=partitions_start(), timezone="UTC")


class WarehouseResource(dg.ConfigurableResource):
    """Where the warehouse, landing folders and dlt state live, resolved at run time from the
    CX_* environment variables (see ingestion/settings.py and docs/operations.md)."""

    def settings(self) -> Settings:
        return Settings.from_env()


defs = dg.Definitions(resources={"warehouse": WarehouseResource()})
