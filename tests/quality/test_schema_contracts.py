"""The schema check on a mart, against a real DuckDB table built from the mart's contract and
then changed the ways a model change would change it. Independent of the pipeline: the expected
outcome is read off the change itself."""

import duckdb
import pytest

from expectations import checks
from expectations.contracts import load_contract

TABLE = "marts.kpi_daily"


@pytest.fixture
def con(tmp_path):
    contract = load_contract(TABLE)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema marts")
        columns = ", ".join(f'"{name}" {kind}' for name, kind in contract.columns.items())
        con.execute(f"create table {TABLE} ({columns})")
        yield con


def _check(con, tmp_path):
    return checks.schema_check(con, tmp_path / "gx", TABLE, "marts/kpi_daily", batch=False)


@pytest.mark.parametrize(
    ("change", "severity", "named"),
    [
        ("alter table marts.kpi_daily drop column nps", "ERROR", "required column nps (DOUBLE) is missing"),
        ("alter table marts.kpi_daily alter orders type varchar", "ERROR", "orders retyped: BIGINT -> VARCHAR"),
        ("alter table marts.kpi_daily add column refunds bigint", "WARN", "new columns: refunds"),
    ],
)  # fmt: skip
def test_mart_changes_fail_with_their_severity(con, tmp_path, change, severity, named):
    # (The unchanged table passes: the clean-world and pipeline tests check real marts.)
    con.execute(change)
    outcome = _check(con, tmp_path)
    assert not outcome.passed
    assert outcome.severity == severity
    assert named in outcome.message


def test_a_marts_contract_is_dbts(tmp_path):
    """A mart's contract is read from dbt's manifest (string -> VARCHAR, others upper-cased); a
    model without an enforced contract is refused with the fix."""
    import json

    from expectations.contracts import mart_contract

    manifest = tmp_path / "manifest.json"
    node = {"config": {"contract": {"enforced": True}},
            "columns": {"day": {"data_type": "date"}, "name": {"data_type": "string"}}}  # fmt: skip
    loose = {"config": {}, "columns": {"x": {"data_type": "bigint"}}}
    manifest.write_text(json.dumps({"nodes": {"model.cx_warehouse.kpi_x": node,
                                              "model.cx_warehouse.loose": loose}}))  # fmt: skip
    contract = mart_contract("marts.kpi_x", manifest)
    assert contract.columns == {"day": "DATE", "name": "VARCHAR"}
    assert contract.required == {"day", "name"}
    with pytest.raises(LookupError, match="enforced"):
        mart_contract("marts.loose", manifest)
