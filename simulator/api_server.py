"""A local HTTP server that speaks the APIs the tickets and surveys feeds read, over a world's
records: Zendesk's incremental cursor export, Typeform's Responses API and the generic
cursor-paginated survey responses endpoint.

It follows their paging contracts closely enough to catch client mistakes: the first export request
carries `start_time`, later ones only `cursor` (both at once is a 400, as Zendesk answers); pages end
with `end_of_stream: true`. Typeform's responses come newest first, `page_size` at most 1000,
`since`/`until` inclusive, the next page `before` a token; `before` with `after` or `sort` is a
400. A bearer token is required; it can answer 429 with Retry-After. Only the records updated at or
before `now` are visible, so a test can move time forward between loads.

    python -m simulator.api_server --landing data/landing --port 8765
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from simulator.delivery import ticket_page

TICKETS_PATH = "/api/v2/incremental/tickets/cursor.json"
RESPONSES_PATH = "/v1/responses"
TYPEFORM_PATH = re.compile(r"^/forms/([A-Za-z0-9_-]+)/responses$")
# How each survey type is asked in a Typeform form: the field type of its score question.
TYPEFORM_FIELDS = {"nps": "nps", "csat": "rating", "ces": "opinion_scale"}
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

    def typeform_items(self, form_id: str) -> list[dict]:
        """The form's responses as Typeform items, newest first. Typeform keeps a response as
        first submitted (an edit in the survey tool's history is a later version here: Typeform
        has none, so the first version is what it serves)."""
        first: dict = {}
        for record in self.survey_versions:
            if record["survey_id"] == form_id and record["id"] not in first:
                if self.now is None or _parse(record["created_at"]) <= self.now:
                    first[record["id"]] = record
        items = [typeform_item(r) for r in first.values()]
        return sorted(items, key=lambda i: (i["submitted_at"], i["token"]), reverse=True)


def typeform_item(record: dict) -> dict:
    """A survey response as Typeform's Responses API returns it: answers keyed by field, the
    respondent in the hidden fields the survey link carried (empty when not passed)."""
    token = hashlib.sha1(record["id"].encode()).hexdigest()[:32]
    field_type = TYPEFORM_FIELDS[record["survey_type"]]
    person = record.get("respondent") or {}
    submitted = _parse(record["created_at"])
    answers = []
    if record.get("score") is not None:  # a skipped question has no answer
        answers.append(
            {
                "field": {"id": f"{field_type[:3]}{token[:8]}", "type": field_type,
                          "ref": f"{record['survey_id']}_score"},
                "type": "number",
                "number": record["score"],
            }
        )  # fmt: skip
    if record.get("comment"):
        answers.append(
            {
                "field": {"id": f"txt{token[:8]}", "type": "long_text", "ref": "why"},
                "type": "text",
                "text": record["comment"],
            }
        )
    return {
        "landing_id": token,
        "token": token,
        "response_id": token,
        "response_type": "completed",
        "landed_at": (submitted - dt.timedelta(seconds=40)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "submitted_at": submitted.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "metadata": {
            "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
            "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "platform": "mobile",
            "referer": f"https://acme.typeform.com/to/{record['survey_id']}",
            "network_id": token[:10],
            "browser": "touch",
        },
        "hidden": {name: person.get(name) or "" for name in ("user_id", "anonymous_id", "email")},
        "calculated": {"score": 0},
        "variables": [],
        "answers": answers,
    }


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
        if match := TYPEFORM_PATH.match(url.path):
            return self._typeform(match.group(1), params)
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

    def _typeform(self, form_id: str, params: dict) -> None:
        if "before" in params and ("after" in params or "sort" in params):
            return self._send(400, {"code": "VALIDATION_ERROR",
                                    "description": "before cannot be used with after or sort"})  # fmt: skip
        items = self.state.typeform_items(form_id)
        if not items and not any(r["survey_id"] == form_id for r in self.state.survey_versions):
            return self._send(404, {"code": "FORM_NOT_FOUND", "description": "Form not found"})
        size = int(params.get("page_size", 25))
        if not 1 <= size <= 1000:
            return self._send(400, {"code": "VALIDATION_ERROR",
                                    "description": "page_size must be between 1 and 1000"})  # fmt: skip
        for bound, keep in (("since", lambda at, t: at >= t), ("until", lambda at, t: at <= t)):
            if bound in params:
                limit = _parse(params[bound] + ("" if params[bound].endswith("Z") else "Z"))
                items = [i for i in items if keep(_parse(i["submitted_at"]), limit)]
        if "before" in params:
            tokens = [i["token"] for i in items]
            if params["before"] not in tokens:
                return self._send(400, {"code": "VALIDATION_ERROR",
                                        "description": "invalid before token"})  # fmt: skip
            items = items[tokens.index(params["before"]) + 1 :]
        page = items[:size]
        self._send(200, {"total_items": len(items), "page_count": -(-len(items) // size),
                         "items": page})  # fmt: skip


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
    log.info(
        "serving %s, %s and /forms/<survey id>/responses on http://127.0.0.1:%s",
        TICKETS_PATH, RESPONSES_PATH, args.port,
    )  # fmt: skip
    server.serve_forever()


if __name__ == "__main__":
    main()
