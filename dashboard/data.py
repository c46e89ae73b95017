"""What the dashboard reads: the published copy (CX_ANALYTICS_PATH), never the pipeline's file.

The publisher swaps a new file in with a rename (publish/publisher.py), so a
connection opened on the old file keeps reading the old snapshot whole. Each page render opens
(or re-uses) a read-only connection to the file the path names *now*, and every query of that
render goes through it: one render shows one snapshot, never half of two. Query results are
cached per snapshot id, so a new snapshot is read fresh and an unchanged one costs nothing.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from ingestion.settings import Settings


class NotPublished(RuntimeError):
    """No published copy yet (the KPI run publishes it)."""


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    published_at: dt.datetime
    path: Path
    cursor: duckdb.DuckDBPyConnection

    def query(self, sql: str, params: tuple = ()) -> pd.DataFrame:
        """The query's rows on this snapshot (cached for the snapshot)."""
        return _cached(self.snapshot_id, sql, tuple(params), _snap=self)


def analytics_path() -> Path:
    return Settings.from_env().analytics_path


@st.cache_resource(max_entries=2, show_spinner=False)
def _connection(path: str, inode: int, changed_ns: int) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the file with this inode (a new file after a publish: a new
    connection; the old one stays cached until evicted, for renders still on it). The file is
    attached to a fresh in-memory database rather than opened with connect(path): DuckDB
    hands every connect() of a path in one process the database already open there, which
    would keep this process on the old snapshot for as long as any connection to it lives."""
    con = duckdb.connect()
    con.execute(f"attach '{path}' as published (read_only)")
    return con


def current() -> Snapshot:
    """The snapshot published now."""
    path = analytics_path()
    try:
        stat = os.stat(path)
    except FileNotFoundError as missing:
        raise NotPublished(
            f"no published copy at {path}: run `make run` (or the cx_hourly job), which "
            "publishes the marts; CX_ANALYTICS_PATH names another file"
        ) from missing
    cursor = _connection(str(path), stat.st_ino, stat.st_ctime_ns).cursor()
    cursor.execute("use published")  # per connection: queries name marts.x, _published.x
    snapshot_id, published_at = cursor.execute(
        "select snapshot_id, published_at from _published.snapshot"
    ).fetchone()
    return Snapshot(snapshot_id, published_at, path, cursor)


@st.cache_data(max_entries=256, show_spinner=False)
def _cached(snapshot_id: str, sql: str, params: tuple, _snap: Snapshot) -> pd.DataFrame:
    return _snap.cursor.execute(sql, list(params)).df()
