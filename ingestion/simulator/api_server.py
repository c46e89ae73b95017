"""A local HTTP server that speaks the two APIs the tickets and surveys feeds read, over a world's
records: Zendesk's incremental cursor export and a cursor-paginated survey responses endpoint.

It follows their paging contracts closely enough to catch client mistakes: the first export request
carries `start_time`, later ones only `cursor` (both at once is a 400, as Zendesk answers); pages end
with `end_of_stream: true`; a bearer token is required; it can answer 429 with Retry-After. Only the
records updated at or before `now` are visible, so a test can move time forward between loads.

    python -m ingestion.simulator.api_server --landing data/landing --port 8765
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from ingestion.simulator.delivery import ticket_page

TICKETS_PATH = "/api/v2/incremental/tickets/cursor.json"
RESPONSES_PATH = "/v1/responses"
log = logging.getLogger("cx.simulator.api")


def _parse(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _encode(position: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def _decode(cursor: str) -> tuple[str, str]:
    return tuple(json.loads(base64.urlsafe_b64decode(cursor.encode())))


@dataclass
class ApiState:
    """What the server serves; tests change `now` and `throttled` and read `requests`."""

    ticket_versions: list[dict]
    survey_versions: list[dict]
    token: str = "test-token"
    now: dt.datetime | None = None
    throttled: set[int] = field(default_factory=set)  # request numbers (1-based) answered 429
    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _latest(self, records: Iterable[dict], key, updated) -> list[dict]:
        latest: dict = {}
        for record in records:
            at = _parse(updated(record))
            if self.now is not None and at > self.now:
                continue
            k = key(record)
            if k not in latest or at >= _parse(updated(latest[k])):
                latest[k] = record
        return sorted(latest.values(), key=lambda r: (_parse(updated(r)), str(key(r))))

    def tickets(self) -> list[dict]:
        return self._latest(
            self.ticket_versions, lambda v: v["ticket"]["id"], lambda v: v["ticket"]["updated_at"]
        )

    def responses(self) -> list[dict]:
        return self._latest(self.survey_versions, lambda r: r["id"], lambda r: r["updated_at"])


def _page_after(records: list[dict], position, key, updated, size: int) -> tuple[list[dict], bool]:
    if position is not None:
        after = (_parse(position[0]), str(position[1]))
        records = [r for r in records if (_parse(updated(r)), str(key(r))) > after]
    return records[:size], len(records) <= size


class _Handler(BaseHTTPRequestHandler):
    state: ApiState  # set on the subclass built by serve()

    def log_message(self, fmt: str, *args) -> None:
        log.debug(fmt, *args)

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        with self.state.lock:
            self.state.requests[-1]["status"] = status
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlparse(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        state = self.state
        with state.lock:
            state.requests.append({"path": url.path, "params": params})
            number = len(state.requests)
        if number in state.throttled:
            return self._send(429, {"error": "RateLimited"}, {"Retry-After": "1"})
        if self.headers.get("Authorization") != f"Bearer {state.token}":
            return self._send(401, {"error": "Couldn't authenticate you"})
        if url.path == TICKETS_PATH:
            return self._tickets(params)
        if url.path == RESPONSES_PATH:
            return self._responses(params)
        return self._send(404, {"error": "InvalidEndpoint"})

    def _tickets(self, params: dict) -> None:
        if ("start_time" in params) == ("cursor" in params):
            return self._send(400, {"error": "InvalidPaginationParameter",
                                    "description": "send either start_time or cursor"})  # fmt: skip
        size = min(int(params.get("per_page", 100)), 1000)
        records = self.state.tickets()
        if "start_time" in params:
            since = dt.datetime.fromtimestamp(int(params["start_time"]), dt.UTC)
            records = [v for v in records if _parse(v["ticket"]["updated_at"]) >= since]
            position = None
        else:
            position = _decode(params["cursor"])
        page, last = _page_after(
            records,
            position,
            lambda v: v["ticket"]["id"],
            lambda v: v["ticket"]["updated_at"],
            size,
        )
        body = ticket_page(page)
        tail = page[-1]["ticket"] if page else None
        cursor = _encode((tail["updated_at"], tail["id"])) if tail else params.get("cursor")
        body.update(
            after_cursor=cursor,
            after_url=f"{TICKETS_PATH}?cursor={cursor}" if cursor else None,
            end_of_stream=last,
        )
        self._send(200, body)

    def _responses(self, params: dict) -> None:
        size = min(int(params.get("limit", 100)), 500)
        records = self.state.responses()
        if "updated_since" in params:
            since = _parse(params["updated_since"])
            records = [r for r in records if _parse(r["updated_at"]) >= since]
        position = _decode(params["cursor"]) if params.get("cursor") else None
        page, last = _page_after(
            records, position, lambda r: r["id"], lambda r: r["updated_at"], size
        )
        cursor = None if last or not page else _encode((page[-1]["updated_at"], page[-1]["id"]))
        self._send(200, {"data": page, "next_cursor": cursor})


def serve(
    state: ApiState, host: str = "127.0.0.1", port: int = 0, background: bool = True
) -> ThreadingHTTPServer:
    """A server over `state` (port 0: any free port; `server.server_address` has it), serving
    from a daemon thread when `background`, else call `serve_forever()` yourself."""
    handler = type("CxApiHandler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    if background:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def state_from_landing(landing: Path, token: str) -> ApiState:
    """Serve what a landing folder's export files hold (valid records only)."""
    tickets, responses = [], []
    for path in sorted((landing / "tickets").glob("*.json")):
        try:
            page = json.loads(path.read_text())
        except ValueError:
            continue
        metrics = {m["ticket_id"]: m for m in page.get("metric_sets", [])}
        people = {u["id"]: u for u in page.get("users", [])}
        for t in page["tickets"]:
            if "id" in t:
                tickets.append(
                    {"ticket": t, "metric_set": metrics.get(t["id"]),
                     "requester": people.get(t.get("requester_id"))}
                )  # fmt: skip
    for path in sorted((landing / "surveys").glob("*.json")):
        responses.extend(r for r in json.loads(path.read_text())["data"] if "id" in r)
    return ApiState(ticket_versions=tickets, survey_versions=responses, token=token)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="dev-token")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    server = serve(state_from_landing(args.landing, args.token), port=args.port, background=False)
    log.info("serving %s and %s on http://127.0.0.1:%s", TICKETS_PATH, RESPONSES_PATH, args.port)
    server.serve_forever()


if __name__ == "__main__":
    main()
