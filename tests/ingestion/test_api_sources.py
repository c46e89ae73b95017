"""Tickets and surveys in `api` mode against a real HTTP server on localhost that speaks the
Zendesk cursor-export and survey cursor-API paging contracts (including 429 + Retry-After)."""

import datetime as dt
import os

import pytest

from ingestion.settings import Settings
from simulator.api_server import RESPONSES_PATH, TICKETS_PATH, serve, state_from_landing
from tests.ingestion.helpers import query, run_feed


@pytest.fixture
def api(cx_env, monkeypatch):
    state = state_from_landing(cx_env["landing"], token="secret-token")
    server = serve(state)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("SOURCES__TICKETS__API_TOKEN", "secret-token")
    monkeypatch.setenv("SOURCES__SURVEYS__API_TOKEN", "secret-token")
    monkeypatch.setenv("CX_TICKETS_MODE", "api")
    monkeypatch.setenv("CX_SURVEYS_MODE", "api")
    monkeypatch.setenv("CX_TICKETS_API_URL", url)
    monkeypatch.setenv("CX_SURVEYS_API_URL", url)
    yield state, url
    server.shutdown()


def _calls(state, path):
    return [r for r in state.requests if r["path"] == path]


def test_tickets_api_follows_cursors_to_end_of_stream_through_a_429(api):
    state, url = api
    state.throttled = {2}
    expected = {v["ticket"]["id"]: v["ticket"] for v in state.tickets()}
    page_size = max(1, len(expected) // 4)  # at least four pages
    run_feed("tickets", mode="api", base_url=url, page_size=page_size)
    rows = query("select id, status, updated_at from raw.tickets")
    assert {r[0] for r in rows} == set(expected)
    for ticket_id, status, updated_at in rows:
        assert status == expected[ticket_id]["status"]
        assert updated_at == dt.datetime.fromisoformat(expected[ticket_id]["updated_at"])
    calls = _calls(state, TICKETS_PATH)
    assert [c["status"] for c in calls].count(429) == 1 and calls[1]["status"] == 429
    assert calls[2]["params"] == calls[1]["params"]  # the throttled page was asked again
    assert calls[0]["params"]["start_time"] == "0" and "cursor" not in calls[0]["params"]
    assert all("cursor" in c["params"] and "start_time" not in c["params"] for c in calls[1:])
    pages = -(-len(expected) // page_size)
    assert len(calls) == pages + 1  # every page once, plus the retried one


def test_tickets_api_resumes_from_its_cursor(api):
    state, url = api
    versions = sorted(v["ticket"]["updated_at"] for v in state.ticket_versions)
    state.now = dt.datetime.fromisoformat(versions[len(versions) // 2])
    run_feed("tickets", mode="api", base_url=url, page_size=3)
    assert {r[0] for r in query("select id from raw.tickets")} == {
        v["ticket"]["id"] for v in state.tickets()
    }
    last_seen = max(v["ticket"]["updated_at"] for v in state.tickets())

    state.now = None  # time passes: the rest of the changes become visible
    state.requests.clear()
    run_feed("tickets", mode="api", base_url=url, page_size=3)
    start = int(_calls(state, TICKETS_PATH)[0]["params"]["start_time"])
    assert start == int(dt.datetime.fromisoformat(last_seen).timestamp())
    expected = {v["ticket"]["id"]: v["ticket"]["status"] for v in state.tickets()}
    assert dict(query("select id, status from raw.tickets")) == expected


def test_surveys_api_cursor_pages_and_rerun_loads_nothing(api):
    state, url = api
    state.throttled = {1}
    expected = {r["id"]: r["score"] for r in state.responses()}
    page_size = max(1, len(expected) // 4)
    run_feed("surveys", mode="api", base_url=url, page_size=page_size)
    assert dict(query("select id, score from raw.survey_responses")) == expected
    calls = _calls(state, RESPONSES_PATH)
    assert calls[0]["status"] == 429 and sum("cursor" in c["params"] for c in calls) >= 2
    again = run_feed("surveys", mode="api", base_url=url, page_size=page_size)
    assert again.get("survey_responses", 0) == 0


def test_api_mode_config_and_auth_errors_are_clear(api, monkeypatch):
    state, url = api
    monkeypatch.setenv("SOURCES__TICKETS__API_TOKEN", "wrong")
    with pytest.raises(Exception, match="401"):
        run_feed("tickets", mode="api", base_url=url)
    monkeypatch.delenv("CX_TICKETS_API_URL")
    with pytest.raises(ValueError, match="CX_TICKETS_API_URL"):
        Settings.from_env(os.environ)
