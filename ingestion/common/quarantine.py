"""Quarantine rows: what could not be loaded, where it came from and why, with its raw text."""

from __future__ import annotations

import datetime as dt

from ingestion.common.pii import scrub_text

RAW_TEXT_LIMIT = 64 * 1024
# Hints shared by every <feed>_quarantine table.
QUARANTINE_COLUMNS = {
    "source": {"data_type": "text", "nullable": False},
    "file": {"data_type": "text", "nullable": False},
    "position": {"data_type": "bigint", "nullable": False},
    "reason": {"data_type": "text", "nullable": False},
    "raw_text": {"data_type": "text"},
    "quarantined_at": {"data_type": "timestamp"},
}


def quarantine_row(
    source: str,
    file: str,
    position: int,
    reason: str,
    raw: str,
    key: bytes,
    names: tuple[str | None, ...] = (),
) -> dict:
    """One quarantine row; the raw text is scrubbed (emails, phones, IPs, the person's `names`
    when the page gives them) and capped in size."""
    return {
        "source": source,
        "file": file,
        "position": position,
        "reason": reason,
        "raw_text": scrub_text(raw[:RAW_TEXT_LIMIT], key, names),
        "quarantined_at": dt.datetime.now(dt.UTC),
    }
