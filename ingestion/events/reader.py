"""Turn a batch of landing files into Arrow tables: valid events, quarantined lines, a file ledger.

Python splits each file into numbered lines (so every quarantined line keeps its position);
DuckDB does the heavy part — JSON validation, typed extraction, pseudonymisation — and hands back
Arrow tables that dlt loads without touching rows one by one (dlt's Arrow path).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import numpy as np

try:  # ISA-L inflates gzip about twice as fast as zlib
    from isal.igzip import decompress as _gunzip
except ImportError:  # pragma: no cover - isal is in the lock file; zlib is the fallback
    from gzip import decompress as _gunzip
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.common.pii import hash_email, scrub_text, truncate_ip
from ingestion.common.quarantine import RAW_TEXT_LIMIT
from ingestion.common.records import ledger_row
from ingestion.events.enrich import enrich_events

QUARANTINE_KEY = "_cx_quarantine"  # a line the collector wrapped: {"_cx_quarantine": {reason, raw}}

EVENT_TYPES = ("track", "page", "screen", "identify", "group", "alias")
_MESSAGE_SHAPE = {
    "messageId": "JSON",
    "type": "VARCHAR",
    "event": "VARCHAR",
    "name": "VARCHAR",
    "anonymousId": "VARCHAR",
    "userId": "VARCHAR",
    "groupId": "VARCHAR",
    "previousId": "VARCHAR",
    "timestamp": "TIMESTAMPTZ",  # unparseable -> NULL
    "originalTimestamp": "TIMESTAMPTZ",  # unparseable -> NULL
    "sentAt": "TIMESTAMPTZ",  # unparseable -> NULL
    "receivedAt": "TIMESTAMPTZ",  # unparseable -> NULL
    "properties": "JSON",
    "traits": "JSON",
    "context": "JSON",
    "projectId": "VARCHAR",  # the source: Segment's field, set by the collector from the write key
}
_CONTEXT_SHAPE = {
    "userAgent": "VARCHAR",
    "ip": "VARCHAR",
    "locale": "VARCHAR",
    "timezone": "VARCHAR",
    "location": {"country": "VARCHAR"},
    "device": {"type": "VARCHAR", "model": "VARCHAR"},
    "os": {"name": "VARCHAR", "version": "VARCHAR"},
    "screen": {"width": "DOUBLE", "height": "DOUBLE", "density": "DOUBLE"},
}
_PERSON_KEYS_DROPPED = ("name", "firstName", "lastName", "first_name", "last_name", "phone")

_DROPPED = ", ".join(f"'{k}', null" for k in _PERSON_KEYS_DROPPED)
_IPV4 = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"
# Macros that pseudonymise inside DuckDB. The IP regex on the context's text is three times
# cheaper than a JSON merge; the merge (and the Python UDF) runs only for IPv6 or embedded traits.
_SETUP_SQL = r"""
create or replace macro cx_ip(ip_text) as case
    when ip_text is null then null
    when regexp_full_match(ip_text, '@IPV4@') then regexp_replace(ip_text, '\.\d{1,3}$', '.0')
    else cx_ip_slow(ip_text) end;
create or replace macro cx_person(person_json) as case when person_json is null then null
    else json_merge_patch(person_json, json_object(@DROPPED@,
        'email', null, 'email_hash', cx_hmac(person_json->>'email'))) end;
-- Contexts with IPv6 or embedded traits (a few percent) take the JSON merge; the rest one regexp.
-- Merge-patch merges nested objects: drop the old traits first, then add the clean ones.
create or replace macro cx_context_rare(ctx) as json_merge_patch(
    json_merge_patch(ctx, json_object('ip', cx_ip(ctx->>'ip'), 'traits', null)),
    json_object('traits', cx_person(json_extract(ctx, '$.traits'))));
create or replace macro cx_context(ctx) as case
    when ctx is null then null
    when regexp_matches(ctx::varchar, '"traits"|"ip":"[0-9a-fA-F]*:') then cx_context_rare(ctx)
    else regexp_replace(ctx::varchar,
        '"ip":"(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}"', '"ip":"\1.0"') end;
