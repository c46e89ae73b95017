"""Survey answers from Typeform's Responses API, through dlt's REST client, against a localhost
server replaying the API's documented contract over the small world's responses: paging
`before` a token to the end, a 429 with Retry-After, `since` on the next run, 401 and 404."""

import copy
import datetime as dt
import os

import pytest

from ingestion.settings import ConfigError, Settings, TypeformForm, parse_forms
from simulator.api_server import serve, state_from_landing
from tests.ingestion.helpers import query, run_feed

FORMS = (TypeformForm("csat_checkout", "csat"), TypeformForm("nps_relationship", "nps"))


@pytest.fixture
def typeform(cx_env, monkeypatch):
    state = state_from_landing(cx_env["landing"], token="tfp_secret")
    server = serve(state)
    monkeypatch.setenv("SOURCES__TYPEFORM__ACCESS_TOKEN", "tfp_secret")
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _first_versions(state) -> dict:
    """What Typeform holds, from the world's records: each response as first submitted."""
    first = {}
    for record in state.survey_versions:
        first.setdefault(record["id"], record)
    return first


def _calls(state, form_id):
    return [r for r in state.requests if r["path"] == f"/forms/{form_id}/responses"]


def _load(url, page_size=7, forms=FORMS):
    return run_feed("surveys", mode="typeform", base_url=url, page_size=page_size,
                    typeform_forms=forms)  # fmt: skip


def test_typeform_pages_to_the_end_through_a_429(typeform):
    state, url = typeform
    state.throttled = {3}
    # One respondent wrote their email and phone into the comment.
    talkative = next(r for r in state.survey_versions if r["survey_type"] == "csat")
    talkative["comment"] = "Slow! mail me at jo.doe@example.org or +1 415 555 0100"
    _load(url)

    expected = {
        (r["survey_id"], r["survey_type"], r["score"], r["respondent"]["anonymous_id"],
         dt.datetime.fromisoformat(r["created_at"].replace("Z", "+00:00")).replace(microsecond=0))
        for r in _first_versions(state).values()
    }  # fmt: skip
    rows = query(
        "select survey_id, survey_type, score, respondent__anonymous_id, created_at, id, comment, "
        "source from raw.survey_responses"
    )
    assert {r[:5] for r in rows} == expected and len(rows) == len(expected)
    assert all(r[5].startswith(f"{r[0]}/") and r[7] == "typeform" for r in rows)
    comments = [r[6] for r in rows if r[6]]
    assert len(comments) == 1 and "Slow!" in comments[0]
    assert "jo.doe@example.org" not in comments[0] and "555 0100" not in comments[0]

    for form in FORMS:
        calls = _calls(state, form.form_id)
        served = sum(r["survey_id"] == form.form_id for r in _first_versions(state).values())
        answered = [c for c in calls if c["status"] == 200]
        assert len(answered) == served // 7 + 1  # every page once, the last one short
        assert "before" not in answered[0]["params"] and answered[0]["params"]["page_size"] == "7"
        assert all("before" in c["params"] for c in answered[1:])
    throttled = [c for c in state.requests if c["status"] == 429]
    assert len(throttled) == 1
    retried = state.requests[state.requests.index(throttled[0]) + 1]
    assert retried["params"] == throttled[0]["params"] and retried["status"] == 200


