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
