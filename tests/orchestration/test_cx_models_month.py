"""A simulated month through the whole job: every day's KPIs equal the ground truth, and the
incident (mobile checkout 4x slower for six hours) shows where the marts say it should."""

import datetime as dt
import statistics

import dagster as dg
import pytest
import yaml

from ingestion.settings import PROJECT_ROOT
from orchestration.run import run_pipeline
from simulator import SimConfig, simulate
from tests.conftest import use_warehouse
from tests.ingestion.helpers import query

MONTH = SimConfig(users=2500, days=28, start=dt.date(2026, 10, 5), seed=11, incident_day=20)
KPIS = ("sessions", "active_users", "converted_sessions", "orders", "nps", "csat_pct",
        "ces_responses", "ces_mean", "tickets_created", "median_first_reply_minutes")  # fmt: skip
TRUTH = ("sessions", "active_users", "converted_sessions", "orders", "nps", "csat",
         "ces_responses", "ces_mean", "tickets_created", "median_first_reply_minutes")  # fmt: skip


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    root = tmp_path_factory.mktemp("month")
    truth = simulate(MONTH, root / "landing")
    with pytest.MonkeyPatch.context() as env:
        use_warehouse(env, root, key="month-key")
        home = root / "dagster_home"
        home.mkdir()
        overrides = yaml.safe_load((PROJECT_ROOT / "orchestration" / "dagster.yaml").read_text())
        with dg.instance_for_test(temp_dir=str(home), overrides=overrides) as instance:
            assert run_pipeline(instance, "2026-11-01-23:00").success
            yield truth


def test_every_day_matches_ground_truth(month):
    rows = query(f"select cast(kpi_date as varchar), {', '.join(KPIS)} from marts.kpi_daily")
    got = {r[0]: tuple(round(v, 4) if isinstance(v, float) else v for v in r[1:]) for r in rows}
    expected = {day: tuple(v[k] for k in TRUTH) for day, v in month["daily"].items()}
    assert len(got) == MONTH.days
    assert got == expected


def test_csat_drops_for_people_who_met_the_slow_mobile_checkout(month):
    slow_mobile = query(
        "select sum(csat_responses), sum(csat_pct * csat_responses) / sum(csat_responses) "
        "from marts.kpi_sentiment_by_experience "
        "where device_type = 'mobile' and latency_bucket = '>=4s'"
    )[0]
    everyone_else = query(
        "select count(*), 100.0 * avg(case when score >= 4 then 1 else 0 end) "
        "from marts.fct_feedback_experience "
        "where survey_type = 'csat' and not (device_type = 'mobile' and latency_bucket = '>=4s')"
    )[0]
    assert slow_mobile[0] >= 10, "the incident should leave enough CSAT responses to read"
    assert slow_mobile[1] < everyone_else[1] - 25, (slow_mobile, everyone_else)


def test_mobile_funnel_dips_on_the_incident_day(month):
    incident_day = dt.datetime.fromisoformat(month["incident"]["start"]).date()
    rows = dict(query(
        "select entry_date, step_4_to_5_pct from marts.kpi_funnel_daily "
        "where segment_type = 'device' and segment_value = 'mobile'"
    ))  # fmt: skip
    others = [v for day, v in rows.items() if day != incident_day]
    # Six slow hours out of 24 dilute the day's rate: the incident day is the worst day, and
    # clearly below a normal one.
    assert rows[incident_day] < min(others), (rows[incident_day], sorted(others)[:3])
    assert rows[incident_day] < statistics.median(others) - 5, (rows[incident_day], others)


def test_segments_match_ground_truth_and_point_at_mobile(month):
    rows = query(
        "select cast(kpi_date as varchar), segment_value, sessions, csat_pct "
        "from marts.kpi_daily_by_segment where segment_type = 'device'"
    )
    got = {(day, device): sessions for day, device, sessions, _ in rows}
    expected = {
        (day, device): n
        for day, values in month["daily"].items()
        for device, n in values["sessions_by_device"].items()
    }
    assert got == expected
    incident_day = month["incident"]["start"][:10]
    mobile_csat = {day: csat for day, device, _, csat in rows if device == "mobile"}
    assert mobile_csat[incident_day] == min(v for v in mobile_csat.values() if v is not None)
