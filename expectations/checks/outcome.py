"""What a check returns (CheckOutcome), the rules it reads (rules.yml), and ops.dq_results,
where every outcome is recorded."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from expectations import gx_runner
from expectations.gx_runner import ERROR
from ingestion.common import ops_schema

RULES_PATH = Path(__file__).parent.parent / "rules.yml"


@functools.cache
def rules() -> dict:
    return yaml.safe_load(RULES_PATH.read_text())


@dataclass
class CheckOutcome:
    asset: str  # Dagster asset key, e.g. raw/events
    check: str  # schema, volume, freshness, values
    passed: bool
    severity: str  # of the failure; when passed, the most severe way this check can fail
    message: str
    observed: dict = field(default_factory=dict)
    expected: dict = field(default_factory=dict)
    gx_results: list = field(default_factory=list)  # the GX results behind it (their pages)


def outcome(asset, check, run: gx_runner.ValidationRun, ok: str, problems: list[str], **kw):
    severity = run.severity
    max_severity = kw.pop("max_severity", ERROR)
    return CheckOutcome(
        asset=asset,
        check=check,
        passed=severity is None,
        severity=severity or max_severity,
        message=ok if severity is None else "; ".join(problems) or "see the GX result",
        gx_results=run.results,
        **kw,
    )


def expect(expectation_cls, severity: str, description: str, **kwargs):
    return expectation_cls(meta={"severity": severity}, description=description, **kwargs)


def record(con, outcomes: Sequence[CheckOutcome], partition: str | None, run_id: str) -> None:
    """Append the outcomes to ops.dq_results."""
    ops_schema.ensure(con)
    now = dt.datetime.now(dt.UTC)
    con.executemany(
        "insert into ops.dq_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [o.check, o.asset, partition, o.passed, o.severity, o.message,
             json.dumps(o.observed, default=str), json.dumps(o.expected, default=str), run_id, now]
            for o in outcomes
        ],
    )  # fmt: skip
