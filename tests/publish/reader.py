"""An analyst's reader, run as its own process by the publish tests (tests/publish/readers.py).

    python tests/publish/reader.py poll|hold ANALYTICS_FILE PUBLISHED_DIR LOG STOP_FILE [INTERVAL]

`poll`: every INTERVAL seconds, a new read-only connection to the published DuckDB file and a
read of the current Parquet snapshot; `hold`: one connection kept open for the whole run, as a BI
tool would (in its own process: DuckDB shares one open database per file within a process, so a
held connection would make every later connect in that process see the old snapshot). Each read
checks that every day's KPIs equal that day's facts and appends what it saw (or the error) to a
JSON-lines LOG, until STOP_FILE exists.
"""

import json
import os
import sys
import time
from pathlib import Path

import duckdb

# Per day: the KPI row's value and the count of that day's fact rows (written independently of
# publish: a full outer join, so a day missing on either side is a mismatch).
DAILY = {
    "sessions": ("sessions", "fct_sessions", "session_start_at", "true"),
    "orders": ("orders", "fct_events", "event_at", "event_name = 'Order Completed'"),
    "tickets": ("tickets_created", "fct_tickets", "created_at", "true"),
}


def mismatches(con, prefix: str) -> dict:
    out = {}
    for name, (kpi, fact, at, where) in DAILY.items():
        rows = con.execute(
            f"""
            with facts as (
                select cast({at} as date) as d, count(*) as n from {prefix}{fact}
                where {where} group by 1
            ), kpis as (
                select kpi_date as d, {kpi} as n from {prefix}kpi_daily where coalesce({kpi}, 0) > 0
            )
            select coalesce(f.d, k.d), f.n, k.n from facts f full join kpis k on f.d = k.d
            where f.n is distinct from k.n
            """
        ).fetchall()
        if rows:
            out[name] = [[str(d), a, b] for d, a, b in rows[:5]]
    return out


def from_file(path: Path) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return from_connection(con)
    finally:
        con.close()


def from_parquet(published: Path) -> dict:
    folder = Path(os.path.realpath(published / "current"))  # resolve once: one snapshot
    con = duckdb.connect()
    try:
        for table in ("kpi_daily", "fct_sessions", "fct_events", "fct_tickets"):
            con.execute(f"create view {table} as select * from {parquet(folder, table)}")
        snapshot = json.loads((folder / "_snapshot.json").read_text())["snapshot_id"]
        return {"snapshot": snapshot, "bad": mismatches(con, "")}
    finally:
        con.close()


def parquet(snapshot: Path, table: str) -> str:
    """A mart of a Parquet snapshot: `<mart>.parquet`, or the facts' `<mart>/<day>.parquet`."""
    if (snapshot / table).is_dir():
        return f"read_parquet('{snapshot / table}/*.parquet')"
    return f"read_parquet('{snapshot / table}.parquet')"


def from_connection(con) -> dict:
    snapshot = con.execute("select snapshot_id from _published.snapshot").fetchone()[0]
    return {"snapshot": snapshot, "bad": mismatches(con, "marts.")}


def main() -> None:
    mode, analytics, published, log, stop = sys.argv[1], *(Path(a) for a in sys.argv[2:6])
    interval = float(sys.argv[6]) if len(sys.argv) > 6 else 1.0
    held = None  # "hold": one connection, opened on the first published file and kept
    with log.open("a") as out:
        while not stop.exists():
            reads = []
            if mode == "hold" and analytics.exists():
                held = held or duckdb.connect(str(analytics), read_only=True)
                reads.append(("held", lambda c=held: from_connection(c)))
            if mode == "poll" and analytics.exists():
                reads.append(("file", lambda: from_file(analytics)))
            if mode == "poll" and (published / "current").exists():
                reads.append(("parquet", lambda: from_parquet(published)))
            for kind, read in reads:
                try:
                    seen = read()
                except Exception as exc:  # every error is a finding: record it
                    seen = {"error": f"{type(exc).__name__}: {exc}"}
                out.write(json.dumps({"t": time.time(), "kind": kind, **seen}) + "\n")
                out.flush()
            time.sleep(interval)
    if held is not None:
        held.close()


if __name__ == "__main__":
    main()
