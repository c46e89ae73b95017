"""Print what the last run left in the warehouse: raw rows, quarantine, sessions, the last run's
data-quality results, latest KPIs."""

from __future__ import annotations

import json
import sys

import duckdb

from alerts.notify import segment_line
from expectations.contracts import RAW_TABLES
from expectations.gx_runner import docs_index
from ingestion.settings import Settings

QUARANTINE_TABLES = ("events_quarantine", "tickets_quarantine", "surveys_quarantine")
KPIS = (
    ("sessions", "{:,.0f}"),
    ("active_users", "{:,.0f}"),
    ("conversion_rate_pct", "{:.2f}%"),
    ("p75_page_load_ms", "{:,.0f} ms"),
    ("nps", "{:+.1f}"),
    ("csat_pct", "{:.1f}%"),
    ("tickets_created", "{:,.0f}"),
    ("median_first_reply_minutes", "{:,.0f} min"),
)


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        table.split("."),
    ).fetchone()[0]
    return con.execute(f"select count(*) from {table}").fetchone()[0] if exists else 0


def _print_enrichment(con: duckdb.DuckDBPyConnection) -> None:
    if not _count(con, "marts.fct_events"):
        return
    try:
        bots, device, country = con.execute(
            "select count(*) filter (where is_bot), count(*) filter (where device_type = "
            "'unknown'), count(*) filter (where country = 'unknown') from marts.fct_events"
        ).fetchall()[0]
    except duckdb.BinderException:  # a warehouse built before enrichment (one full refresh)
        return
    print(f"  {'events from bots':<26} {bots:>10,} (in fct_events; not in sessions or KPIs)")
    print(f"  {'events: device unknown':<26} {device:>10,}   country unknown {country:,}")


def _print_quality(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    if not _count(con, "ops.dq_results"):
        return
    rows = con.execute(
        "select asset_key, check_name, passed, severity, message from ops.dq_results "
        "qualify row_number() over (partition by asset_key, check_name order by checked_at desc) = 1 "
        "order by passed, asset_key, check_name"
    ).fetchall()
    failed = [r for r in rows if not r[2]]
    passed = len(rows) - len(failed)
    print(
        f"\n  data quality (latest result of each check, ops.dq_results): {passed} of {len(rows)} passed"
    )
    for asset, check, _, severity, message in failed:
        print(f"    {severity:<5} {asset} {check}: {message}")
    print(f"    GX Data Docs: {docs_index(settings.gx_dir)}")


def _print_alerts(con: duckdb.DuckDBPyConnection) -> None:
    """The alerts, last: what the rules found in the hours judged, each with the segment that
    explains it, its escalation and resolution, and where to look further."""
    if not _count(con, "ops.alert_evaluations"):
        print("\n  alerts: no hour judged yet")
        return
    judged, hours, first, last = con.execute(
        "select count(*), count(distinct hour), min(hour), max(hour) from ops.alert_evaluations"
    ).fetchone()
    rows = con.execute(
        "select rule, severity, status, opened_hour, escalated_at, resolved_hour, opened_value, "
        "baseline, description, segments from ops.alerts order by opened_hour"
    ).fetchall()
    opened = sum(1 for r in rows if r[2] == "open")
    print(
        f"\n  alerts (ops.alerts, docs/alerts.md): {len(rows)} raised, {opened} open now; "
        f"{hours:,} hours judged ({first:%Y-%m-%d %H}:00 .. {last:%Y-%m-%d %H}:00 UTC, "
        f"{judged:,} rule judgements)"
    )
    for rule, severity, _status, opened_hour, escalated, resolved, value, base, text, seg in rows:
        explained = json.loads(seg) if seg else []
        top = explained[0] if explained else {}
        print(f"    {severity.upper():<8} {rule}: opened {opened_hour:%Y-%m-%d %H}:00 UTC — {text}")
        if top:
            print(f"             explained by {segment_line(top)}")
        if escalated is not None:
            print(f"             escalated to {severity} at {escalated:%Y-%m-%d %H:%M} UTC")
        print(
            "             "
            + (f"resolved {resolved:%Y-%m-%d %H}:00 UTC" if resolved else "still open")
            + (f"; value {value:,.2f} when opened, baseline {base:,.2f}" if base else "")
        )
    print(
        "    where to look: the dashboard's Alerts page (`make dashboard`, "
        "http://127.0.0.1:8501/alerts), the Dagster UI's ops/alerts asset (`make dev`), "
        "or `select * from ops.alerts` / ops.alert_evaluations"
    )


def _print_published(settings: Settings) -> None:
    if not settings.analytics_path.exists():
        print("\n  published copy: none yet (the KPI run publishes it)")
        return
    with duckdb.connect(str(settings.analytics_path), read_only=True) as pub:
        snapshot, at, tables = pub.execute(
            "select snapshot_id, published_at, tables from _published.snapshot"
        ).fetchone()
    print(
        f"\n  published for analysts (read-only; docs/analysts.md): {settings.analytics_path}\n"
        f"    snapshot {snapshot} ({at:%Y-%m-%d %H:%M} UTC, {len(json.loads(tables))} marts), "
        f"Parquet: {settings.published_dir / 'current'}"
    )


def main() -> int:
    settings = Settings.from_env()
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        print(f"\ncx-warehouse: {settings.duckdb_path}")
        for table in RAW_TABLES:
            print(f"  raw.{table:<22} {_count(con, 'raw.' + table):>10,} rows")
        quarantined = sum(_count(con, "raw." + t) for t in QUARANTINE_TABLES)
        print(
            f"  {'rows quarantined':<26} {quarantined:>10,} (see staging.stg_ingestion__quarantine)"
        )
        print(f"  {'sessions':<26} {_count(con, 'marts.fct_sessions'):>10,}")
        _print_enrichment(con)
        _print_quality(con, settings)
        row = con.execute("select * from marts.kpi_daily order by kpi_date desc limit 1").fetchdf()
        if row.empty:
            print("  no KPI rows yet")
            return 0
        latest = row.iloc[0]
        print(f"\n  headline KPIs for {latest['kpi_date']:%Y-%m-%d} (the latest complete day):")
        for column, fmt in KPIS:
            value = latest[column]
            shown = "n/a" if value is None or value != value else fmt.format(value)
            print(f"    {column:<28} {shown}")
        _print_published(settings)
        print(
            "\n  next: `make dashboard` (http://127.0.0.1:8501), `make dev` (the Dagster UI, "
            "http://127.0.0.1:3000); analysts: docs/analysts.md"
        )
        _print_alerts(con)
    finally:
        con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
