"""Collector throughput and latency, beside a floor server in the same run.

    .venv/bin/python benchmarks/collector.py --seconds 15 --repeat 3 [--json out.json]

Clients keep `--connections` HTTP/1.1 connections open and post 100-event batches shaped like
analytics.js's (context with userAgent, page, library; ~0.7 KB an event), plain JSON and gzip:
- **saturation** (closed loop): each connection posts its next batch as soon as the last is
  answered; sustained events/s, p50/p99 latency, the server's CPU seconds per 1,000 events;
- **half rate** (open loop): batches are scheduled at `--half-rate` events/s whatever the
  answers; latency counts from the scheduled time, so queueing is not hidden.
The floor server is the same uvicorn (httptools, uvloop) with an app that only reads the body
and answers 200: what the HTTP stack alone costs. The collector acknowledges after fdatasync
(group commit). After each collector run its published files are counted: every acknowledged
event must be there. The client runs in this process, on the same two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRITE_KEY = "bench_key"


def _batch(n: int) -> bytes:
    now = "2026-12-06T10:00:00.000Z"
    events = [
        {
            "type": "track", "event": "Product Viewed", "messageId": f"ajs-next-{uuid.uuid4()}",
            "anonymousId": str(uuid.uuid4()), "userId": None, "timestamp": now,
            "properties": {"product_id": f"sku-{i}", "price": 19.99, "currency": "EUR"},
            "context": {
                "page": {"path": "/products/sku", "referrer": "", "search": "", "title": "Shop",
                         "url": "https://shop.example.com/products/sku"},
                "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) "
                             "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
                             "Mobile/15E148 Safari/604.1",
                "locale": "de-DE", "timezone": "Europe/Berlin",
                "library": {"name": "analytics.js", "version": "next-1.84.3"}, "campaign": {},
            },
            "integrations": {}, "_metadata": {"bundled": ["Segment.io"], "unbundled": []},
        }
        for i in range(n)
    ]  # fmt: skip
    return json.dumps({"batch": events, "sentAt": now}).encode()


def _requests(port: int, batch_size: int, gzipped: bool, distinct: int = 32) -> list[bytes]:
    auth = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    out = []
    for _ in range(distinct):
        body = _batch(batch_size)
        extra = ""
        if gzipped:
            body = gzip.compress(body, 6)
            extra = "Content-Encoding: gzip\r\n"
        head = (
            f"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nAuthorization: Basic {auth}\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


async def _answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status


async def _closed_loop(port, reqs, connections, seconds) -> tuple[list[float], dict]:
    latencies, statuses = [], {}
    stop = time.perf_counter() + seconds

    async def conn(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        while time.perf_counter() < stop:
            started = time.perf_counter()
            writer.write(reqs[i % len(reqs)])
            i += connections
            status = await _answer(reader)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    await asyncio.gather(*(conn(k) for k in range(connections)))
    return latencies, statuses


async def _open_loop(port, reqs, per_second, seconds, connections=64) -> tuple[list[float], dict]:
    latencies, statuses = [], {}
    start = time.perf_counter() + 0.2
    total = int(per_second * seconds)
    slots = asyncio.Queue()
    for n in range(total):
        slots.put_nowait(start + n / per_second)

    async def conn(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        while not slots.empty():
            due = slots.get_nowait()
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            writer.write(reqs[i % len(reqs)])
            i += connections
            status = await _answer(reader)
            latencies.append(time.perf_counter() - due)  # from the scheduled time
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    await asyncio.gather(*(conn(k) for k in range(connections)))
    return latencies, statuses


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_up(port: int, process: subprocess.Popen) -> None:
    import urllib.request

    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError("server exited at start")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(kind: str, port: int, data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "CX_DATA_DIR": str(data_dir), "CX_COLLECTOR_PORT": str(port),
           "CX_COLLECTOR_WRITE_KEYS": f"{WRITE_KEY}:bench", "CX_COLLECTOR_ROTATE_SECONDS": "10"}  # fmt: skip
    cmd = [sys.executable, "-m", "ingestion.collector"]
    if kind == "floor":
        cmd = [sys.executable, __file__, "--floor-server", str(port)]
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=open(data_dir / f"{kind}.log", "ab"))  # fmt: skip
    _wait_up(port, process)
    return process


def _summary(latencies: list[float], statuses: dict, seconds: float, batch: int) -> dict:
    q = statistics.quantiles(latencies, n=100)
    return {
        "events_per_s": round(statuses.get(200, 0) * batch / seconds),
        "p50_ms": round(q[49] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
        "statuses": statuses,
    }


def _published_events(landing: Path) -> int:
    return sum(gzip.decompress(p.read_bytes()).count(b"\n") for p in landing.rglob("*.jsonl.gz"))


def measure(kind: str, gzipped: bool, args, half_rate: float | None = None) -> dict:
    with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
        data_dir = Path(tmp)
        port = _free_port()
        process = _start(kind, port, data_dir)
        try:
            reqs = _requests(port, args.batch, gzipped)
            cpu0 = _cpu_seconds(process.pid)
            if half_rate:
                lat, st = asyncio.run(_open_loop(port, reqs, half_rate / args.batch, args.seconds))
            else:
                lat, st = asyncio.run(_closed_loop(port, reqs, args.connections, args.seconds))
            cpu = _cpu_seconds(process.pid) - cpu0
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        result = _summary(lat, st, args.seconds, args.batch)
        acked = st.get(200, 0) * args.batch
        result["server_cpu_ms_per_1k_events"] = round(cpu / max(acked, 1) * 1e6, 1)
        if kind == "collector":
            stored = _published_events(data_dir / "landing" / "events")
            result["acked_events_stored"] = stored >= acked
        return result


def floor_server(port: int) -> None:
    """Reads each body whole and answers 200: the HTTP stack's own cost."""
    import uvicorn

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        body = b'{"status": "ok"}' if scope["path"] == "/health" else b'{"success": true}'
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                lifespan="off", access_log=False, log_level="warning")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15, help="length of each measurement")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--connections", type=int, default=32, help="client connections")
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--half-rate", type=float, default=10_000, help="open-loop events/s")
    parser.add_argument("--work-dir", default=None, help="where spool and landing go (a disk)")
    parser.add_argument("--json", help="write the medians here as JSON")
    parser.add_argument("--floor-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_server:
        floor_server(args.floor_server)
        return
    cases = [("floor", False, None), ("floor", True, None), ("collector", False, None),
             ("collector", True, None), ("collector", True, args.half_rate)]  # fmt: skip
    runs: dict[str, list[dict]] = {}
    for r in range(args.repeat):
        for kind, gz, rate in cases:
            name = f"{kind} {'gzip' if gz else 'plain'}" + (f" @{rate:g}/s" if rate else "")
            result = measure(kind, gz, args, rate)
            runs.setdefault(name, []).append(result)
            print(f"round {r + 1} {name}: {result}", flush=True)
    medians = {
        name: {k: statistics.median(x[k] for x in results) for k in
               ("events_per_s", "p50_ms", "p99_ms", "server_cpu_ms_per_1k_events")}
        | ({"acked_events_stored": all(x["acked_events_stored"] for x in results)}
           if "acked_events_stored" in results[0] else {})
        for name, results in runs.items()
    }  # fmt: skip
    print(f"\nmedians of {args.repeat} rounds, {args.seconds:g} s each, "
          f"{args.connections} connections, {args.batch}-event batches:")  # fmt: skip
    print(f"{'case':<28} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/1k ev':>13}")
    for name, m in medians.items():
        print(f"{name:<28} {m['events_per_s']:>10,.0f} {m['p50_ms']:>8} {m['p99_ms']:>8} "
              f"{m['server_cpu_ms_per_1k_events']:>13}")  # fmt: skip
    for kind in ("plain", "gzip"):
        ratio = (
            medians[f"collector {kind}"]["events_per_s"] / medians[f"floor {kind}"]["events_per_s"]
        )
        print(f"collector / floor ({kind}): {ratio:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"medians": medians, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
