"""The dashboard on a small built world: every page runs in Streamlit's AppTest with filters set
and shows what independent SQL (or pandas) on the same published file gives; a publish while a
session is open shows the new snapshot without an error."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.views import PAGES as APP_PAGES
from ingestion.settings import PROJECT_ROOT, Settings
from orchestration.run import run_pipeline
from publish import publisher
from tests.conftest import SMALL_WORLD, use_warehouse
from tests.dashboard.browser import chromium_page, dashboard_server, open_page
from tests.ingestion.helpers import frame

APP = PROJECT_ROOT / "dashboard" / "app.py"
FIRST = f"{SMALL_WORLD.start:%Y-%m-%d}-00:00"
LAST = f"{SMALL_WORLD.start + dt.timedelta(days=SMALL_WORLD.days - 1):%Y-%m-%d}-23:00"
PAGES = [path for path, _, _ in APP_PAGES[1:]]  # after the default page (Overview)


@pytest.fixture(scope="module")
def built(tmp_path_factory, small_world):
    """The small world run hour by hour through the pipeline (one backfill), published."""
    import dagster as dg
    import yaml

    data_dir = tmp_path_factory.mktemp("dashboard")
    shutil.copytree(small_world[0], data_dir / "landing")
    overrides = yaml.safe_load((PROJECT_ROOT / "orchestration" / "dagster.yaml").read_text())
    with pytest.MonkeyPatch.context() as env:
        use_warehouse(env, data_dir)
        home = data_dir / "dagster_home"
        home.mkdir()
        with dg.instance_for_test(temp_dir=str(home), overrides=overrides) as instance:
            assert run_pipeline(instance, FIRST, LAST).success
            yield Settings.from_env()


def _published(settings: Settings, sql: str, params=()) -> pd.DataFrame:
    return frame(settings.analytics_path, sql, params)


def _warehouse(settings: Settings, sql: str, params=()) -> pd.DataFrame:
    return frame(settings.duckdb_path, sql, params)


def _app(**params) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _visit(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    assert not at.exception, (page, [e.value for e in at.exception])
    return at


def _tiles(at: AppTest) -> dict[str, tuple[str, str | None]]:
    return {m.label.replace(" (small sample)", ""): (m.value, m.delta) for m in at.metric}


def _day_truth(settings: Settings, day: dt.date, device: str | None = None) -> dict:
    """A day's KPIs from the facts, with pandas and numpy (not the marts' formulas)."""
    where = "" if device is None else f" and device_type = '{device}'"
    sessions = _published(
        settings, "select is_converted from marts.fct_sessions "
        f"where cast(session_start_at as date) = ?{where}", [day],
    )  # fmt: skip
    loads = _published(
        settings, "select page_load_ms from marts.fct_page_views "
        f"where cast(viewed_at as date) = ? and page_load_ms is not null{where}", [day],
    )["page_load_ms"]  # fmt: skip
    tickets = _published(
        settings, "select count(*) as n from marts.fct_tickets where cast(created_at as date) = ?",
        [day],
    )["n"].iloc[0]  # fmt: skip
    return {
        "conversion": 100.0 * sessions["is_converted"].mean(),
        "p75": float(np.percentile(loads, 75)),  # linear interpolation, as quantile_cont
        "tickets": int(tickets),
    }


def test_every_page_shows_the_published_figures(built):
    settings = built
    last_day = SMALL_WORLD.start + dt.timedelta(days=SMALL_WORLD.days - 1)
    first_day = SMALL_WORLD.start
    window = {"from": first_day.isoformat(), "to": last_day.isoformat(), "grain": "day"}

    # Overview, all users: the latest day's tiles and their change against the day before.
    at = _app(**window)
    tiles = _tiles(at)
    truth, before = _day_truth(settings, last_day), _day_truth(settings, last_day - dt.timedelta(1))
    assert tiles["Conversion"][0] == f"{truth['conversion']:.2f}%"
    assert tiles["p75 page load"][0] == f"{truth['p75']:,.0f} ms"
    assert tiles["Tickets"][0] == f"{truth['tickets']:,.0f}"
    change = truth["tickets"] - before["tickets"]
    assert tiles["Tickets"][1] == (f"+{change}" if change >= 0 else f"{change}")
    assert at.query_params["from"] == [first_day.isoformat()] or at.query_params["from"] == (
        first_day.isoformat()
    )

    # The same page for one segment (from the URL): the segment's own figures.
    at = _app(**window, dim="device", values="mobile")
    mobile = _day_truth(settings, last_day, device="mobile")
    tiles = _tiles(at)
    assert tiles["Conversion"][0] == f"{mobile['conversion']:.2f}%"
    assert tiles["p75 page load"][0] == f"{mobile['p75']:,.0f} ms"

    # Segments: p75 page load by device on the latest day.
    at = _app(**window, kpi="p75_page_load_ms")
    _visit(at, "views/segments.py")
    by_device = next(d.value for d in at.dataframe if "device" in d.value.columns)
    for _, row in by_device.iterrows():
        expected = _day_truth(settings, last_day, device=row["device"])["p75"]
        assert row["p75 page load"] == pytest.approx(expected), row["device"]

    # Funnel, Retention, Experience: the tables are the marts' rows for the filters.
    _visit(at, "views/funnel.py")
    shown = at.dataframe[0].value
    mart = _published(
        settings, "select * from marts.kpi_funnel_daily where segment_type = 'overall' "
        "and not is_incomplete order by entry_date desc limit 1",
    )  # fmt: skip
    if not mart.empty:
        assert shown["4 → 5"].iloc[0] == pytest.approx(mart["step_4_to_5_pct"].iloc[0], nan_ok=True)
    _visit(at, "views/retention.py")
    cohorts = _published(settings, "select count(*) as n from marts.kpi_retention_weekly")
    assert len(at.dataframe[0].value) == cohorts["n"].iloc[0]

    # Support: ticket counts over the dates, counted from fct_tickets.
    _visit(at, "views/support.py")
    tickets = _published(
        settings, "select count(*) as created, count(*) filter (where reopens > 0) as reopened "
        "from marts.fct_tickets where cast(created_at as date) between ? and ?",
        [first_day, last_day],
    ).iloc[0]  # fmt: skip
    tiles = _tiles(at)
    assert tiles["Tickets created"][0] == f"{tickets['created']:,}"
    assert tiles["Reopened"][0] == f"{tickets['reopened']:,}"

    # Alerts: the warehouse's open alerts, each linking to Segments filtered to it.
    _visit(at, "views/alerts.py")
    alerts = _warehouse(settings, "select * from ops.alerts")
    assert _tiles(at)["Open alerts"][0] == str((alerts["status"] == "open").sum())
    assert len(at.get("page_link")) == len(alerts)

    # Data status: the feeds' rows and the quarantine as the warehouse counts them.
    _visit(at, "views/data_status.py")
    feeds = at.dataframe[0].value.set_index("feed")
    for table in ("events", "tickets", "survey_responses"):
        n = _warehouse(settings, f"select count(*) as n from raw.{table}")["n"].iloc[0]
        assert feeds.loc[table, "rows"] == n
    quarantined = at.dataframe[2].value["rows"].sum()
    raw = sum(
        _warehouse(settings, f"select count(*) as n from raw.{t}_quarantine")["n"].iloc[0]
        for t in ("events", "tickets", "surveys")
    )
    assert quarantined == raw


def test_a_publish_while_open_shows_the_new_snapshot(built):
    at = _app()
    before = at.session_state["_snapshot_seen"]
    with duckdb.connect(str(built.analytics_path), read_only=True):  # a reader holds the old file
        snap = publisher.publish(
            built.duckdb_path, built.analytics_path, built.published_dir, "test-republish"
        )
    for page in PAGES:
        _visit(at, page)
    assert at.session_state["_snapshot_seen"] == snap.snapshot_id != before
    assert any(snap.snapshot_id in t.value for t in at.toast) or any(
        snap.snapshot_id in c.value for c in at.sidebar.caption
    )


def test_make_dashboard_in_headless_chromium(built, tmp_path):
    """`make dashboard`'s server, every page driven in Debian's Chromium: no Streamlit exception,
    every chart drawn, no request leaving localhost; a screenshot per page in tmp_path."""
    with dashboard_server(tmp_path / "server.log") as url, chromium_page() as page:
        outside: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(url) else outside.append(r.url))
        for _, title, slug in APP_PAGES:
            open_page(page, f"{url}/{'' if slug == 'overview' else slug}?grain=day", title)
            page.screenshot(path=str(tmp_path / f"{slug}.png"), full_page=True)
            errors = page.locator("[data-testid='stException']").all_inner_texts()
            assert not errors, (slug, errors)
            if slug in CHART_PAGES:
                assert page.locator("[data-testid='stVegaLiteChart'] canvas, "
                                    "[data-testid='stVegaLiteChart'] svg").count() > 0, slug  # fmt: skip
    assert not outside, outside
    assert len(list(tmp_path.glob("*.png"))) == len(APP_PAGES)


CHART_PAGES = {"overview", "funnel", "retention", "experience", "support"}
