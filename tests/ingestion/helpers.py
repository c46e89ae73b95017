"""Running the real pipelines in tests and reading the warehouse back with plain DuckDB."""

from __future__ import annotations

import duckdb

from ingestion.events.source import events_source
from ingestion.pipelines import make_pipeline
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
    pipeline = make_pipeline(feed, settings)
    pipeline.run(source, loader_file_format="parquet")
    return dict(pipeline.last_trace.last_normalize_info.row_counts)


def query(sql: str, settings: Settings | None = None) -> list[tuple]:
    settings = settings or Settings.from_env()
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def scalar(sql: str, settings: Settings | None = None):
    return query(sql, settings)[0][0]
