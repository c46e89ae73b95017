"""The publisher's guarantees on a real warehouse (the small world through the real pipeline):
a snapshot whose KPI totals differ from their facts is not published and changes nothing
analysts read; what a killed publish left behind is removed by the next one; the spare file is
patched in place only when no reader has it open."""

import os
import subprocess
import sys

import duckdb
import pytest

from ingestion.settings import Settings
from orchestration.run import run_pipeline
from publish import publisher
from publish.publisher import PublishError, _held_here, publish
from tests.ingestion.helpers import withhold
from tests.publish.readers import published_equals_warehouse, run_slice, slices

HOUR = "2026-11-06-23:00"  # the small world's last hour: the whole world in one batch


def _published_id(path) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select snapshot_id from _published.snapshot").fetchone()[0]


def _current(settings: Settings) -> str:
    return os.readlink(settings.published_dir / "current")


@pytest.mark.timeout(900)
def test_inconsistent_snapshot_is_not_published_and_leftovers_go(cx_env, instance):
    assert run_pipeline(instance, HOUR).success
    settings = Settings.from_env()
    first = _published_id(settings.analytics_path)
    snapshots = settings.published_dir / "snapshots"

    # A publish killed mid-way (no `except` ran) left its temporary file, WAL and a partial
    # Parquet folder, newer than the published one.
    tmp = settings.analytics_path.with_name(f".{settings.analytics_path.name}.9999-dead.tmp")
    wal = tmp.with_name(tmp.name + ".wal")
    partial = snapshots / "99991231T235959000000Z-deadbeef"
    for path in (tmp, wal):
        path.write_bytes(b"half a file")
    partial.mkdir()
    (partial / "kpi_daily.parquet").write_bytes(b"half a file")
    second = publish(settings.duckdb_path, settings.analytics_path, settings.published_dir, "run-2")
    assert not tmp.exists() and not wal.exists() and not partial.exists()
    assert {tmp.name, wal.name, partial.name} <= set(second.removed)
    assert _published_id(settings.analytics_path) == second.snapshot_id != first
    assert _current(settings) == f"snapshots/{second.snapshot_id}"

    # The warehouse's facts lose a day the KPI mart still counts: the check must refuse it.
    with duckdb.connect(str(settings.duckdb_path)) as con:
        day, lost = con.execute(
            "select cast(session_start_at as date), count(*) from marts.fct_sessions "
            "group by 1 order by 1 desc limit 1"
        ).fetchone()
        con.execute(
            "delete from marts.fct_sessions where cast(session_start_at as date) = ?", [day]
        )
    before = sorted(p.name for p in snapshots.iterdir())
    with pytest.raises(PublishError, match="kpi_daily.sessions = fct_sessions") as refused:
        publish(settings.duckdb_path, settings.analytics_path, settings.published_dir, "run-3")
    assert "the previous snapshot stays" in str(refused.value)
    # Nothing analysts read changed, and nothing was left behind.
    assert _published_id(settings.analytics_path) == second.snapshot_id
    assert _current(settings) == f"snapshots/{second.snapshot_id}"
    assert sorted(p.name for p in snapshots.iterdir()) == before
    assert list(settings.analytics_path.parent.glob(".*.tmp*")) == []
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        published_sessions = con.execute("select count(*) from marts.fct_sessions").fetchone()[0]
    assert published_sessions == cx_env["truth"]["totals"]["sessions"] != 0
    assert lost > 0


@pytest.mark.timeout(1200)
def test_the_spare_is_patched_in_place_unless_a_reader_still_has_it(
    cx_env, instance, tmp_path, monkeypatch
):
    """From the third publish on, the snapshot before the published one (the spare) is patched in
    place instead of a copy of the published file (once that file is large; here always): three
    pipeline runs, then a publish on its own. A spare a reader (another process) still has open
    is left alone - that publish copies instead - and the reader keeps its snapshot."""
    monkeypatch.setattr(publisher, "SPARE_MIN_BYTES", 0)
    landing, world = cx_env["landing"], tmp_path / "world"
    files = withhold(landing, world)
    settings = Settings.from_env()
    spare = settings.analytics_path.with_name(f".{settings.analytics_path.name}.spare")
    bases, published, reader = [], [], None
    try:
        for number, part in enumerate(slices(files, 3)):
            meta = run_slice(instance, part, world, landing)
            bases.append(meta["base_file"].value)
            published.append(meta["snapshot_id"].value)
            published_equals_warehouse(settings)
            if number == 1:  # holds the second snapshot: the spare after the third publish
                reader = subprocess.Popen(
                    [sys.executable, "-c", HOLDER, str(settings.analytics_path)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                )  # fmt: skip
                assert reader.stdout.readline().strip() == published[1]
        # The fourth publish (nothing new in the warehouse): its spare is the held file.
        fourth = publish(
            settings.duckdb_path, settings.analytics_path, settings.published_dir, "fourth"
        )
        bases.append(fourth.base)
        published.append(fourth.snapshot_id)
        published_equals_warehouse(settings)
        assert bases == ["new", "copy", "spare", "copy"]
        reader.stdin.write("again\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == published[1]  # its snapshot, unchanged
        assert spare.exists() and _published_id(spare) == published[2]
    finally:
        if reader is not None:
            reader.kill()
    # DuckDB's file locks do not guard a file against its own process: the publisher looks.
    assert not _held_here(settings.analytics_path)
    with duckdb.connect(str(settings.analytics_path), read_only=True):
        assert _held_here(settings.analytics_path)


# A reader in another process: opens the published file, prints its snapshot id, waits for a
# line on stdin, prints the id it reads then.
HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
query = "select snapshot_id from _published.snapshot"
print(con.execute(query).fetchone()[0], flush=True)
sys.stdin.readline()
print(con.execute(query).fetchone()[0], flush=True)
"""
