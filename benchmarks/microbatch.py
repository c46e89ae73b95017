"""Cost of one hourly micro-batch with 1 day and with 30 days of history already loaded.

    .venv/bin/python benchmarks/microbatch.py --events-per-hour 15000 --history-days 1 30 --repeat 3

For each history length, in a fresh data directory:
1. load the history through the real pipelines: the simulated first day (dlt, all three feeds),
   plus - for N > 1 days - N-1 earlier copies of that day's raw events, shifted back one day
   each, with new message ids. Identified people return every day (the same user and anonymous
   ids: persons get a long history, which is what makes a per-person rebuild expensive if it
   scanned history); anonymous ids never seen with a user id are other visitors on each earlier
   day (a suffix per copy), as in the simulator, where a visitor signs up in one of their first
   four sessions. `--same-anonymous-ids` keeps those too: then every visitor who signs up in a
   batch hour has an anonymous history of N days, which the batch moves to the user whole (the
   worst case for a late identify: every earlier hour's KPIs change);
2. build everything once (the Dagster jobs, first run = full build); time it;
3. then, `--repeat` times, drop the next hour's landing files (~events-per-hour events) into the
   landing folder and run what the hourly schedule runs: cx_hourly for that hour, in process
   through Dagster (dlt loads, checks, dbt build of the batch with its KPI marts, alerts,
   publish); time the run and each step. Steps 1-2 run for every history first; then the histories take
   turns batch by batch, in alternating order (1 d, 30 d; 30 d, 1 d; ...), so that a machine
   that slows down or speeds up during the run weighs on each of them alike.
The plain-DuckDB references, in the same run: `read_ndjson` of that hour's event file into a
table (the floor for "load an hour"); and for the longest history, a plain-SQL chain over the
same history files - load (read_ndjson), the same day copies, dedupe, stitch, sessionize, daily
KPIs - beside the pipeline's full build of that history (the feeds' load of the files, the same
copies, `dbt build --full-refresh`). Prints medians and ratios; writes
benchmarks/out/microbatch.json, and with `--json PATH` the summary:
{"batch_median_s": {"<history days>": s, ...}, "reference_s": s, "full_build_s": s,
 "reference_chain_s": s, "peak_rss_mb": n, "peak_rss_mb_by_phase": {...}}: the largest total
resident memory of the pipeline's processes (this one, running the Dagster jobs and their dbt in
process, and the full rebuild's dbt child), sampled while the pipeline runs - not while the
benchmark copies days or runs the references - and per phase, with this process's own share. The
references' DuckDB has the pipeline's memory limit (CX_DUCKDB_MEMORY_LIMIT, 4GB).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ingest import machine  # noqa: E402
from ingestion.pipelines import RAW_STORAGE  # noqa: E402
from simulator import SimConfig, load_truth, simulate  # noqa: E402

EVENTS_PER_USER_DAY = 1.95
START = dt.date(2026, 10, 1)
BATCH_HOUR = 10  # the hours from 10:00 on day 2 are the micro-batches
# The benchmark's own DuckDB connections (the day copies, the references) get the memory limit
# the pipeline's have (dbt_project/profiles.yml, ingestion/pipelines.py).
LIMITS = {"memory_limit": os.environ.get("CX_DUCKDB_MEMORY_LIMIT", "4GB")}


class PeakRss:
    """The largest total RSS of this process and its descendants, sampled every 0.1 s while a
    `with PEAK.phase(name)` block runs (the pipeline); blocks outside one (the benchmark's
    scaffolding) are not counted. Also per phase (`by_phase`: the first build, the batches, the
    full rebuild), each with this process's own share (`own`: the in-process Dagster runs, and
    dbt in them; the full rebuild's dbt is a child process)."""

    def __init__(self) -> None:
        import psutil

        self.process, self.peak, self._on = psutil.Process(), 0, None
        self.by_phase: dict[str, dict[str, int]] = {}
        self._phase = "pipeline"

    def phase(self, name: str) -> PeakRss:
        self._phase = name
        return self

    def _sample(self) -> None:
        import psutil

        while not self._on.wait(0.1):
            total, own = 0, 0
            for proc in [self.process, *self.process.children(recursive=True)]:
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:  # a child that just ended
                    continue
                total += rss
                own = own or rss  # the first one is this process
            self.peak = max(self.peak, total)
            seen = self.by_phase.setdefault(self._phase, {"total": 0, "own": 0})
            seen["total"], seen["own"] = max(seen["total"], total), max(seen["own"], own)

    def __enter__(self):
        import threading

        self._on = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._on.set()
        self._thread.join()


