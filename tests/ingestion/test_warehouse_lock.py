"""A run's writer waits for another process to let go of the warehouse (two runs launched in the
same instant can both pass the duckdb_writer pool for their first step), and past its wait fails
with the error that names the holder."""

import subprocess
import sys
import time

import duckdb
import pytest

from ingestion.common.warehouse import WarehouseLocked, connect_warehouse_waiting


def _hold(path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}); "
         f"print('held', flush=True); time.sleep({seconds})"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_writer_waits_for_the_holder_then_gives_up_naming_it(tmp_path):
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    holder = _hold(path, 2)
    started = time.monotonic()
    con = connect_warehouse_waiting(path, wait_seconds=30)
    waited = time.monotonic() - started
    con.close()
    holder.wait()
    assert 0.5 < waited < 30  # it got the file once the holder exited
    holder = _hold(path, 30)
    try:
        started = time.monotonic()
        with pytest.raises(WarehouseLocked, match=f"PID {holder.pid}"):
            connect_warehouse_waiting(path, wait_seconds=1.5)
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
