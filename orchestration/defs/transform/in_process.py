"""`dbt build` in the run's own process, through dbt-core's programmatic runner (dbtRunner).

dagster-dbt's DbtCliResource starts a `dbt` subprocess for every invocation: a new Python that
imports dbt-core and the DuckDB adapter (~1.2 s on two cores), loads the project, and streams
every log line to the step as JSON, which dagster-dbt parses back. In the run's process dbt is
imported once per process, and its result events reach us as objects through a callback.
Measured on the 1-day microbatch (benchmarks/microbatch.py, docs/benchmarks.md).

What stays dagster-dbt's: the assets (`@dbt_assets`, the translator) and the conversion of
dbt's result events into Dagster events (`DbtCliEventMessage.to_default_asset_events`, public
API): the events are the same as the subprocess's, so the UI, the asset checks built from dbt
tests and the metadata do not change. dagster-dbt has no in-process runner of its own.

What this module must do itself, and does:
- the target folder: one per invocation (target/<op>-<run id>-<id>, as dagster-dbt names it),
  seeded with the project's partial parse so that dbt does not parse the whole project again;
- the selection: every model for a whole run of the multi-asset; the selected models' names
  for a subset (cx_kpis selects the KPI marts);
- releasing the warehouse: dbt-duckdb keeps its DuckDB database open between invocations
  (`keep_open`, true by default since 1.10: one open file for all the nodes of a run, which we
  want). Left open, it would hold the file with dbt's settings, and the steps after dbt in this
  process could not open it ("a different configuration than existing connections"); so it is
  closed when the invocation ends, through the adapter's public class methods. Closing it
  checkpoints the batch's writes, vacuuming only past a share of deleted rows
  (ingestion/common/warehouse.py).
dbt's text log goes to the step's stdout (Dagster's compute logs) and, at debug level, to
dbt.log in the invocation's target folder, as with the subprocess.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject

from ingestion.common.warehouse import Release, prepare_closing_checkpoint

RESULT_EVENTS = {"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"}


@dataclass
class DbtBuild:
    """What one in-process dbt invocation gave: success, the Dagster events of its results, the
    error that stopped dbt itself (a compilation error, a broken profile: None when it ran), and
    its target folder (artifacts and dbt.log)."""

    success: bool
    target_path: Path
    error: BaseException | None = None
    events: list = field(default_factory=list)
    dbt_seconds: float = 0.0  # dbt's invocation (closing the warehouse included)
    convert_seconds: float = 0.0  # its results into Dagster events
    release: Release | None = None  # closing the warehouse: its checkpoint, with or without vacuum


def target_path_for(context: dg.AssetExecutionContext, project: DbtProject, root: Path) -> Path:
    """A target folder of the invocation's own, named as dagster-dbt names them, with the
    project's partial parse copied in (dbt then re-parses only the files that changed)."""
    op = context.op_execution_context.op.name
    path = root / f"{op}-{context.run.run_id[:7]}-{uuid.uuid4().hex[:7]}"
    path.mkdir(parents=True)
    partial = root / "partial_parse.msgpack"
    if partial.exists():
        shutil.copyfile(partial, path / "partial_parse.msgpack")
    return path


def selection_args(
    context: dg.AssetExecutionContext,
    manifest: Mapping[str, Any],
    translator: DagsterDbtTranslator,
) -> list[str]:
    """Nothing for a run of every asset (dbt builds the whole project); `--select` of the
    selected models' names for a subset (their tests come with them: eager selection)."""
    if not context.is_subset:
        return []
    selected = context.selected_asset_keys
    names = sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and translator.get_asset_key(node) in selected
    )
    return ["--select", *names]


def _release_duckdb(vacuum_at: float) -> Release | None:
    """Close the DuckDB database dbt-duckdb keeps open in this process (None: dbt never opened
    one), vacuuming as ingestion.common.warehouse.prepare_closing_checkpoint decides."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    try:
        environment = DuckDBConnectionManager.env()
    except Exception:  # noqa: BLE001 - "requested before creation": dbt never connected
        return None
    release = None
    if environment.conn is not None:  # (LocalEnvironment's DuckDB connection)
        try:
            release = prepare_closing_checkpoint(environment.conn, vacuum_at)
        except Exception:  # noqa: BLE001 - the transaction dbt left failed: close as DuckDB would
            release = Release(vacuumed=True)
    started = time.perf_counter()
    environment.close()
    if release is not None:
        release.seconds = time.perf_counter() - started
    DuckDBConnectionManager.close_all_connections()
    return release


def dbt_build(
    context: dg.AssetExecutionContext,
    args: list[str],
    *,
    project: DbtProject,
    manifest: Mapping[str, Any],
    translator: DagsterDbtTranslator,
    target_root: Path,
    vacuum_at: float,
) -> DbtBuild:
    """Run `dbt <args>` (plus the selection) in this process; the Dagster events of its results."""
    from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import msg_to_dict

    target = target_path_for(context, project, target_root)
    results: list[dict] = []

    def collect(event) -> None:
        if event.info.name in RESULT_EVENTS:
            results.append(msg_to_dict(event))

    full_args = [
        *args,
        *selection_args(context, manifest, translator),
        "--project-dir", str(project.project_dir),
        "--profiles-dir", str(project.profiles_dir),
        "--target-path", str(target),
        "--log-path", str(target),
        "--no-send-anonymous-usage-stats",
    ]  # fmt: skip
    context.log.info("dbt %s (in process)", " ".join(full_args))
    started = time.perf_counter()
    try:
        outcome = dbtRunner(callbacks=[collect]).invoke(full_args)
    finally:
        release = _release_duckdb(vacuum_at)
    dbt_seconds, started = time.perf_counter() - started, time.perf_counter()
    events = []
    for raw in results:
        message = DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={})
        events.extend(
            message.to_default_asset_events(
                manifest=manifest,
                dagster_dbt_translator=translator,
                context=context,
                target_path=target,
                project=project,
            )
        )
    return DbtBuild(
        success=bool(outcome.success), target_path=target, error=outcome.exception, events=events,
        dbt_seconds=dbt_seconds, convert_seconds=time.perf_counter() - started, release=release,
    )  # fmt: skip