PEAK = None  # PeakRss, made in main()


def world(events_per_hour: int, out: Path) -> Path:
    landing = out / f"microbatch-world-{events_per_hour}"
    if not (landing / "_simulator" / "truth.json").exists():
        users = round(events_per_hour * 24 / EVENTS_PER_USER_DAY)
        print(f"simulating {users} users x 2 days into {landing} ...", flush=True)
        started = time.monotonic()
        simulate(SimConfig(users=users, days=2, start=START, incident_day=None), landing)
        print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
    load_truth(landing)
    return landing


def _hour_of(path: Path) -> dt.datetime | None:
    stem = path.name.split(".")[0]
    for part in stem.split("-", 1)[1:]:
        try:
            return dt.datetime.strptime(part[:13], "%Y-%m-%dT%H")
        except ValueError:
            return None
    return None


def split_files(landing: Path, first_batch: dt.datetime, repeat: int):
    """(history files, [files of batch hour 1, 2, ...]) by delivery hour."""
    history, batches = [], [[] for _ in range(repeat)]
    for path in sorted(
        p for p in landing.rglob("*") if p.is_file() and "_simulator" not in p.parts
    ):
        hour = _hour_of(path)
        if hour is None:
            continue
        index = int((hour - first_batch).total_seconds() // 3600)
        if index < 0:
            history.append(path)
        elif index < repeat:
            batches[index].append(path)
    return history, batches


def deliver(files: list[Path], source: Path, target: Path) -> None:
    for path in files:
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)


def replicate_history(warehouse: Path, days: int, same_anonymous_ids: bool = False) -> int:
    """Add days-1 shifted copies of the loaded events (new ids, one completed load per copy),
    stored as the events feed stores raw rows (ZSTD strings: a copy takes ~1.2 s instead of ~1.6 s
    with DuckDB's default string compression, whose analysis the feed skips)."""
    con = duckdb.connect(str(warehouse), config={**LIMITS, **RAW_STORAGE})
    try:
        con.execute(
            "create temp table identified as select distinct anonymous_id from raw.events "
            "where user_id is not null and anonymous_id is not null"
        )
        template = con.execute("select max(load_id) from raw._dlt_loads").fetchone()[0]
        columns = [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = 'raw' "
            "and table_name = 'events' order by ordinal_position").fetchall()]  # fmt: skip
        shifted = {"timestamp", "original_timestamp", "sent_at", "received_at"}
        for k in range(1, days):
            load_id = f"{float(template) - k * 86400:.7f}"
            exprs = []
            for c in columns:
                if c in shifted:
                    exprs.append(f'"{c}" - interval {k} day')
                elif c == "message_id":
                    exprs.append(f"message_id || '~{k}'")
                elif c in ("anonymous_id", "previous_id") and not same_anonymous_ids:
                    exprs.append(f"case when {c} in (select anonymous_id from identified) "
                                 f"then {c} else {c} || '~{k}' end")  # fmt: skip
                elif c == "_dlt_load_id":
                    exprs.append(f"'{load_id}'")
                else:
                    exprs.append(f'"{c}"')
            con.execute(
                f"insert into raw.events select {', '.join(exprs)} from raw.events "
                "where position('~' in message_id) = 0"
            )
            con.execute(
                "insert into raw._dlt_loads select ?, schema_name, status, inserted_at, "
                "schema_version_hash from raw._dlt_loads where load_id = ?",
                [load_id, template],
            )
        return con.execute("select count(*) from raw.events").fetchone()[0]
    finally:
        con.close()


def reference_hour(event_files: list[Path], work: Path) -> float:
    con = duckdb.connect(str(work / "reference.duckdb"), config=LIMITS)
    files = ", ".join(f"'{p}'" for p in event_files)
    started = time.perf_counter()
    con.execute(
        f"create or replace table events as select * from read_ndjson([{files}], "
        "ignore_errors = true, columns = {messageId: 'VARCHAR', type: 'VARCHAR', "
        "event: 'VARCHAR', name: 'VARCHAR', anonymousId: 'VARCHAR', userId: 'VARCHAR', "
        "receivedAt: 'TIMESTAMPTZ', properties: 'JSON', traits: 'JSON', context: 'JSON'})"
    )
    seconds = time.perf_counter() - started
    con.close()
    return seconds