-- Properties: an email is hashed; a free-text `comment` (survey answers sent as track events)
-- is scrubbed like the survey feed's comments.
create or replace macro cx_props(props_json) as case
    when (props_json->>'email') is null and (props_json->>'comment') is null then props_json
    else json_merge_patch(props_json, json_object('email', null,
                          'email_hash', cx_hmac(props_json->>'email'),
                          'comment', cx_scrub(props_json->>'comment'))) end;
""".replace("@IPV4@", _IPV4).replace("@DROPPED@", _DROPPED)

# One pass: classify every line, extract typed columns for the good ones, keep the raw text of
# the bad ones. Splitting the result into events and quarantine happens in Arrow afterwards.
_READ_SQL = (
    r"""
with lines as (
    -- Lines keep their newline: JSON allows trailing whitespace, and trimming a million
    -- strings costs more than validating them. Only quarantined lines are trimmed (below).
    select file, path_source, line_no, raw,
        case when starts_with(raw, '{"@QKEY@"') then
                 -- a record the collector quarantined: its reason and raw text are inside
                 coalesce(json_extract_string(raw, '$.@QKEY@.reason'), 'collector_quarantine')
             when json_valid(raw) then
                 -- valid JSON that starts with '{' is an object: skip a third parse for those
                 case when not starts_with(raw, '{') and json_type(raw) <> 'OBJECT'
                      then 'not_an_object' end
             when regexp_full_match(raw, '\s*') then 'empty_line'
             else 'invalid_json' end as early_reason
    from batch
), parsed as (
    select *, case when early_reason is null then from_json(raw, '@SHAPE@') end as m from lines
), classified as (
    select file, path_source, line_no, raw, m,
        case
            when early_reason is not null then early_reason
            when json_type(m.messageId) is distinct from 'VARCHAR'
                 or trim(m.messageId->>'$') = '' then 'missing_message_id'
            when m.type is null then 'missing_type'
            when m.type not in @TYPES@ then 'unknown_type'
            when coalesce(m.anonymousId, m.userId) is null then 'missing_identity'
            when m.receivedAt is null then 'invalid_received_at'  -- missing or unparseable
            when m.type = 'track' and coalesce(trim(m.event), '') = '' then 'missing_event_name'
        end as reason
    from parsed
), located as (
    -- What enrichment needs from the context, read before the IP is cut (events only).
    select *, case when reason is null and m.context is not null
        then from_json(m.context, '@CTX_SHAPE@') end as c
    from classified
)
select
    m.messageId->>'$' as message_id,
    m.type as type,
    m.event as event,
    m.name as name,
    m.anonymousId as anonymous_id,
    m.userId as user_id,
    m.groupId as group_id,
    m.previousId as previous_id,
    m.timestamp as "timestamp",
    m.originalTimestamp as original_timestamp,
    m.sentAt as sent_at,
    m.receivedAt as received_at,
    cast(cx_props(m.properties) as varchar) as properties,
    cast(cx_person(m.traits) as varchar) as traits,
    cast(cx_context(m.context) as varchar) as context,
    coalesce(path_source, m.projectId) as source_id,
    file as source_file,
    line_no as source_line,
    reason,
    case when reason is null then null
        when starts_with(raw, '{"@QKEY@"') then
            cx_scrub(left(json_extract_string(raw, '$.@QKEY@.raw'), @LIMIT@))
        else cx_scrub(left(rtrim(raw, chr(10) || chr(13)), @LIMIT@)) end as raw_text,
    -- enrichment keys (ingestion/events/enrich.py), dropped before anything is stored
    case when lower(c.device.type) in ('ios', 'android')
        then concat_ws('|', 'app', lower(c.device.type), coalesce(c.device.model, ''),
                       coalesce(c.os.name, ''), coalesce(c.os.version, ''),
                       coalesce(cast(c.screen.width as varchar), ''),
                       coalesce(cast(c.screen.height as varchar), ''),
                       coalesce(cast(c.screen.density as varchar), ''))
        else c.userAgent end as agent_key,
    c.ip as client_ip,
    concat_ws('|', coalesce(c.location.country, ''), coalesce(c.locale, ''),
              coalesce(c.timezone, '')) as place_key
