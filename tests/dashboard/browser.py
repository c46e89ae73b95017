"""`make dashboard`'s server and Debian's headless Chromium (driven by Playwright, never a
downloaded browser): shared by the browser test and benchmarks/dashboard_pages.py."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from ingestion.settings import PROJECT_ROOT
from tests.collector.browser import CHROMIUM, CHROMIUM_FLAGS

# The page's script has finished (the app root's script state, which Streamlit's own browser
# tests read; the "running" widget can be absent for a moment after the title is drawn), no
# element is still a loading placeholder, and every chart is drawn.
SETTLED = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app && app.getAttribute('data-test-script-state') === 'notRunning' &&
        !document.querySelector('[data-testid="stStatusWidget"]') &&
        !document.querySelector('[data-testid="stSkeleton"]') &&
        [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
            .every(c => c.querySelector('canvas, svg'));
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def dashboard_server(log: Path, env: dict | None = None):
    """`make dashboard` on a free port with the current CX_* settings; its base URL."""
    port = _free_port()
    server = subprocess.Popen(
        ["make", "--no-print-directory", "dashboard"], cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {}), "CX_DASHBOARD_PORT": str(port)},
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise AssertionError(f"make dashboard exited: {log.read_text()[-2000:]}")
            try:
                if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the dashboard did not come up: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@contextlib.contextmanager
def chromium_page():
    """A Playwright page in Debian's Chromium (1400 x 1000)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=[f for f in CHROMIUM_FLAGS if f != "--headless"],
        )  # fmt: skip
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


def open_page(page, url: str, title: str) -> float:
    """Load `url` and wait until the page titled `title` has settled; the seconds it took."""
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(f"h1:has-text('{title}')", timeout=60_000)
    page.wait_for_function(SETTLED, timeout=60_000)
    return time.perf_counter() - started
