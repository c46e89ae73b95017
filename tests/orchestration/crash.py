"""Real pipeline processes to kill: used by test_crash_recovery.py and `make chaos`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from ingestion.settings import PROJECT_ROOT

# Steps of `orchestration.run landed`, in order, as its log announces them.
STEPS = ("raw_events", "raw_survey_responses", "raw_tickets", "raw_quality", "cx_dbt",
         "mart_schema", "ops__alerts", "analytics__published")  # fmt: skip


def pipeline_env(data_dir: Path, landing: Path) -> dict[str, str]:
    home = data_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "CX_ENV": "ci", "CX_DATA_DIR": str(data_dir),
           "CX_LANDING_DIR": str(landing), "PII__HASH_KEY": "test-pii-key",
           "DAGSTER_HOME": str(home), "DBT_TARGET_PATH": str(data_dir / "dbt_target")}  # fmt: skip
    for key in ("CX_DUCKDB_PATH", "CX_PIPELINES_DIR", "CX_TICKETS_MODE", "CX_SURVEYS_MODE"):
        env.pop(key, None)
    return env


def start_pipeline(env: dict, log: Path) -> subprocess.Popen:
    """`python -m orchestration.run landed` in its own process group (dbt runs as a child)."""
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.run", "landed"],
        cwd=PROJECT_ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def kill_at(process: subprocess.Popen, log: Path, step: str, delay: float) -> bool:
    """SIGKILL the run and its children `delay` s after `step` starts; False if the run ended
    before (then nothing was killed)."""
    marker = f'Started execution of step "{step}"'.encode()
    deadline = time.monotonic() + 600
    while marker not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    time.sleep(delay)
    if process.poll() is not None:
        return False
    os.killpg(process.pid, signal.SIGKILL)  # the run and its dbt child, as a power loss would
    process.wait(30)
    return True


def finish(process: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    try:
        code = process.wait(timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert code == 0, log.read_text()[-3000:]


def marts(path: Path) -> dict[str, list]:
    """Every mart's rows, sorted (floats rounded: a recomputed average may sum in another order)."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()]  # fmt: skip
        return {
            t: sorted((tuple(round(v, 9) if isinstance(v, float) else v for v in row)
                       for row in con.execute(f"select * from marts.{t}").fetchall()), key=repr)
            for t in tables
        }  # fmt: skip
