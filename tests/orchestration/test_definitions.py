"""The Dagster definitions load and hold the expected graph."""

import datetime as dt
import os

import dagster as dg

from ingestion.settings import PROJECT_ROOT
from orchestration.definitions import defs
from orchestration.defs.shared import DUCKDB_POOL

RAW = [["raw", t] for t in ("events", "tickets", "survey_responses")]
REPO = defs.get_repository_def()
SIDE = [["raw", f"{feed}_{kind}"] for feed in ("events", "tickets", "surveys")
        for kind in ("quarantine", "ledger")]  # fmt: skip


def _graph():
    return defs.resolve_asset_graph()


def test_expected_asset_keys():
    keys = {key.to_user_string() for key in _graph().get_all_asset_keys()}
    for path in [*RAW, *SIDE]:
        assert "/".join(path) in keys
    for model in ("staging/stg_segment__events", "intermediate/int_sessions__events_sessionized",
                  "marts/fct_sessions", "marts/kpi_daily", "staging/stg_ingestion__quarantine",
                  "marts/fct_events", "marts/fct_page_views", "marts/dim_users",
                  "marts/fct_tickets", "marts/fct_survey_responses", "marts/kpi_hourly",
                  "marts/kpi_funnel_daily", "marts/kpi_retention_weekly",
                  "marts/kpi_sentiment_by_experience", "marts/kpi_support_daily", "marts/kpi_daily_by_segment", "marts/kpi_hourly_by_segment"):  # fmt: skip
        assert model in keys


def test_lineage_runs_landing_to_marts():
    graph = _graph()
    upstream = graph.get(dg.AssetKey(["marts", "kpi_daily"])).parent_keys
    assert dg.AssetKey(["marts", "fct_sessions"]) in upstream
    staged = graph.get(dg.AssetKey(["staging", "stg_segment__events"])).parent_keys
    assert staged == {
        dg.AssetKey(["raw", "events"]),
        dg.AssetKey(["raw", "_dlt_loads"]),
        dg.AssetKey(["ops", "processed_loads"]),
    }  # sources only: the batch's loads are raw._dlt_loads minus ops.processed_loads
    quarantine = graph.get(dg.AssetKey(["staging", "stg_ingestion__quarantine"])).parent_keys
    assert quarantine == {
        dg.AssetKey(["raw", f"{f}_quarantine"]) for f in ("events", "tickets", "surveys")
    }


def test_the_batch_reads_of_the_previous_state_are_in_the_lineage():
    """The manifest models read tables as the previous run left them: declared dbt sources
    (before_batch/<schema>/<table> in Dagster), not lookups hidden in the SQL."""
    graph = _graph()
    before = lambda schema, name: dg.AssetKey(["before_batch", schema, name])  # noqa: E731
    persons = graph.get(dg.AssetKey(["intermediate", "int_batch__persons"])).parent_keys
    assert {before("intermediate", "int_identity__events_stitched"),
            before("intermediate", "int_sessions__events_sessionized")} <= persons  # fmt: skip
    snapshot = graph.get(dg.AssetKey(["intermediate", "int_batch__kpi_rows_before"])).parent_keys
    assert {before("marts", m) for m in ("fct_sessions", "fct_page_views", "fct_events",
            "fct_feedback_experience", "fct_tickets", "fct_survey_responses", "dim_users")} | {
            before("intermediate", "int_identity__plans")} <= snapshot  # fmt: skip
    previous = [k for k in graph.get_all_asset_keys() if k.path[0] == "before_batch"]
    assert len(previous) == 10
    assert all(graph.get(k).description for k in previous), "described in _manifest__models.yml"
    models = PROJECT_ROOT / "dbt_project" / "models"
    hidden = [p.name for p in models.rglob("*.sql") if "adapter.get_relation" in p.read_text()]
    assert hidden == []


def test_every_warehouse_writer_is_in_the_duckdb_pool():
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    # three dlt feeds, the dbt models, ops/alerts, analytics/published, ops/retention
    assert len(assets) == 7
    for asset in assets:
        assert asset.op.pool == DUCKDB_POOL, asset.node_def.name
    # The GX checks write ops.dq_results: writers too.
    checks = [c for c in defs.asset_checks if isinstance(c, dg.AssetChecksDefinition)]
    assert {c.node_def.name for c in checks} == {"raw_quality", "mart_schema"}
    for check in checks:
        assert check.op.pool == DUCKDB_POOL, check.node_def.name


