"""Asset keys for dlt resources: raw/<table>, grouped as `ingestion`."""

from __future__ import annotations

import dagster as dg
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData


class RawTableTranslator(DagsterDltTranslator):
    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(
            key=dg.AssetKey(["raw", data.resource.table_name or data.resource.name]),
            group_name="ingestion",
            deps=[],
        ).merge_attributes(kinds={"duckdb"}, tags={"layer": "raw"})
