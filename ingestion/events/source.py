"""Segment-spec product events: gzipped NDJSON files in <landing>/events/, loaded to raw.events.

Events are appended as delivered (duplicates included: deduplication on message_id happens in dbt,
across all history). Lines that cannot be loaded go to raw.events_quarantine with file, line and
reason; raw.events_ledger has one row per file read, so every run reconciles
lines read = events loaded + lines quarantined.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import dlt
import pyarrow as pa
from dlt.sources.filesystem import FileItemDict

from ingestion.common.landing import file_label, landing_files, modified_at
from ingestion.common.records import side_table
from ingestion.events.reader import EventBatchReader, LandingFile
from ingestion.settings import pii_hash_key

FEED = "events"


@functools.lru_cache(maxsize=1)
def _reader(hash_key: bytes, memory_limit: str, threads: int) -> EventBatchReader:
    """One in-memory DuckDB reader per process and settings (opening one costs ~25 ms, once per
    batch of files otherwise); it holds no file, only its memory limit."""
    return EventBatchReader(hash_key, memory_limit=memory_limit, threads=threads)


@dlt.transformer(
    name="events",
    write_disposition="append",
    primary_key="message_id",
    max_table_nesting=0,
    parallelized=True,
)
def read_events(
    items: list[FileItemDict], memory_limit: str = "2GB", threads: int = 2
) -> Iterator[pa.Table]:
    """Parse one batch of landing files into events, quarantine rows and ledger rows."""
    reader = _reader(pii_hash_key(), memory_limit, threads)
    files = [
        LandingFile(
            name=file_label(item),
            content=item.read_bytes(),
            modified_at=modified_at(item),
            size_bytes=item.get("size_in_bytes", 0),
        )
        for item in items
    ]
    batch = reader.read(files)
    if batch.events.num_rows:
        yield batch.events
    if batch.quarantine.num_rows:
        yield side_table(batch.quarantine, FEED, "quarantine")
    yield side_table(pa.Table.from_pylist(batch.ledger), FEED, "ledger")


@dlt.source(name="segment_events", max_table_nesting=0)
def events_source(
    landing_dir: str | Path, files_per_batch: int = 96, memory_limit: str = "2GB"
) -> dlt.sources.DltResource:
    """New event files under `landing_dir`/events, read `files_per_batch` at a time."""
    files = landing_files(Path(landing_dir) / FEED, "**/*.jsonl.gz", files_per_batch)
    return (files | read_events(memory_limit=memory_limit)).with_name("events")
