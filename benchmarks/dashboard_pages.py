"""Dashboard page render times on a built warehouse's published copy, beside plain DuckDB.

For each page: the Streamlit script run (AppTest: the app's own code, its queries through
dashboard/data.py, pandas and the chart specs; not the browser's drawing), cold (caches cleared:
the first render after a publish) and warm (the same view again: cached results), with the
default filters (the last 14 days, by day) and with a segment (device = mobile, by hour). The
reference is the same SQL the page ran, timed on a plain read-only DuckDB connection to the same
file, so the ratio is what the app adds to its queries. Then what a person waits for: `make
dashboard`'s server and Debian's headless Chromium, from navigating to the page until it has
settled with every chart drawn (a new browser page each time: no client cache; the server's
caches as they are after the first visit).

    .venv/bin/python benchmarks/dashboard_pages.py --data-dir /tmp/bench30 [--repeat 5]

The data folder needs a published copy (`analytics.duckdb`): `make run` with CX_DATA_DIR set, or
a longer world (docs/benchmarks.md says how the 30-day one is built).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import duckdb
import streamlit as st
from streamlit.testing.v1 import AppTest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' browser helpers

from dashboard import data  # noqa: E402
from dashboard.views import PAGES  # noqa: E402
from ingestion.settings import PROJECT_ROOT  # noqa: E402
from tests.dashboard.browser import chromium_page, dashboard_server, open_page  # noqa: E402

APP = str(PROJECT_ROOT / "dashboard" / "app.py")
VIEWS = {"default": {}, "segment": {"dim": "device", "values": "mobile", "grain": "hour"}}


def _recording_queries() -> list:
    """The (sql, params) each Snapshot.query call asks, recorded for the reference run."""
    asked: list = []
    original = data.Snapshot.query

    def query(self, sql, params=()):
        asked.append((sql, tuple(params)))
        return original(self, sql, params)

    data.Snapshot.query = query
    return asked


def _render(page: str, params: dict, cold: bool, asked: list) -> float:
    """Seconds of one render of `page` (after a first visit to the default page, which seeds
    the filters as a real first visit does); `asked` then holds the page's queries."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(params)
    at.run()
    if cold:
        st.cache_data.clear()
        st.cache_resource.clear()
    asked.clear()
    started = time.perf_counter()
    if page != PAGES[0][0]:
        at.switch_page(page).run()
    else:
        at.run()
    seconds = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception[0].value}")
    return seconds


def _plain(path: Path, queries: list) -> float:
    started = time.perf_counter()
    with duckdb.connect(str(path), read_only=True) as con:
        for sql, params in queries:
            con.execute(sql, list(params)).df()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="CX_DATA_DIR of a built run")
    parser.add_argument("--repeat", type=int, default=5, help="renders per page and view")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # pandas deprecations inside DuckDB's .df()
    logging.disable(logging.WARNING)  # Streamlit's "missing ScriptRunContext", once per call
    os.environ["CX_DATA_DIR"] = str(args.data_dir.resolve())
    path = data.analytics_path()
    if not path.exists():
        parser.error(f"no published copy at {path}: build the world first (see the docstring)")
    asked = _recording_queries()
    with duckdb.connect(str(path), read_only=True) as con:
        days, size = con.execute("select count(*) from marts.kpi_daily").fetchone()[0], path.stat()
    print(f"published copy {path}: {size.st_size / 2**20:.0f} MB, {days} days of KPIs")
    print(f"{'page':<24} {'view':<8} {'cold s':>7} {'warm s':>7} {'SQL s':>7} {'cold/SQL':>8}")
    worst = 0.0
    for script, title, _ in PAGES:
        for view, params in VIEWS.items():
            cold, warm, plain = [], [], []
            for _ in range(args.repeat):
                cold.append(_render(script, params, True, asked))
                queries = list(asked)
                warm.append(_render(script, params, False, asked))
                plain.append(_plain(path, queries))
            c, w, p = (statistics.median(x) for x in (cold, warm, plain))
            worst = max(worst, c)
            print(f"{title:<24} {view:<8} {c:>7.2f} {w:>7.2f} {p:>7.2f} {c / p:>8.1f}")
    print(f"slowest page, cold: {worst:.2f} s (median of {args.repeat})")
    print(f"\n{'page in Chromium':<24} {'view':<8} {'first s':>7} {'again s':>7}")
    slowest = 0.0
    with dashboard_server(args.data_dir / "dashboard-benchmark.log") as url:
        for _, title, slug in PAGES:
            for view, params in VIEWS.items():
                query = "&".join(f"{k}={v}" for k, v in params.items())
                address = f"{url}/{'' if slug == 'overview' else slug}?{query}"
                first, again = [], []
                for _ in range(args.repeat):
                    with chromium_page() as page:
                        first.append(open_page(page, address, title))
                        page.reload()
                        again.append(open_page(page, address, title))
                f, a = statistics.median(first), statistics.median(again)
                slowest = max(slowest, f)
                print(f"{title:<24} {view:<8} {f:>7.2f} {a:>7.2f}")
    print(f"slowest page in the browser: {slowest:.2f} s (median of {args.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
