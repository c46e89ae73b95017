"""Great Expectations checks in the real hourly job: a clean 14-day world raises nothing; faults
injected with the simulator (simulator/faults.py) fail the right check with the right
severity, and ERRORs stop the dbt models so the last good marts stay.

One scenario, hour by hour on one warehouse: the world's last day is held back from 14:00 and
delivered an hour (or a few) at a time, each time with a fault."""

import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from expectations import checks
from ingestion.settings import Settings
from orchestration.definitions import defs
from orchestration.defs.alerts.assets import cx_pipeline_failure_alerts
from simulator import SimConfig, faults, simulate

WORLD = SimConfig(
    users=1000, days=14, start=dt.date(2026, 11, 2), seed=11, new_property_from_day=99
)
LAST_DAY = dt.datetime(2026, 11, 15, tzinfo=dt.UTC)
HELD_FROM = LAST_DAY + dt.timedelta(hours=14)
MARTS = ("fct_events", "fct_sessions", "fct_tickets", "fct_survey_responses", "dim_users")


@pytest.fixture
def world(tmp_path, cx_env):
    """The 14-day world in the test's landing folder, its last day from 14:00 held back."""
    landing = cx_env["landing"]
    shutil.rmtree(landing)
    simulate(WORLD, landing)
    held = tmp_path / "held"
    assert faults.hold_back(landing, held, HELD_FROM) > 0
    return landing, held


def _hourly(instance, hour: dt.datetime):
    key = hour.strftime("%Y-%m-%d-%H:00")
    return defs.resolve_job_def("cx_hourly").execute_in_process(
        instance=instance, tags={"dagster/partition": key}, raise_on_error=False
    )


def _checks(result) -> dict:
    return {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.path[0] in ("raw", "marts")
    }


def _failed(result) -> dict:
    return {key: e.severity.value for key, e in _checks(result).items() if not e.passed}


def _marts() -> tuple:
    with duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True) as con:
        return tuple(con.execute(f"select count(*) from marts.{m}").fetchone()[0] for m in MARTS)


