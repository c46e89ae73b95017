"""Deliver a world the way real feeds do: late, twice, with wrong clocks and the odd broken line.

Events become hourly gzipped NDJSON files named by the hour they were received (as Segment's and
RudderStack's storage destinations write them). Tickets become Zendesk incremental-export pages and
survey responses become export pages, one file per hour of updates. File modification times are set
to the end of the hour the collector wrote them, so "newer file" means "arrived later".
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from simulator.world import World, _iso

HOUR = dt.timedelta(hours=1)


@dataclass
class DeliveryCounts:
    event_lines: int = 0
    unique_events: int = 0
    duplicate_lines: int = 0
    malformed_lines: int = 0
    late_events: int = 0
    skewed_events: int = 0
    event_files: int = 0
    ticket_records: int = 0
    ticket_records_malformed: int = 0
    ticket_files_corrupt: int = 0
    survey_records: int = 0
    survey_records_malformed: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


def _hour_floor(ts: dt.datetime) -> dt.datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def _deliver_events(world: World, rng: random.Random, counts: DeliveryCounts) -> dict:
    cfg = world.config
    skew_by_user: dict[str, dt.timedelta] = {}
    for user in world.users:
        if rng.random() < cfg.skewed_device_share:
            skew_by_user[user.anonymous_id] = dt.timedelta(seconds=rng.randint(-3 * 3600, 3 * 3600))
    by_hour: dict[dt.datetime, list[str]] = defaultdict(list)
    last_second = cfg.end_dt - dt.timedelta(seconds=1)
    for session in [*world.sessions, *world.bot_visits]:  # people first: their draws as before
        late = rng.random() < cfg.late_session_share
        hold = dt.timedelta(seconds=rng.randint(3600, cfg.max_late_hours * 3600)) if late else None
        if hold:  # a held batch is sent before the window closes (the world ends with it)
            session_end = session.events[-1]["_true_time"]
            hold = min(hold, last_second - dt.timedelta(seconds=5) - session_end)
        skew = skew_by_user.get(session.events[0]["anonymousId"], dt.timedelta(0))
        for event in session.events:
            true_time = event["_true_time"]
            sent = (
                (true_time + hold)
                if hold
                else true_time + dt.timedelta(milliseconds=rng.randint(0, 2000))
            )
            received = sent + dt.timedelta(milliseconds=rng.randint(20, 500))
            message = {k: v for k, v in event.items() if not k.startswith("_") and v is not None}
            message["originalTimestamp"] = _iso(true_time + skew)
            message["sentAt"] = _iso(sent + skew)
            message["receivedAt"] = _iso(received)
            message["timestamp"] = _iso(received - (sent - true_time))
            line = json.dumps(message, separators=(",", ":"))
            by_hour[_hour_floor(received)].append(line)
            counts.unique_events += 1
            counts.by_type[event["type"]] = counts.by_type.get(event["type"], 0) + 1
            counts.late_events += bool(hold)
            counts.skewed_events += bool(skew)
            if rng.random() < cfg.duplicate_share:  # the collector retried: same messageId again
                again = min(
                    _hour_floor(received) + rng.randint(0, 2) * HOUR, _hour_floor(last_second)
                )
                by_hour[again].append(line)
                counts.duplicate_lines += 1
    junk = [
        lambda line: line[: len(line) // 2],
        lambda line: "<html><body>502 Bad Gateway</body></html>",
        lambda line: json.dumps({"type": "track", "event": "Orphan", "properties": {}}),
        lambda line: "",
        lambda line: "[1, 2, 3]",
    ]
    for lines in by_hour.values():
        for _ in range(max(0, round(len(lines) * cfg.malformed_share + rng.random() - 0.5))):
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(junk)(rng.choice(lines)))
            counts.malformed_lines += 1
    counts.event_lines = sum(len(lines) for lines in by_hour.values())
    return by_hour


def _pages_by_hour(records: list[tuple[dt.datetime, dict]]) -> dict[dt.datetime, list[dict]]:
    pages: dict[dt.datetime, list[dict]] = defaultdict(list)
    for updated, record in records:
        pages[_hour_floor(updated)].append(record)
    return pages


def _parse(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _write(path: Path, payload: bytes, hour: dt.datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(payload)
    tmp.rename(path)  # collectors publish whole files; readers never see half of one
    mtime = (hour + HOUR).timestamp()
    os.utime(path, (mtime, mtime))


def ticket_page(versions: list[dict]) -> dict:
    """A Zendesk incremental-export page with metric sets and requesters side-loaded."""
    requesters = {v["requester"]["id"]: v["requester"] for v in versions if v.get("requester")}
    return {
        "tickets": [v["ticket"] for v in versions],
        "metric_sets": [v["metric_set"] for v in versions if v.get("metric_set")],
        "users": list(requesters.values()),
        "count": len(versions),
        "end_of_stream": True,
        "after_cursor": None,
        "after_url": None,
    }


def deliver(world: World, out: Path) -> DeliveryCounts:
    """Write the three feeds of `world` under `out` and return what was written."""
    rng = random.Random(world.config.seed + 1)
    counts = DeliveryCounts()
    for hour, lines in sorted(_deliver_events(world, rng, counts).items()):
        name = f"events/{hour:%Y-%m-%d}/events-{hour:%Y-%m-%dT%H}.jsonl.gz"
        data = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=5, mtime=0)
        _write(out / name, data, hour)
        counts.event_files += 1

    ticket_versions = list(world.ticket_versions)
    # One requester record without an id: quarantined, never loaded.
    if ticket_versions:
        broken = json.loads(json.dumps(ticket_versions[len(ticket_versions) // 2]))
        del broken["ticket"]["id"]
        ticket_versions.append(broken)
        counts.ticket_records_malformed += 1
    counts.ticket_records = len(ticket_versions)
    pages = _pages_by_hour([(_parse(v["ticket"]["updated_at"]), v) for v in ticket_versions])
    for hour, versions in sorted(pages.items()):
        payload = json.dumps(ticket_page(versions)).encode()
        _write(out / f"tickets/tickets-{hour:%Y-%m-%dT%H}.json", payload, hour)
    if pages:  # an export that was cut off mid-write
        last = max(pages)
        _write(
            out / f"tickets/tickets-{last:%Y-%m-%dT%H}-partial.json", b'{"tickets": [{"id": 1', last
        )
        counts.ticket_files_corrupt += 1

    survey_versions = [json.loads(json.dumps(v)) for v in world.survey_versions]
    if survey_versions:
        broken = dict(survey_versions[len(survey_versions) // 3])
        broken.pop("id")
        survey_versions.append(broken)
        counts.survey_records_malformed += 1
    counts.survey_records = len(survey_versions)
    pages = _pages_by_hour([(_parse(v["updated_at"]), v) for v in survey_versions])
    for hour, records in sorted(pages.items()):
        payload = json.dumps({"data": records, "next_cursor": None}).encode()
        _write(out / f"surveys/responses-{hour:%Y-%m-%dT%H}.json", payload, hour)
    return counts
