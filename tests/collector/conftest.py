"""Fixtures of the collector tests: an empty warehouse environment the collector feeds."""

import pytest


@pytest.fixture
def warehouse_env(tmp_path, monkeypatch):
    """CX_* settings for a fresh warehouse whose landing folder only the collector fills."""
    monkeypatch.setenv("CX_ENV", "ci")
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CX_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("PII__HASH_KEY", "test-pii-key")
    for key in ("CX_DUCKDB_PATH", "CX_PIPELINES_DIR", "CX_TICKETS_MODE", "CX_SURVEYS_MODE"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path
