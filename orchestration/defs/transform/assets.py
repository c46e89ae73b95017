"""dbt models as Dagster assets: staging → intermediate → marts, after the raw tables."""

import os
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.defs.shared import DUCKDB_POOL, WarehouseResource
from orchestration.defs.transform.project import DBT_EXECUTABLE, dbt_project
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


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=CxDbtTranslator(),
    pool=DUCKDB_POOL,
)
def cx_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator:
    settings = warehouse.settings()
    # profiles.yml reads the warehouse path and target from these (dbt has no other channel).
    os.environ["CX_DUCKDB_PATH"] = str(settings.duckdb_path)
    os.environ["CX_ENV"] = settings.env
    context.log.info("dbt build on %s (target %s)", settings.duckdb_path, settings.dbt_target)
    invocation = dbt.cli(["build"], context=context, raise_on_error=False)
    # Materializations of the models that built are recorded even when others fail.
    yield from with_row_counts(invocation.stream(), dbt_project.manifest_path, settings.duckdb_path)
    if not invocation.is_successful():
        raise dg.Failure("dbt build failed: see the step's logs for the failing models and tests")


defs = dg.Definitions(
    assets=[cx_dbt_models],
    resources={
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
    },
)
