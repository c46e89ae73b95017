"""Raw tables, one Dagster asset each, loaded by dlt through dagster-dlt.

Each feed is one op (a multi-asset) that writes the feed's table, its quarantine and its ledger.
The dlt source and pipeline objects used at definition time only describe the assets; each run
builds fresh ones from the run's settings (reusing a source object across runs in one process
fails inside dagster-dlt, and the paths must come from the environment at run time).
"""

import tempfile
import time
from collections.abc import Callable, Iterator

import dagster as dg
import dlt
import duckdb
import pyarrow as pa
from dagster_dlt import DagsterDltResource, build_dlt_asset_specs

from ingestion.common.suppression import Suppression
from ingestion.events.source import empty_events, enrichment_profile, events_source
from ingestion.pipelines import RAW_DATASET, feed_pipeline
from ingestion.settings import Settings
from ingestion.surveys.source import surveys_source
from ingestion.tickets.source import tickets_source
from orchestration.defs.ingestion.reconcile import reconcile
from orchestration.defs.ingestion.translator import RawTableTranslator
from orchestration.defs.shared import DUCKDB_POOL, WarehouseResource

_TRANSLATOR = RawTableTranslator()


def _describing_pipeline(name: str) -> dlt.Pipeline:
    """A pipeline object for asset specs only; never run."""
    return dlt.pipeline(
        pipeline_name=f"{name}_spec",
        destination="duckdb",
        dataset_name=RAW_DATASET,
        pipelines_dir=tempfile.gettempdir() + "/cx-warehouse-dlt-specs",
    )


def run_feed(
    context: dg.AssetExecutionContext,
    dlt_resource: DagsterDltResource,
    settings: Settings,
    feed: str,
    table: str,
    source_factory: Callable[[Settings, Suppression], dlt.sources.DltSource],
    empty_table: Callable[[], pa.Table] | None = None,
    profile: Callable[[duckdb.DuckDBPyConnection, list[str]], dict] | None = None,
) -> Iterator[dg.MaterializeResult]:
    # People erased from the warehouse: their records are dropped while reading (and counted).
    suppression = Suppression.load(settings.duckdb_path)
    started = time.monotonic()
    context.log.info("loading %s into %s (%s)", feed, settings.duckdb_path, RAW_DATASET)
    with feed_pipeline(feed, settings) as pipeline:
        results = list(
            dlt_resource.run(
                context=context,
                dlt_source=source_factory(settings, suppression),
                dlt_pipeline=pipeline,
                loader_file_format="parquet",
            )
        )
        counts = reconcile(pipeline, feed, table)
    if empty_table is not None:
        _create_if_missing(settings, table, empty_table)
    found = {}
    if profile is not None and counts.rows_loaded:
        with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
            found = profile(con, counts.load_ids)
        context.log.info("%s: %s", feed, found)
    seconds = round(time.monotonic() - started, 2)
    context.log.info(
        "%s: read %s, loaded %s, quarantined %s, suppressed %s, superseded %s in %ss; "
        "schema changes: %s",
        feed, counts.items_read, counts.rows_loaded, counts.rows_quarantined,
        counts.rows_suppressed, counts.versions_superseded, seconds,
        counts.schema_changes or "none",
    )  # fmt: skip
    if counts.files_by_layout:
        context.log.info(
            "%s: files read, by layout: %s (%d not event files)",
            feed, counts.files_by_layout, len(counts.files_ignored),
        )  # fmt: skip
    if counts.files_ignored:
        context.log.warning(
            "%s: %d files are not in a layout the loader reads (listed in raw.%s_quarantine "
            "as unrecognized_file): %s", feed, len(counts.files_ignored), feed,
            "; ".join(counts.files_ignored[:5]),
        )  # fmt: skip
    if not counts.balanced:
        raise dg.Failure(
            f"{feed}: items read ({counts.items_read}) != loaded ({counts.rows_loaded}) + "
            f"quarantined ({counts.rows_quarantined}) + suppressed ({counts.rows_suppressed}) + "
            f"superseded ({counts.versions_superseded})",
            metadata=counts.as_metadata(),
        )
    for result in results:
        yield dg.MaterializeResult(
            asset_key=result.asset_key,
            metadata={
                **(result.metadata or {}),
                **counts.as_metadata(),
                **found,
                "load_seconds": seconds,
                "dagster/row_count": counts.rows_loaded,
            },
        )
    for kind, rows in (("quarantine", counts.rows_quarantined), ("ledger", counts.ledger_rows)):
        yield dg.MaterializeResult(
            asset_key=dg.AssetKey(["raw", f"{feed}_{kind}"]),
            metadata={
                "rows_added": rows,
                "dagster/table_name": f"{RAW_DATASET}.{feed}_{kind}",
                "load_seconds": seconds,
            },
        )


