"""Publishing the marts for analysts: a read-only DuckDB file and Parquet, each swapped atomically.

The pipeline writes `warehouse.duckdb`; analysts never open it (DuckDB allows one writing process
and then no reader at all). After each successful run the marts (only the `marts` schema: not raw,
staging or ops) are copied into a new file beside it, checked, and renamed over
`analytics.duckdb` (`os.replace`: atomic on one filesystem). A reader that opened the old file
keeps reading the old snapshot; the next connection opens the new one. Nobody ever sees a file
half written, and no reader lock can stop the pipeline, because the pipeline never writes a file
a reader has open.

The new file is not written from scratch each time: it is a copy of the published one, patched
with the persons dbt rebuilt since (PERSON_MARTS below). Once that file is large
(SPARE_MIN_BYTES), the file published before it is kept beside it (`.analytics.duckdb.spare`)
and patched in place instead, unless a reader still has it open - DuckDB's file lock refuses
the write then, and the publish copies the current file. After a publish that wrote a new
file (a person-level mart changed whole: first build, full refresh, retention, erasure) no spare
is kept, so no deleted row outlives it.

Beside the marts, the `status` schema holds what the dashboard shows of the pipeline itself
(alerts, data-quality results, feeds, quarantine counts: publish/status.py).

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

from ingestion.settings import DUCKDB_MEMORY_LIMIT, conversion_event
from publish.status import copy_status

KEEP = 3
# From this size of the published file on, a publish patches the spare (the snapshot before the
# published one) in place rather than a copy of the published file. Copying costs about 1.6 s a
# GB (the copy, then DuckDB's first sync of its bytes); patching the spare costs one more run's
# person patches (about 1 s in the 30-day benchmark). Below it a copy is the cheaper.
SPARE_MIN_BYTES = 512 * 2**20
SCHEMA = "marts"
META_TABLE = "_published.snapshot"
# The person-level marts, which dbt rebuilds person by person (macros/batch/batch.sql) and logs in
# CHANGES: a snapshot copies the previous one and, for those persons only, deletes the rows that
# differ from the warehouse's and inserts the warehouse's (by each mart's key). The second column
# dates the rows: their Parquet is one file per UTC day, and the days with no differing row are
# hard links to the previous snapshot's files. (None: one Parquet file.)
PERSON_MARTS = {
    "fct_events": ("message_id", "event_at"),
    "fct_page_views": ("page_view_id", "viewed_at"),
    "fct_sessions": ("session_id", "session_start_at"),
    "dim_users": ("stitched_user_id", None),
}
PERSON = "stitched_user_id"
CHANGES = "ops.person_changes"
CHANGES_SEQ = "ops.person_change_seq"  # its numbers (dbt's batch_setup creates both)

# (name, SQL returning (kpi total, fact total)) — evaluated on the snapshot before it is published
# (tests/publish/reader.py checks the same totals with SQL of its own). Totals over the days the
# facts cover (facts older than the retention horizon are purged while the KPI rows remain:
# docs/privacy.md). The orders check's parameter is the conversion event (dbt var).
CONSISTENCY = {
    "kpi_daily.sessions = fct_sessions": """
        select (select coalesce(sum(sessions), 0) from marts.kpi_daily
                where kpi_date >= (select min(cast(session_start_at as date)) from marts.fct_sessions)),
               (select count(*) from marts.fct_sessions)""",
    "kpi_daily.orders = fct_events orders": """
        select (select coalesce(sum(orders), 0) from marts.kpi_daily
                where kpi_date >= (select min(cast(event_at as date)) from marts.fct_events)),
               (select count(*) from marts.fct_events where event_name = ?)""",
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
    modes: dict[str, str] = field(default_factory=dict)  # per mart: copied "full" or "N persons"
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step
    base: str = ""  # what the new file started from: "new", "copy" or "spare" (see publish)
    status: dict[str, int] = field(default_factory=dict)  # rows of each status table (status.py)


def consistency(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Each check's (KPI total, fact total) on a connection to a warehouse or a published copy."""
    params = {"kpi_daily.orders = fct_events orders": [conversion_event()]}
    return {
        name: tuple(int(v) for v in con.execute(sql, params.get(name, [])).fetchone())
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


def publish(
    warehouse: Path,
    target: Path,
    published_dir: Path,
    run_id: str,
    memory_limit: str = DUCKDB_MEMORY_LIMIT,
) -> Snapshot:
    """Publish the next snapshot (see the module docstring). `memory_limit` bounds each DuckDB
    connection it opens (CX_DUCKDB_MEMORY_LIMIT): left at DuckDB's default, 80% of the machine,
    the first publish of a month of marts (every mart copied whole, and written as Parquet)
    took the run's process to 7.5 GB."""
    started = time.monotonic()
    limits = {"memory_limit": memory_limit}
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
    previous = _previous(target, published_dir)
    spare = _spare_path(target)
    with duckdb.connect(config=limits) as probe:
        probe.execute(f"attach '{warehouse}' as wh (read_only)")
        through, full = _changes(probe, previous.changes_through if previous else None)
        if full is None or full & set(PERSON_MARTS):
            # Nothing to patch, or a person-level mart changed whole (first build, full refresh,
            # retention purge, erasure): a new file, every mart copied, no deleted row's bytes kept.
            previous = None
        large = target.exists() and target.stat().st_size >= SPARE_MIN_BYTES
        spared = _spare(spare) if previous is not None and large else None
        if spared is not None:
            _, spare_full = _changes(probe, spared.changes_through)
            if spare_full is None or spare_full & set(PERSON_MARTS):
                spared = None
    con = None
    steps: dict[str, float] = {}
    clock = time.monotonic()

    def lap(step: str) -> None:
        steps[step] = time.monotonic() - clock - sum(steps.values())

    # The file to write: the spare, patched in place (no copy: a month's analytics file is a GB,
    # and the copy's bytes were only written to disk when DuckDB first synced it - 1.5-2 s);
    # else a copy of the published file, patched; else a new file.
    work, base, since = tmp, "new", None
    if spared is not None:
        try:
            con = duckdb.connect(str(spare), config=limits)  # refused while a reader has it open
            work, base, since = spare, "spare", spared.changes_through
        except duckdb.IOException:
            con = None
    try:
        if con is None and previous is not None:
            shutil.copyfile(target, tmp)  # sequential, and the base the person patches apply to
            base, since = "copy", previous.changes_through
            lap("copy previous file")
        if con is None:
            con = duckdb.connect(str(tmp), config=limits)
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"attach '{warehouse}' as wh (read_only)")
        names = _marts(con, "wh")
        con.execute(f"create schema if not exists {SCHEMA}")
        con.execute("drop schema if exists _published cascade")
        for name in set(_marts(con, _current_database(con))) - set(names):
            con.execute(f"drop table {SCHEMA}.{name}")
        if previous is not None:
            # Per mart and person, the time from which dbt rebuilt their rows (null: all of them),
            # since the snapshot the file holds (the spare's: the one before the previous).
            con.execute(
                "create temp table _changed as select model, person_id, case when count(*) = "
                "count(rebuilt_from_at) then min(rebuilt_from_at) end as rebuilt_from_at "
                f"from wh.{CHANGES} where seq > ? and seq <= ? and person_id is not null "
                "group by model, person_id",
                [since, through],
            )  # fmt: skip
        tables, modes, changed_days = {}, {}, {}
        for name in names:
            if previous is None or name not in PERSON_MARTS or not _same_columns(con, name):
                _copy_whole(con, name)
                modes[name] = "full"
            else:  # a person-level mart whose persons dbt recorded since the last snapshot
                persons, changed_days[name] = _patch_persons(con, name)
                modes[name] = f"{persons} persons"
            tables[name] = con.execute(f"select count(*) from {SCHEMA}.{name}").fetchone()[0]
            expected = con.execute(f"select count(*) from wh.{SCHEMA}.{name}").fetchone()[0]
            if tables[name] != expected:  # a change no log recorded: copy it whole after all
                _copy_whole(con, name)
                modes[name] = f"full (the patch gave {tables[name]:,} rows, not {expected:,})"
                changed_days.pop(name, None)
                tables[name] = expected
        status_rows = copy_status(con)  # the Alerts and Data status pages' tables
        con.execute("detach wh")
        lap("marts")
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
            "? as run_id, ? as source, ? as tables, ? as changes_through",
            [snapshot_id, now, run_id, str(warehouse), json.dumps(tables), through],
        )
        parquet_dir.mkdir(parents=True)
        for name in names:
            _write_parquet(
                con, name, parquet_dir, previous.parquet_dir if previous else None,
                changed_days.get(name),
            )  # fmt: skip
        lap("parquet")
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
        lap("checkpoint")
    except BaseException:
        if con is not None:
            con.close()
        for path in (tmp, spare) if work == spare else (tmp,):  # a half-patched spare goes too
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".wal").unlink(missing_ok=True)
        shutil.rmtree(parquet_dir, ignore_errors=True)
        raise
    con.close()
    # The file readers open: old or new, never half of one. After a patch of a large file the old
    # one keeps a name, as the spare the next publish patches (readers that still have it open
    # keep their snapshot). After a new file (a mart changed whole: an erasure among the
    # reasons) no old file is kept: no deleted row may outlive the publish that dropped it.
    kept = target.with_name(f".{target.name}.{snapshot_id}.previous.tmp")
    if base != "new" and large:
        os.link(target, kept)
    os.replace(work, target)
    if kept.exists():
        os.replace(kept, spare)
    else:
        spare.unlink(missing_ok=True)
    _swap_symlink(published_dir / "current", f"snapshots/{snapshot_id}")
    removed = [p.name for p in stale] + prune(published_dir / "snapshots", keep=KEEP)
    return Snapshot(
        snapshot_id, target, parquet_dir, tables, checks, time.monotonic() - started, removed,
        modes, {k: round(v, 2) for k, v in steps.items()}, base, status_rows,
    )  # fmt: skip


