"""The pipeline through Dagster (real dlt loads, real dbt build; the hourly job, then the daily KPI
job) on a simulated world, compared with the simulator's ground truth; re-runs and a failed run
that is then re-run."""

import datetime as dt
import gzip
import json
import math
import os
import re
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from alerts import metrics
from ingestion.events.reader import EventBatchReader
from ingestion.settings import PROJECT_ROOT, Settings
from orchestration.defs.transform.project import DBT_PROJECT_DIR
from orchestration.run import run_pipeline
from tests.ingestion.helpers import query
from tests.publish.readers import Readers, landing_pii, pii_found, published_equals_warehouse

KPI_COLUMNS = ("sessions", "active_users", "converted_sessions", "orders", "nps", "csat_pct",
               "ces_responses", "ces_mean", "tickets_created", "median_first_reply_minutes")  # fmt: skip
TRUTH_KEYS = ("sessions", "active_users", "converted_sessions", "orders", "nps", "csat",
              "ces_responses", "ces_mean", "tickets_created", "median_first_reply_minutes")  # fmt: skip


HOUR = "2026-11-06-23:00"  # the small world's last hour: one hourly run, its day's KPIs included


def _run(instance, raise_on_error=True):
    """The hourly job's result."""
    result = run_pipeline(instance, HOUR, raise_on_error=raise_on_error)
    # dagster-dbt's per-invocation target folders (target/<op>-<run id[:7]>-<id>): a successful
    # dbt step leaves none behind, or they would pile up by one a batch, forever.
    target = Path(os.environ.get("DBT_TARGET_PATH", DBT_PROJECT_DIR / "target"))
    if result.success:
        assert not list(target.glob(f"cx_dbt-{result.run_id[:7]}-*")), result.run_id
    return result


def _kpis() -> dict:
    rows = query(f"select cast(kpi_date as varchar), {', '.join(KPI_COLUMNS)} from marts.kpi_daily")
    return {
        row[0]: tuple(round(v, 4) if isinstance(v, float) else v for v in row[1:]) for row in rows
    }


def _truth_kpis(truth) -> dict:
    return {day: tuple(values[k] for k in TRUTH_KEYS) for day, values in truth["daily"].items()}


def _alert_metrics_match_kpi_hourly() -> int:
    """The alert engine's metrics (pandas over the fact marts' rows) against dbt's kpi_hourly,
    hour by hour: the hours compared."""
    kpi_columns = {"conversion_rate": "conversion_rate_pct", "error_rate": "error_session_rate_pct",
                   "p75_page_load_ms": "p75_page_load_ms", "csat": "csat_pct", "nps": "nps",
                   "ticket_volume": "tickets_created",
                   "first_reply_minutes": "median_first_reply_minutes"}  # fmt: skip
    with duckdb.connect(str(Settings.from_env().duckdb_path), read_only=True) as con:
        kpi = con.execute(f"select kpi_hour, {', '.join(kpi_columns.values())} "
                          "from marts.kpi_hourly").df()  # fmt: skip
        hours = [h.to_pydatetime() for h in kpi["kpi_hour"]]
        frames = {source: metrics.fetch(con, source, hours) for source in metrics.SOURCES}
    for name, column in kpi_columns.items():
        metric = metrics.METRICS[name]
        frame = frames[metric.source]
        for row in kpi.to_dict("records"):
            ours = metrics.value(
                metric, metrics.rows_for(metric, frame[frame["hour"] == row["kpi_hour"]])
            )
            theirs = None if pd.isna(row[column]) else row[column]
            assert (ours is None) == (theirs is None), (name, row["kpi_hour"], ours, theirs)
            if ours is not None:
                assert math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-9), (name, row, ours)
    return len(kpi)


def test_pipeline_matches_ground_truth_reruns_and_backfills_change_nothing(
    cx_env, instance, tmp_path
):
    """The pipeline's runs below, while analysts' readers query the published copy (tests/publish):
    no reader error, only whole snapshots, every publish seen; then the published copy equals the
    warehouse's marts, and neither file holds a raw email, IP, phone number or name."""
    settings = Settings.from_env()
    with Readers(tmp_path, settings) as readers:
        _runs_match_truth_and_change_nothing(cx_env, instance)
    records = instance.fetch_materializations(dg.AssetKey(["analytics", "published"]), limit=100)
    # one materialization per hourly partition: a backfill's run records one per hour it covered
    published = list(dict.fromkeys(
        r.asset_materialization.metadata["snapshot_id"].value for r in records.records))  # fmt: skip
    assert len(published) == 4  # the first run, the re-run, the backfill, the late event
    readers.check(published)
    published_equals_warehouse(settings)
    # The analysts' guide's example queries run on the published copy (the small world is too
    # small for some of their thresholds to leave rows).
    guide = (PROJECT_ROOT / "docs" / "analysts.md").read_text()
    queries = re.findall(r"```sql\n(.*?)```", guide, flags=re.S)
    assert len(queries) >= 5
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        for sql in queries:
            con.execute(sql).fetchall()
    pii = landing_pii(cx_env["landing"])
    assert pii_found(settings.duckdb_path, pii) == []
    assert pii_found(settings.analytics_path, pii) == []


