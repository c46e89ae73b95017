"""Shared fixtures: a small simulated world (generated once per session) and an isolated
environment (warehouse, landing copy, dlt state and Dagster home in a temp dir) per test."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from ingestion.settings import PROJECT_ROOT
from simulator import SimConfig, simulate

SMALL_WORLD = SimConfig(
    users=400, days=5, start=dt.date(2026, 11, 2), seed=7, incident_day=3, malformed_share=0.004
)
DBT_DIR = PROJECT_ROOT / "dbt_project"


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> tuple[Path, dict]:
    """(landing folder, ground truth) of a small world; treat the folder as read-only."""
    landing = tmp_path_factory.mktemp("world") / "landing"
    truth = simulate(SMALL_WORLD, landing)
    return landing, truth


@pytest.fixture
def cx_env(tmp_path, monkeypatch, small_world) -> dict:
    """CX_* settings pointing at a fresh warehouse and a private copy of the small world."""
    landing = tmp_path / "landing"
    shutil.copytree(small_world[0], landing)
    use_warehouse(monkeypatch, tmp_path)
    return {"data_dir": tmp_path, "landing": landing, "truth": small_world[1]}


@pytest.fixture
def warehouse_env(tmp_path, monkeypatch) -> Path:
    """CX_* settings for a fresh warehouse whose landing folder starts empty."""
    use_warehouse(monkeypatch, tmp_path)
    return tmp_path


def use_warehouse(env: pytest.MonkeyPatch, data_dir: Path, key: str = "test-pii-key") -> None:
    """Point the CX_* settings at a warehouse and landing folder under `data_dir`."""
    env.setenv("CX_ENV", "ci")
    env.setenv("CX_DATA_DIR", str(data_dir))
    env.setenv("CX_LANDING_DIR", str(data_dir / "landing"))
    env.setenv("PII__HASH_KEY", key)
    for name in ("CX_DUCKDB_PATH", "CX_PIPELINES_DIR", "CX_TICKETS_MODE", "CX_SURVEYS_MODE"):
        env.delenv(name, raising=False)


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """The dbt manifest the Dagster definitions are built from (`make manifest` makes it too)."""
    manifest = DBT_DIR / "target" / "manifest.json"
    if not manifest.exists():
        dbt = Path(sys.executable).parent / "dbt"
        subprocess.run(
            [str(dbt), "parse", "--profiles-dir", ".", "--quiet"], cwd=DBT_DIR, check=True
        )
    return manifest


@pytest.fixture
def instance(tmp_path):
    """A Dagster instance configured like the project's (orchestration/dagster.yaml)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    overrides = yaml.safe_load((PROJECT_ROOT / "orchestration" / "dagster.yaml").read_text())
    with dg.instance_for_test(temp_dir=str(home), overrides=overrides) as instance:
        yield instance


from tests.receivers import receivers  # noqa: E402, F401  (localhost HTTP + SMTP receivers)

# Fixtures that simulate a world or start the pipeline, a browser or `dagster dev`: a test using
# one takes from seconds to minutes, and `make test-fast` (-m "not slow") leaves it out.
_SLOW_FIXTURES = {"small_world", "dagster_dev", "clean_run", "month"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
