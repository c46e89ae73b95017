import pytest

from ingestion.settings import CollectorSettings, ConfigError, Settings, cron, secret


def test_defaults_put_everything_under_the_data_dir(tmp_path):
    settings = Settings.from_env({"CX_DATA_DIR": str(tmp_path)})
    assert settings.env == "dev"
    assert settings.duckdb_path == tmp_path / "warehouse.duckdb"
    assert settings.landing_dir == tmp_path / "landing"
    assert (settings.tickets_mode, settings.surveys_mode) == ("files", "files")
    assert settings.duckdb_vacuum_at == 0.1


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"CX_ENV": "staging"}, ["CX_ENV"]),
        ({"CX_TICKETS_MODE": "ftp"}, ["CX_TICKETS_MODE"]),
        ({"CX_SURVEYS_MODE": "api"}, ["CX_SURVEYS_API_URL", "CX_SURVEYS_MODE=api"]),
        ({"CX_KPI_CRON": "40 * * * *"}, ["CX_KPI_CRON", "unset CX_KPI_CRON", "cx_hourly"]),
        ({"CX_DUCKDB_VACUUM_AT": "10%"}, ["CX_DUCKDB_VACUUM_AT", "from 0 to 1"]),
    ],
)
def test_config_errors_name_the_key_and_the_fix(environ, names):
    with pytest.raises(ConfigError) as error:
        Settings.from_env(environ)
    for name in names:
        assert name in str(error.value)
    assert "set" in str(error.value)


def test_missing_secret_names_env_var_and_toml_key(monkeypatch):
    monkeypatch.delenv("SOURCES__TICKETS__API_TOKEN", raising=False)
    with pytest.raises(ConfigError) as error:
        secret("sources.tickets.api_token", "the Zendesk API token")
    assert "SOURCES__TICKETS__API_TOKEN" in str(error.value)
    assert "[sources.tickets]" in str(error.value)


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({}, ["CX_COLLECTOR_WRITE_KEYS", "[collector]"]),
        ({"CX_COLLECTOR_WRITE_KEYS": "wk_web"}, ["CX_COLLECTOR_WRITE_KEYS", "key:source"]),
        ({"CX_COLLECTOR_WRITE_KEYS": "a:b", "CX_COLLECTOR_PORT": "99999"}, ["CX_COLLECTOR_PORT"]),
        ({"CX_COLLECTOR_WRITE_KEYS": "a:b", "CX_COLLECTOR_ROTATE_SECONDS": "soon"},
         ["CX_COLLECTOR_ROTATE_SECONDS"]),
        ({"CX_COLLECTOR_WRITE_KEYS": "a:b", "CX_COLLECTOR_TLS_CERT": "/x.pem"},
         ["CX_COLLECTOR_TLS_KEY"]),
    ],
)  # fmt: skip
def test_collector_config_errors_name_the_key_and_the_fix(environ, names, tmp_path, monkeypatch):
    monkeypatch.delenv("COLLECTOR__WRITE_KEYS", raising=False)
    with pytest.raises(ConfigError) as error:
        CollectorSettings.from_env({"CX_DATA_DIR": str(tmp_path), **environ})
    for name in names:
        assert name in str(error.value)
    assert "set" in str(error.value) or "add" in str(error.value)


def test_collector_write_keys_map_to_sources(tmp_path):
    settings = CollectorSettings.from_env(
        {"CX_DATA_DIR": str(tmp_path), "CX_COLLECTOR_WRITE_KEYS": "wk1:web, wk2:ios"}
    )
    assert dict(settings.write_keys) == {"wk1": "web", "wk2": "ios"}
    assert (settings.host, settings.port, settings.rotate_seconds) == ("127.0.0.1", 8088, 60.0)
    assert settings.spool_dir == tmp_path / "collector" / "spool"


def test_schedule_crons_come_from_settings_and_are_checked():
    assert cron("CX_RETENTION_CRON", {}) == "20 3 * * *"
    assert cron("CX_HOURLY_CRON", {"CX_HOURLY_CRON": "5 * * * *"}) == "5 * * * *"
    with pytest.raises(ConfigError) as error:
        cron("CX_HOURLY_CRON", {"CX_HOURLY_CRON": "every hour"})
    assert "CX_HOURLY_CRON" in str(error.value) and "'10 * * * *'" in str(error.value)
