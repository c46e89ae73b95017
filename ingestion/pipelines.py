"""dlt pipelines: one per feed, all loading into the `raw` schema of the warehouse DuckDB file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dlt
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from ingestion.common.warehouse import connect_warehouse_waiting
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
# How the warehouse connection of a feed run writes the raw tables.
# How long a feed waits for another process to let go of the warehouse before failing.
WRITER_WAIT_SECONDS = 120
RAW_STORAGE = {
    # Raw rows carry their file and line; their physical order does not matter, and inserting
    # without keeping it is ~40% faster on large loads.
    "preserve_insertion_order": False,
    # Raw text columns (event context and properties JSON, ticket and survey records) are long:
    # ZSTD stores them in ~20% less space than DuckDB's default string compression (dictionary +
    # FSST), whose analysis was most of the load step's CPU (1M events: 4.4 -> 3.1 CPU-s, 2.6 ->
    # 1.9 s). Scans read them as fast. Only this connection's writes use it: dbt's and the
    # publisher's keep DuckDB's default.
    "force_compression": "zstd",
}


@contextlib.contextmanager
def feed_pipeline(name: str, settings: Settings) -> Iterator[dlt.Pipeline]:
    """The feed's dlt pipeline, holding one connection to the warehouse file for the whole run.

    Given a path, dlt opens and closes the file seven times in one run (state, schema, each load
    job, completion), each close a checkpoint: ~0.3 s a run. Given an open connection it uses
    cursors of it; the connection is closed when the block ends.
    """
    for key, value in _CONFIG.items():
        dlt.config[key] = value
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    con = connect_warehouse_waiting(
        settings.duckdb_path, WRITER_WAIT_SECONDS,
        config={"memory_limit": settings.duckdb_memory_limit, **RAW_STORAGE},
    )  # fmt: skip
    try:
        yield dlt.pipeline(
            pipeline_name=name,
            destination=dlt.destinations.duckdb(DuckDbCredentials(con)),
            dataset_name=RAW_DATASET,
            pipelines_dir=str(settings.pipelines_dir),
            progress="log",
        )
    finally:
        con.close()
