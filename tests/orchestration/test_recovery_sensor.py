"""The recovery sensor (what the daemon runs every minute) on a real Dagster instance: a run
whose process is gone is marked failed and its pool slot freed; a live run is left alone."""

import subprocess

import dagster as dg
import psutil
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

from orchestration.defs.automation.jobs import cx_recovery_sensor
from orchestration.defs.shared import DUCKDB_POOL
from orchestration.recovery import run_tags


def _run_of(instance, process: psutil.Process, step: str) -> str:
    tags = {**run_tags(), "cx/pid": str(process.pid),
            "cx/pid_started": f"{process.create_time():.2f}"}  # fmt: skip
    run = instance.add_run(DagsterRun(job_name="cx_hourly", status=DagsterRunStatus.STARTED,
                                      tags=tags))  # fmt: skip
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(DUCKDB_POOL)
    storage.claim_concurrency_slot(DUCKDB_POOL, run.run_id, step)
    return run.run_id


def test_sensor_recovers_dead_runs_only(instance):
    dead_process = subprocess.Popen(["sleep", "30"])
    dead = psutil.Process(dead_process.pid)
    live_process = subprocess.Popen(["sleep", "60"])
    try:
        dead_run = _run_of(instance, dead, "raw_events")
        dead_process.kill()
        dead_process.wait()
        live_run = _run_of(instance, psutil.Process(live_process.pid), "raw_tickets")

        result = cx_recovery_sensor(dg.build_sensor_context(instance=instance))

        assert dead_run in result.skip_message and live_run not in result.skip_message
        assert instance.get_run_by_id(dead_run).status == DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(dead_run).tags["cx/recovered"].endswith("gone")
        assert instance.get_run_by_id(live_run).status == DagsterRunStatus.STARTED
        # The dead run's slot is free; the live run (blocked behind it) still waits for it.
        info = instance.event_log_storage.get_concurrency_info(DUCKDB_POOL)
        assert not info.claimed_slots and live_run in {s.run_id for s in info.pending_steps}
        again = cx_recovery_sensor(dg.build_sensor_context(instance=instance))
        assert again.skip_message == "no dead runs"
    finally:
        live_process.kill()
