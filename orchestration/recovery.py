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
        entry = record.event_log_entry
        metadata = entry.dagster_event.engine_event_data.metadata if entry.dagster_event else {}
        pid = metadata.get("pid")
        if pid is not None and "Started process" in (entry.user_message or ""):
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


class PoolWatch:
    """While this process runs, says every `interval` seconds which run holds the pool a run of
    this process waits for (Dagster logs that only at DEBUG)."""

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
                info = self.instance.event_log_storage.get_concurrency_info(self.pool)
                waiting = {s.run_id for s in info.pending_steps if s.assigned_timestamp is None}
                holders = {s.run_id for s in info.claimed_slots}
                for run_id in waiting - holders:
                    run = self.instance.get_run_by_id(run_id)
                    if run is None or run.tags.get("cx/pid") != mine:
                        continue
                    for holder in holders:
                        record = self.instance.get_run_record_by_id(holder)
                        log.warning(
                            "run %s waits for pool %s, held by run %s (%s, %s, started %s)",
                            run_id, self.pool, holder, record.dagster_run.job_name,
                            record.dagster_run.status.value, _started(record),
                        )  # fmt: skip
            except Exception:  # a watch must never break the run it watches
                log.debug("pool watch failed", exc_info=True)
