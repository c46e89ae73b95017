"""Durable, group-committed appends, and whole landing files published from them.

Requests hand their lines to `Spool.append` and wait. One flusher task takes everything waiting,
writes it to the open segment (an append-only NDJSON file in the spool folder) and `fdatasync`s
it in a worker thread; only then are those requests answered. While one sync is in flight the
next requests gather, so one sync covers all of them (group commit, as rudder-server commits a
batch of requests in one transaction): throughput holds without acknowledging anything that is
not on disk.

Every `rotate_seconds` (or `rotate_bytes`) the segment is closed and published: gzipped into
`<landing>/events/<day>/` under a hidden temporary name, synced, stamped with the current time
(the loader's cursor is the modification time, so files must appear in publish order), renamed
to its final `.jsonl.gz` name and the folder synced; then the segment is deleted. A segment left
by a crash is published at the next start; a torn last line (a write the crash cut, never
acknowledged) becomes a quarantine record instead of being dropped. The published name derives
from the segment's, so a crash between rename and delete republishes nothing twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from isal import igzip

from ingestion.collector.metrics import CollectorMetrics
from ingestion.collector.protocol import iso_now, quarantine_line

log = logging.getLogger("cx.collector")
SEGMENT_SUFFIX = ".ndjson"


class Backpressure(Exception):
    """More bytes are waiting for the disk than the collector holds: the client retries later."""


class WriteFailed(Exception):
    """The disk refused the batch (full, read-only, I/O error): nothing of it was acknowledged."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _Segment:
    path: Path
    fd: int
    opened: float  # monotonic
    size: int = 0
    lines: int = 0


@dataclass(frozen=True)
class Published:
    path: Path
    lines: int
    torn: int
    bytes_in: int
    bytes_out: int


def publish_segment(
    segment: Path, landing_events: Path, source_of_torn: str = "collector"
) -> Published | None:
    """Publish one closed segment as a whole gzip file in the landing folder; None if empty."""
    data = segment.read_bytes()
    if not data:
        segment.unlink()
        return None
    torn = 0
    cut = data.rfind(b"\n") + 1
    if cut < len(data):  # a line the crash cut short: never acknowledged, kept as quarantine
        tail, data = data[cut:], data[:cut]
        received = dt.datetime.fromtimestamp(segment.stat().st_mtime, dt.UTC)
        data += quarantine_line("torn_line", tail, source_of_torn, iso_now(received))
        torn = 1
    day, name = _published_name(segment)
    folder = landing_events / day
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    if final.exists():  # published before a crash kept the segment: it is the same data
        segment.unlink()
        return None
    temp = folder / f".{name}.tmp"
    compressed = igzip.compress(data, compresslevel=1)
    with open(temp, "wb") as out:
        out.write(compressed)
        out.flush()
        os.fsync(out.fileno())
    os.utime(temp)  # modification time = publish time: the loader's cursor sees publish order
    os.replace(temp, final)
    _fsync_dir(folder)
    segment.unlink()
    _fsync_dir(segment.parent)
    return Published(final, data.count(b"\n"), torn, len(data), len(compressed))


def _published_name(segment: Path) -> tuple[str, str]:
    """seg-20261206T101500123456-host-pid.ndjson -> ('2026-12-06', 'collector-...jsonl.gz')."""
    stem = segment.name.removesuffix(SEGMENT_SUFFIX).removeprefix("seg-")
    day = f"{stem[0:4]}-{stem[4:6]}-{stem[6:8]}"
    return day, f"collector-{stem}.jsonl.gz"