CHAIN_COLUMNS = (
    "{messageId: 'VARCHAR', type: 'VARCHAR', event: 'VARCHAR', name: 'VARCHAR', "
    "anonymousId: 'VARCHAR', userId: 'VARCHAR', previousId: 'VARCHAR', "
    "receivedAt: 'TIMESTAMPTZ', sentAt: 'TIMESTAMPTZ', originalTimestamp: 'TIMESTAMPTZ', "
    "properties: 'JSON', traits: 'JSON', context: 'JSON'}"
)


def reference_chain(event_files: list[Path], days: int, same_anonymous_ids: bool, work: Path):
    """The plain-DuckDB chain the full build is compared with, on the same history files: load
    them, add the same days-1 shifted copies as replicate_history, dedupe on messageId (the
    earliest delivery), correct the device clock (receivedAt - (sentAt - originalTimestamp)),
    stitch anonymous ids to their first user, cut 30-minute sessions, and compute daily KPIs
    (sessions, people, conversion, bounce, p75 page load). Seconds, in a fresh DuckDB file."""
    path = work / "reference_chain.duckdb"
    path.unlink(missing_ok=True)
    files = ", ".join(f"'{p}'" for p in event_files)
    anonymous = "anonymousId" if same_anonymous_ids else (
        "case when anonymousId in (select anonymousId from identified) then anonymousId "
        "else anonymousId || '~' || k end")  # fmt: skip
    con = duckdb.connect(str(path), config=LIMITS)
    started = time.perf_counter()
    con.execute(f"""
        create table raw_events as
        select * from read_ndjson([{files}], ignore_errors = true, columns = {CHAIN_COLUMNS});
        create temp table identified as
        select distinct anonymousId from raw_events where userId is not null;
        insert into raw_events
        select case when messageId is null then null else messageId || '~' || k end,
            type, event, name, {anonymous}, userId, previousId,
            receivedAt - k * interval 1 day, sentAt - k * interval 1 day,
            originalTimestamp - k * interval 1 day, properties, traits, context
        from raw_events, range(1, {days}) as copies(k);
        create table events as
        select *, receivedAt - coalesce(sentAt - originalTimestamp, interval 0 second) as event_at
        from raw_events
        where messageId is not null
        qualify row_number() over (partition by messageId order by receivedAt) = 1;
        create table identity as
        select anonymousId, arg_min(userId, event_at) as user_id
        from events where userId is not null and anonymousId is not null group by anonymousId;
        create table stitched as
        select events.*, coalesce(events.userId, identity.user_id, events.anonymousId) as person
        from events left join identity using (anonymousId);
        create table sessionized as
        select *, sum(new_session) over (partition by person order by event_at, messageId)
            as session_number
        from (
            select *, case when event_at - lag(event_at) over (
                partition by person order by event_at, messageId) <= interval 30 minute
                then 0 else 1 end as new_session
            from stitched
        );
        create table sessions as
        select person, session_number, min(event_at) as started_at, count(*) as events,
            bool_or(type = 'track' and event = 'Order Completed') as converted,
            quantile_cont(try_cast(properties ->> 'page_load_ms' as double), 0.75) as p75_load
        from sessionized group by all;
        create table kpi_daily as
        select cast(started_at as date) as day, count(*) as sessions,
            count(distinct person) as people, avg(converted::int) as conversion_rate,
            avg((events = 1)::int) as bounce_rate, quantile_cont(p75_load, 0.75) as p75_page_load
        from sessions group by all;
    """)
    seconds = time.perf_counter() - started
    con.close()
    path.unlink(missing_ok=True)
    return seconds


def dbt(args: list[str], warehouse: Path) -> None:
    from orchestration.defs.transform.project import DBT_EXECUTABLE, DBT_PROJECT_DIR

    subprocess.run(
        [DBT_EXECUTABLE, *args, "--quiet", "--profiles-dir", "."], cwd=DBT_PROJECT_DIR,
        env={**os.environ, "CX_DUCKDB_PATH": str(warehouse)}, check=True,
    )  # fmt: skip


def dbt_full_rebuild(warehouse: Path) -> float:
    started = time.perf_counter()
    with PEAK.phase("full rebuild (dbt child process)"):
        dbt(["build", "--full-refresh"], warehouse)
    return time.perf_counter() - started


