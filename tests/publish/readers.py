"""Analysts' readers of the published warehouse, and the privacy scan of both warehouse files,
for the tests that run the pipeline (test_pipeline_e2e, the soak test beside this file).

`Readers` starts two reader processes (tests/publish/reader.py): one polls the published DuckDB
file and the current Parquet snapshot every second, one holds a connection open throughout.
`Readers.check` asserts what an analyst needs: no error, every snapshot whole (each day's KPIs
equal that day's facts), every publish seen, and the held connection kept its snapshot.
"""

import datetime as dt
import gzip
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from ingestion.settings import Settings
from orchestration.run import run_pipeline
from simulator.faults import file_hour
from tests.ingestion.helpers import deliver
from tests.publish.reader import parquet

READER = Path(__file__).with_name("reader.py")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


class Readers:
    def __init__(self, folder: Path, settings: Settings, interval: float = 1.0):
        self.log, self.stop = folder / "readers.jsonl", folder / "readers.stop"
        args = [str(settings.analytics_path), str(settings.published_dir), str(self.log),
                str(self.stop), str(interval)]  # fmt: skip
        self.procs = [
            subprocess.Popen([sys.executable, str(READER), mode, *args])
            for mode in ("poll", "hold")
        ]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        time.sleep(2.5)  # two more reads, so the last publish is seen too
        self.stop.touch()
        for proc in self.procs:
            proc.wait(timeout=60)

    def check(self, published: list[str]) -> list[dict]:
        """Assert what the readers saw while the runs that published `published` ran."""
        assert [p.returncode for p in self.procs] == [0, 0]
        seen = [json.loads(line) for line in self.log.read_text().splitlines()]
        assert [s for s in seen if "error" in s] == []
        assert [s for s in seen if s["bad"]] == []
        for kind in ("file", "parquet"):
            snapshots = {s["snapshot"] for s in seen if s["kind"] == kind}
            assert snapshots == set(published), (kind, len(snapshots), len(published))
        # The held connection kept the first snapshot it opened, and never blocked a publish.
        held = {s["snapshot"] for s in seen if s["kind"] == "held"}
        assert len(held) == 1 and held <= set(published)
        return seen


def landing_pii(landing: Path) -> dict[str, set[str]]:
    """The raw personal data the feeds carry, read from the landing files themselves (each kind
    asserted present, so the scan that follows can fail)."""
    found = {"email": set(), "ip": set(), "phone": set(), "name": set()}

    def walk(value):
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, str):
                    if k == "ip":
                        found["ip"].add(v)
                    elif k == "phone":
                        found["phone"].add(v)
                    elif k == "name" and v.startswith("User "):
                        found["name"].add(v)
                    elif k == "email":
                        found["email"].add(v)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for path in landing.rglob("*"):
        if not path.is_file() or "_simulator" in path.parts:
            continue
        text = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        for line in text.decode(errors="replace").splitlines():
            try:
                walk(json.loads(line))
            except ValueError:
                continue
    assert all(len(values) > 20 for values in found.values()), {k: len(v) for k, v in found.items()}
    return found


def _text_columns(con) -> list[tuple[str, str, str, str]]:
    return con.execute(
        "select table_catalog, table_schema, table_name, column_name from information_schema.columns "
        "where data_type in ('VARCHAR', 'JSON') and table_schema not in ('information_schema', 'pg_catalog')"
    ).fetchall()


def pii_found(database: Path, pii: dict[str, set[str]]) -> list[str]:
    """Every text column of every table holding a raw email, or one of the feeds' raw IPs,
    phone numbers or person names."""
    con = duckdb.connect(str(database), read_only=True)
    hits = []
    try:
        for kind, values in pii.items():
            con.execute(f"create temp table pii_{kind} (v varchar)")
            con.executemany(f"insert into pii_{kind} values (?)", [[v] for v in values])
        for _, schema, table, column in _text_columns(con):
            if schema == "temp" or table.startswith("pii_"):
                continue
            ref = f'"{schema}"."{table}"."{column}"'
            src = f'"{schema}"."{table}"'
            emails = con.execute(
                f"select count(*) from {src} where regexp_matches({ref}::varchar, '{EMAIL.pattern}')"
            ).fetchone()[0]
            if emails:
                hits.append(f"{schema}.{table}.{column}: {emails} raw emails")
            for kind in ("ip", "phone", "name"):
                n = con.execute(
                    f"select count(*) from {src} where exists (select 1 from pii_{kind} "
                    f"where contains({ref}::varchar, pii_{kind}.v))"
                ).fetchone()[0]
                if n:
                    hits.append(f"{schema}.{table}.{column}: {n} rows with a raw {kind}")
    finally:
        con.close()
    return hits


def published_equals_warehouse(settings: Settings) -> None:
    """Every mart of the warehouse equals its published copy, row for row, in both forms."""
    con = duckdb.connect()
    con.execute(f"attach '{settings.duckdb_path}' as wh (read_only)")
    con.execute(f"attach '{settings.analytics_path}' as pub (read_only)")
    current = Path(os.path.realpath(settings.published_dir / "current"))
    marts = [r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_catalog = 'wh' "
        "and table_schema = 'marts' order by 1").fetchall()]  # fmt: skip
    assert len(marts) >= 14
    assert {r[0] for r in con.execute(
        "select distinct table_schema from information_schema.tables where table_catalog = 'pub'"
    ).fetchall()} == {"marts", "_published", "status"}  # fmt: skip
    # The status schema (the dashboard's view of the pipeline): counts, no raw lines.
    assert {r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_catalog = 'pub' "
        "and table_schema = 'status'").fetchall()} == {"alerts", "dq_results", "feeds", "quarantine"}  # fmt: skip
    quarantined = sum(
        con.execute(f"select count(*) from wh.raw.{feed}_quarantine").fetchone()[0]
        for feed in ("events", "tickets", "surveys")
        if con.execute(
            "select count(*) from information_schema.tables where table_catalog = 'wh' "
            "and table_schema = 'raw' and table_name = ?", [f"{feed}_quarantine"],
        ).fetchone()[0]
    )  # fmt: skip
    published = con.execute("select coalesce(sum(rows), 0) from pub.status.quarantine").fetchone()
    assert published[0] == quarantined
    for mart in marts:
        for other in (f"pub.marts.{mart}", parquet(current, mart)):
            diff = con.execute(
                f"select (select count(*) from (select * from wh.marts.{mart} except all "
                f"select * from {other})) + (select count(*) from (select * from {other} "
                f"except all select * from wh.marts.{mart}))"
            ).fetchone()[0]
            assert diff == 0, (mart, other)
    con.close()


def slices(files: list[Path], runs: int) -> list[list[Path]]:
    """The files in `runs` slices of consecutive delivery hours, none empty."""
    hours = sorted({file_hour(p) for p in files})
    assert len(hours) >= runs
    bounds = [len(hours) * i // runs for i in range(runs + 1)]
    return [
        [p for p in files if file_hour(p) in set(hours[a:b])]
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]


def run_slice(instance, part: list[Path], world: Path, landing: Path) -> dict:
    """Deliver one slice of the withheld files, run the pipeline for its last hour (it must
    succeed) and return the metadata of its publish (analytics/published)."""
    deliver(part, world, landing)
    hour = max(file_hour(p) for p in part) - dt.timedelta(hours=1)
    result = run_pipeline(instance, hour.strftime("%Y-%m-%d-%H:%M"))
    assert result.success
    return {
        m.asset_key.to_user_string(): m.metadata
        for m in result.asset_materializations_for_node("analytics__published")
    }["analytics/published"]
