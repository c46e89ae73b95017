"""The data-quality checks: each builds DataFrames from DuckDB, validates them with GX suites
(gx_runner) and returns a CheckOutcome that Dagster reports and ops.dq_results stores.

What a check looks at:
- the **batch**: rows of the raw loads that dbt has not processed yet (raw._dlt_loads minus
  ops.processed_loads — the same loads the next dbt run consumes, see
  dbt_project/models/intermediate/batch/int_batch__loads.sql);
- the **window**: the hours of the run's partition (volume, freshness).

docs/data-quality.md lists every check, its severity and what to do when it fails.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import great_expectations.expectations as gxe
import pandas as pd
import yaml

from expectations import gx_runner
from expectations.contracts import FEEDS, Contract, load_contract, table_columns
from expectations.gx_runner import ERROR, WARN, Validation

RULES_PATH = Path(__file__).parent / "rules.yml"
BATCH_TABLE = "dq_batch_loads"


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


def _outcome(asset, check, run: gx_runner.ValidationRun, ok: str, problems: list[str], **kw):
    severity = run.severity
    max_severity = kw.pop("max_severity", ERROR)
    return CheckOutcome(
        asset=asset,
        check=check,
        passed=severity is None,
        severity=severity or max_severity,
        message=ok if severity is None else "; ".join(problems) or "see the GX result",
        **kw,
    )


def _expect(expectation_cls, severity: str, description: str, **kwargs):
    return expectation_cls(meta={"severity": severity}, description=description, **kwargs)


# --- the batch ---------------------------------------------------------------------------


def stage_batch(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Temp table of the completed loads dbt has not processed yet; their ids."""
    processed = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'ops' and table_name = 'processed_loads'"
    ).fetchone()[0]
    con.execute(
        f"create or replace temp table {BATCH_TABLE} as select load_id from raw._dlt_loads "
        "where status = 0"
        + (" and load_id not in (select load_id from ops.processed_loads)" if processed else "")
    )
    return [
        row[0] for row in con.execute(f"select load_id from {BATCH_TABLE} order by 1").fetchall()
    ]


# A raw row belongs to the batch when the load that last wrote it does.
IN_BATCH = f"_dlt_load_id in (select load_id from {BATCH_TABLE})"


def delivered(con, table: str) -> bool:
    """Whether a raw table exists: dlt creates it with the feed's first record, so a feed that
    has delivered nothing yet (a new warehouse's first batch) has none."""
    return bool(table_columns(con, table))


# --- schema drift --------------------------------------------------------------------------


def schema_profile(con, contract: Contract, batch: bool) -> pd.DataFrame:
    """One row per column of the table (and, for raw.events, per property key seen in the
    batch): its type and, for raw tables, how many of the batch's rows carry it."""
    columns = table_columns(con, contract.table)
    frame = pd.DataFrame({"column_name": list(columns), "data_type": list(columns.values())})
    frame["signature"] = frame["column_name"] + " " + frame["data_type"]
    if batch and columns:
        counts = ", ".join(f'count("{c}")' for c in columns)
        total, *non_null = con.execute(
            f"select count(*), {counts} from {contract.table} where {IN_BATCH}"
        ).fetchone()
        frame["batch_rows"] = total
        frame["non_null"] = non_null
    else:
        frame["batch_rows"] = 0
        frame["non_null"] = 0
    required = frame["column_name"].isin(contract.required)
    complete = (frame["batch_rows"] == 0) | (frame["non_null"] == frame["batch_rows"])
    frame["populated_signature"] = frame["signature"].where(~required | complete)
    carried = (frame["non_null"] > 0) | (frame["batch_rows"] == 0)
    frame["batch_column"] = frame["column_name"].where(carried)
    if contract.property_keys is not None and batch:
        keys = con.execute(
            f"select key, count(*) from (select unnest(json_keys(properties)) as key "
            f"from {contract.table} where {IN_BATCH}) group by key order by key"
        ).fetchall()
        extra = pd.DataFrame(
            {
                "column_name": [f"properties.{k}" for k, _ in keys],
                "data_type": "JSON key",
                "non_null": [n for _, n in keys],
            }  # fmt: skip
        )
        extra["batch_column"] = extra["column_name"]
        frame = pd.concat([frame, extra], ignore_index=True)
    return frame


