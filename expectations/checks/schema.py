"""Schema drift: raw tables against their contracts (expectations/contracts/), marts against the
enforced contracts of the dbt project."""

from __future__ import annotations

from pathlib import Path

import great_expectations.expectations as gxe
import pandas as pd

from expectations import gx_runner
from expectations.checks.batch import IN_BATCH, delivered
from expectations.checks.outcome import CheckOutcome, expect, outcome
from expectations.contracts import Contract, load_contract, table_columns
from expectations.gx_runner import ERROR, WARN, Validation


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
        expect(
            gxe.ExpectColumnDistinctValuesToContainSet, ERROR,
            "required columns present with their contract type"
            + (" and non-null in every row of the batch" if batch else ""),
            column="populated_signature", value_set=sorted(contract.signatures),
        ),
        expect(
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
    return outcome(
        asset, "schema", run, f"{len(contract.columns)} contract columns as expected", problems,
        observed={"columns": int((frame["data_type"] != "JSON key").sum()), "new": new,
                  "batch_rows": batch_rows},
        expected={"required": len(contract.required), "known": len(known)},
    )  # fmt: skip
