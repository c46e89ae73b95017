"""Typeform's Responses API as survey responses: one dlt resource per configured form.

`GET /forms/{form_id}/responses` (https://www.typeform.com/developers/responses/reference/
retrieve-responses/) with a personal access token (`Authorization: Bearer …`, scope
`responses:read`). A page is `{"total_items", "page_count", "items": [...]}`; the next page is asked
`before` the last item's `token`, until a page comes back short. Each run asks only `since` the
newest `submitted_at` it has seen (Typeform's `since` is inclusive: the boundary response comes
again and dlt's incremental drops it). Typeform allows two requests a second per account and
answers 429 past it; dlt's REST client waits as its `Retry-After` says and asks again.

An item becomes the record every survey feed writes (ingestion/surveys/source.py): the score is the
answer of the form's score field (its `ref` if configured, else the first `nps`, `opinion_scale`
or `rating` field answered), the comment the first `long_text`/`short_text` answer, the
respondent the form's hidden fields (`user_id`, `anonymous_id`, `email`: pass them in the survey
link or embed), and `id` is `<form_id>/<response_id>` (Typeform's ids are unique per form only).
An item without a score answer is quarantined as `missing_score`, like any other bad record.
"""

from __future__ import annotations

from collections.abc import Iterator

import dlt
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import HTTPError, Request, Response

from ingestion.settings import ConfigError, TypeformForm, secret, secret_env_name

DEFAULT_URL = "https://api.typeform.com"
TOKEN_KEY = "sources.typeform.access_token"
SCORE_FIELDS = ("nps", "opinion_scale", "rating")
TEXT_FIELDS = ("long_text", "short_text")
HIDDEN_PERSON = ("user_id", "anonymous_id", "email")
MAX_PAGE_SIZE = 1000  # Typeform's limit


class BeforeTokenPaginator(BasePaginator):
    """Typeform's paging: the next page is `before=<token of the last item>`; a page shorter
    than `page_size` is the last."""

    def __init__(self, page_size: int) -> None:
        super().__init__()
        self.page_size = page_size
        self._before: str | None = None

    def update_state(self, response: Response, data: list | None = None) -> None:
        items = response.json().get("items") or []
        if len(items) < self.page_size:
            self._has_next_page = False
        else:
            self._before = items[-1]["token"]

    def update_request(self, request: Request) -> None:
        request.params["before"] = self._before


def _score(item: dict, form: TypeformForm) -> int | None:
    for answer in item.get("answers") or []:
        field = answer.get("field") or {}
        wanted = (
            field.get("ref") == form.score_ref
            if form.score_ref
            else field.get("type") in SCORE_FIELDS
        )
        if wanted:
            return answer.get("number")
    return None


def _comment(item: dict) -> str | None:
    for answer in item.get("answers") or []:
        if (answer.get("field") or {}).get("type") in TEXT_FIELDS:
            return answer.get("text")
    return None


def to_record(item: dict, form: TypeformForm) -> dict:
    """One Typeform response item as a survey response record (see the module's docstring)."""
    hidden = item.get("hidden") or {}
    respondent = {name: hidden.get(name) or None for name in HIDDEN_PERSON}
    submitted = item.get("submitted_at")
    return {
        "id": f"{form.form_id}/{item.get('response_id') or item.get('token')}",
        "survey_id": form.form_id,
        "survey_type": form.survey_type,
        "score": _score(item, form),
        "comment": _comment(item),
        "respondent": respondent if any(respondent.values()) else None,
        "trigger": {"type": "typeform", "name": hidden.get("trigger") or None},
        "source": "typeform",
        "created_at": submitted,
        "updated_at": submitted,
    }


def typeform_pages(
    form: TypeformForm, base_url: str, token: str, page_size: int, since: str | None
) -> Iterator[tuple[int, list[dict]]]:
    """(page number, items) of one form's responses submitted since `since`, newest first."""
    size = max(1, min(page_size, MAX_PAGE_SIZE))
    client = RESTClient(
        base_url=base_url, auth=BearerTokenAuth(token), paginator=BeforeTokenPaginator(size)
    )
    params = {"page_size": size}
    if since:
        params["since"] = since
    try:
        for number, page in enumerate(
            client.paginate(form.path, params=params, data_selector="items")
        ):
            yield number, list(page)
    except HTTPError as error:
        status = error.response.status_code if error.response is not None else None
        if status in (401, 403):
            raise ConfigError(
                f"Typeform answered {status} for form {form.form_id!r}: set "
                f"{secret_env_name(TOKEN_KEY)} (or "
                "`access_token` under [sources.typeform] in .dlt/secrets.toml) to a personal "
                "access token with the responses:read scope that can see this form"
            ) from error
        if status == 404:
            raise ConfigError(
                f"Typeform has no form {form.form_id!r} (404): check CX_TYPEFORM_FORMS"
            ) from error
        raise


def typeform_token() -> str:
    return secret(TOKEN_KEY, "a Typeform personal access token with the responses:read scope")


def _since(last_value: str | None) -> str | None:
    """Typeform takes `since` as UTC to the second with a T (2020-03-20T14:00:59)."""
    if not last_value:
        return None
    return str(last_value).replace("Z", "").replace("+00:00", "")[:19]


def typeform_resource(form: TypeformForm, base_url: str, page_size: int, normalize, emit_page):
    """The dlt resource of one form. `normalize(items, location, convert)` checks and cleans a
    page's items as records (`convert` makes one; a bad item is quarantined as Typeform sent it);
    `emit_page(result)` yields its rows, quarantine and ledger (the surveys feed's own)."""

    @dlt.resource(
        name=f"typeform_{form.form_id}",
        table_name="survey_responses",
        primary_key="id",
        write_disposition="merge",
    )
    def responses(
        updated_at=dlt.sources.incremental(
            "updated_at", initial_value="1970-01-01T00:00:00Z", on_cursor_value_missing="include"
        ),
    ) -> Iterator:
        since = _since(updated_at.last_value)
        token = typeform_token()
        for number, items in typeform_pages(form, base_url, token, page_size, since):
            location = f"typeform{form.path}#page{number}@{since or 'start'}"
            yield from emit_page(normalize(items, location, lambda item: to_record(item, form)))

    return responses
