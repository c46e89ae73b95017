"""Freshness: the newest row of a feed against the end of the checked window."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import great_expectations.expectations as gxe
import pandas as pd

from expectations import gx_runner
from expectations.checks.batch import delivered
from expectations.checks.outcome import CheckOutcome, expect, outcome, rules
from expectations.contracts import FEEDS
from expectations.gx_runner import WARN, Validation


def freshness_check(con, gx_dir: Path, table: str, window_end: dt.datetime) -> CheckOutcome:
    """The newest row at most the feed's limit older than the end of the checked window (WARN)."""
    _, column = FEEDS[table]
    limit = rules()["freshness"][f"{table}_hours"]
    newest = (
        con.execute(
            f"select max({column}) from raw.{table} where {column} <= ?", [window_end]
        ).fetchone()[0]
        if delivered(con, f"raw.{table}")
        else None
    )
    age = (window_end - newest).total_seconds() / 3600 if newest else math.inf
    frame = pd.DataFrame({"table": [table], "age_hours": [age]})
    expectations = [
        expect(gxe.ExpectColumnValuesToBeBetween, WARN,
                f"newest {column} at most {limit} h before the window's end",
                column="age_hours", min_value=0, max_value=limit),
    ]  # fmt: skip
    run = gx_runner.run(gx_dir, [Validation(f"raw_{table}.freshness", frame, expectations)])
    problems = [
        f"newest {column} is {age:.1f} h before {window_end:%Y-%m-%d %H:%M} UTC (limit {limit} h)"
        if newest
        else f"raw.{table} has no row before {window_end:%Y-%m-%d %H:%M} UTC"
    ]
    return outcome(
        f"raw/{table}", "freshness", run, f"newest {column} {age:.1f} h old (limit {limit} h)",
        problems, max_severity=WARN,
        observed={"newest": newest.isoformat() if newest else None,
                  "age_hours": None if age == math.inf else round(age, 2)},
        expected={"max_age_hours": limit, "window_end": window_end.isoformat()},
    )  # fmt: skip