@dataclass
class _Previous:
    changes_through: int | None
    parquet_dir: Path | None  # None: its Parquet snapshot is gone (pruned)


def _previous(target: Path, published_dir: Path) -> _Previous | None:
    """The published snapshot a new one can start from, or None (none yet, or unreadable)."""
    if not target.exists():
        return None
    try:
        with duckdb.connect(str(target), read_only=True) as con:
            cursor = con.execute(f"select * from {META_TABLE}")
            meta = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
    except (duckdb.Error, TypeError):  # no such table, or no row
        return None
    folder = published_dir / "snapshots" / meta["snapshot_id"]
    return _Previous(meta.get("changes_through"), folder if folder.is_dir() else None)


def _spare_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.spare")


def _spare(spare: Path) -> _Previous | None:
    """The spare file (the snapshot before the published one) if the next publish may patch it in
    place: whole (its snapshot table is only written once a patch is complete, and no WAL is left
    from a patch that stopped) and open nowhere in this process. Other processes' readers hold a
    lock the publisher's write connection then fails on. Anything else: None, and an unusable
    spare is removed."""
    wal = spare.with_name(spare.name + ".wal")
    found = _previous(spare, spare.parent) if spare.exists() and not wal.exists() else None
    if found is None or found.changes_through is None:
        if not _held_here(spare):
            spare.unlink(missing_ok=True)
            wal.unlink(missing_ok=True)
        return None
    return None if _held_here(spare) else found