from located
""".replace("@SHAPE@", json.dumps(_MESSAGE_SHAPE))
    .replace("@CTX_SHAPE@", json.dumps(_CONTEXT_SHAPE))
    .replace("@TYPES@", repr(EVENT_TYPES))
    .replace("@LIMIT@", str(RAW_TEXT_LIMIT))
    .replace("@QKEY@", QUARANTINE_KEY)
)
EVENT_COLUMNS = [
    "message_id", "type", "event", "name", "anonymous_id", "user_id", "group_id", "previous_id",
    "timestamp", "original_timestamp", "sent_at", "received_at", "properties", "traits", "context",
    "source_id", "source_file", "source_line",
]  # fmt: skip
ENRICHMENT_KEYS = ["agent_key", "client_ip", "place_key"]
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("file", pa.string()),
        ("position", pa.int64()),
        ("reason", pa.string()),
        ("raw_text", pa.string()),
        ("quarantined_at", pa.timestamp("us", tz="UTC")),
    ]
)
_EMPTY_BATCH = pa.table(
    {
        "file": pa.array([], pa.string()),
        "path_source": pa.array([], pa.string()),
        "line_no": pa.array([], pa.int64()),
        "raw": pa.array([], pa.string()),
    }
)


@dataclass
class LandingFile:
    name: str  # path relative to the landing folder: stable across machines
    content: bytes
    modified_at: dt.datetime
    size_bytes: int
    layout: str | None = "ndjson"  # ingestion/events/layouts.py; None: not an event file
    source_id: str | None = None  # the source the path names (storage-destination layouts)
    ignored_reason: str | None = None  # why the file was not read (its quarantine row's text)
    quarantine_reason: str = "unrecognized_file"  # the reason code when ignored_reason is set


@dataclass
class BatchResult:
    events: pa.Table
    quarantine: pa.Table
    ledger: list[dict]


def _udf(fn) -> callable:
    def apply(values: pa.Array) -> pa.Array:
        return pa.array([fn(v) for v in values.to_pylist()], pa.string())

    return apply


def _split_lines(content: bytes) -> pa.StringArray | None:
    """The file's lines as an Arrow string array built on the decompressed buffer, each line
    keeping its newline (SQL trims it). No Python string per line: building those alone would
    cost more than all of DuckDB's parsing. None when the file cannot be decompressed."""
    try:
        data = _gunzip(content) if content[:2] == b"\x1f\x8b" else content
    except (OSError, EOFError, zlib.error):
        return None
    if data and not data.endswith(b"\n"):
        data += b"\n"
    if not data.isascii():  # ASCII is valid UTF-8; checking that is 20x cheaper than decoding
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            data = data.decode("utf-8", errors="replace").encode()
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10).astype(np.int64)
    offsets = np.concatenate([np.zeros(1, np.int64), ends + 1])
    return pa.LargeStringArray.from_buffers(
        len(ends), pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)
    )