class Case:
    """One history length: its own data directory, Dagster instance and batch hours."""

    def __init__(self, days: int, landing: Path, args, stack: contextlib.ExitStack):
        import dagster as dg
        import yaml

        from ingestion.settings import Settings
        from tests.ingestion.helpers import run_feed

        self.days, self.landing, self.args = days, landing, args
        self.work = Path(tempfile.mkdtemp(prefix=f"microbatch-{days}d-", dir=args.out))
        if not args.keep:  # also when the benchmark fails: a 30-day work folder holds ~21 GB
            stack.callback(shutil.rmtree, self.work, ignore_errors=True)
        # Each history its own dbt target folder (dagster-dbt reads DBT_TARGET_PATH too): the
        # partial parse dbt keeps there is tied to the warehouse path, and a parse of the other
        # history's would make every dbt run parse the whole project again.
        self.env = {"CX_DATA_DIR": str(self.work), "CX_LANDING_DIR": str(self.work / "landing"),
                    "CX_ENV": "ci", "DBT_TARGET_PATH": str(self.work / "dbt_target")}  # fmt: skip
        os.environ.update(self.env)
        self.settings = settings = Settings.from_env()
        # As a deployment does (`make manifest`): parse the dbt project with the profile the runs
        # use, so each run's dbt re-uses that parse instead of parsing the whole project again.
        dbt(["parse", "--no-partial-parse"], settings.duckdb_path)
        self.first_batch = dt.datetime.combine(START + dt.timedelta(days=1), dt.time(BATCH_HOUR))
        history, self.batches = split_files(landing, self.first_batch, args.repeat)
        deliver(history, landing, settings.landing_dir)
        started = time.perf_counter()
        for feed in ("events", "tickets", "surveys"):
            run_feed(feed, settings)
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        events = replicate_history(settings.duckdb_path, days, args.same_anonymous_ids)
        replicate_seconds = time.perf_counter() - started
        print(f"[{days}d] history: {events:,} raw event rows (loaded day in {load_seconds:.0f} s)",
              flush=True)  # fmt: skip
        self.history_files = history
        self.result = {"history_days": days, "history_raw_events": events, "batches": [],
                       "load_seconds": load_seconds, "replicate_seconds": replicate_seconds}  # fmt: skip
        home = self.work / "dagster_home"
        home.mkdir()
        overrides = yaml.safe_load((ROOT / "orchestration" / "dagster.yaml").read_text())
        self.instance = stack.enter_context(
            dg.instance_for_test(temp_dir=str(home), overrides=overrides)
        )
        hour = (self.first_batch - dt.timedelta(hours=1)).strftime("%Y-%m-%d-%H:%M")
        started = time.perf_counter()
        assert run_pipeline_here(self, hour, "first build").success
        self.result["first_full_build_seconds"] = time.perf_counter() - started
        print(f"[{days}d] first build (everything): "
              f"{self.result['first_full_build_seconds']:.1f} s", flush=True)  # fmt: skip

    def batch(self, i: int) -> None:
        files = self.batches[i]
        deliver(files, self.landing, self.settings.landing_dir)
        hour = (self.first_batch + dt.timedelta(hours=i)).strftime("%Y-%m-%d-%H:%M")
        lines = sum(1 for p in files if "/events/" in str(p) for _ in _lines(p))
        result = run_pipeline_here(self, hour)
        assert result.success
        stats = self.instance.get_run_stats(result.run_id)
        total = stats.end_time - stats.start_time
        timings = {result.job_def.name: total}
        steps = {step.step_key: round(step.end_time - step.start_time, 2)
                 for step in self.instance.get_run_step_stats(result.run_id)}  # fmt: skip
        event_files = [p for p in files if "/events/" in str(p)]
        reference = reference_hour(event_files, self.work)
        self.result["batches"].append({"hour": hour, "event_lines": lines, **timings,
                                       "total_seconds": total, "reference_seconds": reference,
                                       "steps": steps})  # fmt: skip
        print(f"[{self.days}d] batch {hour}: {lines:,} event lines, hourly job "
              f"{total:.1f} s; plain DuckDB read_ndjson of the hour {reference:.2f} s\n"
              f"    steps (s): {json.dumps(steps)}", flush=True)  # fmt: skip

    def finish(self) -> dict:
        result = self.result
        os.environ.update(self.env)
        result["dbt_full_rebuild_seconds"] = (
            None if self.args.no_full_rebuild else dbt_full_rebuild(self.settings.duckdb_path)
        )
        if result["dbt_full_rebuild_seconds"] is not None:
            result["full_build_seconds"] = (
                result["load_seconds"] + result["replicate_seconds"]
                + result["dbt_full_rebuild_seconds"]
            )  # fmt: skip
            event_files = [p for p in self.history_files if "/events/" in str(p)]
            result["reference_chain_seconds"] = reference_chain(
                event_files, self.days, self.args.same_anonymous_ids, self.work
            )
            print(f"[{self.days}d] dbt build --full-refresh on the same warehouse: "
                  f"{result['dbt_full_rebuild_seconds']:.1f} s; full build (load, copies, dbt) "
                  f"{result['full_build_seconds']:.1f} s; plain-DuckDB chain on the same files "
                  f"{result['reference_chain_seconds']:.1f} s", flush=True)  # fmt: skip
        result["median_batch_seconds"] = statistics.median(
            b["total_seconds"] for b in result["batches"]
        )
        return result