class Spool:
    """The open segment, the group-commit flusher and the publisher of closed segments."""

    def __init__(
        self,
        spool_dir: Path,
        landing_dir: Path,
        rotate_seconds: float,
        rotate_bytes: int,
        max_pending_bytes: int,
        metrics: CollectorMetrics,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ):
        self.spool_dir = spool_dir
        self.landing_events = landing_dir / "events"
        self.rotate_seconds = rotate_seconds
        self.rotate_bytes = rotate_bytes
        self.max_pending_bytes = max_pending_bytes
        self.metrics = metrics
        self.clock = clock
        self._host = socket.gethostname().replace("-", "_").replace(".", "_")[:32]
        self._pending: list[tuple[bytes, asyncio.Future]] = []
        self._pending_bytes = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._segment: _Segment | None = None
        # One thread syncs appends, another compresses and publishes: a publish never delays
        # an acknowledgement.
        self._disk = ThreadPoolExecutor(1, thread_name_prefix="cx-spool-sync")
        self._publisher = ThreadPoolExecutor(1, thread_name_prefix="cx-spool-publish")
        self._tasks: list[asyncio.Task] = []
        self._publishing: list[asyncio.Future] = []

    # -- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.landing_events.mkdir(parents=True, exist_ok=True)
        left = sorted(self.spool_dir.glob(f"seg-*{SEGMENT_SUFFIX}"))
        for segment in left:  # a crash's segments, oldest first
            log.warning("publishing segment %s left by an earlier run", segment.name)
            self._report(publish_segment(segment, self.landing_events), recovered=True)
        self._open_segment()
        self._tasks = [asyncio.create_task(self._flush_loop(), name="cx-spool-flush")]

    async def close(self) -> None:
        """Acknowledge what is waiting, publish the open segment, stop (SIGTERM's path)."""
        self._closing = True
        self._wakeup.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._rotate()
        await asyncio.gather(*self._publishing, return_exceptions=True)
        self._disk.shutdown()
        self._publisher.shutdown()

    # -- appends ----------------------------------------------------------------------------
    async def append(self, data: bytes) -> None:
        """Return once `data` is on disk; Backpressure or WriteFailed otherwise."""
        if self._closing:
            raise WriteFailed("the collector is shutting down")
        if self._pending_bytes + len(data) > self.max_pending_bytes:
            raise Backpressure(f"{self._pending_bytes} bytes are waiting for the disk")
        future = asyncio.get_running_loop().create_future()
        self._pending.append((data, future))
        self._pending_bytes += len(data)
        self.metrics.pending_bytes.set(self._pending_bytes)
        self._wakeup.set()
        await future

    async def _flush_loop(self) -> None:
        """The only task that touches the open segment: writes, syncs and rotations."""
        loop = asyncio.get_running_loop()
        tick = min(self.rotate_seconds, 1.0) / 2
        while True:
            try:
                await asyncio.wait_for(self._wakeup.wait(), tick)
            except TimeoutError:
                pass
            self._wakeup.clear()
            if not self._pending and self._segment_due():
                await self._rotate()
            while self._pending:
                batch, self._pending = self._pending, []
                self._pending_bytes -= sum(len(d) for d, _ in batch)
                self.metrics.pending_bytes.set(self._pending_bytes)
                data = b"".join(d for d, _ in batch)
                started = time.perf_counter()
                try:
                    await loop.run_in_executor(self._disk, self._write, data)
                except OSError as error:
                    log.error("write of %d bytes failed (%s): answering 503", len(data), error)
                    self.metrics.write_errors.inc()
                    for _, future in batch:
                        future.done() or future.set_exception(WriteFailed(str(error)))
                else:
                    self.metrics.fsync_seconds.observe(time.perf_counter() - started)
                    self.metrics.group_commit_requests.observe(len(batch))
                    for _, future in batch:
                        future.done() or future.set_result(None)
                if self._segment_due():
                    await self._rotate()
            if self._closing:
                return

    def _write(self, data: bytes) -> None:
        """Append and sync (in the sync thread); on failure cut the segment back to where it was,
        so no half-written, unacknowledged line stays in it."""
        segment = self._segment
        start = segment.size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(segment.fd, view) :]
            os.fdatasync(segment.fd)
        except OSError:
            try:
                os.ftruncate(segment.fd, start)
            except OSError:
                log.exception("could not cut %s back to %d bytes", segment.path, start)
            raise
        segment.size += len(data)
        segment.lines += data.count(b"\n")

    # -- segments ---------------------------------------------------------------------------
    def _open_segment(self) -> None:
        stamp = self.clock().strftime("%Y%m%dT%H%M%S%f")
        path = self.spool_dir / f"seg-{stamp}-{self._host}-{os.getpid()}{SEGMENT_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        _fsync_dir(self.spool_dir)  # the file's name is durable before its first acknowledgement
        self._segment = _Segment(path, fd, time.monotonic())

    def _segment_due(self) -> bool:
        segment = self._segment
        return segment.size >= self.rotate_bytes or (
            segment.size > 0 and time.monotonic() - segment.opened >= self.rotate_seconds
        )

    async def _rotate(self) -> None:
        segment = self._segment
        if segment is None or (segment.size == 0 and not self._closing):
            return
        os.close(segment.fd)
        self._segment = None
        if not self._closing:
            self._open_segment()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._publisher, publish_segment, segment.path, self.landing_events
        )
        self._publishing = [f for f in self._publishing if not f.done()] + [future]
        future.add_done_callback(self._published)

    def _published(self, future: asyncio.Future) -> None:
        try:
            self._report(future.result())
        except OSError:
            # The segment stays in the spool; the next start (or rotation) publishes it.
            log.exception("publishing a segment failed; it stays in %s", self.spool_dir)
            self.metrics.write_errors.inc()

    def _report(self, published: Published | None, recovered: bool = False) -> None:
        if published is None:
            return
        self.metrics.segments_published.inc()
        self.metrics.torn_lines.inc(published.torn)
        log.info(
            "published %s: %d lines (%d torn), %d bytes -> %d gzipped%s; %s",
            published.path.name, published.lines, published.torn, published.bytes_in,
            published.bytes_out, " (recovered)" if recovered else "", self.metrics.summary(),
        )  # fmt: skip
