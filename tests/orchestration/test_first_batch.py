"""The first batch of a new warehouse, when only the events feed has delivered: tickets and
surveys have no raw table yet. The run must succeed (their schema checks have nothing to judge,
their freshness checks warn), publish, and the next batch with every feed must pick up where a
clean run would."""

import datetime as dt

import pytest

from orchestration.run import run_pipeline
from simulator.faults import file_hour
from tests.ingestion.helpers import deliver, query, withhold
from tests.orchestration.test_pipeline_e2e import _kpis, _truth_kpis

FIRST_HOURS = 3


def _check_results(result) -> dict[tuple[str, str], object]:
    return {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }


@pytest.mark.timeout(900)
def test_first_batch_with_events_only(cx_env, instance, tmp_path, monkeypatch):
    # DuckDB names the database after the file: a name that is an SQL keyword must work too.
    monkeypatch.setenv("CX_DUCKDB_PATH", str(tmp_path / "full.duckdb"))
    landing = cx_env["landing"]
    held = tmp_path / "held"
    files = withhold(landing, held)
    events = [p for p in files if p.parts[-3] == "events"]
    first = sorted({file_hour(p) for p in events})[:FIRST_HOURS]
    deliver([p for p in events if file_hour(p) in first], held, landing)
    hour = (first[-1] - dt.timedelta(hours=1)).strftime("%Y-%m-%d-%H:%M")

    hourly = run_pipeline(instance, hour, raise_on_error=False)

    assert hourly.success
    checks = _check_results(hourly)
    for table in ("tickets", "survey_responses"):
        schema = checks[(f"raw/{table}", "schema")]
        assert schema.passed, schema.description
        assert "nothing delivered yet" in schema.description
        assert checks[(f"raw/{table}", "values")].passed
        freshness = checks[(f"raw/{table}", "freshness")]
        assert not freshness.passed and freshness.severity.value == "WARN"
    assert checks[("raw/events", "schema")].passed
    loaded = query("select count(*) from raw.events")[0][0]
    assert loaded > 0
    assert query("select count(*) from marts.fct_sessions")[0][0] > 0

    # The rest arrives: the whole world in one more batch equals a clean run's counts.
    deliver(files, held, landing)
    last = max(file_hour(p) for p in files) - dt.timedelta(hours=1)
    assert run_pipeline(instance, last.strftime("%Y-%m-%d-%H:%M")).success
    totals = cx_env["truth"]["totals"]
    expected = {"fct_sessions": totals["sessions"], "fct_tickets": totals["tickets"],
                # the survey feed's responses and the in-app answers sent as track events
                "fct_survey_responses": totals["survey_responses"] + totals["survey_events"]}  # fmt: skip
    for mart, total in expected.items():
        assert query(f"select count(*) from marts.{mart}")[0][0] == total, mart
    assert _kpis() == _truth_kpis(cx_env["truth"])
