"""The Dagster definitions load and hold the expected graph."""

import dagster as dg

from orchestration.definitions import defs
from orchestration.defs.shared import DUCKDB_POOL

RAW = [["raw", t] for t in ("events", "tickets", "survey_responses")]
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
                  "marts/kpi_sentiment_by_experience", "marts/kpi_daily_by_segment", "marts/kpi_hourly_by_segment"):  # fmt: skip
        assert model in keys


def test_lineage_runs_landing_to_marts():
    graph = _graph()
    upstream = graph.get(dg.AssetKey(["marts", "kpi_daily"])).parent_keys
    assert dg.AssetKey(["marts", "fct_sessions"]) in upstream
    staged = graph.get(dg.AssetKey(["staging", "stg_segment__events"])).parent_keys
    assert staged == {dg.AssetKey(["raw", "events"])}
    quarantine = graph.get(dg.AssetKey(["staging", "stg_ingestion__quarantine"])).parent_keys
    assert quarantine == {
        dg.AssetKey(["raw", f"{f}_quarantine"]) for f in ("events", "tickets", "surveys")
    }


def test_every_warehouse_writer_is_in_the_duckdb_pool():
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    assert len(assets) == 4  # three dlt feeds and the dbt project
    for asset in assets:
        assert asset.op.pool == DUCKDB_POOL, asset.node_def.name


def test_job_and_schedule():
    job = defs.resolve_job_def("cx_full_pipeline")
    assert job is not None
    schedule = defs.resolve_schedule_def("cx_full_pipeline_daily")
    assert schedule.cron_schedule == "15 2 * * *"
