"""dlt pipelines: one per feed, all loading into the `raw` schema of the warehouse DuckDB file."""

from __future__ import annotations

import dlt
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from ingestion.settings import Settings

RAW_DATASET = "raw"
# Arrow tables skip dlt's row normalizer; ask it to stamp the load id on them anyway, so every raw
# row (dict or Arrow) can be traced to the load that brought it.
_CONFIG = {
    "normalize.parquet_normalizer.add_dlt_load_id": True,
    "normalize.workers": 1,
    # Event batches are parsed on two threads (the transformer is parallelized): while one
    # batch's Arrow tables are written to Parquet, DuckDB parses the next.
    "extract.workers": 2,
    # Load-package files are read once, by DuckDB on the same disk, then deleted: compressing
    # them costs more time (~0.9 s per million events) than it saves.
    "data_writer.compression": "none",
    "load.delete_completed_jobs": True,
    # One writer: parallel load jobs into one DuckDB table only contend for its lock.
    "load.workers": 1,
}


def make_pipeline(name: str, settings: Settings) -> dlt.Pipeline:
    for key, value in _CONFIG.items():
        dlt.config[key] = value
    credentials = DuckDbCredentials(
        str(settings.duckdb_path),
        global_config={
            "memory_limit": settings.duckdb_memory_limit,
            # Raw rows carry their file and line; their physical order does not matter, and
            # inserting without keeping it is ~40% faster on large loads.
            "preserve_insertion_order": False,
        },
    )
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(credentials),
        dataset_name=RAW_DATASET,
        pipelines_dir=str(settings.pipelines_dir),
        progress="log",
    )
