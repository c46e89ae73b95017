"""Publishing the marts for analysts: a read-only DuckDB file and Parquet, each swapped atomically.

The pipeline writes `warehouse.duckdb`; analysts never open it (DuckDB allows one writing process
and then no reader at all). After each successful run the marts (only the `marts` schema: not raw,
staging or ops) are copied into a new file beside it, checked, and renamed over
`analytics.duckdb` (`os.replace`: atomic on one filesystem). A reader that opened the old file
keeps reading the old snapshot; the next connection opens the new one. Nobody ever sees a file
half written, and no reader lock can stop the pipeline, because the pipeline never writes a file
a reader has open.

The same snapshot is written as Parquet under `published/snapshots/<id>/<mart>.parquet`, and the
symlink `published/current` is swapped to it (a new link renamed over the old one). Resolve
`current` once (`os.path.realpath`) and read every table of a query from that folder: a query
that reads two tables through `current` itself could straddle a swap. The last `KEEP` snapshots
are kept for readers still on an older one.

Before the swap the snapshot must be consistent: the KPI marts' totals equal their fact tables'
(CONSISTENCY below). If not, nothing is published, the previous snapshot stays, and the run fails.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

KEEP = 3
SCHEMA = "marts"
META_TABLE = "_published.snapshot"

# (name, SQL returning (kpi total, fact total)) — evaluated on the snapshot before it is published,
# and by the reader test on every query. Totals over the days the facts cover (facts older than the
# retention horizon are purged while the KPI rows remain: docs/privacy.md).
CONSISTENCY = {
    "kpi_daily.sessions = fct_sessions": """
        select (select coalesce(sum(sessions), 0) from marts.kpi_daily
                where kpi_date >= (select min(cast(session_start_at as date)) from marts.fct_sessions)),
               (select count(*) from marts.fct_sessions)""",
    "kpi_daily.orders = fct_events orders": """
        select (select coalesce(sum(orders), 0) from marts.kpi_daily
                where kpi_date >= (select min(cast(event_at as date)) from marts.fct_events)),
               (select count(*) from marts.fct_events where event_name = 'Order Completed')""",
    "kpi_daily.tickets_created = fct_tickets": """
        select (select coalesce(sum(tickets_created), 0) from marts.kpi_daily
                where kpi_date >= (select min(cast(created_at as date)) from marts.fct_tickets)),
               (select count(*) from marts.fct_tickets)""",
}


class PublishError(RuntimeError):
    """The snapshot failed a consistency check: it was not published."""


@dataclass
class Snapshot:
    snapshot_id: str
    path: Path
    parquet_dir: Path
    tables: dict[str, int]
    checks: dict[str, tuple[int, int]]
    seconds: float
    removed: list[str] = field(default_factory=list)  # stale leftovers, then pruned snapshots


def consistency(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Each check's (KPI total, fact total) on a connection to a warehouse or a published copy."""
    return {
        name: tuple(int(v) for v in con.execute(sql).fetchone())
        for name, sql in CONSISTENCY.items()
    }


def _swap_symlink(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def leftovers(target: Path, published_dir: Path) -> list[Path]:
    """What a publish killed mid-way (power loss, OOM kill: no `except` ran) left behind: its
    temporary DuckDB file (and WAL) and its snapshot folder, newer than the one `current` names
    and never published. Only one publish runs at a time (the DuckDB writers' pool), so any such
    file is stale."""
    found = sorted(target.parent.glob(f".{target.name}.*.tmp*"))
    snapshots = published_dir / "snapshots"
    current = published_dir / "current"
    published = Path(os.readlink(current)).name if current.is_symlink() else ""
    if snapshots.exists():
        found += sorted(p for p in snapshots.iterdir() if p.is_dir() and p.name > published)
    return found


def publish(warehouse: Path, target: Path, published_dir: Path, run_id: str) -> Snapshot:
    started = time.monotonic()
    stale = leftovers(target, published_dir)
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    now = dt.datetime.now(dt.UTC)
    snapshot_id = f"{now:%Y%m%dT%H%M%S%fZ}-{run_id[:8]}"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{snapshot_id}.tmp")
    parquet_dir = published_dir / "snapshots" / snapshot_id
    con = duckdb.connect(str(tmp))
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"attach '{warehouse}' as wh (read_only)")
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_catalog = 'wh' "
            "and table_schema = ? and table_type = 'BASE TABLE' order by 1", [SCHEMA]
        ).fetchall()]  # fmt: skip
        con.execute(f"create schema {SCHEMA}")
        tables = {}
        for name in names:
            con.execute(f"create table {SCHEMA}.{name} as select * from wh.{SCHEMA}.{name}")
            tables[name] = con.execute(f"select count(*) from {SCHEMA}.{name}").fetchone()[0]
        con.execute("detach wh")
        checks = consistency(con)
        failed = {k: v for k, v in checks.items() if v[0] != v[1]}
        if failed:
            raise PublishError(
                f"snapshot {snapshot_id} not published: KPI totals differ from their facts "
                f"{failed}; the previous snapshot stays. Rebuild the KPI marts "
                "(python -m orchestration.run backfill …) and run again."
            )
        con.execute("create schema _published")
        con.execute(
            f"create table {META_TABLE} as select ? as snapshot_id, ? as published_at, "
            "? as run_id, ? as source, ? as tables",
            [snapshot_id, now, run_id, str(warehouse), json.dumps(tables)],
        )
        parquet_dir.mkdir(parents=True)
        for name in names:
            con.execute(
                f"copy {SCHEMA}.{name} to '{parquet_dir / (name + '.parquet')}' (format parquet)"
            )
        (parquet_dir / "_snapshot.json").write_text(
            json.dumps(
                {
                    "snapshot_id": snapshot_id,
                    "published_at": now.isoformat(),
                    "run_id": run_id,
                    "tables": tables,
                },
                indent=1,
            )  # fmt: skip
        )
        con.execute("checkpoint")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        shutil.rmtree(parquet_dir, ignore_errors=True)
        raise
    con.close()
    os.replace(tmp, target)  # the DuckDB file readers open: old or new, never half of one
    _swap_symlink(published_dir / "current", f"snapshots/{snapshot_id}")
    removed = [p.name for p in stale] + prune(published_dir / "snapshots", keep=KEEP)
    return Snapshot(
        snapshot_id, target, parquet_dir, tables, checks, time.monotonic() - started, removed
    )


def prune(snapshots: Path, keep: int) -> list[str]:
    """Remove all but the `keep` newest snapshot folders (ids sort by time); their names."""
    if not snapshots.exists():
        return []
    old = sorted(p for p in snapshots.iterdir() if p.is_dir())[:-keep]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in old]
