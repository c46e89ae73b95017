"""Validate JSON records of a page or export file: good rows, quarantine rows, a ledger row.

Shared by the tickets and surveys feeds, whose records arrive as pages (API) or export files.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import dlt
import pyarrow as pa

from ingestion.common.quarantine import quarantine_row
from ingestion.common.suppression import Suppression

# A check returns None when the record is good, else the quarantine reason.
Check = Callable[[dict], str | None]


def parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def required(fields: dict[str, type | str]) -> Check:
    """A check that each field is present and of its type ("time" = ISO-8601 with offset)."""

    def check(record: dict) -> str | None:
        if not isinstance(record, dict):
            return "not_an_object"
        for name, kind in fields.items():
            value = record.get(name)
            if value is None or value == "":
                return f"missing_{name}"
            if kind == "time" and parse_time(value) is None:
                return f"invalid_{name}"
            if isinstance(kind, type) and (not isinstance(value, kind) or isinstance(value, bool)):
                return f"invalid_{name}"
        return None

    return check


@dataclass
class PageResult:
    rows: list[dict] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    ledger: dict = field(default_factory=dict)


def split_page(
    source: str,
    location: str,
    records: Iterable[dict],
    check: Check,
    clean: Callable[[dict], dict],
    key: bytes,
    person: str | None = None,
    suppression: Suppression | None = None,
    names: Callable[[dict], tuple[str | None, ...]] | None = None,
) -> PageResult:
    """Check, clean and route each record; a clean record whose `person` object belongs to
    someone on the suppression list is dropped and counted, never stored. `names` gives the
    person names a record's page knows (a ticket's requester), scrubbed from quarantined text."""
    result = PageResult()
    read = suppressed = 0
    for position, record in enumerate(records):
        read += 1
        reason = check(record)
        if reason:
            raw = json.dumps(record, default=str)
            known = names(record) if names and isinstance(record, dict) else ()
            result.quarantine.append(
                quarantine_row(source, location, position, reason, raw, key, known)
            )
            continue
        row = clean(record)
        if suppression and person and suppression.drops_person(row.get(person)):
            suppressed += 1
            continue
        result.rows.append(row)
    result.ledger = ledger_row(source, location, read, len(result.quarantine), suppressed)
    return result


def unreadable(source: str, location: str, raw: str, reason: str, key: bytes) -> PageResult:
    """A whole file or page that could not be parsed: one quarantined item."""
    return PageResult(
        quarantine=[quarantine_row(source, location, 0, reason, raw, key)],
        ledger=ledger_row(source, location, 1, 1),
    )


def ledger_row(
    source: str, location: str, read: int, quarantined: int, suppressed: int = 0
) -> dict:
    """items_read = items_loaded + items_quarantined + items_suppressed (records of people on
    the erasure suppression list: ingestion/common/suppression.py)."""
    return {
        "source": source,
        "file": location,
        "items_read": read,
        "items_loaded": read - quarantined - suppressed,
        "items_quarantined": quarantined,
        "items_suppressed": suppressed,
        "read_at": dt.datetime.now(dt.UTC),
    }


def not_null(table: pa.Table, columns: list[str]) -> pa.Table:
    """`table` with `columns` declared non-nullable (zero-copy), as the dlt schema has its keys:
    otherwise dlt warns on every Arrow batch that the hints differ."""
    schema = table.schema
    for name in columns:
        i = schema.get_field_index(name)
        schema = schema.set(i, schema.field(i).with_nullable(False))
    return table.cast(schema)


def side_table(items, feed: str, kind: str):
    """Route `items` to <feed>_quarantine or <feed>_ledger with that table's own key and hints
    (a plain table-name mark would inherit the feed resource's primary key)."""
    keys = {"quarantine": ["file", "position"], "ledger": ["file"]}[kind]
    if isinstance(items, pa.Table):
        items = not_null(items, keys)
    hints = dlt.mark.make_hints(
        table_name=f"{feed}_{kind}", write_disposition="append", primary_key=keys
    )
    return dlt.mark.with_hints(items, hints, create_table_variant=True)


def emit(result: PageResult, feed: str, table: str, columns: dict):
    """Yield a page's rows to `table` and the rest to <feed>_quarantine / <feed>_ledger.

    The main table's column hints go on its own table variant: set on the resource, they would be
    inherited by the quarantine and ledger tables too."""
    if result.rows:
        hints = dlt.mark.make_hints(table_name=table, columns=columns)
        yield dlt.mark.with_hints(result.rows, hints, create_table_variant=True)
    if result.quarantine:
        yield side_table(result.quarantine, feed, "quarantine")
    yield side_table([result.ledger], feed, "ledger")
