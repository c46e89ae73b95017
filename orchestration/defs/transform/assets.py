"""dbt models as Dagster assets: staging → manifest → intermediate → marts, after the raw tables.

`cx_dbt`: every model of the project as one multi-asset partitioned by UTC hour, built by one
`dbt build` a run. A run processes every load dlt finished since the last run (the batch:
macros/batch/batch.sql), rebuilds the persons and periods it touched and its partition window
(for a backfill of a range, the whole range), and then the KPI marts (dbt tag `kpi_batch`) for
the periods whose inputs changed and the days of the window. One invocation, not one for the
facts and one for the KPIs: measured on the 1-day microbatch, 6.1-6.6 s against 8.6-10.1 s
(dbt's start-up, its hooks and the window's day of KPIs once instead of twice).
The window reaches dbt as --event-time-start / --event-time-end (macros/batch/batch.sql).
`KPI_MODELS` selects the KPI marts alone (the recompute after an erasure: cx_kpis).
"""

import datetime as dt
import functools
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, build_dbt_asset_selection, dbt_assets

from orchestration.defs.shared import DUCKDB_POOL, HOURLY, WarehouseResource
from orchestration.defs.transform.batch import batch_summary
from orchestration.defs.transform.in_process import dbt_build
from orchestration.defs.transform.project import dbt_project
from orchestration.defs.transform.row_counts import with_row_counts

PREVIOUS_STATE = "before_batch"  # the sources of the tables as the previous run left them


class CxDbtTranslator(DagsterDbtTranslator):
    """Sources take the key <schema>/<table> (raw/events, …), the keys of the dlt assets that load
    them; models are grouped by layer (the folder under models/).

    The `before_batch*` sources are the project's own tables as the previous run left them (what
    a batch starts from: models/manifest/_manifest__models.yml). Keyed like the models they are,
    they would make a cycle (int_identity__events_stitched → ... → int_batch__persons, which
    reads the stitched table's previous state); so they are before_batch/<schema>/<table>,
    external assets that show that read in the lineage (previous_state_specs declares them)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            schema, name = dbt_resource_props["schema"], dbt_resource_props["name"]
            if dbt_resource_props["source_name"].startswith(PREVIOUS_STATE):
                return dg.AssetKey([PREVIOUS_STATE, schema, name])
            return dg.AssetKey([schema, name])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "model":
            return dbt_resource_props["fqn"][1]
        return super().get_group_name(dbt_resource_props)


def _window_args(context: dg.AssetExecutionContext) -> list[str]:
    """The partition's window as dbt's --event-time-start/--event-time-end (UTC, half-open).
    Not --vars: a changed var makes dbt re-parse the whole project on every run."""
    if not context.has_partition_key_range and not context.has_partition_key:
        return []
    window = context.partition_time_window
    fmt = "%Y-%m-%dT%H:%M:%S"  # dbt rejects an offset; partition windows are UTC
    return [
        "--event-time-start",
        window.start.astimezone(dt.UTC).strftime(fmt),
        "--event-time-end",
        window.end.astimezone(dt.UTC).strftime(fmt),
    ]


@functools.cache
def _manifest(path: Path) -> dict:
    return json.loads(path.read_text())


def dbt_target_root() -> Path:
    """Where dbt's target folders go: DBT_TARGET_PATH (relative: to the project), else target/."""
    return dbt_project.project_dir / os.environ.get("DBT_TARGET_PATH", "target")


def _run_dbt(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    settings = warehouse.settings()
    # dbt's unit tests check SQL logic, not data: `make test` runs them (tests/orchestration/
    # test_pipeline_e2e.py), the scheduled runs skip their ~2 s a run.
    args = ["build", "--exclude-resource-type", "unit_test", *_window_args(context)]
    # profiles.yml reads the warehouse path and target from these (dbt has no other channel);
    # they are put back afterwards, so the next run in this process resolves its own settings.
    saved = {key: os.environ.get(key) for key in ("CX_DUCKDB_PATH", "CX_ENV")}
    os.environ.update(CX_DUCKDB_PATH=str(settings.duckdb_path), CX_ENV=settings.env)
    manifest = _manifest(dbt_project.manifest_path)
    try:
        # Materializations of the models that built are recorded even when others fail.
        build = dbt_build(
            context, args, project=dbt_project, manifest=manifest, translator=TRANSLATOR,
            target_root=dbt_target_root(), vacuum_at=settings.duckdb_vacuum_at,
        )  # fmt: skip
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    started = time.perf_counter()
    events = list(batch_summary(with_row_counts(build.events, manifest, settings.duckdb_path),
                                settings.duckdb_path))  # fmt: skip
    context.log.info(
        "dbt on %s (target %s): %.1f s in dbt (closing the warehouse: %s), %.1f s from its "
        "results to %d Dagster events, %.1f s for row counts and the batch's summary",
        settings.duckdb_path, settings.dbt_target, build.dbt_seconds, build.release or "not opened",
        build.convert_seconds, len(events), time.perf_counter() - started,
    )  # fmt: skip
    yield from events
    if not build.success:
        prune_target_folders(build.target_path.parent)
        reason = f"dbt stopped: {build.error}" if build.error else "dbt build failed"
        raise dg.Failure(
            f"{reason}. See the step's logs for the failing models and tests (dbt's artifacts "
            f"and dbt.log: {build.target_path})"
        )
    shutil.rmtree(build.target_path, ignore_errors=True)


KEEP_FAILED_TARGETS = 10


def prune_target_folders(target: Path) -> None:
    """Every dbt invocation has a target folder of its own (target/<op>-<run>-<id>, ~4 MB: the
    manifest, compiled SQL, run_results.json, dbt.log): one a batch, every hour, forever.
    A successful invocation's folder is removed once its events are read; of the failed ones,
    which hold what to debug, the newest KEEP_FAILED_TARGETS stay."""
    failed = sorted(
        (p for p in target.glob("cx_dbt-*") if p.is_dir()), key=lambda p: p.stat().st_mtime
    )
    for path in failed[:-KEEP_FAILED_TARGETS]:
        shutil.rmtree(path, ignore_errors=True)


TRANSLATOR = CxDbtTranslator()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    name="cx_dbt",
    dagster_dbt_translator=TRANSLATOR,
    partitions_def=HOURLY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
)
def cx_dbt(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Every dbt model: one `dbt build` a run, in the writer pool and in the run's process
    (in_process.py); a backfill of a range is one run over the range."""
    yield from _run_dbt(context, warehouse)


KPI_MODELS = build_dbt_asset_selection([cx_dbt], dbt_select="tag:kpi_batch")


def previous_state_specs(manifest: Mapping[str, Any]) -> list[dg.AssetSpec]:
    """The before_batch sources as external assets, with their dbt descriptions. Declared, they
    are what cx_dbt's deps on those keys resolve to; left undefined, Dagster would resolve each
    dep to the asset of the same table name - the model itself, the cycle again - and show no
    word of what they are."""
    return [
        dg.AssetSpec(
            TRANSLATOR.get_asset_key(node),
            description=node["description"] or node["source_description"],
            group_name=PREVIOUS_STATE,
        )
        for node in manifest["sources"].values()
        if node["source_name"].startswith(PREVIOUS_STATE)
    ]


defs = dg.Definitions(assets=[cx_dbt, *previous_state_specs(_manifest(dbt_project.manifest_path))])
