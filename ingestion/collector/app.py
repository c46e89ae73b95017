"""The collector's ASGI app: Segment's tracking API in front of the durable spool.

A raw ASGI callable rather than a framework: the surface is a dozen fixed paths, and each request
is dominated by body decoding, JSON and the sync it waits for (a framework's routing would add
~25% per request for nothing). Served by uvicorn with httptools and uvloop (__main__.py).

Answers, as the SDKs need them: 200 `{"success": true}` only once the batch is on disk (Ruby's
client parses every body as JSON and resends on a plain `ok`); 400 with a JSON error for a
malformed envelope (SDKs never retry it, so an authenticated one is also kept as quarantine);
401 `invalid_write_key`; 408 for a body that trickles in slower than the timeout; 413 past the
size caps; 429 with Retry-After under backpressure; 503 when the disk fails; never a 3xx (the
JavaScript SDKs count anything below 400 as delivered).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

import orjson

from ingestion.collector import protocol
from ingestion.collector.metrics import CollectorMetrics
from ingestion.collector.protocol import RequestError
from ingestion.collector.spool import Backpressure, Spool, WriteFailed
from ingestion.settings import CollectorSettings

log = logging.getLogger("cx.collector")
CORS_HEADERS = [
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"Authorization, Content-Type, X-Retry-Count"),
    (b"access-control-max-age", b"86400"),
]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


class CollectorApp:
    def __init__(self, settings: CollectorSettings, metrics: CollectorMetrics | None = None):
        self.settings = settings
        self.metrics = metrics or CollectorMetrics()
        self.spool: Spool | None = None

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    s = self.settings
                    self.spool = Spool(
                        s.spool_dir, s.landing_dir, s.rotate_seconds, s.rotate_bytes,
                        s.max_pending_bytes, self.metrics,
                    )  # fmt: skip
                    await self.spool.start()
                except Exception as error:
                    log.exception("collector could not start")
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                log.info(
                    "collector ready: spool %s, landing %s/events, %d write keys",
                    s.spool_dir, s.landing_dir, len(s.write_keys),
                )  # fmt: skip
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.spool.close()
                log.info("collector stopped; %s", self.metrics.summary())
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"].rstrip("/") or "/"
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        cors = [(b"access-control-allow-origin", headers.get("origin", "*").encode("latin-1"))]
        if "origin" in headers:
            cors.append((b"vary", b"Origin"))
        if path == "/health" and method in ("GET", "HEAD"):
            await self._reply(send, 200, {"status": "ok"})
        elif path == "/metrics" and method == "GET":
            await self._reply(send, 200, self.metrics.exposition(), b"text/plain; version=0.0.4")
        elif path in protocol.SINGLE_PATHS or path in protocol.BATCH_PATHS:
            if method == "OPTIONS":
                await self._reply(send, 204, b"", extra=cors + CORS_HEADERS)
            elif method == "POST":
                await self._ingest(scope, path, headers, receive, send, cors)
            else:
                await self._reply(send, 405, _error("method_not_allowed", "use POST"), extra=cors)
        else:
            await self._reply(send, 404, _error("not_found", f"no endpoint {path}"))

    async def _ingest(self, scope, path, headers, receive, send, cors) -> None:
        received_at = protocol.iso_now(dt.datetime.now(dt.UTC))
        basic_key = protocol.write_key_from_basic(headers.get("authorization"))
        source = self.settings.write_keys.get(basic_key) if basic_key else None
        try:
            if basic_key and source is None:
                raise RequestError(401, "invalid_write_key", "unknown write key")
            body = await self._body(headers, receive)
            try:
                payload = protocol.parse_body(body)
                if source is None:
                    key = protocol.body_write_key(payload)
                    source = self.settings.write_keys.get(key) if key else None
                    if source is None:
                        raise RequestError(
                            401, "invalid_write_key",
                            "unknown write key" if key else "no write key (HTTP Basic or writeKey)",
                        )  # fmt: skip
                messages, envelope = protocol.messages_of(path, payload)
            except RequestError as error:
                if source is not None and error.status == 400:
                    # Authenticated but malformed: the SDK will not resend it, so keep it.
                    line = protocol.quarantine_line(error.code, body, source, received_at)
                    await self.spool.append(line)
                    self.metrics.messages_quarantined.labels(error.code).inc()
                raise
            accepted = protocol.stamp(
                messages, envelope, source, received_at, self._client_ip(scope, headers)
            )
            await self.spool.append(accepted.data)
        except RequestError as error:
            self.metrics.requests_rejected.labels(error.code).inc()
            # A body cut short or too large is left unread: the connection cannot be reused.
            unread = [(b"connection", b"close")] if error.status in (408, 413) else []
            await self._reply(
                send, error.status, _error(error.code, error.message), extra=cors + unread
            )
            return
        except Backpressure as error:
            self.metrics.requests_rejected.labels("backpressure").inc()
            extra = cors + [(b"retry-after", b"1")]
            await self._reply(send, 429, _error("too_many_requests", str(error)), extra=extra)
            return
        except WriteFailed as error:
            self.metrics.requests_rejected.labels("write_failed").inc()
            extra = cors + [(b"retry-after", b"5")]
            await self._reply(send, 503, _error("unavailable", str(error)), extra=extra)
            return
        self.metrics.messages_accepted.inc(accepted.accepted)
        self.metrics.message_ids_filled.inc(accepted.ids_filled)
        for reason, n in accepted.quarantined.items():
            self.metrics.messages_quarantined.labels(reason).inc(n)
        await self._reply(send, 200, {"success": True}, extra=cors)

    async def _body(self, headers: dict, receive: Receive) -> bytes:
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", ""):
            raise RequestError(415, "unsupported_encoding", f"Content-Encoding {encoding!r}")
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > protocol.MAX_BODY_BYTES:
            raise RequestError(413, "body_too_large", f"body larger than {protocol.MAX_BODY_BYTES}")
        decoder = protocol.BodyDecoder(gzipped=encoding == "gzip")
        try:
            async with asyncio.timeout(self.settings.body_timeout_seconds):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise RequestError(400, "client_disconnected", "body not received")
                    decoder.feed(message.get("body", b""))
                    if not message.get("more_body"):
                        break
        except TimeoutError:
            raise RequestError(
                408, "request_timeout",
                f"body not received within {self.settings.body_timeout_seconds} s",
            ) from None  # fmt: skip
        finally:
            self.metrics.bytes_received.inc(decoder.wire_bytes)
        return decoder.finish()

    def _client_ip(self, scope: dict, headers: dict) -> str | None:
        if self.settings.trust_forwarded_for and headers.get("x-forwarded-for"):
            return headers["x-forwarded-for"].split(",")[0].strip() or None
        client = scope.get("client")
        return client[0] if client else None

    async def _reply(self, send: Send, status: int, body, content_type=None, extra=()) -> None:
        self.metrics.requests.labels(str(status)).inc()
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
        response_headers = [
            (b"content-type", content_type or b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})


def _error(code: str, message: str) -> dict:
    return {"success": False, "code": code, "message": message}
