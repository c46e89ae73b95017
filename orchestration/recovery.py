"""Runs whose process died (SIGKILL, OOM, power loss) must not hold the warehouse forever.

A run that dies keeps status STARTED and its `duckdb_writer` pool slot in the Dagster instance,
so every later writer waits behind it. Dagster's run monitoring cannot see this with the default
run launcher (it has no run-worker health check), and runs executed in a CLI process have no
launcher at all. So every run records the process that executes it (`cx/host`, `cx/pid`,
`cx/pid_started` tags: CLI runs through `run_tags()`; launched runs through the launcher's
"Started process" engine event), and `recover_dead_runs` — called at the start of every CLI run
and by the `cx_recovery_sensor` under the daemon — marks failed the active runs of this host
whose process is gone, frees their pool slots and tags them `cx/recovered`. A live run is never
touched: a second live writer still waits for the slot (and `PoolWatch` says for whom).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading

import dagster as dg
import psutil
from dagster._core.storage.dagster_run import DagsterRunStatus

log = logging.getLogger("cx.recovery")
ACTIVE = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


def run_tags() -> dict[str, str]:
    """Tags naming this process, for runs it executes itself."""
    me = psutil.Process()
    return {"cx/host": socket.gethostname(), "cx/pid": str(me.pid),
            "cx/pid_started": f"{me.create_time():.2f}"}  # fmt: skip


def _process_of(
    instance: dg.DagsterInstance, run: dg.DagsterRun
) -> tuple[int, float | None] | None:
    """(pid, start time) of the process executing `run` on this host, or None if unknown."""
    if "cx/pid" in run.tags:
        if run.tags.get("cx/host") != socket.gethostname():
            return None  # another machine's process: not ours to judge
        started = run.tags.get("cx/pid_started")
        return int(run.tags["cx/pid"]), float(started) if started else None
    # Launched by the default run launcher: its engine event names the worker's pid.
    records = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=20
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event  # its message: user_message is empty
        metadata = event.engine_event_data.metadata if event else {}
        pid = metadata.get("pid")
        if pid is not None and "Started process" in (event.message or ""):
            return int(pid.value), None
    return None


def _alive(pid: int, started: float | None) -> bool:
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(process.create_time() - started) < 1.0  # pid reused?
    except psutil.NoSuchProcess:
        return False


def recover_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the active runs of this host whose process is gone; free their pool slots.
    The ids of the runs recovered."""
    recovered = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=ACTIVE)):
        run = record.dagster_run
        process = _process_of(instance, run)
        if process is None or _alive(*process) or process[0] == os.getpid():
            continue
        pid = process[0]
        message = (
            f"run worker (pid {pid}) is gone (killed, out of memory or a reboot): marked failed "
            "by recovery and its duckdb_writer slot freed; re-run it to finish its work"
        )
        log.warning("recovering run %s of %s (started %s): %s", run.run_id, run.job_name,
                    _started(record), message)  # fmt: skip
        instance.report_run_failed(run, message=message)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        instance.add_run_tags(run.run_id, {"cx/recovered": f"pid {pid} gone"})
        recovered.append(run.run_id)
    return recovered


def _started(record) -> str:
    at = record.start_time or record.create_timestamp.timestamp()
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


WAIT_REPORT_SECONDS = 60.0  # a step waiting this long for the pool is reported, with its holder


def pool_waits(instance: dg.DagsterInstance, pool: str) -> list[tuple[str, str]]:
    """(waiting run id, what it waits for) for every step that has waited for `pool` longer than
    WAIT_REPORT_SECONDS: which run holds the slot, its job, status and start."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    now = dt.datetime.now(dt.UTC).timestamp()
    holders = []
    for slot in info.claimed_slots:
        record = instance.get_run_record_by_id(slot.run_id)
        if record is not None:
            holders.append(f"run {slot.run_id} ({record.dagster_run.job_name}, "
                           f"{record.dagster_run.status.value}, started {_started(record)})")  # fmt: skip
    waits = []
    for step in info.pending_steps:
        enqueued = step.enqueued_timestamp
        if enqueued.tzinfo is None:  # stored as naive UTC
            enqueued = enqueued.replace(tzinfo=dt.UTC)
        waited = now - enqueued.timestamp()
        if step.assigned_timestamp is not None or waited < WAIT_REPORT_SECONDS or not holders:
            continue
        waits.append((step.run_id, f"step {step.step_key} has waited {waited / 60:.0f} min for "
                      f"pool {pool}, held by {'; '.join(holders)}"))  # fmt: skip
    return waits


class PoolWatch:
    """While this process runs, says every `interval` seconds which run holds the pool a run of
    this process waits for (Dagster logs that only at DEBUG). Runs the daemon launched get the
    same line in their own event log from the cx_recovery_sensor (`report_pool_waits`)."""

    def __init__(self, instance: dg.DagsterInstance, pool: str, interval: float = 60.0):
        self.instance, self.pool, self.interval = instance, pool, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True, name="cx-pool-watch")

    def __enter__(self) -> PoolWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(5)

    def _watch(self) -> None:
        mine = str(os.getpid())
        while not self.stop.wait(self.interval):
            try:
                for run_id, message in pool_waits(self.instance, self.pool):
                    run = self.instance.get_run_by_id(run_id)
                    if run is not None and run.tags.get("cx/pid") == mine:
                        log.warning("run %s: %s", run_id, message)
            except Exception:  # a watch must never break the run it watches
                log.debug("pool watch failed", exc_info=True)


def report_pool_waits(instance: dg.DagsterInstance, pool: str) -> list[str]:
    """Write each long pool wait into the waiting run's own event log (the UI shows it on the
    run's page); the ids of those runs."""
    reported = []
    for run_id, message in pool_waits(instance, pool):
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status in ACTIVE:
            instance.report_engine_event(message, run)
            reported.append(run_id)
    return reported