def _explain_missing(contract: Contract, frame: pd.DataFrame) -> list[str]:
    """Why each required column failed: missing, retyped (incl. dlt variant columns), or empty."""
    present = frame.set_index("column_name")
    problems = []
    for name in sorted(contract.required):
        expected_type = contract.columns[name]
        if name not in present.index:
            problems.append(f"required column {name} ({expected_type}) is missing")
            continue
        row = present.loc[name]
        variants = [c for c in present.index if c.startswith(f"{name}__v_")]
        if row["data_type"] != expected_type:
            problems.append(
                f"required column {name} retyped: {expected_type} -> {row['data_type']}"
            )
        elif row["batch_rows"] and row["non_null"] < row["batch_rows"]:
            empty = row["batch_rows"] - row["non_null"]
            why = (
                f" (values arrived with another type: dlt variant column {', '.join(variants)})"
                if variants
                else ""
            )
            problems.append(
                f"required column {name} is null in {empty} of {row['batch_rows']} batch rows{why}"
            )
    return problems


def schema_check(con, gx_dir: Path, table: str, asset: str, batch: bool) -> CheckOutcome:
    """Raw tables (batch=True): required columns present, typed and filled in every batch row
    (ERROR); no column or property key outside the contract carrying data (WARN). Marts
    (batch=False): every contract column present with its type (ERROR); no new column (WARN)."""
    contract = load_contract(table)
    if batch and not delivered(con, table):
        return CheckOutcome(
            asset=asset, check="schema", passed=True, severity=ERROR,
            message=f"nothing delivered yet: {table} has no table (its freshness check warns "
            "while the feed stays silent)",
            observed={"columns": 0, "new": [], "batch_rows": 0},
            expected={"required": len(contract.required)},
        )  # fmt: skip
    frame = schema_profile(con, contract, batch)
    known = set(contract.columns) | {f"properties.{k}" for k in contract.property_keys or ()}
    expectations = [
        _expect(
            gxe.ExpectColumnDistinctValuesToContainSet, ERROR,
            "required columns present with their contract type"
            + (" and non-null in every row of the batch" if batch else ""),
            column="populated_signature", value_set=sorted(contract.signatures),
        ),
        _expect(
            gxe.ExpectColumnValuesToBeInSet, WARN,
            "no column or property key beyond the contract",
            column="batch_column", value_set=sorted(known),
        ),
    ]  # fmt: skip
    run = gx_runner.run(
        gx_dir, [Validation(f"{asset.replace('/', '_')}.schema", frame, expectations)]
    )
    new = sorted(set(frame["batch_column"].dropna()) - known)
    problems = _explain_missing(contract, frame) if run.severity == ERROR else []
    if new:
        problems.append(
            f"new {'columns/property keys' if contract.property_keys is not None else 'columns'}: "
            f"{', '.join(new)} (add them to {contract.path.relative_to(contract.path.parents[3])} "
            "if they are expected)"
        )
    batch_rows = int(frame["batch_rows"].max()) if len(frame) and batch else None
    return _outcome(
        asset, "schema", run, f"{len(contract.columns)} contract columns as expected", problems,
        observed={"columns": int((frame["data_type"] != "JSON key").sum()), "new": new,
                  "batch_rows": batch_rows},
        expected={"required": len(contract.required), "known": len(known)},
    )  # fmt: skip


# --- volume ----------------------------------------------------------------------------------


