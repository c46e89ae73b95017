"""Event ingestion throughput: the real events pipeline vs plain DuckDB `read_ndjson`, same files.

    .venv/bin/python benchmarks/ingest.py --events 1000000 --repeat 3

Simulates a world of about N delivered event lines (once; cached under benchmarks/out/), then
alternates, `--repeat` times, a load through the project's dlt events pipeline (the code the
Dagster asset runs: parse, validate, quarantine, pseudonymise, ledger, dlt load) into a fresh
DuckDB file, and the reference: `create table as select * from read_ndjson(...)` with explicit
columns (nested objects kept as JSON) into another fresh file, with DuckDB's default settings.
Prints medians and the ratio, and what device/country enrichment costs: the same pipeline
with it off (`events_source(enrich=False)`), alternating with the others. For comparison it also times the reference storing text with ZSTD,
as the pipeline's warehouse connection does, so the share of the storage setting is visible.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingestion.events.source import events_source  # noqa: E402
from ingestion.pipelines import RAW_STORAGE, feed_pipeline  # noqa: E402
from ingestion.settings import Settings  # noqa: E402
from simulator import SimConfig, load_truth, simulate  # noqa: E402

EVENTS_PER_USER_DAY = 1.95  # measured on the default simulator settings
REFERENCE_COLUMNS = {
    "messageId": "VARCHAR", "type": "VARCHAR", "event": "VARCHAR", "name": "VARCHAR",
    "anonymousId": "VARCHAR", "userId": "VARCHAR", "timestamp": "TIMESTAMPTZ",
    "originalTimestamp": "TIMESTAMPTZ", "sentAt": "TIMESTAMPTZ", "receivedAt": "TIMESTAMPTZ",
    "properties": "JSON", "traits": "JSON", "context": "JSON",
}  # fmt: skip


def world(events: int, days: int, out: Path) -> tuple[Path, dict]:
    landing = out / f"world-{events}-{days}d"
    if not (landing / "_simulator" / "truth.json").exists():
        users = max(10, round(events / (EVENTS_PER_USER_DAY * days)))
        print(f"simulating {users} users x {days} days into {landing} ...", flush=True)
        started = time.monotonic()
        simulate(SimConfig(users=users, days=days, start=dt.date(2026, 10, 1)), landing)
        print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
    return landing, load_truth(landing)


def run_pipeline(landing: Path, work: Path, enrich: bool = True) -> tuple[float, dict]:
    shutil.rmtree(work, ignore_errors=True)
    settings = Settings.from_env({"CX_DATA_DIR": str(work), "CX_LANDING_DIR": str(landing)})
    started = time.perf_counter()  # opening and closing the warehouse file included
    with feed_pipeline("events", settings) as pipeline:
        source = events_source(landing_dir=landing, enrich=enrich)
        pipeline.run(source, loader_file_format="parquet")
    seconds = time.perf_counter() - started
    steps = {
        s.step: (s.finished_at - s.started_at).total_seconds() for s in pipeline.last_trace.steps
    }
    counts = dict(pipeline.last_trace.last_normalize_info.row_counts)
    return seconds, {"steps": steps, "rows": counts.get("events", 0),
                     "quarantined": counts.get("events_quarantine", 0)}  # fmt: skip


def run_reference(landing: Path, work: Path, config: dict | None = None) -> tuple[float, dict]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    con = duckdb.connect(str(work / "reference.duckdb"), config=config or {})
    columns = "{" + ", ".join(f"{k}: '{v}'" for k, v in REFERENCE_COLUMNS.items()) + "}"
    started = time.perf_counter()
    con.execute(
        f"create table events as select * from read_ndjson('{landing}/events/**/*.jsonl.gz', "
        f"columns = {columns}, ignore_errors = true)"
    )
    seconds = time.perf_counter() - started
    rows = con.execute("select count(*) from events").fetchone()[0]
    con.close()
    return seconds, {"rows": rows}


def run_reference_zstd(landing: Path, work: Path) -> tuple[float, dict]:
    """For comparison only, not the target's reference: the same statement storing its text
    columns with ZSTD, as the pipeline's warehouse connection does (see ingestion/pipelines.py)."""
    return run_reference(landing, work, {"force_compression": RAW_STORAGE["force_compression"]})


def machine() -> dict:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    import dlt

    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(), "duckdb": duckdb.__version__, "dlt": dlt.__version__,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args()
    os.environ.setdefault("PII__HASH_KEY", "benchmark-key")
    landing, truth = world(args.events, args.days, args.out)
    lines = truth["delivery"]["event_lines"]
    runs = {"pipeline": run_pipeline, "reference": run_reference,
            "reference_zstd": run_reference_zstd,
            "pipeline_no_enrichment": lambda landing, work: run_pipeline(landing, work, False)}  # fmt: skip
    results = {name: [] for name in runs}
    for i in range(args.repeat):
        for name, fn in runs.items():
            seconds, detail = fn(landing, args.out / f"run-{name}")
            results[name].append({"seconds": seconds, **detail})
            print(f"run {i + 1} {name:<14} {seconds:7.2f} s  {lines / seconds:>10,.0f} lines/s  "
                  f"{json.dumps(detail.get('steps', {}))}", flush=True)  # fmt: skip
    median = {k: statistics.median(r["seconds"] for r in v) for k, v in results.items()}
    report = {
        "command": " ".join(sys.argv),
        "machine": machine(),
        "event_lines": lines,
        "files": truth["delivery"]["event_files"],
        "median_seconds": median,
        "events_per_second": {k: lines / v for k, v in median.items()},
        "ratio_pipeline_to_reference": median["reference"] / median["pipeline"],
        "ratio_pipeline_to_reference_zstd": median["reference_zstd"] / median["pipeline"],
        "enrichment_cost": median["pipeline"] / median["pipeline_no_enrichment"] - 1,
        "runs": results,
    }
    print(f"\n{lines:,} lines in {report['files']} files; medians of {args.repeat}:")
    for name in runs:
        speed = report["events_per_second"][name]
        print(f"  {name:<14} {median[name]:.2f} s  {speed:,.0f} lines/s")
    print(
        f"  ratio (pipeline speed / reference speed) = {report['ratio_pipeline_to_reference']:.2f}"
        f"  (against reference_zstd: {report['ratio_pipeline_to_reference_zstd']:.2f})"
    )
    print(
        f"  enrichment costs {report['enrichment_cost']:+.1%} (pipeline vs pipeline_no_enrichment)"
    )
    out = args.out / f"ingest-{args.events}.json"
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"  details: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