def _create_if_missing(settings: Settings, table: str, empty: Callable[[], pa.Table]) -> None:
    """dlt creates a table with its first row; a first run that read no row of the feed (no
    event file yet, only files it could not load) creates it empty, so the checks and dbt that
    follow find the table and end cleanly. dlt adopts the table on its next load."""
    with duckdb.connect(str(settings.duckdb_path)) as con:
        if con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [RAW_DATASET, table],
        ).fetchall()[0][0]:
            return
        con.register("shape", empty())
        con.execute(f"create schema if not exists {RAW_DATASET}")
        con.execute(f"create table {RAW_DATASET}.{table} as select * from shape")


def feed_asset(
    feed: str,
    table: str,
    describing_source: dlt.sources.DltSource,
    source_factory: Callable[[Settings, Suppression], dlt.sources.DltSource],
    description: str,
    empty_table: Callable[[], pa.Table] | None = None,
    profile: Callable[[duckdb.DuckDBPyConnection, list[str]], dict] | None = None,
) -> dg.AssetsDefinition:
    """One op loading one feed: its raw table (spec from dagster-dlt's translator) plus the
    feed's quarantine and ledger tables, which the same dlt load writes."""
    main_specs = build_dlt_asset_specs(
        dlt_source=describing_source,
        dlt_pipeline=_describing_pipeline(feed),
        dagster_dlt_translator=_TRANSLATOR,
    )
    side_specs = [
        dg.AssetSpec(
            key=["raw", f"{feed}_{kind}"],
            group_name="ingestion",
            kinds={"duckdb", "dlt"},
            tags={"layer": "raw"},
            description=text,
        )
        for kind, text in (
            (
                "quarantine",
                f"{feed} records that could not be loaded: file, position, reason, raw text.",
            ),
            (
                "ledger",
                f"One row per {feed} file or page read: items read = loaded + quarantined "
                "+ suppressed.",
            ),
        )
    ]

    @dg.multi_asset(
        name=f"raw_{table}",
        specs=[*main_specs, *side_specs],
        pool=DUCKDB_POOL,
        description=description,
    )
    def _load(
        context: dg.AssetExecutionContext, dlt: DagsterDltResource, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult]:
        yield from run_feed(
            context, dlt, warehouse.settings(), feed, table, source_factory, empty_table, profile
        )

    return _load


raw_events = feed_asset(
    "events",
    "events",
    events_source(landing_dir="."),
    lambda s, sup: events_source(
        landing_dir=s.landing_dir, memory_limit=s.duckdb_memory_limit, suppression=sup
    ),
    "Segment events from <landing>/events/ (the collector's files, NDJSON drops, Segment's and "
    "RudderStack's storage layouts), appended to raw.events.",
    empty_table=empty_events,
    profile=enrichment_profile,
)
raw_tickets = feed_asset(
    "tickets",
    "tickets",
    tickets_source(mode="files", landing_dir="."),
    lambda s, sup: tickets_source(
        s.tickets_mode, landing_dir=s.landing_dir, base_url=s.tickets_api_url, suppression=sup
    ),
    "Zendesk tickets (export files or the incremental cursor API), merged on id.",
)
raw_survey_responses = feed_asset(
    "surveys",
    "survey_responses",
    surveys_source(mode="files", landing_dir="."),
    lambda s, sup: surveys_source(
        s.surveys_mode,
        landing_dir=s.landing_dir,
        base_url=s.surveys_api_url,
        suppression=sup,
        typeform_forms=s.typeform_forms,
    ),
    "NPS/CSAT/CES responses (Typeform's Responses API, or the generic JSON export as files or "
    "over HTTP), merged on response id.",
)

defs = dg.Definitions(
    assets=[raw_events, raw_tickets, raw_survey_responses],
    resources={"dlt": DagsterDltResource()},
)
