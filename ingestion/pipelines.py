"""dlt pipelines: one per feed, all loading into the `raw` schema of the warehouse DuckDB file."""

from __future__ import annotations

import dlt

from ingestion.settings import Settings

RAW_DATASET = "raw"
# Arrow tables skip dlt's row normalizer; ask it to stamp the load id on them anyway, so every raw
# row (dict or Arrow) can be traced to the load that brought it.
_CONFIG = {
    "normalize.parquet_normalizer.add_dlt_load_id": True,
    "normalize.workers": 1,
    "data_writer.file_max_items": 500_000,
}


def make_pipeline(name: str, settings: Settings) -> dlt.Pipeline:
    for key, value in _CONFIG.items():
        dlt.config[key] = value
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(settings.duckdb_path)),
        dataset_name=RAW_DATASET,
        pipelines_dir=str(settings.pipelines_dir),
        progress="log",
    )
