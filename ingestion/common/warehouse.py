"""Opening the warehouse file, with a clear error when another process holds it.

DuckDB lets one process open a file for writing, and then no other process can open it at all.
An analyst's notebook or DuckDB CLI on the pipeline's file blocks every run; the error says which
file, which process, and what to do instead of DuckDB's bare "Could not set lock on file".
"""

from __future__ import annotations

import logging
import re
import time
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
