"""Freshness under the daemon: from a landing file to its events in the published KPIs and
judged by the alert rules, with `dagster dev` running (daemon, landing sensor, schedules).

    .venv/bin/python benchmarks/freshness.py --minutes 30 --events-per-hour 15000

1. Takes the microbatch benchmark's simulated world (15,000 events an hour, 2 days) and moves
   every timestamp of its events by one offset, so that the world's day 2 at 12:MM reads now: the
   files it then delivers are as fresh as a collector's (events only; tickets and surveys stay
   silent, which their freshness checks report as WARN).
2. Loads the history before now (day 1 and day 2 until now) in process, as `make run` does,
   into a fresh data directory and Dagster home.
3. Starts `dagster dev` on that home and turns on `cx_landing_sensor` and the hourly schedule.
4. Every minute for --minutes, publishes the next minute of events as one collector-style file
   (written under a hidden name, then renamed, as the collector publishes).
5. After a drain (--drain-minutes), stops the server and computes for each file, from the
   warehouse and the Dagster instance:
   - processed: when the dbt build that took its load finished (ops.processed_loads; the KPI
     marts are built in that same dbt invocation);
   - published: the end of the first successful publish step after that (the same run's:
     the KPIs computed with the file's events, then published);
   - judged early: the first early judgement of the running hour its events fall in
     (ops.alert_early_evaluations: the rules that may judge an hour before it ends, on what
     has landed of it), made after the file was processed;
   - judged: the first ops.alert_evaluations row of the hour its events fall in (every rule,
     the complete hour), evaluated after it was processed.
   A file not yet published or judged when the server stops counts as the run's length.
   Started between hh:31 and hh:59, the files span an hour's end (`hours_spanned` 2), and the
   complete judgement of the first hour is measured too; from hh:00 to hh:30, only early ones.
Prints the distributions (p50, p95, max, in seconds) and writes --json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import orjson
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ingest import machine  # noqa: E402
from benchmarks.microbatch import START, world  # noqa: E402

BUSY_HOUR = 12
TIME_KEYS = ("receivedAt", "sentAt", "originalTimestamp", "timestamp")
LOCATION = """{ workspaceOrError { ... on Workspace { locationEntries { name
    locationOrLoadError { __typename ... on RepositoryLocation { repositories { name } } } } } } }"""
START_SENSOR = """mutation S($s: SensorSelector!) { startSensor(sensorSelector: $s) {
    __typename ... on PythonError { message } } }"""
START_SCHEDULE = """mutation S($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) {
    __typename ... on PythonError { message } } }"""


def _iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def shifted_events(landing: Path, offset: dt.timedelta) -> list[tuple[dt.datetime, bytes]]:
    """Every event line of the world (malformed lines too, kept as they are at their file's
    hour), with its timestamps moved by `offset`; (new receivedAt, line), in arrival order."""
    out = []
    for path in sorted((landing / "events").rglob("*.jsonl.gz")):
        try:
            hour = dt.datetime.strptime(path.name.split("-", 1)[1][:13], "%Y-%m-%dT%H")
        except (IndexError, ValueError):  # not one of the world's hourly files
            continue
        fallback = hour.replace(tzinfo=dt.UTC) + offset
        with gzip.open(path, "rb") as f:
            for line in f:
                try:
                    message = orjson.loads(line)
                except orjson.JSONDecodeError:
                    out.append((fallback, line.rstrip(b"\n")))
                    continue
                if not isinstance(message, dict) or not isinstance(message.get("receivedAt"), str):
                    out.append((fallback, line.rstrip(b"\n")))
                    continue
                for key in TIME_KEYS:
                    if isinstance(message.get(key), str):
                        message[key] = _iso(_parse(message[key]) + offset)
                out.append((_parse(message["receivedAt"]), orjson.dumps(message)))
    out.sort(key=lambda pair: pair[0])
    return out


def write_file(folder: Path, name: str, lines: list[bytes]) -> Path:
    """One gzip NDJSON file, published by rename (a hidden name while it is written)."""
    folder.mkdir(parents=True, exist_ok=True)
    hidden = folder / f".{name}"
    with gzip.open(hidden, "wb", compresslevel=6) as f:
        f.write(b"\n".join(lines) + b"\n")
    target = folder / name
    os.replace(hidden, target)
    return target


def _gql(url: str, document: str, variables: dict | None = None) -> dict:
    response = requests.post(url, json={"query": document, "variables": variables or {}},
                             timeout=60)  # fmt: skip
    response.raise_for_status()
    body = response.json()
    if "errors" in body:
        raise RuntimeError(body["errors"])
    return body["data"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dagster_dev(env: dict, home: Path, log: Path) -> tuple[subprocess.Popen, str, dict]:
    port = _free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-m", "orchestration.definitions",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env={**env, "DAGSTER_HOME": str(home)}, stdout=log.open("w"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/graphql"
    deadline = time.monotonic() + 300
    while True:
        try:
            entries = _gql(url, LOCATION)["workspaceOrError"]["locationEntries"]
            loaded = entries and entries[0]["locationOrLoadError"]
            if loaded and loaded["__typename"] == "RepositoryLocation":
                return (
                    process,
                    url,
                    {
                        "repositoryLocationName": entries[0]["name"],
                        "repositoryName": loaded["repositories"][0]["name"],
                    },
                )
        except (requests.RequestException, KeyError, RuntimeError, TypeError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"dagster dev did not come up: {log.read_text()[-3000:]}")
        time.sleep(2)


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGINT)  # what `dagster dev` shuts down on
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _epoch(value: dt.datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()


def measure(work: Path, env: dict, files: list[dict], stopped_at: float) -> list[dict]:
    """Per delivered file: seconds from landing to processed, published and judged."""
    import dagster as dg

    warehouse = Path(env["CX_DATA_DIR"]) / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        loads = dict(con.execute("select file, _dlt_load_id from raw.events_ledger").fetchall())
        processed = dict(con.execute(
            "select load_id, min(processed_at) from ops.processed_loads group by 1").fetchall())  # fmt: skip
        judged = con.execute(
            "select hour, min(evaluated_at) from ops.alert_evaluations group by 1").fetchall()  # fmt: skip
        early = con.execute(
            "select distinct hour, evaluated_at from ops.alert_early_evaluations").fetchall()  # fmt: skip
    finally:
        con.close()
    judged_at = {_epoch(h): _epoch(t) for h, t in judged}
    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    publishes = []  # the end of each successful publish step
    with dg.DagsterInstance.get() as instance:
        for run in instance.get_runs(filters=dg.RunsFilter(job_name="cx_hourly")):
            steps = {s.step_key: s for s in instance.get_run_step_stats(run.run_id)}
            publish = steps.get("analytics__published")
            if publish and publish.end_time and publish.status.value == "SUCCESS":
                publishes.append(publish.end_time)
    rows = []
    for f in files:
        load = loads.get(f["relative"])
        done = processed.get(load)
        t_proc = _epoch(done) if done else None
        published = min((end for end in publishes if t_proc and end >= t_proc), default=None)
        hour = f["hour"]
        judged = judged_at.get(hour) if t_proc and judged_at.get(hour, 0) >= t_proc else None
        first_early = min((_epoch(t) for h, t in early
                           if t_proc and _epoch(h) == hour and _epoch(t) >= t_proc), default=None)  # fmt: skip
        early_or_whole = min(t for t in (first_early, judged, stopped_at) if t is not None)
        land = f["landed_at"]
        rows.append({
            "file": f["relative"], "events": f["events"], "landed_at": land,
            "processed_s": t_proc - land if t_proc else None,
            "published_s": (published or stopped_at) - land,
            "judged_s": (judged or stopped_at) - land,
            "judged_early_s": early_or_whole - land,
            "published": published is not None, "judged": judged is not None,
            "judged_early": first_early is not None,
        })  # fmt: skip
    return rows


def _dist(values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {}
    p95 = values[min(len(values) - 1, max(0, round(0.95 * len(values)) - 1))]
    return {"p50": round(statistics.median(values), 1), "p95": round(p95, 1),
            "max": round(values[-1], 1), "n": len(values)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--drain-minutes", type=int, default=5)
    parser.add_argument("--events-per-hour", type=int, default=15_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--json", type=Path, help="write the summary here")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    source = world(args.events_per_hour, args.out)

    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    day2 = dt.datetime.combine(START + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    # The world's "now": a busy hour of its second day (its traffic follows the hour of day,
    # and it winds down before its end), at now's minute.
    t0 = day2.replace(hour=BUSY_HOUR, minute=now.minute)
    offset = now - t0
    print(f"shifting the world by {offset} (its {t0:%Y-%m-%d %H:%M} is now)", flush=True)
    events = shifted_events(source, offset)
    history = [(t, line) for t, line in events if t < now]
    minutes = [[line for t, line in events
                if now + dt.timedelta(minutes=m) <= t < now + dt.timedelta(minutes=m + 1)]
               for m in range(args.minutes)]  # fmt: skip

    work = Path(tempfile.mkdtemp(prefix="freshness-", dir=args.out))
    landing = work / "landing"
    env = {**os.environ, "CX_DATA_DIR": str(work), "CX_LANDING_DIR": str(landing),
           "CX_ENV": "ci", "DBT_TARGET_PATH": str(work / "dbt_target"),
           "CX_PARTITIONS_START": f"{day2 - dt.timedelta(days=1) + offset:%Y-%m-%d}",
           "PII__HASH_KEY": os.environ.get("PII__HASH_KEY", "benchmark-key")}  # fmt: skip
    by_hour: dict[dt.datetime, list[bytes]] = {}
    for t, line in history:
        by_hour.setdefault(t.replace(minute=0, second=0, microsecond=0), []).append(line)
    for hour, lines in by_hour.items():
        path = write_file(landing / "events" / f"{hour:%Y-%m-%d}",
                          f"events-{hour:%Y-%m-%dT%H}.jsonl.gz", lines)  # fmt: skip
        # published at the end of its hour, as a storage destination does (`landed --all` reads
        # the hours from the files' times)
        published = min(hour + dt.timedelta(hours=1), now).timestamp()
        os.utime(path, (published, published))
    home = work / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    print(f"history: {len(history):,} events in {len(by_hour)} hourly files; loading ...",
          flush=True)  # fmt: skip
    started = time.perf_counter()
    # As a deployment does (`make manifest`): parse with the warehouse path the runs use, so
    # that every dbt run re-uses the parse.
    subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "parse", "--no-partial-parse", "--quiet",
         "--profiles-dir", "."], cwd=ROOT / "dbt_project", check=True,
        env={**env, "CX_DUCKDB_PATH": str(work / "warehouse.duckdb")},
    )  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "orchestration.run", "landed", "--all"], cwd=ROOT,
        env={**env, "DAGSTER_HOME": str(home)}, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    print(f"  loaded and built in {time.perf_counter() - started:.0f} s", flush=True)

    process, url, location = start_dagster_dev(env, home, work / "dagster_dev.log")
    files = []
    try:
        started = [_gql(url, START_SENSOR, {"s": {**location, "sensorName": "cx_landing_sensor"}})]
        started.append(_gql(url, START_SCHEDULE,
                            {"s": {**location, "scheduleName": "cx_hourly_schedule"}}))  # fmt: skip
        failed = [s for s in started if "Error" in json.dumps(s)]
        if failed:
            raise RuntimeError(f"could not turn on the sensor and schedules: {failed}")
        print(f"dagster dev up; one file a minute for {args.minutes} min", flush=True)
        begin = time.time()
        for m, lines in enumerate(minutes):
            time.sleep(max(0.0, begin + 60 * m - time.time()))
            at = now + dt.timedelta(minutes=m)
            path = write_file(landing / "events" / f"{at:%Y-%m-%d}",
                              f"collector-{at:%Y%m%dT%H%M%S}000000-bench-{m}.jsonl.gz", lines)  # fmt: skip
            files.append({"relative": str(path.relative_to(landing / "events")),
                          "landed_at": path.stat().st_mtime, "events": len(lines),
                          "hour": at.replace(minute=0).timestamp()})  # fmt: skip
            print(f"  {at:%H:%M} {len(lines)} events", flush=True)
        time.sleep(60 * args.drain_minutes)
    finally:
        stopped_at = time.time()
        stop(process)
    rows = measure(work, env, files, stopped_at)
    summary = {
        "command": " ".join(sys.argv), "machine": machine(), "files": len(rows),
        "processed_s": _dist([r["processed_s"] for r in rows if r["processed_s"] is not None]),
        "published_s": _dist([r["published_s"] for r in rows]),
        "judged_s": _dist([r["judged_s"] for r in rows]),
        "published_and_judged_s": _dist([max(r["published_s"], r["judged_s"]) for r in rows]),
        "judged_early_s": _dist([r["judged_early_s"] for r in rows]),
        "published_and_judged_early_s": _dist(
            [max(r["published_s"], r["judged_early_s"]) for r in rows]
        ),
        "judged_early": sum(r["judged_early"] for r in rows),
        # the files' hours: a run over an hour's end measures the complete judgement too
        "hours_spanned": len({f["hour"] for f in files}),
        "not_published": sum(not r["published"] for r in rows),
        "not_judged": sum(not r["judged"] for r in rows),
    }  # fmt: skip
    print(json.dumps(summary, indent=1))
    (work / "freshness.json").write_text(json.dumps({**summary, "rows": rows}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
