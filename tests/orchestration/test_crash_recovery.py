"""A run killed with SIGKILL must not block the warehouse: the next CLI run recovers the dead
run (marked failed, its duckdb_writer slot freed) and ends with the marts and published copy a
clean run gives on the same files. Before orchestration/recovery.py the second run waited
forever ("Step blocked by limit for pool duckdb_writer", at DEBUG only). `make chaos` runs
the same at random points."""

import shutil
import subprocess
import sys
import time

import duckdb
import pytest

from tests.orchestration.crash import finish, kill_at, marts, pipeline_env, start_pipeline


@pytest.fixture(scope="module")
def clean_run(small_world, tmp_path_factory):
    """The marts and published copy of one uninterrupted run on the small world."""
    root = tmp_path_factory.mktemp("clean")
    shutil.copytree(small_world[0], root / "landing")
    run = start_pipeline(pipeline_env(root, root / "landing"), root / "run.log")
    finish(run, root / "run.log")
    return marts(root / "warehouse.duckdb"), marts(root / "analytics.duckdb")


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("step", "delay"), [
    ("raw_events", 0.5),  # extract and load
    ("cx_dbt", 3.0),  # inside the dbt build
    ("analytics__published", 0.2),  # the publish
])  # fmt: skip
def test_killed_run_is_recovered_and_rerun_equals_a_clean_run(
    small_world, clean_run, tmp_path, step, delay
):
    shutil.copytree(small_world[0], tmp_path / "landing")
    env = pipeline_env(tmp_path, tmp_path / "landing")
    crashed = start_pipeline(env, tmp_path / "crash.log")
    assert kill_at(crashed, tmp_path / "crash.log", step, delay), f"the run ended before {step}"

    again = start_pipeline(env, tmp_path / "rerun.log")
    finish(again, tmp_path / "rerun.log")
    log = (tmp_path / "rerun.log").read_text()
    assert "recovered run" in log and "its process was gone" in log

    warehouse, published = clean_run
    assert marts(tmp_path / "warehouse.duckdb") == warehouse
    assert marts(tmp_path / "analytics.duckdb") == published


HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True); time.sleep(120)"


def test_warehouse_held_by_another_process_fails_fast_naming_the_file(small_world, tmp_path):
    """An analyst's DuckDB session on the pipeline's file: a clear error, no hang, no run."""
    shutil.copytree(small_world[0], tmp_path / "landing")
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(warehouse)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"open"
        started = time.monotonic()
        run = start_pipeline(pipeline_env(tmp_path, tmp_path / "landing"), tmp_path / "run.log")
        code = run.wait(120)
        text = (tmp_path / "run.log").read_text()
    finally:
        holder.kill()
    assert code == 3 and time.monotonic() - started < 60, text[-2000:]
    assert f"the warehouse {warehouse} is open in another process (PID {holder.pid}" in text
    assert "published copy" in text


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs the test mounts (root only), to be filled and then grown."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("where", ["warehouse", "published"])
def test_disk_full_fails_cleanly_and_rerun_after_space_returns_equals_a_clean_run(
    small_world, clean_run, tmp_path, small_disk, where
):
    """The warehouse's disk fills during the load, or the published copy's during the publish:
    the run fails (no hang), and once the disk has room again a re-run ends as a clean run."""
    shutil.copytree(small_world[0], tmp_path / "landing")
    if where == "warehouse":
        env = pipeline_env(small_disk, tmp_path / "landing")
        warehouse = small_disk / "warehouse.duckdb"
        published = small_disk / "analytics.duckdb"
    else:
        env = pipeline_env(tmp_path, tmp_path / "landing")
        env["CX_ANALYTICS_PATH"] = str(small_disk / "analytics.duckdb")
        env["CX_PUBLISHED_DIR"] = str(small_disk / "published")
        warehouse, published = tmp_path / "warehouse.duckdb", small_disk / "analytics.duckdb"
    first = start_pipeline(env, tmp_path / "full.log")
    assert first.wait(600) != 0
    log = (tmp_path / "full.log").read_text()
    assert "No space left on device" in log or "not enough space" in log.lower(), log[-3000:]

    subprocess.run(["mount", "-o", "remount,size=1g", str(small_disk)], check=True)
    again = start_pipeline(env, tmp_path / "rerun.log")
    finish(again, tmp_path / "rerun.log")
    assert marts(warehouse) == clean_run[0]
    assert marts(published) == clean_run[1]
