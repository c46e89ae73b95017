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
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, build_dbt_asset_selection, dbt_assets

from orchestration.defs.shared import DUCKDB_POOL, HOURLY, WarehouseResource
from orchestration.defs.transform.batch import batch_summary
from orchestration.defs.transform.project import DBT_EXECUTABLE, CxDbtCliResource, dbt_project
from orchestration.defs.transform.row_counts import with_row_counts


class CxDbtTranslator(DagsterDbtTranslator):
    """Sources take the key <schema>/<table> (raw/events, …), the keys of the dlt assets that load
    them; models are grouped by layer (the folder under models/)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
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


def _run_dbt(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator:
    settings = warehouse.settings()
    # dbt's unit tests check SQL logic, not data: `make test` runs them (tests/orchestration/
    # test_pipeline_e2e.py), the scheduled runs skip their ~2 s a run.
    args = ["build", "--exclude-resource-type", "unit_test", *_window_args(context)]
    context.log.info(
        "dbt %s on %s (target %s)", " ".join(args), settings.duckdb_path, settings.dbt_target
    )
    # profiles.yml reads the warehouse path and target from these (dbt has no other channel);
    # they are put back afterwards, so the next run in this process resolves its own settings.
    saved = {key: os.environ.get(key) for key in ("CX_DUCKDB_PATH", "CX_ENV")}
    os.environ.update(CX_DUCKDB_PATH=str(settings.duckdb_path), CX_ENV=settings.env)
    try:
        invocation = dbt.cli(args, context=context, raise_on_error=False)
        # Materializations of the models that built are recorded even when others fail.
        events = list(invocation.stream())
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    events = with_row_counts(events, invocation.manifest, settings.duckdb_path)
    yield from batch_summary(events, settings.duckdb_path)
    if not invocation.is_successful():
        prune_target_folders(invocation.target_path.parent)
        raise dg.Failure(
            "dbt build failed: see the step's logs for the failing models and tests (dbt's "
            f"artifacts: {invocation.target_path})"
        )
    shutil.rmtree(invocation.target_path, ignore_errors=True)


KEEP_FAILED_TARGETS = 10


def prune_target_folders(target: Path) -> None:
    """dagster-dbt gives every invocation a target folder of its own (target/<op>-<run>-<id>,
    ~4 MB: the manifest, compiled SQL, run_results.json): two a batch, every hour, forever.
    A successful invocation's folder is removed once its events are read; of the failed ones,
    which hold what to debug, the newest KEEP_FAILED_TARGETS stay."""
    failed = sorted(
        (p for p in target.glob("cx_dbt-*") if p.is_dir()), key=lambda p: p.stat().st_mtime
    )
    for path in failed[:-KEEP_FAILED_TARGETS]:
        shutil.rmtree(path, ignore_errors=True)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    name="cx_dbt",
    dagster_dbt_translator=CxDbtTranslator(),
    partitions_def=HOURLY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
)
def cx_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """Every dbt model: one `dbt build` a run, in the writer pool; a backfill of a range is one
    run over the range."""
    yield from _run_dbt(context, dbt, warehouse)


KPI_MODELS = build_dbt_asset_selection([cx_dbt], dbt_select="tag:kpi_batch")


defs = dg.Definitions(
    assets=[cx_dbt],
    resources={
        "dbt": CxDbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
    },
)
