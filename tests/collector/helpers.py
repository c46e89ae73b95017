"""The real collector in its own process (`python -m ingestion.collector`), for the tests."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from ingestion.settings import PROJECT_ROOT

WRITE_KEYS = {"wk_web": "web", "wk_server": "server", "wk_ios": "ios"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collector:
    """Starts, kills and restarts one collector on a fixed port and data folder."""

    def __init__(self, data_dir: Path, rotate_seconds: float = 1.0, **env: str):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "CX_DATA_DIR": str(data_dir),
            "CX_LANDING_DIR": str(data_dir / "landing"),
            "CX_COLLECTOR_PORT": str(self.port),
            "CX_COLLECTOR_WRITE_KEYS": ",".join(f"{k}:{v}" for k, v in WRITE_KEYS.items()),
            "CX_COLLECTOR_ROTATE_SECONDS": str(rotate_seconds),
            **env,
        }
        self.process: subprocess.Popen | None = None
        self.log = data_dir / "collector.log"

    def start(self, preexec_fn=None) -> Collector:
        data_dir = self.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ingestion.collector"],
                cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=preexec_fn,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"collector exited: {self.log.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/health", timeout=1).ok:
                    return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("collector did not start within 30 s")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> bool:
        """SIGTERM: publish what is buffered and exit; whether it shut down cleanly (uvicorn
        re-raises the signal once its shutdown is done, so the exit status is -SIGTERM)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(30)
        return code in (0, -signal.SIGTERM) and "collector stopped" in self.log.read_text()

    def alive(self) -> bool:
        return self.process.poll() is None

    def metrics(self) -> dict[str, float]:
        values = {}
        for line in requests.get(f"{self.url}/metrics", timeout=5).text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.stop()


def published_lines(landing: Path) -> list[dict]:
    """Every line of every file the collector published, parsed."""
    lines = []
    for path in sorted((landing / "events").rglob("*.jsonl.gz")):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            lines.append(json.loads(line))
    return lines
