"""Feed faults for data-quality tests and drills: rewrite a simulated world's landing files the way a
broken upstream would, and release held-back hours as a collector would deliver them.

    held = hold_back(landing, held_dir, since)     # files of hours >= since move aside
    release(held_dir, landing, hour, events=scale_lines(0.1))   # that hour lands, faulty

Every rewrite keeps the file's name and gives it the delivery time the simulator gives it (the end
of its hour), so dlt's modification-time cursor picks it up like a normal delivery.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path

_HOUR_RE = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2})")
Rewrite = Callable[[list], list]


def file_hour(path: Path) -> dt.datetime:
    """The delivery hour in a landing file's name (events-2026-11-09T01.jsonl.gz → 01:00 UTC)."""
    match = _HOUR_RE.search(path.name)
    if not match:
        raise ValueError(f"{path} has no delivery hour in its name")
    return dt.datetime.strptime(match.group(1), "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)


def hold_back(landing: Path, held: Path, since: dt.datetime) -> int:
    """Move the files of hours >= since from landing to held (same relative paths)."""
    moved = 0
    for path in sorted(landing.rglob("*")):
        if path.is_file() and _HOUR_RE.search(path.name) and file_hour(path) >= since:
            target = held / path.relative_to(landing)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
            moved += 1
    return moved


def release(
    held: Path,
    landing: Path,
    hour: dt.datetime,
    events: Rewrite | None = None,
    tickets: Rewrite | None = None,
    surveys: Rewrite | None = None,
) -> list[Path]:
    """Deliver the held files of `hour`, each feed's records passed through its rewrite."""
    rewrites = {"events": events, "tickets": tickets, "surveys": surveys}
    delivered = []
    for path in sorted(held.rglob("*")):
        if not path.is_file() or file_hour(path) != hour or "partial" in path.name:
            continue
        feed = path.relative_to(held).parts[0]
        target = landing / path.relative_to(held)
        target.parent.mkdir(parents=True, exist_ok=True)
        rewrite = rewrites.get(feed)
        if rewrite is None:
            shutil.copyfile(path, target)
        elif feed == "events":
            lines = gzip.decompress(path.read_bytes()).splitlines()
            junk = [
                x.decode() for x in lines if not _is_json(x)
            ]  # malformed lines stay as they are
            messages = rewrite([json.loads(x) for x in lines if _is_json(x)])
            body = "\n".join([json.dumps(m, separators=(",", ":")) for m in messages] + junk) + "\n"
            target.write_bytes(gzip.compress(body.encode(), mtime=0))
        else:
            page = json.loads(path.read_bytes())
            key = "tickets" if feed == "tickets" else "data"
            page[key] = rewrite(page[key])
            target.write_bytes(json.dumps(page).encode())
        mtime = (hour + dt.timedelta(hours=1)).timestamp()
        os.utime(target, (mtime, mtime))
        delivered.append(target)
    return delivered


def _is_json(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


# --- rewrites --------------------------------------------------------------------------------


def scale_lines(factor: float, seed: int = 0) -> Rewrite:
    """Keep `factor` of the events (< 1: a collector losing data), or send each event `factor`
    times with fresh messageIds (> 1: a client in a retry loop, a bot)."""
    rng = random.Random(seed)

    def rewrite(messages: list) -> list:
        if factor <= 1:
            return [m for m in messages if rng.random() < factor]
        out = []
        for m in messages:
            out.append(m)
            for copy in range(1, round(factor) if "messageId" in m else 1):
                out.append({**m, "messageId": f"{m['messageId']}-x{copy}"})
        return out

    return rewrite


def add_property(event: str, key: str, value: object) -> Rewrite:
    """A new property key on every `event` track call."""

    def rewrite(messages: list) -> list:
        for m in messages:
            if m.get("event") == event:
                m.setdefault("properties", {})[key] = value
        return messages

    return rewrite


def drop_field(field: str) -> Rewrite:
    """Records arrive without `field` (an upstream schema change)."""
    return lambda records: [{k: v for k, v in r.items() if k != field} for r in records]


def retype_field(field: str, convert: Callable[[object], object]) -> Rewrite:
    """Records arrive with `field` of another type."""
    return lambda records: [{**r, field: convert(r[field])} if field in r else r for r in records]


def add_field(field: str, value: object) -> Rewrite:
    return lambda records: [{**r, field: value} for r in records]


def chain(*rewrites: Rewrite) -> Rewrite:
    def rewrite(records: list) -> list:
        for step in rewrites:
            records = step(records)
        return records

    return rewrite


def scores_out_of_range() -> Rewrite:
    """NPS 11, CSAT 6, CES 0: a survey tool that changed its scale."""
    bad = {"nps": 11, "csat": 6, "ces": 0}
    return lambda records: [{**r, "score": bad.get(r.get("survey_type"), 99)} for r in records]
