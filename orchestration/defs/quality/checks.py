"""Data-quality checks as Dagster asset checks, run with Great Expectations (expectations/).

- `raw_quality`: after the loads, before dbt. Per raw table: `schema` and `values` (blocking:
  an ERROR stops the dbt models of the run, so the last good marts stay), `freshness` and, for
  raw/events, `volume` (WARN). They look at the batch dbt is about to process and the hours of
  the run's partition.
- `mart_schema`: after dbt, every mart's columns and types against its contract (blocking for
  anything downstream in the same run: the alerts and the publish).

Every result goes to ops.dq_results and the GX Data Docs site (<data dir>/gx), linked from the
check's metadata. docs/data-quality.md has the list and what to do when one fails.
"""

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator

import dagster as dg
import duckdb

from expectations.contracts import RAW_TABLES
from orchestration.defs.shared import DUCKDB_POOL, HOURLY, WarehouseResource
from orchestration.defs.transform.assets import cx_dbt

BLOCKING = {"schema", "values"}
DESCRIPTIONS = {
    "schema": "Columns and types against expectations/contracts (missing, retyped or emptied "
    "required column: ERROR, blocks dbt; new column or event property key: WARN).",
    "values": "Ids not null, survey scores in range, quarantined share under its limit (ERROR, "
    "blocks dbt); event times not after their arrival (WARN).",
    "volume": "Rows per hour of arrival against the median/MAD of the same hour in earlier weeks "
    "(or days); a 50% drop or 3x spike is a WARN.",
    "freshness": "Newest row against the feed's age limit at the end of the partition (WARN).",
}


def _raw_checks(table: str) -> list[str]:
    return ["schema", "values", "freshness", *(["volume"] if table == "events" else [])]


def partition_window(run: dg.DagsterRun) -> tuple[str | None, list[dt.datetime], dt.datetime]:
    """The run's partition (key or range), its hours and the window's end (UTC); without a
    partition, the latest complete hour."""
    tags = run.tags
    first = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition")
    last = tags.get("dagster/asset_partition_range_end") or first
    if first is None:
        now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        return None, [now - dt.timedelta(hours=1)], now
    label = first if first == last else f"{first}...{last}"
    start = HOURLY.time_window_for_partition_key(first).start
    end = HOURLY.time_window_for_partition_key(last).end
    hours = [
        start + dt.timedelta(hours=k) for k in range(int((end - start).total_seconds() // 3600))
    ]
    return label, hours, end


def _evaluate(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    plan: Callable[..., Iterable[tuple[dg.AssetCheckKey, Callable]]],
) -> Iterator[dg.AssetCheckResult]:
    """Open the warehouse, run the planned checks (plan(context, con, gx_dir, hours, window_end) yields
    (check key, thunk) pairs), record them, build Data Docs, report."""
    from expectations import checks, gx_runner  # GX takes ~10 s to import: only when checking

    settings = warehouse.settings()
    partition, hours, window_end = partition_window(context.run)
    started = time.monotonic()
    with duckdb.connect(str(settings.duckdb_path)) as con, gx_runner.run_named(context.run.run_id):
        outcomes = []
        for key, run_check in plan(context, con, settings.gx_dir, hours, window_end):
            if key not in context.selected_asset_check_keys:
                continue
            outcome = run_check()
            context.log.info(
                "%s %s: %s%s", key.asset_key.to_user_string(), key.name,
                "passed" if outcome.passed else f"FAILED ({outcome.severity})",
                "" if outcome.passed else f" - {outcome.message}",
            )  # fmt: skip
            outcomes.append(outcome)
        checks.record(con, outcomes, partition, context.run.run_id)
    docs = gx_runner.build_docs(settings.gx_dir)
    context.log.info(
        "%s checks in %.1fs; Data Docs: %s", len(outcomes), time.monotonic() - started, docs
    )
    for outcome in outcomes:
        # The check's own result page (rendered by this run), else the index.
        results = outcome.gx_results
        page = gx_runner.result_page(settings.gx_dir, results[0]) if results else None
        yield dg.AssetCheckResult(
            asset_key=dg.AssetKey(outcome.asset.split("/")),
            check_name=outcome.check,
            passed=outcome.passed,
            severity=dg.AssetCheckSeverity(outcome.severity),
            description=outcome.message,
            metadata={
                "message": outcome.message,
                "observed": dg.MetadataValue.json(outcome.observed),
                "expected": dg.MetadataValue.json(outcome.expected),
                "partition": partition or "",
                "gx_data_docs": dg.MetadataValue.url(page or docs or ""),
                "gx_data_docs_index": dg.MetadataValue.url(docs or ""),
                "stored_in": "ops.dq_results",
            },
        )


def _quality_op(
    name: str, specs: list[dg.AssetCheckSpec], description: str, plan: Callable
) -> dg.AssetChecksDefinition:
    """One op evaluating several checks: one DuckDB connection, one GX Data Docs build."""

    @dg.multi_asset_check(
        name=name, specs=specs, can_subset=True, pool=DUCKDB_POOL, description=description
    )
    def _op(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        yield from _evaluate(context, warehouse, plan)

    return _op


def _raw_plan(context, con, gx_dir, hours, window_end):
    from expectations import checks

    loads = checks.stage_batch(con)
    context.log.info("checking the batch of %s unprocessed load(s)", len(loads))
    for table in RAW_TABLES:
        runs = {
            "schema": lambda t=table: checks.schema_check(
                con, gx_dir, f"raw.{t}", f"raw/{t}", batch=True
            ),
            "values": lambda t=table: checks.values_check(con, gx_dir, t),
            "freshness": lambda t=table: checks.freshness_check(con, gx_dir, t, window_end),
            "volume": lambda: checks.volume_check(con, gx_dir, hours),
        }
        for name in _raw_checks(table):
            yield dg.AssetCheckKey(dg.AssetKey(["raw", table]), name), runs[name]


raw_quality = _quality_op(
    "raw_quality",
    [
        dg.AssetCheckSpec(
            name,
            asset=dg.AssetKey(["raw", table]),
            blocking=name in BLOCKING,
            description=DESCRIPTIONS[name],
        )
        for table in RAW_TABLES
        for name in _raw_checks(table)
    ],  # fmt: skip
    "Great Expectations on the loaded batch, before dbt reads it.",
    _raw_plan,
)


def mart_schema_checks(name: str, dbt_assets: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    """One blocking `schema` check per mart of a dbt group, evaluated in one op."""
    marts = sorted(
        (key for key in dbt_assets.keys if key.path[0] == "marts"), key=lambda k: k.path[-1]
    )

    def plan(context, con, gx_dir, hours, window_end):
        from expectations import checks

        for key in marts:
            yield (
                dg.AssetCheckKey(key, "schema"),
                lambda k=key: checks.schema_check(
                    con, gx_dir, f"marts.{k.path[-1]}", k.to_user_string(), batch=False
                ),
            )

    specs = [
        dg.AssetCheckSpec("schema", asset=key, blocking=True, description=DESCRIPTIONS["schema"])
        for key in marts
    ]
    return _quality_op(
        name, specs, "Great Expectations: each mart's columns and types against its contract.", plan
    )


mart_schema = mart_schema_checks("mart_schema", cx_dbt)

defs = dg.Definitions(asset_checks=[raw_quality, mart_schema])
