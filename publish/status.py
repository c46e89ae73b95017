"""The pipeline's state, published beside the marts for the dashboard's Alerts and Data status
pages: readers never open the warehouse file, so what they need of `ops` and `raw` comes over as
small tables in the `status` schema of each snapshot. Counts and results only: no raw text of a
quarantined line, no person id (those stay in the warehouse: docs/privacy.md).

- status.alerts         every alert (ops.alerts) with its explanation, newest first
- status.dq_results     the latest result of each data-quality check (ops.dq_results)
- status.feeds          per feed: rows, newest record time, last load, ledger totals
- status.quarantine     per feed and reason: rows quarantined, first and last time
"""

from __future__ import annotations

import duckdb

from expectations.contracts import FEEDS

SCHEMA = "status"


def _exists(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> bool:
    return con.execute(
        "select count(*) > 0 from information_schema.tables where table_catalog = ? "
        "and table_schema = ? and table_name = ?", [catalog, schema, table],
    ).fetchone()[0]  # fmt: skip


def copy_status(con: duckdb.DuckDBPyConnection, wh: str = "wh") -> dict[str, int]:
    """Write the status tables into the connection's database from the warehouse attached as
    `wh`; their row counts. A table whose source does not exist yet is written empty."""
    con.execute(f"create schema if not exists {SCHEMA}")
    alerts = (
        f"select * exclude (clean_hours) from {wh}.ops.alerts"
        if _exists(con, wh, "ops", "alerts")
        else "select null::varchar as alert_id, null::varchar as rule, null::varchar as metric, "
        "null::varchar as description, null::varchar as status, null::varchar as severity, "
        "null::timestamp as opened_hour, null::timestamp as opened_at, "
        "null::timestamp as escalated_at, null::timestamp as resolved_hour, "
        "null::timestamp as resolved_at, null::timestamp as last_hour, null::double as value, "
        "null::double as baseline, null::double as score, null::double as opened_value, "
        "null::varchar as segments limit 0"
    )
    con.execute(f"create or replace table {SCHEMA}.alerts as {alerts} order by opened_hour desc")
    results = (
        f"select asset_key, check_name, passed, severity, message, partition, checked_at "
        f"from {wh}.ops.dq_results qualify row_number() over "
        "(partition by asset_key, check_name order by checked_at desc) = 1"
        if _exists(con, wh, "ops", "dq_results")
        else "select null::varchar as asset_key, null::varchar as check_name, "
        "null::boolean as passed, null::varchar as severity, null::varchar as message, "
        "null::varchar as partition, null::timestamptz as checked_at limit 0"
    )
    con.execute(f"create or replace table {SCHEMA}.dq_results as {results} order by 3, 1, 2")
    feeds, quarantine = [], []
    for table, (prefix, column) in FEEDS.items():
        rows = (
            f"select count(*), max({column}), "
            "to_timestamp(max(cast(_dlt_load_id as double))) "
            f"from {wh}.raw.{table}"
            if _exists(con, wh, "raw", table)
            else "select 0, null::timestamptz, null::timestamptz"
        )
        ledger = (
            "select coalesce(sum(items_read), 0), coalesce(sum(items_loaded), 0), "
            "coalesce(sum(items_quarantined), 0), coalesce(sum(items_suppressed), 0), "
            f"count(distinct file) from {wh}.raw.{prefix}_ledger"
            if _exists(con, wh, "raw", f"{prefix}_ledger")
            else "select 0, 0, 0, 0, 0"
        )
        feeds.append(
            f"select '{table}' as feed, '{column}' as newest_column, r.* , l.* "
            f"from ({rows}) as r(rows, newest_at, last_loaded_at), "
            f"({ledger}) as l(items_read, items_loaded, items_quarantined, items_suppressed, files)"
        )
        if _exists(con, wh, "raw", f"{prefix}_quarantine"):
            quarantine.append(
                f"select '{table}' as feed, reason, count(*) as rows, min(quarantined_at) as "
                f"first_at, max(quarantined_at) as last_at from {wh}.raw.{prefix}_quarantine "
                "group by reason"
            )
    con.execute(f"create or replace table {SCHEMA}.feeds as {' union all '.join(feeds)}")
    con.execute(
        f"create or replace table {SCHEMA}.quarantine as "
        + (
            " union all ".join(quarantine)
            if quarantine
            else "select null::varchar as feed, null::varchar as reason, 0::bigint as rows, "
            "null::timestamptz as first_at, null::timestamptz as last_at limit 0"
        )
    )
    return {
        name: con.execute(f"select count(*) from {SCHEMA}.{name}").fetchone()[0]
        for name in ("alerts", "dq_results", "feeds", "quarantine")
    }
