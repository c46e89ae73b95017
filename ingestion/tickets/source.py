"""Zendesk Support tickets, merged on id into raw.tickets.

Two modes, one page shape: Zendesk's incremental cursor export
(`/api/v2/incremental/tickets/cursor.json`, metric sets and requesters side-loaded), or the same
pages saved as JSON export files in <landing>/tickets/. Each ticket row carries its metric set and
its requester (email replaced by a keyed hash, name dropped); the free-text description is not kept.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import dlt
from dlt.sources.filesystem import FileItemDict
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

from ingestion.common.landing import file_label, landing_files
from ingestion.common.pii import pseudonymize_person, scrub_text
from ingestion.common.records import PageResult, emit, required, split_page, unreadable
from ingestion.common.suppression import Suppression
from ingestion.settings import pii_hash_key, secret

FEED = "tickets"
EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"
CHECK = required({"id": int, "created_at": "time", "updated_at": "time"})
# dlt would otherwise turn the tag list into a child table.
COLUMNS = {
    "tags": {"data_type": "json"},
    "updated_at": {"data_type": "timestamp", "dedup_sort": "desc"},
    "created_at": {"data_type": "timestamp"},
}
DROPPED_FIELDS = ("description", "raw_subject", "recipient")


class ZendeskCursorPaginator(JSONResponseCursorPaginator):
    """Zendesk's cursor export: follow `after_cursor` until `end_of_stream` is true. The first
    request carries `start_time`; later ones carry only `cursor` (Zendesk rejects both)."""

    def __init__(self) -> None:
        super().__init__(cursor_path="after_cursor", cursor_param="cursor")

    def update_state(self, response, data=None) -> None:
        super().update_state(response, data)
        if response.json().get("end_of_stream"):
            self._has_next_page = False

    def update_request(self, request) -> None:
        super().update_request(request)
        if request.params:
            request.params.pop("start_time", None)


def normalize_page(
    page: dict, location: str, key: bytes, suppression: Suppression | None = None
) -> PageResult:
    """Tickets of one export page, each joined to its side-loaded metric set and requester."""
    metrics = {m.get("ticket_id"): m for m in page.get("metric_sets") or [] if isinstance(m, dict)}
    people = {u.get("id"): u for u in page.get("users") or [] if isinstance(u, dict)}

    def names(ticket: dict) -> tuple[str | None, ...]:
        return ((people.get(ticket.get("requester_id")) or {}).get("name"),)

    def clean(ticket: dict) -> dict:
        row = {k: v for k, v in ticket.items() if k not in DROPPED_FIELDS}
        requester = people.get(ticket.get("requester_id")) or {}
        row["subject"] = scrub_text(ticket.get("subject"), key, names=(requester.get("name"),))
        metric_set = metrics.get(ticket["id"])
        if metric_set:
            row["metric_set"] = {k: v for k, v in metric_set.items() if k != "ticket_id"}
        row["requester"] = pseudonymize_person(requester or None, key)
        return row

    return split_page(
        FEED, location, page.get("tickets") or [], CHECK, clean, key, "requester", suppression,
        names,
    )  # fmt: skip


def _read_export(item: FileItemDict, key: bytes, suppression: Suppression | None) -> PageResult:
    location = file_label(item)
    raw = item.read_bytes()
    try:
        page = json.loads(raw)
    except ValueError:
        return unreadable(FEED, location, raw.decode("utf-8", "replace"), "invalid_json", key)
    if not isinstance(page, dict) or not isinstance(page.get("tickets", []), list):
        return unreadable(FEED, location, raw.decode("utf-8", "replace"), "not_an_export_page", key)
    return normalize_page(page, location, key, suppression)


@dlt.transformer(name=FEED, primary_key="id", write_disposition="merge")
def tickets_from_files(
    items: list[FileItemDict], suppression: Suppression | None = None
) -> Iterator:
    key = pii_hash_key()
    for item in items:
        yield from emit(_read_export(item, key, suppression), FEED, FEED, COLUMNS)


@dlt.resource(name=FEED, primary_key="id", write_disposition="merge")
def tickets_from_api(
    base_url: str,
    api_token: str | None = None,
    page_size: int = 1000,
    suppression: Suppression | None = None,
    updated_at=dlt.sources.incremental(
        "updated_at", initial_value="1970-01-01T00:00:00Z", on_cursor_value_missing="include"
    ),
) -> Iterator:
    key = pii_hash_key()
    token = api_token or secret("sources.tickets.api_token", "the Zendesk API token")
    client = RESTClient(
        base_url=base_url, auth=BearerTokenAuth(token), paginator=ZendeskCursorPaginator()
    )
    since = dt.datetime.fromisoformat(str(updated_at.last_value).replace("Z", "+00:00"))
    params = {
        "start_time": int(since.timestamp()),
        "include": "metric_sets,users",
        "per_page": page_size,
    }
    for number, page in enumerate(client.paginate(EXPORT_PATH, params=params, data_selector="$")):
        body = page.response.json()
        yield from emit(
            normalize_page(
                body, f"{EXPORT_PATH}#page{number}@{since:%Y%m%dT%H%M%S}", key, suppression
            ),
            FEED,
            FEED,
            COLUMNS,
        )


@dlt.source(name="zendesk_tickets")
def tickets_source(
    mode: str,
    landing_dir: str | Path | None = None,
    base_url: str | None = None,
    page_size: int = 1000,
    suppression: Suppression | None = None,
) -> dlt.sources.DltResource:
    """`suppression`: people erased from the warehouse, dropped while reading (Suppression.load)."""
    if mode == "api":
        return tickets_from_api(base_url=base_url, page_size=page_size, suppression=suppression)
    files = landing_files(Path(landing_dir) / FEED, "*.json", files_per_batch=200)
    return (files | tickets_from_files(suppression=suppression)).with_name(FEED)