def _newest_publish_copied(instance) -> dict[str, str]:
    """How the newest publish copied each mart (its `copied` metadata table)."""
    record = instance.fetch_materializations(dg.AssetKey(["analytics", "published"]), limit=1)
    table = record.records[0].asset_materialization.metadata["copied"].value
    return dict(re.findall(r"^\| (\w+) \| (.+?) \|$", table, flags=re.M))


def _runs_match_truth_and_change_nothing(cx_env, instance):
    result = _run(instance)
    assert result.success
    truth = cx_env["truth"]
    # The alert rules' metrics (alerts/metrics.py) equal kpi_hourly's every hour.
    assert _alert_metrics_match_kpi_hourly() > 50  # the 5-day small world has 99 busy hours
    assert _kpis() == _truth_kpis(truth)
    # The data-quality checks (GX) and dbt's tests all ran on the clean world, and none failed.
    evaluations = result.get_asset_check_evaluations()
    assert {(e.asset_key.to_user_string(), e.check_name) for e in evaluations} >= {
        ("raw/events", "schema"), ("raw/events", "volume"), ("raw/tickets", "freshness"),
        ("raw/survey_responses", "values"), ("marts/fct_sessions", "schema"),
    }  # fmt: skip
    assert [e for e in evaluations if not e.passed] == []

    events = {
        m.asset_key.to_user_string(): m.metadata
        for m in result.asset_materializations_for_node("raw_events")
    }
    meta = events["raw/events"]
    delivery = truth["delivery"]
    assert meta["items_read"].value == delivery["event_lines"]
    assert meta["rows_quarantined"].value == delivery["malformed_lines"]
    assert meta["reconciled"].value is True
    assert events["raw/events_quarantine"]["rows_added"].value == delivery["malformed_lines"]
    totals = truth["totals"]
    assert query("select count(*) from marts.fct_sessions")[0][0] == totals["sessions"]
    assert query("select count(*) from marts.dim_users")[0][0] == totals["users_with_sessions"]
    # The browser parsed from each session's user agent (staging) matches the simulated one.
    browsers = dict(query("select browser, count(*) from marts.fct_sessions group by browser"))
    assert browsers == totals["sessions_by_browser"]
    # ... and the KPI marts segment by it: the daily browser segments add up to the truth too.
    by_segment = query(
        "select segment_value, sum(sessions) from marts.kpi_daily_by_segment "
        "where segment_type = 'browser' group by 1"
    )
    assert dict(by_segment) == totals["sessions_by_browser"]
    assert query("select count(*) from marts.fct_events")[0][0] == delivery["unique_events"]
    assert (
        query("select sum(deliveries - 1) from marts.fct_events")[0][0]
        == delivery["duplicate_lines"]
    )
    # Every ticket in the simulation comes from a known user; every response has a respondent.
    assert query("select count(*), count(stitched_user_id) from marts.fct_tickets")[0] == (
        totals["tickets"],
        totals["tickets"],
    )
    # The feed's responses and the in-app answers that came as track events, each once.
    by_source = {
        source: (n, people)
        for source, n, people in query(
            "select response_source, count(*), count(stitched_user_id) "
            "from marts.fct_survey_responses group by 1"
        )
    }
    assert by_source == {
        "generic_export": (totals["survey_responses"], totals["survey_responses"]),
        "segment_event": (totals["survey_events"], totals["survey_events"]),
    }

    before = query("select * from marts.kpi_daily order by kpi_date")
    again = _run(instance)
    meta = {
        m.asset_key.to_user_string(): m.metadata
        for m in again.asset_materializations_for_node("raw_events")
    }
    assert meta["raw/events"]["items_read"].value == 0
    assert meta["raw/events"]["rows_loaded"].value == 0
    assert query("select * from marts.kpi_daily order by kpi_date") == before

    # A backfill of 24 hourly partitions, one run, rebuilds that range from raw and changes
    # nothing.
    marts = _marts()
    hourly = run_pipeline(instance, "2026-11-05-00:00", "2026-11-05-23:00")
    assert hourly.success
    assert hourly.dagster_run.tags["dagster/asset_partition_range_start"] == "2026-11-05-00:00"
    rebuilt = {
        m.asset_key.to_user_string(): m.metadata
        for m in hourly.asset_materializations_for_node("cx_dbt")
    }
    # Every event of the window was rebuilt (the incident day), though no new load came.
    in_window = query(
        "select count(*) from staging.stg_segment__events "
        "where event_at >= '2026-11-05' and event_at < '2026-11-06'"
    )[0][0]
    assert rebuilt["staging/stg_segment__events"]["batch_messages"].value == in_window > 500
    assert rebuilt["staging/stg_segment__events"]["batch_loads"].value == 0
    assert rebuilt["intermediate/int_batch__changed_periods"]["changed_hours"].value == 24
    assert _marts() == marts
    assert _kpis() == _truth_kpis(cx_env["truth"])

    # An event four days older than the newest one: applied (its day gains an order),
    # and counted as later than the 72-hour lookback in the batch's metadata.
    newest = query("select max(event_at) from staging.stg_segment__events")[0][0]
    at = (newest - dt.timedelta(days=4)).astimezone(dt.UTC)
    day = at.date().isoformat()
    orders_sql = f"select coalesce(max(orders), 0) from marts.kpi_daily where kpi_date = '{day}'"
    orders_before = query(orders_sql)[0][0]
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    late = {"type": "track", "event": "Order Completed", "messageId": "very-late-1",
            "userId": "u-late", "anonymousId": "a-late", "timestamp": stamp,
            "originalTimestamp": stamp, "sentAt": stamp, "receivedAt": stamp,
            "properties": {"revenue": 10}, "context": {"device": {"type": "mobile"}}}  # fmt: skip
    folder = cx_env["landing"] / "events" / "late"
    folder.mkdir()
    with gzip.open(folder / "events-late.jsonl.gz", "wt") as f:
        f.write(json.dumps(late) + "\n")
    late_run = _run(instance)
    stg = {
        m.asset_key.to_user_string(): m.metadata
        for m in late_run.asset_materializations_for_node("cx_dbt")
    }["staging/stg_segment__events"]
    assert stg["events_later_than_lookback"].value == 1
    assert stg["batch_messages"].value >= 1
    assert query(orders_sql)[0][0] == orders_before + 1
    # Its publish copied only the persons dbt rebuilt into the previous snapshot (the published
    # copy is compared with the warehouse, row for row, at the end of the test).
    copied = _newest_publish_copied(instance)
    # u-late only: a-late has no event without the user id, so no row of its own moves
    assert copied["fct_events"] == copied["dim_users"] == "1 persons"
    assert copied["kpi_daily"] == "full"


