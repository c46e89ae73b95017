"""dbt models as Dagster assets: staging → intermediate → marts, after the raw tables.

Two groups of dbt assets, one dbt invocation each:
- `cx_dbt_hourly`: staging, intermediate and the fact/dimension marts, partitioned by UTC hour.
  A run processes every load dlt finished since the last run (macros/batch/batch.sql) and
  rebuilds its partition window (for a backfill of a range, the whole range).
- `cx_dbt_daily_kpis`: the KPI marts (dbt tag `kpi_batch`), partitioned by UTC day. A run
  recomputes the periods whose inputs changed since it last ran, plus its day(s).
The window reaches dbt as --event-time-start / --event-time-end (macros/batch/batch.sql).
"""

import datetime as dt
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.defs.shared import DAILY, DUCKDB_POOL, HOURLY, WarehouseResource
from orchestration.defs.transform.batch import batch_summary
from orchestration.defs.transform.project import DBT_EXECUTABLE, CxDbtCliResource, dbt_project
from orchestration.defs.transform.row_counts import with_row_counts

KPI_SELECT = "tag:kpi_batch"


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
        (p for p in target.glob("cx_dbt_*") if p.is_dir()), key=lambda p: p.stat().st_mtime
    )
    for path in failed[:-KEEP_FAILED_TARGETS]:
        shutil.rmtree(path, ignore_errors=True)


def _dbt_group(name: str, partitions_def: dg.PartitionsDefinition, **selection: str):
    """One group of dbt models as one multi-asset: one `dbt build` per run, in the writer pool;
    a backfill of a range is one run over the range."""

    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        name=name,
        dagster_dbt_translator=CxDbtTranslator(),
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=DUCKDB_POOL,
        **selection,
    )
    def _models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ) -> Iterator:
        yield from _run_dbt(context, dbt, warehouse)

    return _models


cx_dbt_hourly = _dbt_group("cx_dbt_hourly", HOURLY, exclude=KPI_SELECT)
cx_dbt_daily_kpis = _dbt_group("cx_dbt_daily_kpis", DAILY, select=KPI_SELECT)


defs = dg.Definitions(
    assets=[cx_dbt_hourly, cx_dbt_daily_kpis],
    resources={
        "dbt": CxDbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
    },
)