def test_typeform_next_run_asks_since_the_newest_and_loads_only_new(typeform):
    state, url = typeform
    created = sorted(r["created_at"] for r in _first_versions(state).values())
    state.now = dt.datetime.fromisoformat(created[len(created) // 2].replace("Z", "+00:00"))
    _load(url)
    seen = {r[0] for r in query("select id from raw.survey_responses")}
    newest = {
        form.form_id: max(
            (i["submitted_at"] for i in state.typeform_items(form.form_id)), default=None
        )
        for form in FORMS
    }
    state.now, state.requests = None, []
    counts = _load(url)
    for form in FORMS:
        first = _calls(state, form.form_id)[0]["params"]
        assert first["since"] == newest[form.form_id].rstrip("Z")
    total = len(_first_versions(state))
    assert len(query("select id from raw.survey_responses")) == total
    # The boundary response comes again (since is inclusive) and is not loaded twice.
    assert counts["survey_responses"] == total - len(seen)

    state.requests = []
    assert _load(url).get("survey_responses", 0) == 0


def test_an_unanswered_score_is_quarantined_as_typeform_sent_it(typeform):
    state, url = typeform
    skipped = next(r for r in state.survey_versions if r["survey_type"] == "nps")
    for version in state.survey_versions:
        if version["id"] == skipped["id"]:
            version["score"] = None
    _load(url)
    rows = query("select reason, raw_text, file from raw.surveys_quarantine")
    assert len(rows) == 1 and rows[0][0] == "missing_score"
    assert '"response_id"' in rows[0][1] and '"hidden"' in rows[0][1]
    assert rows[0][2].startswith("typeform/forms/nps_relationship/responses#page")
    ledger = query("select sum(items_read), sum(items_loaded), sum(items_quarantined) "
                   "from raw.surveys_ledger")[0]  # fmt: skip
    assert ledger == (len(_first_versions(state)), len(_first_versions(state)) - 1, 1)


def test_typeform_errors_name_the_setting_to_fix(typeform, monkeypatch):
    state, url = typeform
    monkeypatch.setenv("SOURCES__TYPEFORM__ACCESS_TOKEN", "expired")
    with pytest.raises(Exception, match="SOURCES__TYPEFORM__ACCESS_TOKEN") as raised:
        _load(url)
    assert "401" in str(raised.value)
    monkeypatch.setenv("SOURCES__TYPEFORM__ACCESS_TOKEN", "tfp_secret")
    with pytest.raises(Exception, match="no form 'nope1'.*CX_TYPEFORM_FORMS"):
        _load(url, forms=(TypeformForm("nope1", "nps"),))

    environ = dict(os.environ, CX_SURVEYS_MODE="typeform")
    with pytest.raises(ConfigError, match="CX_TYPEFORM_FORMS is not set"):
        Settings.from_env(environ)
    with pytest.raises(ConfigError, match="'abc:stars'"):
        Settings.from_env(dict(environ, CX_TYPEFORM_FORMS="u6nXL7:nps,abc:stars"))
    settings = Settings.from_env(dict(environ, CX_TYPEFORM_FORMS="u6nXL7:nps, Xy12:ces:q_effort"))
    assert settings.typeform_forms == (
        TypeformForm("u6nXL7", "nps"),
        TypeformForm("Xy12", "ces", "q_effort"),
    )
    assert parse_forms("a:csat") == (TypeformForm("a", "csat"),)


def test_the_score_field_can_be_named_by_its_ref():
    from ingestion.surveys.typeform import to_record
    from simulator.api_server import typeform_item

    record = {"id": "r1", "survey_id": "f1", "survey_type": "nps", "score": 9, "comment": "ok",
              "respondent": {"user_id": "u1", "anonymous_id": None, "email": None},
              "created_at": "2026-11-02T10:00:00Z"}  # fmt: skip
    item = typeform_item(record)
    rating = copy.deepcopy(item["answers"][0])
    rating["field"].update(type="rating", ref="delivery_stars")
    rating["number"] = 2
    item["answers"].insert(0, rating)  # an earlier rating question the NPS must not be read from
    by_ref = to_record(item, TypeformForm("f1", "nps", "f1_score"))
    assert by_ref["score"] == 9 and by_ref["comment"] == "ok"
    assert by_ref["respondent"] == {"user_id": "u1", "anonymous_id": None, "email": None}
    assert to_record(item, TypeformForm("f1", "nps"))["score"] == 2  # first score field
