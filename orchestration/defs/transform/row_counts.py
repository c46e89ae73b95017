"""Row counts for the tables a dbt build materialized, read with one short-lived read-only
DuckDB connection after dbt has exited.

dagster-dbt's own `fetch_row_counts()` opens the warehouse through the dbt adapter inside the
step process and keeps the handle cached, which blocks any later reader of the file in that
process; counting here closes the file before anything else runs.

The manifest is the one the invocation ran with (held in memory by dagster-dbt), not
target/manifest.json read again: `dagster dev` re-parses the project into that file on every
code reload, and a reader beside it could read half a file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

COUNTED = {"table", "incremental"}  # views would have to be run to be counted


def _unique_id(event) -> str | None:
    value = (getattr(event, "metadata", None) or {}).get("unique_id")
    return getattr(value, "value", value)


def with_row_counts(events: Iterable, manifest: Mapping[str, Any], duckdb_path: Path) -> Iterator:
    events = list(events)
    nodes = manifest["nodes"]
    relations = {}
    for event in events:
        node = nodes.get(_unique_id(event) or "")
        if isinstance(event, dg.Output) and node and node["config"]["materialized"] in COUNTED:
            relations[node["unique_id"]] = f'"{node["schema"]}"."{node["alias"]}"'
    counts = {}
    if relations:
        con = duckdb.connect(str(duckdb_path), read_only=True)
        try:
            for unique_id, relation in relations.items():
                counts[unique_id] = con.execute(f"select count(*) from {relation}").fetchone()[0]
        finally:
            con.close()
    for event in events:
        unique_id = _unique_id(event)
        if isinstance(event, dg.Output) and unique_id in counts:
            event = event.with_metadata({**event.metadata, "dagster/row_count": counts[unique_id]})
        yield event
