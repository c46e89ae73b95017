"""Great Expectations (GX Core 1.x) plumbing: validate pandas DataFrames that DuckDB produced.

GX's SQL data source fails on DuckDB, so every check builds a small DataFrame — the batch's rows
when they are few (survey scores), otherwise an aggregate profile of the batch (one row per column,
per hour, per feed) — and validates it here. Each expectation carries its severity in
`meta["severity"]`. Suites, validation results and the Data Docs site live in a file context under
<data dir>/quality/gx (CX_GX_DIR is the project root), so every result can be opened in a browser.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

ERROR, WARN = "ERROR", "WARN"
DATA_SOURCE = "cx_profiles"


@dataclass
class Validation:
    """One GX validation: a suite of expectations over one DataFrame."""

    name: str  # suite name, e.g. raw_events.schema
    frame: pd.DataFrame
    expectations: Sequence[Any]  # gx expectations, each with meta={"severity": ERROR|WARN}


@dataclass
class Failure:
    severity: str
    expectation: str  # the expectation's description or type
    details: dict = field(default_factory=dict)  # what GX reported (unexpected values, missing…)


@dataclass
class ValidationRun:
    failures: list[Failure]
    evaluated: int  # expectations run
    results: list = field(default_factory=list)  # the stored results' identifiers (result_page)

    @property
    def severity(self) -> str | None:
        """The worst failed severity, None when everything passed."""
        severities = {f.severity for f in self.failures}
        return ERROR if ERROR in severities else (WARN if severities else None)


@functools.lru_cache(maxsize=4)
def _context(gx_dir: str):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=gx_dir)
    if context.variables.config_variables_file_path:
        # The project keeps no variables in GX's file (secrets come from the environment), and GX
        # parses that YAML file again for every store it looks up: ~500 times in a batch's two
        # check steps (~0.15 s). Without the path, it reads only the environment.
        context.variables.config_variables_file_path = None
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
        context = gx.get_context(mode="file", project_root_dir=gx_dir)
    return context


def _batch_definition(context, name: str):
    try:
        source = context.data_sources.get(DATA_SOURCE)
    except KeyError:
        source = context.data_sources.add_pandas(DATA_SOURCE)
    try:
        asset = source.get_asset(name)
    except LookupError:
        asset = source.add_dataframe_asset(name)
    try:
        return asset.get_batch_definition("whole")
    except KeyError:
        return asset.add_batch_definition_whole_dataframe("whole")


_DETAIL_KEYS = (
    "observed_value", "element_count", "unexpected_count", "partial_unexpected_list",
    "partial_missing_list", "missing_count",
)  # fmt: skip


_run_name: ContextVar[str | None] = ContextVar("gx_run_name", default=None)
_unrendered: list = []  # results stored since the last Data Docs build


@contextmanager
def run_named(name: str) -> Iterator[None]:
    """Store the results validated inside under this run name (the Dagster run id)."""
    token = _run_name.set(name)
    try:
        yield
    finally:
        _run_name.reset(token)


def run(gx_dir: Path, validations: Sequence[Validation]) -> ValidationRun:
    """Validate each DataFrame with its suite; results are stored in the GX project at gx_dir."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = _context(str(gx_dir))
    failures: list[Failure] = []
    evaluated = 0
    result_ids = []
    for validation in validations:
        suite = gx.ExpectationSuite(
            name=validation.name, expectations=list(validation.expectations)
        )
        suite = context.suites.add_or_update(suite)
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(
                name=validation.name,
                data=_batch_definition(context, validation.name),
                suite=suite,
            )
        )
        run_id = RunIdentifier(run_name=_run_name.get())
        result = definition.run(
            batch_parameters={"dataframe": validation.frame}, result_format="SUMMARY", run_id=run_id
        )
        result_ids.append(
            ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=validation.name),
                run_id=run_id,
                batch_identifier=f"{DATA_SOURCE}-{validation.name}",  # the batch id of a frame asset
            )
        )
        for item in result.results:
            evaluated += 1
            if item.success:
                continue
            config = item.expectation_config
            details = {
                k: item.result.get(k) for k in _DETAIL_KEYS if item.result.get(k) is not None
            }
            if item.exception_info and item.exception_info.get("raised_exception"):
                details["exception"] = item.exception_info.get("exception_message")
            failures.append(
                Failure(
                    severity=(config.meta or {}).get("severity", ERROR),
                    expectation=config.description or config.type,
                    details=details,
                )
            )
    _unrendered.extend(result_ids)
    return ValidationRun(failures, evaluated, result_ids)


# GX renders Data Docs from its store of results, and its cost grows with what the store holds:
# with 25 validations a run, the index page 0.18 s after one run, 1.5 s after 50, 5.6 s after
# 200 (a week of hourly runs; a few hours under the landing sensor), and even a run's own pages
# 0.13 s -> 2.1 s (GX walks every stored key to find them). So the store keeps the results of the
# last KEEP_RUNS runs (older ones are removed with their pages; every outcome stays in
# ops.dq_results and in Dagster's check history), and the index is rebuilt at most once an hour.
KEEP_RUNS = 24
INDEX_EVERY = dt.timedelta(hours=1)


def build_docs(gx_dir: Path, now: dt.datetime | None = None) -> str | None:
    """Drop the results of all but the last KEEP_RUNS runs; render the pages of the results
    stored since the last build, and the index page when its last build is INDEX_EVERY old.
    The index page's URL."""
    context = _context(str(gx_dir))
    if _unrendered:  # (an empty list would make GX render every stored result's page)
        prune_results(context, KEEP_RUNS)
        index = docs_index(gx_dir)
        now = now or dt.datetime.now(dt.UTC)
        due = (
            not index.exists()
            or now.timestamp() - index.stat().st_mtime >= INDEX_EVERY.total_seconds()
        )
        context.build_data_docs(resource_identifiers=list(_unrendered), build_index=due)
        _unrendered.clear()
    urls = context.get_docs_sites_urls()
    return urls[0]["site_url"] if urls else None


def prune_results(context, keep_runs: int) -> int:
    """Remove the validation results (and their Data Docs pages) of every run but the newest
    keep_runs (by run time); the number of results removed."""
    store = context.validation_results_store
    keys = store.list_keys()
    started = {}
    for key in keys:
        run = key.run_id.run_name
        started[run] = min(started.get(run, key.run_id.run_time), key.run_id.run_time)
    kept = set(sorted(started, key=started.get)[-keep_runs:])
    removed = 0
    for key in keys:
        if key.run_id.run_name in kept:
            continue
        for site in context.get_docs_sites_urls(resource_identifier=key):
            if (site.get("site_url") or "").startswith("file://"):
                Path(site["site_url"].removeprefix("file://")).unlink(missing_ok=True)
        store.remove_key(key)
        removed += 1
    return removed


def result_page(gx_dir: Path, result) -> str | None:
    """The Data Docs page of one stored result (an identifier from ValidationRun.results)."""
    urls = _context(str(gx_dir)).get_docs_sites_urls(resource_identifier=result)
    return urls[0]["site_url"] if urls else None


def docs_index(gx_dir: Path) -> Path:
    """Where the Data Docs site's index page is (once built)."""
    return gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