def hourly_counts(con, hours: Sequence[dt.datetime] | None = None) -> pd.Series:
    """Rows of raw.events per hour of arrival (received_at, UTC), every hour from the first to the
    last (0 where none arrived). With `hours` (naive UTC): those of them in that span only, each
    counted over its own time range, so that DuckDB reads only their blocks (raw.events is
    appended in arrival order): a month of events grouped by hour is a 0.65 s scan."""
    if not delivered(con, "raw.events"):  # no event file read yet
        return pd.Series(dtype="int64")
    if hours is None:
        frame = con.execute(
            "select date_trunc('hour', received_at at time zone 'UTC') as hour, count(*) as n "
            "from raw.events group by 1 order by 1"
        ).df()
        if frame.empty:
            return pd.Series(dtype="int64")
        series = frame.set_index("hour")["n"]
        full = pd.date_range(series.index.min(), series.index.max(), freq="h")
        return series.reindex(full, fill_value=0)
    first, last = con.execute(
        "select date_trunc('hour', min(received_at) at time zone 'UTC'), "
        "date_trunc('hour', max(received_at) at time zone 'UTC') from raw.events"
    ).fetchone()
    if first is None:
        return pd.Series(dtype="int64")
    wanted = sorted({pd.Timestamp(h) for h in hours} & set(pd.date_range(first, last, freq="h")))
    if not wanted:
        return pd.Series(dtype="int64")
    counts = " union all ".join(
        f"select timestamp '{h:%Y-%m-%d %H:00:00}' as hour, count(*) as n from raw.events "
        f"where received_at >= timestamptz '{h:%Y-%m-%d %H:00:00}+00' "
        f"and received_at < timestamptz '{h + pd.Timedelta(hours=1):%Y-%m-%d %H:00:00}+00'"
        for h in wanted
    )
    frame = con.execute(f"select * from ({counts}) order by hour").df()
    return frame.set_index(pd.DatetimeIndex(frame["hour"]))["n"].rename_axis(None)


def _naive_hour(hour: dt.datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(hour)
    return stamp.tz_localize(None) if stamp.tzinfo else stamp


def _baseline_candidates(hour: pd.Timestamp, cfg: dict) -> list[list[pd.Timestamp]]:
    """The hours a baseline may come from, in order of preference: the same hour of the week on
    the earlier weeks, else the same hour of the day on the earlier days."""
    return [
        [hour - k * step for k in range(1, limit + 1)]
        for step, limit in (
            (pd.Timedelta(days=7), cfg["weeks"]),
            (pd.Timedelta(days=1), cfg["fallback_days"]),
        )
    ]


def baseline_hours(hours: Sequence[dt.datetime], cfg: dict) -> list[pd.Timestamp]:
    """The hours volume_profile reads for `hours`: each, and every hour its baseline may come from."""
    needed = set()
    for hour in map(_naive_hour, hours):
        needed.add(hour)
        for candidates in _baseline_candidates(hour, cfg):
            needed.update(candidates)
    return sorted(needed)


def volume_profile(counts: pd.Series, hours: Sequence[dt.datetime], cfg: dict) -> pd.DataFrame:
    """Per hour checked: observed rows, the baseline (median, MAD of the same hour of the week
    in earlier weeks, or of the same hour of the day on earlier days while too few weeks exist)
    and the bounds outside which it fails."""
    rows = []
    for hour in map(_naive_hour, hours):
        history, basis = [], "same hour of week"
        for candidates in _baseline_candidates(hour, cfg):
            history = [counts[h] for h in candidates if h in counts.index]
            if len(history) >= cfg["min_history"]:
                break
            basis = "same hour of day"
        observed = int(counts.get(hour, 0))
        median = float(pd.Series(history).median()) if history else math.nan
        mad = float((pd.Series(history) - median).abs().median()) if history else math.nan
        judged = len(history) >= cfg["min_history"] and median >= cfg["min_rows"]
        spread = cfg["mad_limit"] * 1.4826 * mad if judged else math.nan
        # Events come in sessions, not one by one: an hour's count varies `dispersion` times
        # more than a Poisson count of the same mean, which the few baseline hours' MAD can miss.
        noise = cfg["noise_z"] * math.sqrt(cfg["dispersion"] * median) if judged else math.nan
        rows.append({
            "hour": hour.strftime("%Y-%m-%d %H:00"), "observed": observed,
            "baseline_median": median, "baseline_mad": mad, "history_hours": len(history),
            "basis": basis if judged else "not judged (history or volume too small)",
            "lower": min(cfg["drop_ratio"] * median, median - spread, median - noise)
            if judged else -math.inf,
            "upper": max(cfg["spike_ratio"] * median, median + spread, median + noise)
            if judged else math.inf,
        })  # fmt: skip
    return pd.DataFrame(rows)


def volume_check(con, gx_dir: Path, hours: Sequence[dt.datetime]) -> CheckOutcome:
    """raw.events rows per hour of arrival within the learned baseline (WARN)."""
    cfg = rules()["volume"]
    frame = volume_profile(hourly_counts(con, baseline_hours(hours, cfg)), hours, cfg)
    expectations = [
        _expect(gxe.ExpectColumnPairValuesAToBeGreaterThanB, WARN,
                f"no drop to {cfg['drop_ratio']:.0%} of the baseline median or below",
                column_A="observed", column_B="lower"),
        _expect(gxe.ExpectColumnPairValuesAToBeGreaterThanB, WARN,
                f"no spike to {cfg['spike_ratio']:g}x the baseline median or above",
                column_A="upper", column_B="observed"),
    ]  # fmt: skip
    run = gx_runner.run(gx_dir, [Validation("raw_events.volume", frame, expectations)])
    bad = frame[(frame["observed"] <= frame["lower"]) | (frame["observed"] >= frame["upper"])]
    problems = [
        f"{r.hour}: {r.observed} rows, baseline median {r.baseline_median:g} "
        f"(MAD {r.baseline_mad:g}, {r.basis}), allowed {r.lower:g}..{r.upper:g}"
        for r in bad.itertuples()
    ]
    judged = frame[frame["upper"] != math.inf]
    return _outcome(
        "raw/events", "volume", run,
        f"{len(judged)} of {len(frame)} hours judged, all within their baseline", problems,
        max_severity=WARN,
        observed={r.hour: r.observed for r in frame.itertuples()},
        expected={r.hour: {"median": r.baseline_median, "mad": r.baseline_mad,
                           "lower": None if r.lower == -math.inf else r.lower,
                           "upper": None if r.upper == math.inf else r.upper,
                           "basis": r.basis} for r in frame.itertuples()},
    )  # fmt: skip


# --- freshness -----------------------------------------------------------------------------


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
        _expect(gxe.ExpectColumnValuesToBeBetween, WARN,
                f"newest {column} at most {limit} h before the window's end",
                column="age_hours", min_value=0, max_value=limit),
    ]  # fmt: skip
    run = gx_runner.run(gx_dir, [Validation(f"raw_{table}.freshness", frame, expectations)])
    problems = [
        f"newest {column} is {age:.1f} h before {window_end:%Y-%m-%d %H:%M} UTC (limit {limit} h)"
        if newest
        else f"raw.{table} has no row before {window_end:%Y-%m-%d %H:%M} UTC"
    ]
    return _outcome(
        f"raw/{table}", "freshness", run, f"newest {column} {age:.1f} h old (limit {limit} h)",
        problems, max_severity=WARN,
        observed={"newest": newest.isoformat() if newest else None,
                  "age_hours": None if age == math.inf else round(age, 2)},
        expected={"max_age_hours": limit, "window_end": window_end.isoformat()},
    )  # fmt: skip


