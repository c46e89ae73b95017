"""Running the real pipelines in tests and reading the warehouse back with plain DuckDB."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from ingestion.events.source import events_source
from ingestion.pipelines import feed_pipeline
from ingestion.settings import Settings
from ingestion.surveys.source import surveys_source
from ingestion.tickets.source import tickets_source

SOURCES = {"events": events_source, "tickets": tickets_source, "surveys": surveys_source}


def run_feed(feed: str, settings: Settings | None = None, **source_args) -> dict:
    """Run one feed's dlt pipeline; return the rows per table this run normalized."""
    settings = settings or Settings.from_env()
    if feed == "events":
        source = events_source(landing_dir=settings.landing_dir, **source_args)
    else:
        mode = source_args.pop("mode", "files")
        source = SOURCES[feed](mode, landing_dir=settings.landing_dir, **source_args)
    with feed_pipeline(feed, settings) as pipeline:
        pipeline.run(source, loader_file_format="parquet")
    return dict(pipeline.last_trace.last_normalize_info.row_counts)


def frame(path, sql: str, params=()):
    """A query's rows as a DataFrame, on a read-only connection to the DuckDB file at path."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, list(params)).df()


def query(sql: str, settings: Settings | None = None) -> list[tuple]:
    settings = settings or Settings.from_env()
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def scalar(sql: str, settings: Settings | None = None):
    return query(sql, settings)[0][0]


def withhold(landing: Path, held: Path) -> list[Path]:
    """Move everything delivered so far out of the landing folder (to `held`): the files of the
    feeds, to deliver back in slices with deliver()."""
    shutil.move(landing, held)
    landing.mkdir()
    return sorted(p for p in held.rglob("*") if p.is_file() and "_simulator" not in p.parts)


def deliver(files: list[Path], held: Path, landing: Path) -> None:
    """Put withheld files back where the collector wrote them."""
    for path in files:
        dest = landing / path.relative_to(held)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