def test_one_run_a_batch_publishes_after_every_mart_and_the_alerts():
    """cx_hourly is the whole batch: loads, checks, one dbt step (the KPI marts included), the
    alerts, and analytics/published (the analysts' copy) last, after every mart and the alerts;
    cx_kpis (the recompute after an erasure) holds the KPI marts and the publish only."""
    graph = _graph()
    published = dg.AssetKey(["analytics", "published"])
    marts = {k for k in graph.get_all_asset_keys() if k.path[0] == "marts"}
    alerts = dg.AssetKey(["ops", "alerts"])
    assert len(marts) >= 14 and graph.get(published).parent_keys == marts | {alerts}
    hourly = REPO.get_job("cx_hourly")
    assert {published, alerts, dg.AssetKey(["marts", "kpi_daily"])} <= set(
        hourly.asset_layer.selected_asset_keys
    )
    assert [n.name for n in hourly.graph.node_defs if n.name.startswith("cx_dbt")] == ["cx_dbt"]
    kpis = set(REPO.get_job("cx_kpis").asset_layer.selected_asset_keys)
    assert published in kpis and dg.AssetKey(["marts", "kpi_daily"]) in kpis
    assert not {dg.AssetKey(["marts", "fct_sessions"]), alerts} & kpis


def test_quality_checks_block_dbt_in_the_hourly_job():
    """schema and values checks on raw tables are blocking and run between the loads and dbt;
    every mart has a blocking schema check."""
    graph = _graph()
    job = REPO.get_job("cx_hourly")
    raw_checks = {key for key in graph.asset_check_keys if key.asset_key.path[0] == "raw"}
    assert len(raw_checks) == 10
    for key in raw_checks:
        spec = graph.get_check_spec(key)
        assert spec.blocking == (key.name in ("schema", "values")), key
    marts = {key for key in graph.get_all_asset_keys() if key.path[0] == "marts"}
    assert {k.asset_key for k in graph.asset_check_keys if k.name == "schema"} >= marts
    plan = {node.name for node in job.graph.node_defs}
    assert {"raw_quality", "cx_dbt", "mart_schema"} <= plan
    structure = job.graph.dependency_structure
    dbt_inputs = {d.node.name for d in structure.all_upstream_outputs_from_node("cx_dbt")}
    assert "raw_quality" in dbt_inputs


def test_alerts_run_after_the_hourly_marts_and_failures_are_reported():
    job = defs.resolve_job_def("cx_hourly")
    graph = _graph()
    alerts = dg.AssetKey(["ops", "alerts"])
    assert alerts in job.asset_layer.executable_asset_keys
    assert {dg.AssetKey(["marts", m]) for m in ("fct_sessions", "fct_page_views", "fct_tickets",
            "fct_survey_responses")} <= graph.get(alerts).parent_keys  # fmt: skip
    assert (
        graph.get(alerts).partitions_def
        == graph.get(dg.AssetKey(["marts", "fct_sessions"])).partitions_def
    )
    sensor = defs.resolve_sensor_def("cx_pipeline_failure_alerts")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_partitions_hourly_for_every_modelled_asset():
    graph = _graph()
    hourly = graph.get(dg.AssetKey(["marts", "fct_sessions"])).partitions_def
    assert isinstance(hourly, dg.HourlyPartitionsDefinition) and hourly.timezone == "UTC"
    for key in (["marts", "kpi_daily"], ["analytics", "published"], ["ops", "alerts"]):
        assert graph.get(dg.AssetKey(key)).partitions_def == hourly, key
    assert graph.get(dg.AssetKey(["raw", "events"])).partitions_def is None  # cursor-incremental
    assert defs.resolve_job_def("cx_hourly").partitions_def == hourly
    assert defs.resolve_job_def("cx_kpis").partitions_def == hourly


def test_schedule_runs_the_latest_complete_hour():
    hourly = defs.resolve_schedule_def("cx_hourly_schedule")
    assert hourly.cron_schedule == "10 * * * *"
    at = dt.datetime(2026, 11, 23, 0, 10, tzinfo=dt.UTC)
    with dg.build_schedule_context(scheduled_execution_time=at, repository_def=REPO) as context:
        run = hourly.evaluate_tick(context).run_requests[0]
        assert run.partition_key == "2026-11-22-23:00"


def test_sensor_requests_runs_once_per_new_landing_file(cx_env):
    sensor = defs.resolve_sensor_def("cx_landing_sensor")
    with dg.build_sensor_context(cursor=None, repository_def=REPO) as context:
        first = sensor.evaluate_tick(context)
    assert sensor.job_name == "cx_hourly" and len(first.run_requests) == 1
    with dg.build_sensor_context(cursor=first.cursor, repository_def=REPO) as context:
        assert not sensor.evaluate_tick(context).run_requests  # nothing new
    newest = max(p.stat().st_mtime for p in cx_env["landing"].rglob("*") if p.is_file())
    late = cx_env["landing"] / "events" / "late" / "events-late.jsonl.gz"
    late.parent.mkdir()
    late.write_bytes(b"")
    os.utime(late, (newest + 60, newest + 60))
    with dg.build_sensor_context(cursor=first.cursor, repository_def=REPO) as context:
        again = sensor.evaluate_tick(context)
    assert len(again.run_requests) == 1 and again.cursor != first.cursor