# --- values --------------------------------------------------------------------------------


def _quarantine_share(con, feed: str) -> tuple[int, int]:
    if not delivered(con, f"raw.{feed}_ledger"):  # the feed has read nothing yet
        return 0, 0
    read, quarantined = con.execute(
        f"select coalesce(sum(items_read), 0), coalesce(sum(items_quarantined), 0) "
        f"from raw.{feed}_ledger where {IN_BATCH}"
    ).fetchone()
    return int(read), int(quarantined)


def values_check(con, gx_dir: Path, table: str) -> CheckOutcome:
    """Values of the batch: ids not null and the quarantined share under its limit (ERROR);
    survey scores in their range (ERROR); event times not beyond the skew limit (WARN)."""
    cfg = rules()["values"]
    feed, _ = FEEDS[table]
    read, quarantined = _quarantine_share(con, feed)
    # Small batches (one cut-off file among three tickets) are not judged by share.
    share = quarantined / read if read >= cfg["quarantine_min_items"] else 0.0
    validations = [
        Validation(
            f"raw_{table}.quarantine",
            pd.DataFrame({"items_read": [read], "items_quarantined": [quarantined],
                          "quarantine_share": [share]}),  # fmt: skip
            [_expect(gxe.ExpectColumnValuesToBeBetween, ERROR,
                     f"at most {cfg['max_quarantine_share']:.0%} of the items read quarantined",
                     column="quarantine_share", max_value=cfg["max_quarantine_share"])],
        )
    ]  # fmt: skip
    problems = []
    if share > cfg["max_quarantine_share"]:
        problems.append(
            f"{quarantined} of {read} items read quarantined ({share:.1%}, limit "
            f"{cfg['max_quarantine_share']:.0%}): see raw.{feed}_quarantine for reasons"
        )
    observed: dict = {"items_read": read, "items_quarantined": quarantined}
    if table == "events":
        skew = cfg["max_future_skew_minutes"]
        rows, null_ids, future = (
            con.execute(
                f"select count(*), count(*) - count(message_id), "
                f'count(*) filter (where "timestamp" > received_at + interval {int(skew)} minute) '
                f"from raw.events where {IN_BATCH}"
            ).fetchone()
            if delivered(con, "raw.events")  # no event file read yet: nothing to check
            else (0, 0, 0)
        )
        frame = pd.DataFrame({"rows": [rows], "null_message_ids": [null_ids],
                              "future_events": [future]})  # fmt: skip
        validations.append(Validation("raw_events.values", frame, [
            _expect(gxe.ExpectColumnValuesToBeBetween, ERROR, "message_id never null",
                    column="null_message_ids", max_value=0),
            _expect(gxe.ExpectColumnValuesToBeBetween, WARN,
                    f"no event time more than {skew} min after its arrival",
                    column="future_events", max_value=0),
        ]))  # fmt: skip
        observed.update(rows=rows, null_message_ids=null_ids, future_events=future)
        if null_ids:
            problems.append(f"{null_ids} events without message_id")
        if future:
            problems.append(f"{future} events timed more than {skew} min after their arrival")
    else:
        columns = "id, survey_type, score" if table == "survey_responses" else "id"
        frame = (
            con.execute(f"select {columns} from raw.{table} where {IN_BATCH}").df()
            if delivered(con, f"raw.{table}")
            else pd.DataFrame({c: pd.Series(dtype="float64") for c in columns.split(", ")})
        )
        expectations = [
            _expect(gxe.ExpectColumnValuesToNotBeNull, ERROR, "id never null", column="id")
        ]
        if table == "survey_responses":
            for kind, (low, high) in cfg["score_ranges"].items():
                expectations.append(
                    _expect(gxe.ExpectColumnValuesToBeBetween, ERROR,
                            f"{kind} scores within {low}..{high}", column="score",
                            min_value=low, max_value=high,
                            row_condition=f'survey_type=="{kind}"', condition_parser="pandas")
                )  # fmt: skip
                out = frame[(frame["survey_type"] == kind) & ~frame["score"].between(low, high)]
                if len(out):
                    problems.append(
                        f"{len(out)} {kind} scores outside {low}..{high} "
                        f"(e.g. {', '.join(map(str, out['score'].head(3)))})"
                    )
        validations.append(Validation(f"raw_{table}.values", frame, expectations))
        observed["rows"] = len(frame)
        if frame["id"].isna().any():
            problems.append(f"{int(frame['id'].isna().sum())} rows without id")
    run = gx_runner.run(gx_dir, validations)
    return _outcome(
        f"raw/{table}", "values", run, "values within their limits", problems,
        observed=observed,
        expected={"max_quarantine_share": cfg["max_quarantine_share"],
                  **({"score_ranges": cfg["score_ranges"]} if table == "survey_responses" else {})},
    )  # fmt: skip


# --- results table -------------------------------------------------------------------------

DQ_RESULTS_DDL = """
create schema if not exists ops;
create table if not exists ops.dq_results (
    check_name varchar not null,      -- schema, volume, freshness, values
    asset_key varchar not null,       -- Dagster asset key, e.g. raw/events, marts/kpi_daily
    partition varchar,                -- the run's partition key or range
    passed boolean not null,
    severity varchar not null,        -- ERROR (blocks downstream models) or WARN
    message varchar,
    observed json,
    expected json,
    run_id varchar,
    checked_at timestamptz not null
);
"""


def record(con, outcomes: Sequence[CheckOutcome], partition: str | None, run_id: str) -> None:
    """Append the outcomes to ops.dq_results."""
    con.execute(DQ_RESULTS_DDL)
    now = dt.datetime.now(dt.UTC)
    con.executemany(
        "insert into ops.dq_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [o.check, o.asset, partition, o.passed, o.severity, o.message,
             json.dumps(o.observed, default=str), json.dumps(o.expected, default=str), run_id, now]
            for o in outcomes
        ],
    )  # fmt: skip
