"""Segment's tracking API as the real SDKs use it: paths, write keys, bodies, per-message stamps.

Pure functions of a request's parts; the ASGI app (app.py) does the I/O. Every message of an
accepted body becomes one NDJSON line: a valid one stamped the way Segment's servers stamp it,
a bad one wrapped as a quarantine record (`{"_cx_quarantine": {...}}`) that the events loader
turns into a `raw.events_quarantine` row with the same reason, so nothing acknowledged is lost
and lines written = messages received.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from ingestion.common.quarantine import RAW_TEXT_LIMIT
from ingestion.events.reader import EVENT_TYPES, QUARANTINE_KEY

# analytics.js posts single calls to /v1/<first letter of the type>; the documented single-call
# paths spell the type out. Batch paths: /v1/batch (Python, Node), /v1/b (Kotlin, Swift,
# analytics.js batching), /v1/import (Ruby).
SINGLE_PATHS = {f"/v1/{t}": t for t in EVENT_TYPES} | {f"/v1/{t[0]}": t for t in EVENT_TYPES}
BATCH_PATHS = frozenset({"/v1/batch", "/v1/b", "/v1/import"})
MAX_MESSAGE_BYTES = 32 * 1024  # Segment's documented per-message limit
MAX_BODY_BYTES = 1024 * 1024  # decompressed; SDKs fill batches up to ~500 KB


class RequestError(Exception):
    """A request refused whole: HTTP status, machine-readable code, message for the client."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def write_key_from_basic(authorization: str | None) -> str | None:
    """The user name of an HTTP Basic `Authorization` header (the write key), else None."""
    if not authorization or not authorization[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


class BodyDecoder:
    """Accumulates a request body chunk by chunk, inflating gzip as it arrives and refusing more
    than MAX_BODY_BYTES of output: a gzip bomb stops at the cap instead of filling memory."""

    def __init__(self, gzipped: bool, limit: int = MAX_BODY_BYTES):
        self.limit = limit
        self.inflate = zlib.decompressobj(wbits=31) if gzipped else None
        self.parts: list[bytes] = []
        self.size = 0
        self.wire_bytes = 0

    def feed(self, chunk: bytes) -> None:
        self.wire_bytes += len(chunk)
        if self.inflate is None:
            data = chunk
        else:
            try:
                data = self.inflate.decompress(chunk, self.limit - self.size + 1)
            except zlib.error as error:
                raise RequestError(
                    400, "invalid_gzip", f"body is not valid gzip: {error}"
                ) from None
            if self.inflate.unconsumed_tail:
                data += b"x"  # more output was waiting: over the limit whatever it holds
        self.size += len(data)
        if self.size > self.limit:
            raise RequestError(
                413, "body_too_large", f"body larger than {self.limit} bytes (decompressed)"
            )
        self.parts.append(data)

    def finish(self) -> bytes:
        if self.inflate is not None and not self.inflate.eof and self.wire_bytes:
            raise RequestError(400, "invalid_gzip", "gzip body ends before its end marker")
        return b"".join(self.parts)


@dataclass
class Accepted:
    """What one request body became: lines to append, and what the counters need."""

    lines: list[bytes] = field(default_factory=list)
    accepted: int = 0
    quarantined: Counter = field(default_factory=Counter)  # reason -> messages
    ids_filled: int = 0

    @property
    def data(self) -> bytes:
        return b"".join(self.lines)


def iso_now(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def quarantine_line(reason: str, raw: bytes | str, source: str, received_at: str) -> bytes:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    record = {"reason": reason, "raw": text[:RAW_TEXT_LIMIT], "source": source,
              "receivedAt": received_at}  # fmt: skip
    return orjson.dumps({QUARANTINE_KEY: record}) + b"\n"


def parse_body(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise RequestError(400, "invalid_json", f"body is not valid JSON: {error}") from None


def body_write_key(payload: object) -> str | None:
    key = payload.get("writeKey") if isinstance(payload, dict) else None
    return key if isinstance(key, str) and key else None


def messages_of(path: str, payload: object) -> tuple[list[object], dict]:
    """The messages of a parsed body and its envelope (the fields shared by its messages)."""
    if path in BATCH_PATHS:
        batch = payload.get("batch") if isinstance(payload, dict) else None
        if not isinstance(batch, list):
            raise RequestError(
                400, "invalid_batch", "a batch body is an object with a `batch` list"
            )
        return batch, payload
    if not isinstance(payload, dict):
        raise RequestError(400, "invalid_message", f"the body of {path} is one message object")
    message = dict(payload)
    if not message.get("type"):  # the path names it (analytics.js sends it in the body too)
        message["type"] = SINGLE_PATHS[path]
    return [message], {}


def stamp(
    messages: list[object],
    envelope: Mapping,
    source: str,
    received_at: str,
    client_ip: str | None,
) -> Accepted:
    """Lines for `messages`, stamped as Segment's servers stamp them: `receivedAt` (server clock),
    the envelope's `sentAt`, `context` and `integrations` where a message lacks them, a UUID
    `messageId` where it is missing, `context.ip` from the request where the client set none, the
    write key's source as `projectId`; the write key itself is never stored."""
    out = Accepted()
    sent_at = envelope.get("sentAt")
    shared_context = envelope.get("context") if isinstance(envelope.get("context"), dict) else {}
    integrations = envelope.get("integrations")
    for message in messages:
        reason = None
        if not isinstance(message, dict):
            reason = "not_an_object"
        elif not isinstance(message.get("type"), str) or not message["type"]:
            reason = "missing_type"
        elif message["type"] not in EVENT_TYPES:
            reason = "unknown_type"
        if reason is None:
            message.pop("writeKey", None)
            if not message.get("messageId"):
                message["messageId"] = str(uuid.uuid4())
                out.ids_filled += 1
            if sent_at is not None and "sentAt" not in message:
                message["sentAt"] = sent_at
            if integrations is not None and "integrations" not in message:
                message["integrations"] = integrations
            context = message.get("context")
            context = (
                {**shared_context, **context} if isinstance(context, dict) else dict(shared_context)
            )
            if client_ip and "ip" not in context:
                context["ip"] = client_ip
            message["context"] = context
            message["receivedAt"] = received_at
            message["projectId"] = source
            line = orjson.dumps(message) + b"\n"
            if len(line) <= MAX_MESSAGE_BYTES:
                out.lines.append(line)
                out.accepted += 1
                continue
            reason = "message_too_large"
            raw = line
        else:
            raw = orjson.dumps(message)
        out.lines.append(quarantine_line(reason, raw, source, received_at))
        out.quarantined[reason] += 1
    return out