def _held_here(path: Path) -> bool:
    """Whether this process has `path` open (DuckDB's file locks are per process, so they do not
    keep the publisher from a file a reader in its own process reads). True where that cannot
    be told (no /proc)."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        return True
    try:
        wanted = os.stat(path)
    except FileNotFoundError:
        return False
    for fd in fds.iterdir():
        try:
            found = os.stat(fd)
        except OSError:
            continue
        if (found.st_dev, found.st_ino) == (wanted.st_dev, wanted.st_ino):
            return True
    return False


def _current_database(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("select current_database()").fetchone()[0]


def _marts(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    return [r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_catalog = ? "
        "and table_schema = ? and table_type = 'BASE TABLE' order by 1", [catalog, SCHEMA]
    ).fetchall()]  # fmt: skip


def _changes(con: duckdb.DuckDBPyConnection, since: int | None) -> tuple[int | None, set | None]:
    """The warehouse's person-change log (dbt's `record_person_changes`) after entry `since`:
    (its latest entry, the marts logged as changed whole since), or None for the marts when the
    log cannot say what changed (no previous snapshot, no log, entries already dropped)."""
    if not _has_log(con, "wh"):
        return None, None
    low, high = con.execute(f"select min(seq), max(seq) from wh.{CHANGES}").fetchone()
    if since is None or high is None or low > since + 1 and high > since:
        return high, None
    full = {r[0] for r in con.execute(
        f"select distinct model from wh.{CHANGES} where seq > ? and seq <= ? and person_id is null",
        [since, high]).fetchall()}  # fmt: skip
    return high, full


def _has_log(con: duckdb.DuckDBPyConnection, catalog: str) -> bool:
    """Whether the warehouse attached as `catalog` has the person-change log."""
    schema, table = CHANGES.split(".")
    return con.execute(
        "select count(*) > 0 from information_schema.tables where table_catalog = ? "
        "and table_schema = ? and table_name = ?", [catalog, schema, table]
    ).fetchone()[0]  # fmt: skip


def _copy_whole(con: duckdb.DuckDBPyConnection, name: str) -> None:
    con.execute(f"create or replace table {SCHEMA}.{name} as select * from wh.{SCHEMA}.{name}")


def _same_columns(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    sql = (
        "select list(column_name || ' ' || data_type order by ordinal_position) "
        "from information_schema.columns where table_catalog = ? and table_schema = ? "
        "and table_name = ?"
    )
    mine = con.execute(sql, [_current_database(con), SCHEMA, name]).fetchone()[0]
    return mine is not None and mine == con.execute(sql, ["wh", SCHEMA, name]).fetchone()[0]


def _day(name: str) -> str:
    return f"coalesce(strftime({PERSON_MARTS[name][1]}, '%Y-%m-%d'), 'undated')"


def _on_days(column: str, days: set[str]) -> str:
    """`column` on one of `days` ('YYYY-MM-DD' or 'undated'), as ranges of the column itself: DuckDB
    then reads the column as stored (and can skip row groups by their min/max) instead of
    formatting every row's timestamp (half the time of `_day(...) in (...)` on a month of events)."""
    ranges = [
        f"({column} >= timestamp '{d}' and {column} < timestamp '{d}' + interval 1 day)"
        for d in sorted(dt.date.fromisoformat(day).isoformat() for day in days - {"undated"})
    ]
    if "undated" in days:
        ranges.append(f"{column} is null")
    return " or ".join(ranges) or "false"


