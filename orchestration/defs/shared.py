"""What every domain shares: the DuckDB writer pool and the warehouse settings resource."""

from __future__ import annotations

import dagster as dg

from ingestion.settings import Settings

# DuckDB allows one writing process: every asset that writes the warehouse runs in this pool,
# whose limit (1) is set in the instance's dagster.yaml (orchestration/dagster.yaml).
DUCKDB_POOL = "duckdb_writer"


class WarehouseResource(dg.ConfigurableResource):
    """Where the warehouse, landing folders and dlt state live, resolved at run time from the
    CX_* environment variables (see ingestion/settings.py and docs/operations.md)."""

    def settings(self) -> Settings:
        return Settings.from_env()


defs = dg.Definitions(resources={"warehouse": WarehouseResource()})
