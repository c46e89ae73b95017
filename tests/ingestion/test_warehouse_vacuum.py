"""dbt's closing checkpoint vacuums only past CX_DUCKDB_VACUUM_AT (prepare_closing_checkpoint):
the deleted rows it counts, its decision, and what each decision leaves in the file."""

import duckdb
import pytest

from ingestion.common.warehouse import ROW_GROUP_ROWS, prepare_closing_checkpoint

ROWS = 3 * ROW_GROUP_ROWS + 1_000


def _warehouse(path, other: str) -> None:
    """A file with table t (ROWS rows, a few row groups) and another table."""
    with duckdb.connect(str(path)) as con:
        con.execute(f"create table t as select range as id, range::varchar as v from range({ROWS})")
        con.execute(f"create table {other}")


def _stored(path) -> int:
    """Rows stored in t, deleted ones included (plain DuckDB's own count)."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "select estimated_size from duckdb_tables() where table_name = 't'"
        ).fetchone()[0]


@pytest.mark.parametrize(
    ("keep_every", "vacuum_at", "vacuumed"),
    [
        (100, 0.1, True),  # ~2/3 of the rows deleted (2.5 row groups): past 10%
        (100, 0.9, False),  # ... but not past 90%
        (1, 0.0, True),  # 0: always, even with nothing deleted
        (1, 0.1, False),  # nothing deleted
    ],
)
def test_closing_checkpoint_vacuums_past_the_share(tmp_path, keep_every, vacuum_at, vacuumed):
    path = tmp_path / "w.duckdb"
    _warehouse(path, "small as select 1 as id")
    with duckdb.connect(str(path)) as con:
        # All but every keep_every-th row of the last row groups (what a vacuum can merge).
        con.execute(f"delete from t where id >= {ROW_GROUP_ROWS} and id % {keep_every} <> 0")
        deleted = ROWS - con.execute("select count(*) from t").fetchone()[0]
        release = prepare_closing_checkpoint(con, vacuum_at)
    assert release.vacuumed is vacuumed
    if deleted:
        assert (release.most_deleted, release.deleted_share) == ("main.t", deleted / ROWS)
    # Without vacuum the deleted rows stay stored (the next vacuum or append takes them).
    assert (_stored(path) < ROWS) is (vacuumed and deleted > 0)
    with duckdb.connect(str(path)) as con:
        assert con.execute("select count(*) from t").fetchone()[0] == ROWS - deleted


def test_a_table_emptied_whole_is_reclaimed_without_vacuum(tmp_path):
    path = tmp_path / "w.duckdb"
    _warehouse(path, "kept as select range as id from range(10)")
    with duckdb.connect(str(path)) as con:
        con.execute("delete from t")  # as the batch empties its bookkeeping tables
        release = prepare_closing_checkpoint(con, 0.1)
    assert not release.vacuumed and release.most_deleted is None
    assert _stored(path) == 0