def test_clean_world_passes_and_each_fault_fails_its_check(world, instance, receivers):
    landing, held = world

    # A clean 14-day world: every check passes (schema, values, freshness, volume; marts' schema).
    result = _hourly(instance, HELD_FROM - dt.timedelta(hours=1))
    assert result.success
    evaluations = _checks(result)
    assert _failed(result) == {}
    # Each check links its own GX Data Docs page, rendered by this run, and the index.
    metadata = evaluations[("raw/events", "schema")].metadata
    index = Path(metadata["gx_data_docs_index"].value.removeprefix("file://"))
    assert index.exists()
    pages = list(index.parent.glob(f"validations/raw_events/schema/{result.run_id}/*/*.html"))
    assert [str(p) for p in pages] == [metadata["gx_data_docs"].value.removeprefix("file://")]
    # ... and no hour of the 13.5 days would have failed the volume rule: weekday/weekend and
    # day/night variation (plus the incident on day 9) stay inside the baseline.
    cfg = checks.rules()["volume"]
    with duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True) as con:
        counts = checks.hourly_counts(con)
        # The check itself reads only the hours a baseline needs, hour by hour: same profile
        # (every 5th hour, and one before the first and one after the last).
        sample = [counts.index[0] - dt.timedelta(hours=1), *counts.index[::5],
                  counts.index[-1] + dt.timedelta(hours=1)]  # fmt: skip
        read = checks.hourly_counts(con, checks.baseline_hours(sample, cfg))
        stored = con.execute(
            "select count(*), count(*) filter (where passed) from ops.dq_results"
        ).fetchone()
    pd.testing.assert_frame_equal(
        checks.volume_profile(read, sample, cfg), checks.volume_profile(counts, sample, cfg)
    )
    profile = checks.volume_profile(counts, list(counts.index), cfg)
    judged = profile[profile["upper"] != float("inf")]
    assert len(judged) > 150  # the busier hours of 13 days; quiet night hours are not judged
    outside = judged[
        (judged["observed"] <= judged["lower"]) | (judged["observed"] >= judged["upper"])
    ]
    assert outside.empty, outside
    ours = [key for key in evaluations if key[1] in ("schema", "values", "freshness", "volume")]
    assert stored[0] == stored[1] == len(ours) == 10 + 15  # raw checks + every mart's schema

    # A partition with 10% of its usual volume, then one with 3x: volume WARN, models still run.
    for hour, factor in ((HELD_FROM, 0.1), (HELD_FROM + dt.timedelta(hours=1), 3.0)):
        faults.release(held, landing, hour, events=faults.scale_lines(factor))
        result = _hourly(instance, hour)
        assert result.success, factor
        assert _failed(result) == {("raw/events", "volume"): "WARN"}, factor
        meta = _checks(result)[("raw/events", "volume")].metadata
        expected = meta["expected"].value[hour.strftime("%Y-%m-%d %H:00")]
        observed = meta["observed"].value[hour.strftime("%Y-%m-%d %H:00")]
        assert (
            (observed < 0.5 * expected["median"])
            if factor < 1
            else (observed >= 3 * expected["median"])
        )

    # Schema drift and bad values: a dropped and a retyped ticket field (ERROR), a new ticket
    # field and a new event property (WARN), survey scores off their scale (ERROR).
    before = _marts()
    first, last = HELD_FROM + dt.timedelta(hours=2), HELD_FROM + dt.timedelta(hours=7)
    delivered = []
    hour = first
    while hour <= last:
        delivered += faults.release(
            held, landing, hour,
            events=faults.add_property("Product Viewed", "recommendation_slot", 3),
            tickets=faults.chain(
                faults.drop_field("status"),
                faults.retype_field("requester_id", lambda v: f"user-{v}"),
                faults.add_field("sla_policy", "gold"),
            ),
            surveys=faults.scores_out_of_range(),
        )  # fmt: skip
        hour += dt.timedelta(hours=1)
    assert {p.relative_to(landing).parts[0] for p in delivered} == {"events", "tickets", "surveys"}
    result = _hourly(instance, last)
    assert not result.success
    assert _failed(result) == {
        ("raw/tickets", "schema"): "ERROR",
        ("raw/survey_responses", "values"): "ERROR",
        ("raw/events", "schema"): "WARN",
    }
    found = _checks(result)
    tickets = found[("raw/tickets", "schema")].metadata["message"].value
    assert "status is null in" in tickets and "requester_id" in tickets and "sla_policy" in tickets
    assert "recommendation_slot" in found[("raw/events", "schema")].metadata["message"].value
    assert (
        "nps scores outside 0..10"
        in found[("raw/survey_responses", "values")].metadata["message"].value
    )
    # The blocking checks stopped dbt: no model materialized, the marts are as they were.
    assert not [
        m for m in result.get_asset_materialization_events() if m.asset_key.path[0] != "raw"
    ]
    assert _marts() == before
    # The failed run reaches the alert channels with the blocking checks that failed
    # (the run-failure sensor, evaluated as the daemon would; real receivers on localhost).
    http, smtp = receivers
    context = dg.build_run_status_sensor_context(
        sensor_name="cx_pipeline_failure_alerts", dagster_instance=instance,
        dagster_run=result.dagster_run, dagster_event=result.get_run_failure_event(),
    ).for_run_failure()  # fmt: skip
    cx_pipeline_failure_alerts(context)
    (hook,) = [body for path, body in http.received if path == "/hook"]
    assert hook["event"] == "run_failed" and hook["run_id"] == result.run_id
    assert {(c["asset"], c["check"], c["severity"]) for c in hook["failed_checks"]} == {
        ("raw/tickets", "schema", "ERROR"), ("raw/survey_responses", "values", "ERROR"),
        ("raw/events", "schema", "WARN"),
    }  # fmt: skip
    assert [p for p, _ in http.received] == ["/slack", "/hook"] and len(smtp.messages) == 1
    assert "raw/tickets schema ERROR" in smtp.messages[0].get_content()

    # A stale feed: two days later nothing new arrived: freshness WARN for every feed; the bad
    # batch is still unprocessed, so the run is still blocked and the marts still stand.
    result = _hourly(instance, LAST_DAY + dt.timedelta(days=2, hours=12))
    failed = _failed(result)
    assert failed[("raw/tickets", "freshness")] == "WARN"
    assert failed[("raw/events", "freshness")] == "WARN"
    assert failed[("raw/tickets", "schema")] == "ERROR"
    assert _marts() == before
    with duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True) as con:
        rows = con.execute(
            "select asset_key, check_name, severity, observed from ops.dq_results "
            "where run_id = ? and not passed order by 1, 2",
            [result.run_id],
        ).fetchall()
    assert ("raw/tickets", "freshness", "WARN") in [r[:3] for r in rows]
    assert (
        json.loads(dict(((r[0], r[1]), r[3]) for r in rows)[("raw/tickets", "freshness")])[
            "age_hours"
        ]
        > 24
    )