def _patch_persons(con: duckdb.DuckDBPyConnection, name: str) -> tuple[int, set]:
    """Bring the rows dbt rebuilt since the previous snapshot up to the warehouse: delete the
    published rows that differ, insert the warehouse's that differ (most of a rebuilt person's rows
    come out the same). The rows are those of the logged persons, from the time each was rebuilt
    from (earlier rows did not change), with the earliest of those times as a literal bound so
    that DuckDB skips older blocks. (persons, the days — 'YYYY-MM-DD' — of the differing rows)."""
    key, dated = PERSON_MARTS[name]
    persons = f"{PERSON} in (select person_id from _changed where model = '{name}')"
    since = ""  # the literal bound, also on the delete below (it reads the key column otherwise)
    if dated:
        persons += (  # the IN first: DuckDB then checks the EXISTS on those persons' rows only
            f" and exists (select 1 from _changed c where c.model = '{name}' and c.person_id = {PERSON} "
            f"and (c.rebuilt_from_at is null or {dated} >= c.rebuilt_from_at))"
        )
        whole, bound = con.execute(
            "select count(*) - count(rebuilt_from_at), min(rebuilt_from_at) from _changed "
            "where model = ?", [name],
        ).fetchone()  # fmt: skip
        if whole == 0 and bound is not None:
            since = f" and {dated} >= timestamp '{bound:%Y-%m-%d %H:%M:%S.%f}'"
            persons += since
    mine, theirs = f"{SCHEMA}.{name}", f"wh.{SCHEMA}.{name}"
    for temp, table in (("_mine", mine), ("_theirs", theirs)):  # each read once
        con.execute(f"create or replace temp table {temp} as select * from {table} where {persons}")
    con.execute(
        "create or replace temp table _gone as select * from _mine except all select * from _theirs"
    )
    con.execute(
        "create or replace temp table _new as select * from _theirs except all select * from _mine"
    )
    days: set[str] = set()
    if dated:
        days = {r[0] for r in con.execute(
            f"select {_day(name)} from _gone union select {_day(name)} from _new").fetchall()}  # fmt: skip
    con.execute(f"delete from {mine} where {key} in (select {key} from _gone){since}")
    con.execute(f"insert into {mine} by name select * from _new")
    count = con.execute(f"select count(*) from _changed where model = '{name}'").fetchone()[0]
    return count, days


