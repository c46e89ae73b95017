"""Segment's and RudderStack's storage-destination layouts load unchanged, other files are named
and quarantined (never skipped in silence), and a first run with no event file ends cleanly."""

import datetime as dt
import gzip
import os
import shutil
import uuid

import pytest

from orchestration.run import run_pipeline
from tests.ingestion.helpers import query, run_feed, scalar


def _relayout(landing) -> dict[str, int]:
    """Move the world's hourly event files into the three layouts, round robin; lines per
    source id the path should give (None: the collector/NDJSON layout, no source in the path)."""
    lines_by_source: dict[str | None, int] = {}
    files = sorted((landing / "events").rglob("*.jsonl.gz"))
    for i, path in enumerate(files):
        stat = path.stat()
        day = dt.date.fromisoformat(path.parent.name)
        if i % 3 == 0:
            epoch_ms = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
            dest = landing / "events" / "segment-logs" / "src_seg" / f"{epoch_ms * 1000}"
            dest = dest / f"{uuid.uuid4()}.gz"
            source = "src_seg"
        elif i % 3 == 1:
            name = f"{int(stat.st_mtime)}.src_rs.{uuid.uuid4()}.json.gz"
            dest = landing / "events" / "rudder-logs" / "src_rs" / day.isoformat() / name
            source = "src_rs"
        else:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, dest)
        os.utime(dest, (stat.st_atime, stat.st_mtime))
        lines_by_source[source] = lines_by_source.get(source, 0) + gzip.decompress(
            dest.read_bytes()
        ).count(b"\n")
    return lines_by_source


def test_storage_destination_layouts_load_with_their_source(cx_env):
    landing = cx_env["landing"]
    by_source = _relayout(landing)
    stray = landing / "events" / "2026-11-02" / "export.csv"
    stray.write_text("message_id,type\n")
    wrong_depth = landing / "events" / "segment-logs" / "src_seg" / "oops.gz"
    wrong_depth.write_bytes(b"")
    in_progress = landing / "events" / "2026-11-02" / ".collector-x.jsonl.gz.tmp"
    in_progress.write_bytes(b"half a file")

    run_feed("events")

    delivery = cx_env["truth"]["delivery"]
    assert scalar("select count(distinct message_id) from raw.events") == delivery["unique_events"]
    files = dict(query("select layout, count(*) from raw.events_ledger group by 1"))
    assert files["segment-logs"] > 0 and files["rudder-logs"] > 0 and files["ndjson"] > 0
    assert files["unrecognized"] == 2  # the .csv and the file outside Segment's layout
    assert sum(files.values()) == delivery["event_files"] + 2
    lines = dict(
        query(
            "select source_id, sum(items_read) from raw.events_ledger "
            "where layout in ('segment-logs', 'rudder-logs') group by 1"
        )
    )
    assert lines == by_source
    ignored = query(
        "select file, reason, raw_text from raw.events_quarantine "
        "where reason = 'unrecognized_file' order by file"
    )
    assert [r[0] for r in ignored] == ["2026-11-02/export.csv", "segment-logs/src_seg/oops.gz"]
    assert all("expected" in r[2] for r in ignored)
    assert not query("select * from raw.events_ledger where file like '%.tmp'")
    read, loaded, quarantined = query(
        "select sum(items_read), sum(items_loaded), sum(items_quarantined) from raw.events_ledger"
    )[0]
    assert read == loaded + quarantined == delivery["event_lines"] + 2


@pytest.mark.timeout(600)
def test_first_run_without_event_files_ends_cleanly(cx_env, instance):
    """Checked before the fix: 'Catalog Error: Table with name events does not exist'."""
    landing = cx_env["landing"]
    shutil.rmtree(landing / "events")
    (landing / "events").mkdir()
    (landing / "events" / "README.txt").write_text("events go here")

    hourly = run_pipeline(instance, "2026-11-07-00:00", raise_on_error=False)

    assert hourly.success
    assert scalar("select count(*) from raw.events") == 0
    metadata = next(
        m.event_specific_data.materialization.metadata
        for m in hourly.get_asset_materialization_events()
        if m.asset_key.to_user_string() == "raw/events"
    )
    ignored = metadata["files_ignored"].value
    assert len(ignored) == 1 and ignored[0].startswith("README.txt (not an event file")
    assert scalar("select count(*) from marts.fct_tickets") > 0  # the other feeds went on