def run_pipeline_here(case: Case, hour: str, phase: str = "batch"):
    """What the hourly schedule runs, with this case's data directory in the environment."""
    from orchestration.run import run_pipeline

    os.environ.update(case.env)
    with PEAK.phase(f"{phase}, {case.days} d"):
        return run_pipeline(case.instance, hour)


def run_cases(landing: Path, args) -> list[dict]:
    """Build every history first, then run batch i of each history in turn - in alternating
    order (1 d, 30 d, then 30 d, 1 d, ...) - so that a machine slowing down or speeding up
    during the run weighs on every history alike, not on the one measured last."""
    with contextlib.ExitStack() as stack:
        cases = [Case(days, landing, args, stack) for days in args.history_days]
        for i in range(args.repeat):
            for case in cases if i % 2 == 0 else reversed(cases):
                case.batch(i)
        return [case.finish() for case in cases]


def _lines(path: Path):
    import gzip

    with gzip.open(path, "rt") as f:
        yield from f


def summarise(cases: list[dict]) -> dict:
    longest = max(cases, key=lambda c: c["history_days"])
    references = [b["reference_seconds"] for c in cases for b in c["batches"]]
    return {
        "batch_median_s": {str(c["history_days"]): round(c["median_batch_seconds"], 2)
                           for c in cases},
        "reference_s": round(statistics.median(references), 3),
        "full_build_s": longest.get("full_build_seconds") and round(longest["full_build_seconds"], 1),
        "reference_chain_s": longest.get("reference_chain_seconds")
        and round(longest["reference_chain_seconds"], 1),
        "full_build_days": longest["history_days"],
        "peak_rss_mb": round(PEAK.peak / 2**20),
        "peak_rss_mb_by_phase": {name: {k: round(v / 2**20) for k, v in seen.items()}
                                 for name, seen in PEAK.by_phase.items()},
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events-per-hour", type=int, default=15_000)
    parser.add_argument("--history-days", type=int, nargs="+", default=[1, 30])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--keep", action="store_true", help="keep the warehouses")
    parser.add_argument("--no-full-rebuild", action="store_true",
                        help="skip the reference full rebuild (minutes at 30 days)")  # fmt: skip
    parser.add_argument("--same-anonymous-ids", action="store_true",
                        help="earlier days keep every anonymous id (worst case, see above)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="write the summary (see above) to this file")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PII__HASH_KEY", "benchmark-key")
    global PEAK
    PEAK = PeakRss()
    landing = world(args.events_per_hour, args.out)
    cases = run_cases(landing, args)
    base = cases[0]["median_batch_seconds"]
    print("\nhistory  median batch (s)  ratio to first  full rebuild (s)")
    for case in cases:
        rebuild = case["dbt_full_rebuild_seconds"]
        print(f"{case['history_days']:>4} d  {case['median_batch_seconds']:>16.1f}  "
              f"{case['median_batch_seconds'] / base:>14.2f}  "
              f"{'-' if rebuild is None else f'{rebuild:.1f}':>16}")  # fmt: skip
    report = {"command": " ".join(sys.argv), "machine": machine(), "cases": cases}
    out = args.out / "microbatch.json"
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"details: {out}")
    summary = summarise(cases)
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
