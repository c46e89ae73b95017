"""analytics.js in Debian's headless Chromium: a localhost page server and the browser run."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

JS_DIR = Path(__file__).parent / "js"
BUNDLES = JS_DIR / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags this machine's closed network needs (no background requests to Google's hosts).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


class PageServer:
    """Serves page.html and the analytics.js bundles; records what the page reports."""

    def __init__(self) -> None:
        self.reports: list[dict] = []
        reports = self.reports

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                path = self.path.split("?")[0]
                if path == "/page.html":
                    body, kind = (JS_DIR / "page.html").read_bytes(), "text/html"
                elif path.startswith("/analytics-next/bundles/"):
                    file = BUNDLES / path.rsplit("/", 1)[1]
                    if not file.is_file():
                        self.send_error(404)
                        return
                    body, kind = file.read_bytes(), "application/javascript"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                reports.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def run_page(
    collector_url: str, write_key: str, profile: Path, user_agent: str, timeout: float = 60
) -> dict:
    """Open the page in headless Chromium until it reports; what it reported. `user_agent`: a
    real browser's (headless Chromium's own says HeadlessChrome, which is a bot)."""
    pages = PageServer()
    api_host = collector_url.removeprefix("http://") + "/v1"
    url = f"{pages.url}/page.html?writeKey={write_key}&apiHost={api_host}"
    browser = subprocess.Popen(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--user-agent={user_agent}",
         url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while not pages.reports and time.monotonic() < deadline and browser.poll() is None:
            time.sleep(0.2)
        if not pages.reports:
            raise AssertionError(f"the page reported nothing within {timeout} s")
        return pages.reports[0]
    finally:
        browser.kill()
        browser.wait(10)
        pages.close()