def _write_parquet(
    con: duckdb.DuckDBPyConnection, name: str, parquet_dir: Path, previous: Path | None,
    changed_days: set[str] | None,
) -> None:  # fmt: skip
    """`<mart>.parquet`, or for the dated person-level marts `<mart>/<YYYY-MM-DD>.parquet` per
    day: the days whose rows did not change are hard links to the previous snapshot's files
    (same filesystem, no bytes copied)."""
    if PERSON_MARTS.get(name, (None, None))[1] is None:
        con.execute(
            f"copy {SCHEMA}.{name} to '{parquet_dir / (name + '.parquet')}' (format parquet)"
        )
        return
    folder = parquet_dir / name
    folder.mkdir()
    where = ""
    if changed_days is not None and previous is not None and (previous / name).is_dir():
        for old in (previous / name).glob("*.parquet"):
            if old.name.split(".")[0] not in changed_days | {"empty"}:
                os.link(old, folder / old.name)
        where = f"where {_on_days(PERSON_MARTS[name][1], changed_days)}"
    parts = folder / ".parts"
    con.execute(
        f"copy (select *, {_day(name)} as _day from {SCHEMA}.{name} {where}) to '{parts}' "
        "(format parquet, partition_by (_day), write_partition_columns false)"
    )
    for part in sorted(parts.glob("_day=*/*.parquet")):
        day = part.parent.name.split("=", 1)[1]
        n = len(list(folder.glob(f"{day}.*parquet")))
        part.rename(folder / (f"{day}.parquet" if n == 0 else f"{day}.{n}.parquet"))
    shutil.rmtree(parts, ignore_errors=True)
    if not any(folder.glob("*.parquet")):  # an empty mart: a file with its columns, no rows
        con.execute(
            f"copy (select * from {SCHEMA}.{name} limit 0) to '{folder / 'empty.parquet'}' (format parquet)"
        )


def record_changed_whole(con: duckdb.DuckDBPyConnection, marts, forget=()) -> None:
    """For changes made outside dbt's person batches (retention purges, erasure): the next
    publish writes a new file and copies these marts whole, leaving nothing deleted behind.
    `forget`: person ids to drop from the log itself (an erased person's). Without a log (dbt
    creates it: macros/batch/batch.sql) nothing is recorded: no publish can then be patched from
    one, every publish copies everything."""
    if not _has_log(con, _current_database(con)):
        return
    if forget:
        con.execute(f"delete from {CHANGES} where person_id in (select unnest(?))", [list(forget)])
    for mart in marts:
        con.execute(
            f"insert into {CHANGES} (seq, model, person_id, changed_at) "
            f"values (nextval('{CHANGES_SEQ}'), ?, null, current_timestamp)", [mart]
        )  # fmt: skip


def prune(snapshots: Path, keep: int) -> list[str]:
    """Remove all but the `keep` newest snapshot folders (ids sort by time); their names."""
    if not snapshots.exists():
        return []
    old = sorted(p for p in snapshots.iterdir() if p.is_dir())[:-keep]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in old]
