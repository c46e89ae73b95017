"""Landing files that change under the loader: a writer truncating, rewriting or appending to a
file after the listing, a cleanup removing it. Nothing torn is loaded, nothing is lost, and the
ledger still reconciles; the next run reads the file whole."""

import gzip
import os
import time

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.common.landing import landing_files
from ingestion.events.source import read_events
from tests.ingestion.helpers import query, run_feed, scalar


def _tables(items) -> dict[str, pa.Table]:
    """read_events' output by destination table (events, events_quarantine, events_ledger)."""
    out = {}
    for item in items:
        meta = getattr(item, "meta", None)
        name = meta.hints["table_name"] if meta is not None else "events"
        out[name] = getattr(item, "data", item)
    return out


def _lines(path) -> int:
    return gzip.decompress(path.read_bytes()).count(b"\n")


def test_files_changed_after_the_listing_are_not_parsed_and_are_accounted(cx_env):
    folder = cx_env["landing"] / "events"
    listed = list(landing_files(folder, "**/*", 10_000))  # the real listing, one item a file
    paths = sorted(folder.rglob("*.jsonl.gz"))
    truncated, appended, removed, *untouched = paths
    # What writers and cleanups do between our listing and our read:
    whole = truncated.read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])  # a copy restarted / cut short
    with appended.open("ab") as f:  # a writer that had not finished
        f.write(gzip.compress(b'{"type": "track", "event": "x", "messageId": "late"}\n'))
    removed.unlink()  # a retention job

    tables = _tables(read_events(listed))

    events, quarantine, ledger = (
        tables["events"],
        tables["events_quarantine"],
        tables["events_ledger"],
    )
    expected = sum(_lines(p) for p in untouched)
    malformed = quarantine.filter(pc.field("reason") != "file_changed_while_read")
    assert events.num_rows + malformed.num_rows == expected  # the world's few malformed lines
    changed = {p.relative_to(folder).as_posix() for p in (truncated, appended, removed)}
    assert set(events["source_file"].to_pylist()).isdisjoint(changed)
    rows = {
        r["file"]: r for r in quarantine.to_pylist() if r["reason"] == "file_changed_while_read"
    }
    assert set(rows) == changed
    assert all(r["position"] == 0 for r in rows.values())
    assert "removed after it was listed" in rows[removed.relative_to(folder).as_posix()]["raw_text"]
    assert "changed while read" in rows[truncated.relative_to(folder).as_posix()]["raw_text"]
    # Every file has a ledger row; read = loaded + quarantined over the batch.
    by_file = {r["file"]: r for r in ledger.to_pylist()}
    assert set(by_file) == {i["relative_path"] for i in listed}
    assert all(by_file[f]["items_read"] == 1 == by_file[f]["items_quarantined"] for f in changed)
    assert sum(r["items_read"] for r in by_file.values()) == expected + len(changed)
    assert sum(r["items_loaded"] for r in by_file.values()) == events.num_rows


def test_a_file_cut_short_then_completed_ends_as_if_whole(cx_env):
    """Run 1 finds a file a writer has not finished (its last line torn); the writer finishes;
    run 2 reads it whole. Every event of the world is in raw.events once the batch dedups."""
    folder = cx_env["landing"] / "events"
    path = sorted(folder.rglob("*.jsonl.gz"))[3]
    text = gzip.decompress(path.read_bytes())
    cut = text[: len(text) // 2]  # mid-line: the last line of the cut is torn
    path.write_bytes(gzip.compress(cut))

    run_feed("events")
    torn = query(
        "select position, reason from raw.events_quarantine "
        f"where file = '{path.relative_to(folder).as_posix()}'"  # a plain ASCII name
    )
    assert torn == [(cut.count(b"\n") + 1, "invalid_json")]

    time.sleep(0.01)
    path.write_bytes(gzip.compress(text))  # the writer finishes: a newer modification time
    os.utime(path)
    run_feed("events")

    delivery = cx_env["truth"]["delivery"]
    assert scalar("select count(distinct message_id) from raw.events") == delivery["unique_events"]
    ledger = query(
        "select sum(items_read), sum(items_loaded) + sum(items_quarantined) from raw.events_ledger"
    )
    assert ledger[0][0] == ledger[0][1]
