"""The recovery sensor (what the daemon runs every minute) on a real Dagster instance: a run
whose process is gone is marked failed and its pool slot freed; a live run is left alone."""

import subprocess

import dagster as dg
import psutil
from dagster._core.events import EngineEventData
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


def test_sensor_recovers_a_run_the_daemon_launched(instance):
    """Runs launched by the default run launcher carry no cx/pid tag: their worker's pid is in
    the "Started process for run (pid: …)" event the worker writes (dagster/_grpc/impl.py)."""
    worker = subprocess.Popen(["sleep", "30"])
    run = instance.add_run(DagsterRun(job_name="cx_hourly", status=DagsterRunStatus.STARTED))
    instance.report_engine_event(f"Started process for run (pid: {worker.pid}).", run,
                                 EngineEventData.in_process(worker.pid))  # fmt: skip
    alive = cx_recovery_sensor(dg.build_sensor_context(instance=instance))
    assert alive.skip_message == "no dead runs"
    worker.kill()
    worker.wait()
    dead = cx_recovery_sensor(dg.build_sensor_context(instance=instance))
    assert run.run_id in dead.skip_message
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE


def _engine_messages(instance, run_id: str) -> list[str]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    return [r.event_log_entry.dagster_event.message or "" for r in records.records]


def test_sensor_tells_a_waiting_run_who_holds_the_pool(instance, monkeypatch):
    """A live run holds the slot, a second one waits: the waiting run's own log (what the UI
    shows) names the holder once it has waited WAIT_REPORT_SECONDS (0 here, not a minute)."""
    holder_process = subprocess.Popen(["sleep", "60"])
    waiter_process = subprocess.Popen(["sleep", "60"])
    try:
        holder = _run_of(instance, psutil.Process(holder_process.pid), "raw_events")
        waiter = _run_of(instance, psutil.Process(waiter_process.pid), "raw_events")

        cx_recovery_sensor(dg.build_sensor_context(instance=instance))
        assert not any("waited" in m for m in _engine_messages(instance, waiter))  # < 1 min

        monkeypatch.setattr("orchestration.recovery.WAIT_REPORT_SECONDS", 0.0)
        cx_recovery_sensor(dg.build_sensor_context(instance=instance))
        lines = [m for m in _engine_messages(instance, waiter) if "waited" in m]
        assert len(lines) == 1, lines
        assert f"pool {DUCKDB_POOL}, held by run {holder} (cx_hourly, STARTED" in lines[0]
        assert lines[0].startswith("step raw_events has waited")
        assert not any("waited" in m for m in _engine_messages(instance, holder))
    finally:
        holder_process.kill()
        waiter_process.kill()
