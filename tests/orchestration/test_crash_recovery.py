"""A run killed with SIGKILL must not block the warehouse: the next CLI run recovers the dead
run (marked failed, its duckdb_writer slot freed) and ends with the marts and published copy a
clean run gives on the same files. Before orchestration/recovery.py the second run waited
forever ("Step blocked by limit for pool duckdb_writer", at DEBUG only)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from ingestion.settings import PROJECT_ROOT


def _env(data_dir: Path, landing: Path) -> dict[str, str]:
    home = data_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "CX_ENV": "ci", "CX_DATA_DIR": str(data_dir),
           "CX_LANDING_DIR": str(landing), "PII__HASH_KEY": "test-pii-key",
           "DAGSTER_HOME": str(home), "DBT_TARGET_PATH": str(data_dir / "dbt_target")}  # fmt: skip
    for key in ("CX_DUCKDB_PATH", "CX_PIPELINES_DIR", "CX_TICKETS_MODE", "CX_SURVEYS_MODE"):
        env.pop(key, None)
    return env


def _pipeline(env: dict, log: Path) -> subprocess.Popen:
    """`python -m orchestration.run landed` in its own process group (dbt runs as a child)."""
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.run", "landed"],
        cwd=PROJECT_ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def _marts(path: Path) -> dict[str, list]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()]  # fmt: skip
        # Rounded: a recomputed average may add the same values in another order.
        return {
            t: sorted((tuple(round(v, 9) if isinstance(v, float) else v for v in row)
                       for row in con.execute(f"select * from marts.{t}").fetchall()), key=repr)
            for t in tables
        }  # fmt: skip


@pytest.mark.timeout(900)
def test_run_killed_during_dbt_is_recovered_and_rerun_equals_a_clean_run(small_world, tmp_path):
    clean_dir, crash_dir = tmp_path / "clean", tmp_path / "crash"
    for folder in (clean_dir, crash_dir):
        shutil.copytree(small_world[0], folder / "landing")
    clean = _pipeline(_env(clean_dir, clean_dir / "landing"), tmp_path / "clean.log")

    crash_env = _env(crash_dir, crash_dir / "landing")
    crashed = _pipeline(crash_env, tmp_path / "crash-1.log")
    deadline = time.monotonic() + 300
    while (
        b'Started execution of step "cx_dbt_hourly"' not in (tmp_path / "crash-1.log").read_bytes()
    ):
        assert crashed.poll() is None and time.monotonic() < deadline, "never reached dbt"
        time.sleep(0.2)
    time.sleep(3)  # inside the dbt build
    os.killpg(crashed.pid, signal.SIGKILL)  # the run and its dbt child, as a power loss would
    crashed.wait(30)

    again = _pipeline(crash_env, tmp_path / "crash-2.log")
    try:
        assert again.wait(600) == 0, (tmp_path / "crash-2.log").read_text()[-3000:]
    finally:
        if again.poll() is None:
            os.killpg(again.pid, signal.SIGKILL)
    assert clean.wait(600) == 0, (tmp_path / "clean.log").read_text()[-3000:]
    log = (tmp_path / "crash-2.log").read_text()
    assert "recovered run" in log and "its process was gone" in log

    assert _marts(crash_dir / "warehouse.duckdb") == _marts(clean_dir / "warehouse.duckdb")
    assert _marts(crash_dir / "analytics.duckdb") == _marts(clean_dir / "analytics.duckdb")
