"""Schema contracts: the columns (and, for events, the property keys) each raw table and mart is
expected to have. A raw table's is a YAML file under expectations/contracts/raw/<table>.yml; a
mart's is the contract dbt already enforces (the model's yml: every column with its data_type,
read from dbt's manifest), so it is defined once.

    columns:
      id: {type: BIGINT, required: true}   # required: present, of this type, non-null in every
      assignee_id: {type: BIGINT}          # row of the batch; otherwise: known, may be null
    property_keys: [price, product_id]     # raw.events only: keys known inside `properties`

A column (or property key) that is not in the contract is drift to look at (WARN); a required
column that is missing, retyped or empty is an ERROR that blocks the models downstream.

Write or refresh a raw table's contract from a warehouse built from a clean world:

    python -m expectations.contracts --warehouse data/warehouse.duckdb [--table raw.tickets]

Columns that are never null there become required; review the diff before committing it.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml

from ingestion.settings import PROJECT_ROOT

CONTRACTS_DIR = Path(__file__).parent / "contracts"
DBT_MANIFEST = PROJECT_ROOT / "dbt_project" / "target" / "manifest.json"
# dbt's cross-database type names that DuckDB spells otherwise (the rest: the same, upper-cased).
DBT_TYPES = {"string": "VARCHAR"}
RAW_TABLES = ("events", "tickets", "survey_responses")
# Each raw table: its feed (ledger/quarantine prefix) and the column freshness is measured on.
FEEDS = {"events": ("events", "received_at"), "tickets": ("tickets", "updated_at"),
         "survey_responses": ("surveys", "updated_at")}  # fmt: skip
# dlt's bookkeeping columns: present in every raw table, owned by dlt, not part of a feed's contract.
DLT_COLUMNS = frozenset({"_dlt_load_id", "_dlt_id"})


@dataclass(frozen=True)
class Contract:
    table: str  # schema.table
    columns: dict[str, str]  # name -> DuckDB type
    required: frozenset[str]
    property_keys: frozenset[str] | None = None  # raw.events only
    path: Path = field(default=Path(), compare=False)

    @property
    def signatures(self) -> set[str]:
        """'name TYPE' of the required columns: what GX expects to find among the columns."""
        return {f"{name} {self.columns[name]}" for name in self.required}


def contract_path(table: str) -> Path:
    schema, name = table.split(".")
    return CONTRACTS_DIR / schema / f"{name}.yml"


@functools.cache
def _manifest_nodes(path: Path, mtime_ns: int) -> dict:
    return json.loads(path.read_text())["nodes"]


def mart_contract(table: str, manifest: Path = DBT_MANIFEST) -> Contract:
    """A mart's contract as dbt enforces it (every column present, with its type)."""
    if not manifest.exists():
        raise FileNotFoundError(
            f"no dbt manifest at {manifest}: run `make manifest` (the marts' contracts are read "
            "from it)"
        )
    name = table.split(".", 1)[1]
    node = _manifest_nodes(manifest, manifest.stat().st_mtime_ns).get(f"model.cx_warehouse.{name}")
    if node is None or not node["config"].get("contract", {}).get("enforced"):
        raise LookupError(
            f"{table} has no enforced dbt contract: add `config: {{contract: {{enforced: true}}}}` "
            "and every column's data_type to its model yml"
        )
    columns = {
        column: DBT_TYPES.get(spec["data_type"].lower(), spec["data_type"].upper())
        for column, spec in node["columns"].items()
    }
    return Contract(table, columns, frozenset(columns), None, manifest)


def load_contract(table: str) -> Contract:
    """A raw table's contract (its YAML), or a mart's (dbt's enforced contract)."""
    if table.startswith("marts."):
        return mart_contract(table)
    path = contract_path(table)
    if not path.exists():
        raise FileNotFoundError(
            f"no schema contract for {table}: expected {path}; write one with "
            f"`python -m expectations.contracts --warehouse <clean warehouse> --table {table}`"
        )
    doc = yaml.safe_load(path.read_text())
    columns = {name: spec["type"] for name, spec in doc["columns"].items()}
    required = frozenset(name for name, spec in doc["columns"].items() if spec.get("required"))
    keys = doc.get("property_keys")
    return Contract(table, columns, required, frozenset(keys) if keys is not None else None, path)


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """name -> DuckDB type of a table's columns, in order, without dlt's bookkeeping columns."""
    schema, name = table.split(".")
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    return {column: kind for column, kind in rows if column not in DLT_COLUMNS}


def snapshot(con: duckdb.DuckDBPyConnection, table: str) -> dict:
    """A contract document from a table as it is now (see the module docstring)."""
    types = table_columns(con, table)
    if not types:
        raise LookupError(f"{table} is not in the warehouse")
    names = list(types)
    counts = ", ".join(f'count("{column}")' for column in names)
    total, *non_null = con.execute(f"select count(*), {counts} from {table}").fetchone()
    doc: dict = {
        "columns": {
            column: {"type": types[column], **({"required": True} if n == total > 0 else {})}
            for column, n in zip(names, non_null, strict=True)
        }
    }
    if table == "raw.events":
        keys = con.execute(
            "select distinct unnest(json_keys(properties)) from raw.events order by 1"
        ).fetchall()
        doc["property_keys"] = [key for (key,) in keys]
    return doc


def write_contract(table: str, doc: dict) -> Path:
    path = contract_path(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Schema contract of {table} (expectations/contracts.py explains the format).\n"
        "# Written by `python -m expectations.contracts` from a clean world, then reviewed.\n"
    )
    lines = ["columns:"]
    for column, spec in doc["columns"].items():
        flow = yaml.safe_dump(spec, default_flow_style=True, sort_keys=False, width=200).strip()
        lines.append(f"  {column}: {flow}")
    if "property_keys" in doc:
        lines.append(
            f"property_keys: {yaml.safe_dump(doc['property_keys'], default_flow_style=True, width=100).strip()}"
        )
    path.write_text(header + "\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m expectations.contracts", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--table", action="append", help="raw.<table> (default: every raw table)")
    args = parser.parse_args(argv)
    tables = args.table or [f"raw.{t}" for t in RAW_TABLES]
    for table in tables:
        if not table.startswith("raw."):
            parser.error(f"{table}: a mart's contract is dbt's (its model yml), not written here")
    with duckdb.connect(str(args.warehouse), read_only=True) as con:
        for table in tables:
            sys.stdout.write(f"{write_contract(table, snapshot(con, table))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
