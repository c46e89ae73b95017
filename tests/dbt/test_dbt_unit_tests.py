"""dbt's unit tests (the `unit_tests:` in models/**/_*__unit_tests.yml), in `make test-fast`.

A unit test reads the column types of the model's inputs from the warehouse, so this builds one
with no rows: the three feeds' dlt pipelines load a five-person, one-day world (the raw tables as
dlt creates them), then `dbt run --empty` creates every model's table with zero rows. The unit
tests then run on their own `given` rows and compare with their `expect` rows.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess

from ingestion.settings import Settings
from orchestration.defs.transform.project import DBT_EXECUTABLE, DBT_PROJECT_DIR
from simulator import SimConfig, simulate
from tests.ingestion.helpers import run_feed

TINY_WORLD = SimConfig(users=5, days=1, start=dt.date(2026, 11, 2), seed=1)


def _dbt(*args: str, settings: Settings) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DBT_EXECUTABLE, *args, "--profiles-dir", ".", "--quiet",
         "--target-path", str(settings.data_dir / "dbt_target")],
        cwd=DBT_PROJECT_DIR, capture_output=True, text=True,
        env={**os.environ, "CX_DUCKDB_PATH": str(settings.duckdb_path)},
    )  # fmt: skip


def test_every_dbt_unit_test_passes(warehouse_env):
    settings = Settings.from_env()
    simulate(TINY_WORLD, settings.landing_dir)
    for feed in ("events", "tickets", "surveys"):
        assert run_feed(feed, settings)
    built = _dbt("run", "--empty", settings=settings)
    assert built.returncode == 0, built.stdout + built.stderr
    done = _dbt("test", "--select", "test_type:unit", settings=settings)
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    defined = set(manifest["unit_tests"])
    results = json.loads((settings.data_dir / "dbt_target" / "run_results.json").read_text())
    assert {r["unique_id"] for r in results["results"] if r["status"] == "pass"} == defined
    assert len(defined) >= 10
