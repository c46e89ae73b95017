"""Survey responses (NPS 0-10, CSAT 1-5, CES 1-7), merged on response id into raw.survey_responses.

Three modes (CX_SURVEYS_MODE), one record shape:
- `typeform`: Typeform's Responses API, one resource per form in CX_TYPEFORM_FORMS (typeform.py);
- `files`: the generic JSON export, pages `{"data": [...]}` saved in <landing>/surveys/, for survey
  tools with neither an API we read nor a Segment integration;
- `api`: the same generic export served over HTTP, cursor-paginated
  (`GET /v1/responses?updated_since=…&cursor=…`, `{"data": [...], "next_cursor": …}`).
In-app survey tools that forward answers to Segment need no feed: their `track` events
("Survey Responded") become responses in dbt (int_surveys__responses). Respondent emails become
keyed hashes; emails and IPs inside comments are scrubbed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
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
from ingestion.surveys.typeform import DEFAULT_URL, TypeformForm, typeform_resource

FEED = "surveys"
TABLE = "survey_responses"
RESPONSES_PATH = "/v1/responses"
CHECK = required(
    {"id": str, "survey_type": str, "score": int, "created_at": "time", "updated_at": "time"}
)
COLUMNS = {
    "updated_at": {"data_type": "timestamp", "dedup_sort": "desc"},
    "created_at": {"data_type": "timestamp"},
    "score": {"data_type": "bigint"},
}


def normalize_page(
    records: list,
    location: str,
    key: bytes,
    suppression: Suppression | None = None,
    convert: Callable[[dict], dict] | None = None,
) -> PageResult:
    """Check and clean a page's records; `convert` first makes a vendor's item a record (a bad
    item is quarantined as the vendor sent it)."""

    def as_record(item):
        return convert(item) if convert and isinstance(item, dict) else item

    def clean(item: dict) -> dict:
        row = dict(as_record(item))
        row["respondent"] = pseudonymize_person(row.get("respondent"), key)
        row["comment"] = scrub_text(row.get("comment"), key)
        return row

    def check(item) -> str | None:
        return CHECK(as_record(item))

    return split_page(FEED, location, records, check, clean, key, "respondent", suppression)


def _read_export(item: FileItemDict, key: bytes, suppression: Suppression | None) -> PageResult:
    location = file_label(item)
    raw = item.read_bytes()
    try:
        page = json.loads(raw)
    except ValueError:
        return unreadable(FEED, location, raw.decode("utf-8", "replace"), "invalid_json", key)
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        return unreadable(FEED, location, raw.decode("utf-8", "replace"), "not_an_export_page", key)
    return normalize_page(page["data"], location, key, suppression)


@dlt.transformer(name=TABLE, primary_key="id", write_disposition="merge")
def responses_from_files(
    items: list[FileItemDict], suppression: Suppression | None = None
) -> Iterator:
    key = pii_hash_key()
    for item in items:
        yield from emit(_read_export(item, key, suppression), FEED, TABLE, COLUMNS)


@dlt.resource(name=TABLE, primary_key="id", write_disposition="merge")
def responses_from_api(
    base_url: str,
    api_token: str | None = None,
    page_size: int = 500,
    suppression: Suppression | None = None,
    updated_at=dlt.sources.incremental(
        "updated_at", initial_value="1970-01-01T00:00:00Z", on_cursor_value_missing="include"
    ),
) -> Iterator:
    key = pii_hash_key()
    token = api_token or secret("sources.surveys.api_token", "the survey tool's API token")
    client = RESTClient(
        base_url=base_url,
        auth=BearerTokenAuth(token),
        paginator=JSONResponseCursorPaginator(cursor_path="next_cursor", cursor_param="cursor"),
    )
    params = {"updated_since": updated_at.last_value, "limit": page_size}
    pages = client.paginate(RESPONSES_PATH, params=params, data_selector="data")
    for number, page in enumerate(pages):
        location = f"{RESPONSES_PATH}#page{number}@{updated_at.last_value}"
        yield from emit(
            normalize_page(list(page), location, key, suppression), FEED, TABLE, COLUMNS
        )


def _typeform_resources(
    forms: Sequence[TypeformForm], base_url: str | None, page_size: int, suppression
) -> list:
    key = pii_hash_key()

    def normalize(items: list, location: str, convert) -> PageResult:
        return normalize_page(items, location, key, suppression, convert)

    def emit_page(result: PageResult) -> Iterator:
        return emit(result, FEED, TABLE, COLUMNS)

    return [
        typeform_resource(form, base_url or DEFAULT_URL, page_size, normalize, emit_page)
        for form in forms
    ]


@dlt.source(name="survey_responses")
def surveys_source(
    mode: str,
    landing_dir: str | Path | None = None,
    base_url: str | None = None,
    page_size: int = 500,
    suppression: Suppression | None = None,
    typeform_forms: Sequence[TypeformForm] = (),
):
    """`suppression`: people erased from the warehouse, dropped while reading (Suppression.load)."""
    if mode == "typeform":
        return _typeform_resources(typeform_forms, base_url, page_size, suppression)
    if mode == "api":
        return responses_from_api(base_url=base_url, page_size=page_size, suppression=suppression)
    files = landing_files(Path(landing_dir) / FEED, "*.json", files_per_batch=200)
    return (files | responses_from_files(suppression=suppression)).with_name(TABLE)
