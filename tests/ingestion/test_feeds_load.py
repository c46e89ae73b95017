"""The real dlt pipelines on a simulated world, checked against the simulator's ground truth."""

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import threading

import ingestion.events.source as events_source_module
from tests.ingestion.helpers import query, run_feed, scalar


def test_events_match_ground_truth_and_reconcile(cx_env):
    delivery = cx_env["truth"]["delivery"]
    counts = run_feed("events")
    assert counts["events"] == delivery["unique_events"] + delivery["duplicate_lines"]
    assert delivery["malformed_lines"] > 0  # the world exercises quarantine
    assert counts.get("events_quarantine", 0) == delivery["malformed_lines"]
    assert scalar("select count(distinct message_id) from raw.events") == delivery["unique_events"]
    read, loaded, quarantined, files = query(
        "select sum(items_read), sum(items_loaded), sum(items_quarantined), count(*)"
        " from raw.events_ledger"
    )[0]
    assert read == delivery["event_lines"] == loaded + quarantined
    assert files == delivery["event_files"]
    by_type = dict(query("select type, count(distinct message_id) from raw.events group by 1"))
    assert by_type == delivery["by_type"]


def test_event_batches_are_parsed_in_dlt_extract_workers(cx_env, monkeypatch):
    """The events transformer is parallelized: batches are parsed in dlt's extract threads while
    the main thread writes Parquet (dlt drops the parallel wrapper of a transformer whose
    arguments are bound by calling it, and everything then runs in the main thread)."""
    threads, parse = [], events_source_module.read_events

    def recording(*args, **kwargs):
        threads.append(threading.current_thread().name)
        yield from parse(*args, **kwargs)

    monkeypatch.setattr(events_source_module, "read_events", recording)
    counts = run_feed("events", files_per_batch=4)
    delivery = cx_env["truth"]["delivery"]
    assert counts["events"] == delivery["unique_events"] + delivery["duplicate_lines"]
    assert len(threads) > 2  # several batches
    assert "MainThread" not in threads, threads


def test_rerun_loads_nothing_and_new_files_are_picked_up(cx_env):
    run_feed("events")
    before = scalar("select count(*) from raw.events")
    assert run_feed("events").get("events", 0) == 0
    assert scalar("select count(*) from raw.events") == before

    new_file = cx_env["landing"] / "events" / "late" / "events-extra.jsonl.gz"
    new_file.parent.mkdir(parents=True)
    lines = [
        json.dumps({"type": "track", "event": "Order Completed", "messageId": f"extra-{i}",
                    "anonymousId": "a-extra", "receivedAt": "2026-11-06T10:00:00Z"})
        for i in range(7)
    ] + ["{broken"]  # fmt: skip
    new_file.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    later = dt.datetime(2030, 1, 1).timestamp()
    os.utime(new_file, (later, later))
    counts = run_feed("events")
    assert counts["events"] == 7 and counts["events_quarantine"] == 1
    assert scalar("select count(*) from raw.events") == before + 7
    assert query("select position, reason from raw.events_quarantine where file like 'late/%'") == [
        (8, "invalid_json")
    ]


def test_rerun_in_other_processes_commits_no_new_load(cx_env):
    """Two tickets files share the newest modification time, so dlt keeps boundary hashes in the
    state; re-runs in processes with other string-hash seeds must not commit a new state (an
    empty load that the next dbt batch would then pick up)."""
    run_feed("tickets")
    loads = scalar("select count(*) from raw._dlt_loads")
    code = "from tests.ingestion.helpers import run_feed; print(run_feed('tickets'))"
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip().splitlines()[-1] == "{}"
    assert scalar("select count(*) from raw._dlt_loads") == loads


def _latest_versions(folder, key, updated):
    latest = {}
    for path in sorted(folder.glob("*.json")):
        try:
            page = json.loads(path.read_text())
        except ValueError:
            continue
        for record in page.get("tickets", page.get("data", [])):
            if key in record and (
                record[key] not in latest or record[updated] >= latest[record[key]][updated]
            ):
                latest[record[key]] = record
    return latest


def test_tickets_keep_latest_version_of_each_ticket(cx_env):
    counts = run_feed("tickets")
    delivery, totals = cx_env["truth"]["delivery"], cx_env["truth"]["totals"]
    assert counts["tickets_quarantine"] == (
        delivery["ticket_records_malformed"] + delivery["ticket_files_corrupt"]
    )
    expected = _latest_versions(cx_env["landing"] / "tickets", "id", "updated_at")
    rows = query("select id, status, updated_at from raw.tickets")
    assert len(rows) == len(expected) == totals["tickets"]
    for ticket_id, status, updated_at in rows:
        assert status == expected[ticket_id]["status"]
        assert updated_at == dt.datetime.fromisoformat(expected[ticket_id]["updated_at"])
    read, loaded, quarantined = query(
        "select sum(items_read), sum(items_loaded), sum(items_quarantined) from raw.tickets_ledger"
    )[0]
    assert read == delivery["ticket_records"] + delivery["ticket_files_corrupt"]
    assert read == loaded + quarantined
    assert run_feed("tickets").get("tickets", 0) == 0


def test_survey_responses_keep_latest_version(cx_env):
    run_feed("surveys")
    expected = _latest_versions(cx_env["landing"] / "surveys", "id", "updated_at")
    rows = dict(query("select id, coalesce(comment, '') from raw.survey_responses"))
    assert len(rows) == len(expected) == cx_env["truth"]["totals"]["survey_responses"]
    assert rows == {k: v["comment"] or "" for k, v in expected.items()}
    assert (
        scalar("select count(*) from raw.surveys_quarantine")
        == (cx_env["truth"]["delivery"]["survey_records_malformed"])
    )
