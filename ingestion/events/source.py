"""Segment-spec product events: gzipped NDJSON files in <landing>/events/, loaded to raw.events.

Events are appended as delivered (duplicates included: deduplication on message_id happens in dbt,
across all history). Lines that cannot be loaded go to raw.events_quarantine with file, line and
reason; raw.events_ledger has one row per file read, so every run reconciles
lines read = events loaded + lines quarantined.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources.filesystem import FileItemDict

from ingestion.common.landing import file_label, landing_files, modified_at
from ingestion.common.records import not_null, side_table
from ingestion.common.suppression import Suppression
from ingestion.events.layouts import classify
from ingestion.events.reader import EventBatchReader, LandingFile
from ingestion.settings import pii_hash_key

FEED = "events"


_READER_LOCK = threading.Lock()


def _reader(hash_key: bytes, memory_limit: str, threads: int, enrich: bool) -> EventBatchReader:
    """One in-memory DuckDB reader per process and settings (opening one costs ~25 ms, once per
    batch of files otherwise); it holds no file, only its memory limit. Locked: the first two
    batches ask for it at once, from dlt's extract threads."""
    with _READER_LOCK:
        return _cached_reader(hash_key, memory_limit, threads, enrich)


@functools.lru_cache(maxsize=1)
def _cached_reader(
    hash_key: bytes, memory_limit: str, threads: int, enrich: bool
) -> EventBatchReader:
    return EventBatchReader(hash_key, memory_limit=memory_limit, threads=threads, enrich=enrich)


def read_events(
    items: list[FileItemDict],
    memory_limit: str = "2GB",
    threads: int = 2,
    suppression: Suppression | None = None,
    enrich: bool = True,
) -> Iterator[pa.Table]:
    """Parse one batch of landing files into events, quarantine rows and ledger rows."""
    reader = _reader(pii_hash_key(), memory_limit, threads, enrich)
    files = []
    for item in items:
        layout = classify(item["relative_path"])
        if layout.in_progress:
            continue  # a hidden temporary file: it appears under its final name when complete
        content, changed = b"", None
        if not layout.ignored_reason:
            content, changed = _read_as_listed(item)
        files.append(
            LandingFile(
                name=file_label(item),
                content=content,
                modified_at=modified_at(item),
                size_bytes=item.get("size_in_bytes", 0),
                layout=layout.name,
                source_id=layout.source_id,
                ignored_reason=layout.ignored_reason or changed,
                quarantine_reason="file_changed_while_read" if changed else "unrecognized_file",
            )
        )
    if not files:
        return
    batch = reader.read(files)
    events = batch.events
    if suppression and events.num_rows:
        events = _suppress(events, batch.ledger, suppression)
    if events.num_rows:
        yield not_null(events, ["message_id"])  # the primary key: quarantined when missing
    if batch.quarantine.num_rows:
        yield side_table(batch.quarantine, FEED, "quarantine")
    ledger = pa.Table.from_pylist(batch.ledger)
    if pa.types.is_null(ledger.schema.field("source_id").type):  # no layout named a source
        ledger = ledger.set_column(
            ledger.schema.get_field_index("source_id"), "source_id",
            pa.nulls(ledger.num_rows, pa.string()),
        )  # fmt: skip
    yield side_table(ledger, FEED, "ledger")


def _read_as_listed(item: FileItemDict) -> tuple[bytes, str | None]:
    """The file's bytes, or no bytes and why they are not the file as listed.

    A file that a writer truncates, rewrites or appends to after the listing (a copy still in
    progress, a storage sync re-uploading it) is not parsed: its torn bytes would load half a
    file and quarantine a torn line. It becomes one quarantined item and is read whole by the
    next run, because its new modification time is later than every time this run listed (the
    cursor). A file removed after the listing is one quarantined item too, not a failed run."""
    path = Path(item.local_file_path)
    listed_size, listed_at = item.get("size_in_bytes"), modified_at(item)
    try:
        content = item.read_bytes()
        stat = path.stat()
    except FileNotFoundError:
        return b"", f"removed after it was listed ({listed_size} bytes, modified {listed_at})"
    same_time = abs(stat.st_mtime - listed_at.timestamp()) < 1e-5  # listed to the microsecond
    if len(content) == listed_size == stat.st_size and same_time:
        return content, None
    now_at = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)
    return b"", (
        f"changed while read: listed {listed_size} bytes modified {listed_at}, read "
        f"{len(content)} bytes, now {stat.st_size} bytes modified {now_at}; the next run reads "
        "it whole"
    )


def enrichment_profile(con, load_ids: list[str]) -> dict:
    """What enrichment found in these loads' events: bots, unknowns, where countries came from."""
    ids = ", ".join(f"'{i}'" for i in load_ids) or "''"
    bots, unknown_device, unknown_country = con.execute(
        "select count(*) filter (where is_bot), count(*) filter (where device_class = 'unknown'), "
        f"count(*) filter (where country = 'unknown') from raw.events where _dlt_load_id in ({ids})"
    ).fetchall()[0]
    sources = dict(
        con.execute(
            "select country_source, count(*) from raw.events "
            f"where _dlt_load_id in ({ids}) group by 1 order by 1"
        ).fetchall()
    )
    return {"bot_events": bots or 0, "unknown_device_events": unknown_device or 0,
            "unknown_country_events": unknown_country or 0, "country_sources": sources}  # fmt: skip


def empty_events() -> pa.Table:
    """raw.events' columns with no rows, as the reader types them (dlt adds `_dlt_load_id`)."""
    events = EventBatchReader(b"-").read([]).events
    return events.append_column("_dlt_load_id", pa.array([], pa.string()))


def _suppress(events: pa.Table, ledger: list[dict], suppression: Suppression) -> pa.Table:
    """The events minus those of erased people; each file's ledger row counts them."""
    mask = suppression.event_mask(events)
    if not pc.any(mask).as_py():
        return events
    per_file = Counter(pc.filter(events["source_file"], mask).to_pylist())
    for row in ledger:
        dropped = per_file.get(row["file"], 0)
        row["items_suppressed"] += dropped
        row["items_loaded"] -= dropped
    return events.filter(pc.invert(mask))


@dlt.source(name="segment_events", max_table_nesting=0)
def events_source(
    landing_dir: str | Path,
    files_per_batch: int = 96,
    memory_limit: str = "2GB",
    suppression: Suppression | None = None,
    enrich: bool = True,
) -> dlt.sources.DltResource:
    """New files under `landing_dir`/events, read `files_per_batch` at a time, in any layout
    of ingestion/events/layouts.py (other files: quarantined as unrecognized); events of
    the people on the erasure `suppression` list are dropped (and counted in the ledger).
    `enrich=False` loads without device / country enrichment: only to measure what it costs."""
    files = landing_files(Path(landing_dir) / FEED, "**/*", files_per_batch)

    # Two batches are parsed at once (dlt's extract workers) while the main thread writes the
    # previous batch's Parquet. The settings are bound here, in a closure: calling a
    # parallelized transformer to bind them (`transformer(memory_limit=...)`) makes dlt 1.31
    # wrap the bare function again, and every batch then runs in the main thread.
    @dlt.transformer(
        name="events",
        write_disposition="append",
        primary_key="message_id",
        max_table_nesting=0,
        parallelized=True,
    )
    def events(items: list[FileItemDict]) -> Iterator[pa.Table]:
        yield from read_events(
            items, memory_limit=memory_limit, suppression=suppression, enrich=enrich
        )

    return files | events