def test_failed_run_rerun_ends_where_a_clean_run_would(cx_env, instance, monkeypatch):
    calls = {"n": 0}
    original = EventBatchReader.read

    def fail_on_second_batch(self, files):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk went away mid-load")
        return original(self, files)

    monkeypatch.setattr(EventBatchReader, "read", fail_on_second_batch)
    failed = _run(instance, raise_on_error=False)
    assert not failed.success
    assert calls["n"] == 2
    monkeypatch.setattr(EventBatchReader, "read", original)

    recovered = _run(instance)
    assert recovered.success
    delivery = cx_env["truth"]["delivery"]
    rows, distinct, files = query(
        "select count(*), count(distinct message_id), "
        "(select count(distinct file) from raw.events_ledger) from raw.events"
    )[0]
    assert rows == delivery["unique_events"] + delivery["duplicate_lines"]
    assert distinct == delivery["unique_events"]
    assert files == delivery["event_files"]
    assert query("select count(*) from raw.events_ledger")[0][0] == delivery["event_files"]
    assert _kpis() == _truth_kpis(cx_env["truth"])


def _marts() -> dict[str, list]:
    tables = [r[0] for r in query(
        "select table_name from information_schema.tables where table_schema = 'marts'")]  # fmt: skip
    # Rounded: a recomputed average may add the same values in another order.
    return {
        t: sorted((tuple(round(v, 9) if isinstance(v, float) else v for v in row)
                   for row in query(f"select * from marts.{t}")), key=repr)
        for t in tables
    }  # fmt: skip
