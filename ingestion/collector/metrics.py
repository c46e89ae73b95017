"""The collector's counters, served at GET /metrics in Prometheus' text format."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class CollectorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "cx_collector_requests", "HTTP requests answered, by status", ["status"], registry=r
        )
        self.messages_accepted = Counter(
            "cx_collector_messages_accepted", "messages written as events", registry=r
        )
        self.messages_quarantined = Counter(
            "cx_collector_messages_quarantined",
            "messages written as quarantine records, by reason",
            ["reason"],
            registry=r,
        )
        self.requests_rejected = Counter(
            "cx_collector_requests_rejected",
            "requests refused whole (nothing acknowledged), by reason",
            ["reason"],
            registry=r,
        )
        self.bytes_received = Counter(
            "cx_collector_received_bytes", "request body bytes as sent (gzip counted compressed)",
            registry=r,
        )  # fmt: skip
        self.message_ids_filled = Counter(
            "cx_collector_message_ids_filled", "messages given a messageId", registry=r
        )
        self.segments_published = Counter(
            "cx_collector_segments_published", "landing files published", registry=r
        )
        self.torn_lines = Counter(
            "cx_collector_torn_lines", "lines a crash cut short, kept as quarantine", registry=r
        )
        self.write_errors = Counter(
            "cx_collector_write_errors", "failed appends or publishes", registry=r
        )
        self.pending_bytes = Gauge(
            "cx_collector_pending_bytes", "bytes accepted and waiting for the disk", registry=r
        )
        self.fsync_seconds = Histogram(
            "cx_collector_fsync_seconds",
            "time to write and sync one group commit",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.group_commit_requests = Histogram(
            "cx_collector_group_commit_requests",
            "requests acknowledged by one sync",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def summary(self) -> str:
        """One line of totals for the rotation log."""
        return (
            f"totals: accepted {_total(self.messages_accepted)}, "
            f"quarantined {_by_label(self.messages_quarantined) or 0}, "
            f"rejected requests {_by_label(self.requests_rejected) or 0}, "
            f"ids filled {_total(self.message_ids_filled)}, "
            f"received {_total(self.bytes_received)} bytes"
        )


def _samples(counter: Counter):
    return [s for m in counter.collect() for s in m.samples if s.name.endswith("_total")]


def _total(counter: Counter) -> int:
    return int(sum(s.value for s in _samples(counter)))


def _by_label(counter: Counter) -> dict[str, int]:
    return {"/".join(s.labels.values()): int(s.value) for s in _samples(counter)}