class EventBatchReader:
    """Reads batches of event files with one in-memory DuckDB; `close()` it when done."""

    def __init__(
        self, hash_key: bytes, memory_limit: str = "2GB", threads: int = 2, enrich: bool = True
    ):
        self.threads = threads
        self.enrich = enrich  # off only to measure what enrichment costs (benchmarks/ingest.py)
        self.con = duckdb.connect(config={"memory_limit": memory_limit, "threads": threads})
        self.con.execute("set TimeZone = 'UTC'")
        for name, fn in (
            ("cx_hmac", lambda v: hash_email(v, hash_key)),
            ("cx_ip_slow", truncate_ip),
            ("cx_scrub", lambda v: scrub_text(v, hash_key)),
        ):
            self.con.create_function(
                name, _udf(fn), ["VARCHAR"], "VARCHAR", type="arrow", null_handling="special"
            )
        self.con.execute(_SETUP_SQL)

    def close(self) -> None:
        self.con.close()

    def _batch(self, files: list[LandingFile]) -> tuple[pa.Table, list[str]]:
        with ThreadPoolExecutor(self.threads) as pool:  # zlib releases the GIL
            split = list(pool.map(lambda f: None if f.ignored_reason else _split_lines(f.content),
                                  files))  # fmt: skip
        chunks, unreadable = [], {}
        for f, lines in zip(files, split, strict=True):
            if f.ignored_reason or lines is None:
                unreadable[f.name] = f.quarantine_reason if f.ignored_reason else "unreadable_file"
                continue
            zeros = pa.array(np.zeros(len(lines), np.int32))
            chunks.append(
                pa.table(
                    {
                        "file": pa.DictionaryArray.from_arrays(zeros, pa.array([f.name])),
                        "path_source": pa.DictionaryArray.from_arrays(
                            zeros, pa.array([f.source_id], pa.string())
                        ),
                        "line_no": pa.array(np.arange(1, len(lines) + 1, dtype=np.int64)),
                        "raw": lines.cast(pa.string()),
                    }
                )
            )
        return (pa.concat_tables(chunks) if chunks else _EMPTY_BATCH), unreadable

    def read(self, files: Iterable[LandingFile]) -> BatchResult:
        files = list(files)
        batch, unreadable = self._batch(files)
        # A cursor per call: its own connection to the same in-memory database (macros and
        # functions included), so batches can be read from several threads at once.
        with self.con.cursor() as con:
            con.register("batch", batch)
            result = con.sql(_READ_SQL).to_arrow_table()
        now = dt.datetime.now(dt.UTC)
        bad_rows = np.flatnonzero(pc.is_valid(result["reason"]).to_numpy(zero_copy_only=False))
        events = _without_rows(result.select(EVENT_COLUMNS + ENRICHMENT_KEYS), bad_rows)
        events = enrich_events(events) if self.enrich else events.drop(ENRICHMENT_KEYS)
        bad = result.take(pa.array(bad_rows, pa.int64()))
        n_bad = bad.num_rows
        quarantine = pa.table(
            {
                "source": pa.array(["events"] * n_bad, pa.string()),
                "file": bad["source_file"],
                "position": bad["source_line"],
                "reason": bad["reason"],
                "raw_text": bad["raw_text"],
                "quarantined_at": pa.array([now] * n_bad, pa.timestamp("us", tz="UTC")),
            },
            schema=QUARANTINE_SCHEMA,
        )
        if unreadable:
            notes = {f.name: f.ignored_reason for f in files}
            rows = [
                {"source": "events", "file": name, "position": 0, "reason": reason,
                 "raw_text": notes.get(name), "quarantined_at": now}
                for name, reason in unreadable.items()
            ]  # fmt: skip
            quarantine = pa.concat_tables(
                [quarantine, pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)]
            )
        return BatchResult(events, quarantine, _ledger(files, result, unreadable, now))


def _without_rows(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """`table` minus `rows`, as zero-copy slices: quarantined lines are a handful per batch,
    and filtering would copy every string of every good row."""
    if len(rows) == 0:
        return table
    bounds = [-1, *rows.tolist(), table.num_rows]
    pieces = [table.slice(a + 1, b - a - 1) for a, b in itertools.pairwise(bounds) if b - a > 1]
    return pa.concat_tables(pieces) if pieces else table.slice(0, 0)


def _ledger(files: list[LandingFile], result: pa.Table, unreadable: dict, now) -> list[dict]:
    """One row per file: lines read = events loaded + lines quarantined (an unreadable file
    counts as one quarantined item)."""
    counts = (
        pa.table({"file": result["source_file"], "bad": pc.is_valid(result["reason"])})
        .group_by("file")
        .aggregate([("bad", "count"), ("bad", "sum")])
        .to_pylist()
    )
    by_file = {c["file"]: (c["bad_count"], c["bad_sum"]) for c in counts}
    ledger = []
    for f in files:
        if f.name in unreadable:
            read, bad = 1, 1  # the whole file is one quarantined item
        else:
            read, bad = by_file.get(f.name, (0, 0))
        row = ledger_row("events", f.name, read, bad)
        row.update(
            size_bytes=f.size_bytes, modified_at=f.modified_at, read_at=now,
            layout=f.layout or "unrecognized", source_id=f.source_id,
        )  # fmt: skip
        ledger.append(row)
    return ledger
