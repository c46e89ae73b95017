"""Which files under <landing>/events are event files, in which layout, from which source.

Three layouts load unchanged:
- the collector's and any NDJSON drop: `<day>/<name>.jsonl.gz` (also `.jsonl`, `.ndjson[.gz]`);
- Segment's S3/GCS storage destination: `segment-logs/<source-id>/<received-day-epoch-ms>/<file>.gz`;
- RudderStack's object-storage destination:
  `rudder-logs/<source-id>/<YYYY-MM-DD>/<unix>.<source-id>.<uuid>.json.gz`.
Any other file is not skipped in silence: it is recorded as a quarantined item with the reason.
Hidden files (a leading dot anywhere in the path) are writes in progress and are passed over.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

NDJSON_SUFFIXES = (".jsonl.gz", ".jsonl", ".ndjson.gz", ".ndjson", ".json.gz")
EXPECTED = (
    "expected <day>/<name>.jsonl.gz (collector, NDJSON drops), "
    "segment-logs/<source-id>/<day-epoch-ms>/<file>.gz (Segment) or "
    "rudder-logs/<source-id>/<YYYY-MM-DD>/<file>.json.gz (RudderStack)"
)


@dataclass(frozen=True)
class Layout:
    name: str | None  # collector, ndjson, segment-logs, rudder-logs; None = not an event file
    source_id: str | None = None  # from the path, where the layout names it
    ignored_reason: str | None = None
    in_progress: bool = False


def classify(relative_path: str) -> Layout:
    """The layout of a file, by its path relative to <landing>/events."""
    parts = PurePosixPath(relative_path).parts
    name = parts[-1]
    if any(part.startswith(".") for part in parts):
        return Layout(None, in_progress=True)
    if parts[0] == "segment-logs":
        if len(parts) == 4 and parts[2].isdigit() and name.endswith(".gz"):
            return Layout("segment-logs", parts[1])
        return Layout(None, ignored_reason=f"not in Segment's layout: {EXPECTED}")
    if parts[0] == "rudder-logs":
        if len(parts) == 4 and name.endswith(".json.gz"):
            return Layout("rudder-logs", parts[1])
        return Layout(None, ignored_reason=f"not in RudderStack's layout: {EXPECTED}")
    if name.endswith(NDJSON_SUFFIXES):
        return Layout("collector" if name.startswith("collector-") else "ndjson")
    return Layout(None, ignored_reason=f"not an event file: {EXPECTED}")
