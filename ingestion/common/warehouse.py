"""Opening the warehouse file, with a clear error when another process holds it; and how the
checkpoint that closes a batch's connection treats deleted rows (prepare_closing_checkpoint).

DuckDB lets one process open a file for writing, and then no other process can open it at all.
An analyst's notebook or DuckDB CLI on the pipeline's file blocks every run; the error says which
file, which process, and what to do instead of DuckDB's bare "Could not set lock on file".
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)


class WarehouseLocked(RuntimeError):
    """Another process has the warehouse file open."""


def connect_warehouse(
    path: Path | str, read_only: bool = False, config: dict | None = None
) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only, config=config or {})
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise
        holder = re.search(r"held in (.+?) \(PID (\d+)\)", str(error))
        who = f"PID {holder.group(2)}, {holder.group(1)}" if holder else "another process"
        raise WarehouseLocked(
            f"the warehouse {path} is open in another process ({who}): close that connection "
            "and run again. Analysts, notebooks and BI tools read the published copy "
            "(CX_ANALYTICS_PATH, docs/analysts.md), never the pipeline's file."
        ) from None


def connect_warehouse_waiting(
    path: Path | str, wait_seconds: float, config: dict | None = None
) -> duckdb.DuckDBPyConnection:
    """connect_warehouse for a run's writer: while another process holds the file, wait (up to
    `wait_seconds`) instead of failing at once. The duckdb_writer pool serializes the runs'
    writers, but two runs launched in the same instant can both claim its one slot for their
    first step (seen under `dagster dev`), and a short read-only look at the file (a summary)
    should delay a scheduled run, not fail it. Past the wait, the same WarehouseLocked error."""
    deadline = time.monotonic() + wait_seconds
    pause = 0.25
    while True:
        try:
            return connect_warehouse(path, config=config)
        except WarehouseLocked as held:
            if time.monotonic() + pause > deadline:
                raise
            if pause == 0.25:
                log.warning("waiting up to %.0f s for the warehouse: %s", wait_seconds, held)
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


@dataclass
class Release:
    """How a warehouse connection is closed: whether its checkpoint vacuums, why (the table
    holding the most deleted rows, and their share of its stored rows), and its seconds."""

    vacuumed: bool
    most_deleted: str | None = None
    deleted_share: float = 0.0
    seconds: float = 0.0  # set once the connection is closed

    def __str__(self) -> str:
        vacuum = "with vacuum" if self.vacuumed else "without vacuum"
        held = "no deleted rows"
        if self.most_deleted:
            held = f"most deleted rows: {self.most_deleted}, {self.deleted_share:.0%}"
        return f"{self.seconds:.1f} s to checkpoint, {vacuum} ({held})"


# DuckDB stores a table in row groups of 122,880 rows; a delete only marks rows. The checkpoint
# that closes a database "vacuums" the tables it writes: it merges row groups whose live rows fit
# in fewer, rewriting them. A batch deletes and re-inserts the recent rows of the persons it
# rebuilds, so every checkpoint found row groups to merge: on the 1-day benchmark warehouse the
# closing checkpoint took 3.0 s with vacuum and 1.0 s without (the same write-ahead log replayed
# twice), and over seven batches 0.5-3.8 s (median 1.2) against 0.3-0.9 s (median 0.5), with the
# same rows stored at the end (the next batch's appends rewrite the last row groups, dropping
# the deleted rows in them). So the close vacuums only when a table holds more deleted rows than
# CX_DUCKDB_VACUUM_AT of its rows and at least a row group's worth: what the tail does not
# reclaim (rows deleted from older row groups) is bounded by that share.
ROW_GROUP_ROWS = 122_880


def _deleted_rows(con: duckdb.DuckDBPyConnection) -> tuple[str | None, int, float]:
    """The table of con's database with the most deleted rows still stored, their number and
    share (duckdb_tables().estimated_size counts the stored rows, deleted ones included).
    Tables with no live row left are not counted: every checkpoint drops row groups that hold
    no live row, vacuum or not (the batch's bookkeeping tables, emptied at its end: at 30 days
    of history `int_batch__kpi_rows_before` alone made every close vacuum, 0.9-3.9 s)."""
    worst: tuple[str | None, int, float] = (None, 0, 0.0)
    for schema, table, stored in con.execute(
        "select schema_name, table_name, estimated_size from duckdb_tables() "
        "where database_name = current_database() and not temporary and estimated_size > 0"
    ).fetchall():
        live = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
        if live and stored - live > worst[1]:
            worst = (f"{schema}.{table}", stored - live, (stored - live) / stored)
    return worst


def prepare_closing_checkpoint(con: duckdb.DuckDBPyConnection, vacuum_at: float) -> Release:
    """Let the checkpoint that closing con makes vacuum only when a table's deleted rows are past
    `vacuum_at` of its rows and a row group's worth (vacuum_at 0: always): else turn it off."""
    table, deleted, share = _deleted_rows(con)
    vacuum = vacuum_at <= 0 or (share > vacuum_at and deleted >= ROW_GROUP_ROWS)
    if not vacuum:
        con.execute("set max_vacuum_tasks = 0")
    return Release(vacuum, table, share)
