"""The batch a raw check looks at: the completed dlt loads dbt has not processed yet, the loads
the next dbt run consumes. dbt defines them (dbt_project/macros/batch/batch.sql, batch_loads)
and keeps them as the view intermediate.int_batch__unprocessed_loads, which this reads; before
the first dbt run there is no view, and every completed load is unprocessed."""

from __future__ import annotations

import duckdb

from expectations.contracts import table_columns

BATCH_TABLE = "dq_batch_loads"


UNPROCESSED = "intermediate.int_batch__unprocessed_loads"


def stage_batch(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Temp table of the completed loads dbt has not processed yet; their ids."""
    source = UNPROCESSED if table_columns(con, UNPROCESSED) else "raw._dlt_loads where status = 0"
    con.execute(f"create or replace temp table {BATCH_TABLE} as select load_id from {source}")
    return [
        row[0] for row in con.execute(f"select load_id from {BATCH_TABLE} order by 1").fetchall()
    ]


# A raw row belongs to the batch when the load that last wrote it does.
IN_BATCH = f"_dlt_load_id in (select load_id from {BATCH_TABLE})"


def delivered(con, table: str) -> bool:
    """Whether a raw table exists: dlt creates it with the feed's first record, so a feed that
    has delivered nothing yet (a new warehouse's first batch) has none."""
    return bool(table_columns(con, table))
