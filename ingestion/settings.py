"""The one place that decides the environment and where things live.

Read at run time (never at import time) from environment variables; secrets come from dlt's secret
providers (environment variables or `.dlt/secrets.toml`). Every error names the key and the fix.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import dlt

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("dev", "ci", "prod")
MODES = {"tickets": ("files", "api"), "surveys": ("files", "api", "typeform")}


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the key and how to fix it."""


@dataclass(frozen=True)
class TypeformForm:
    """A form to read: its id, which survey type its score is, and optionally its score field."""

    form_id: str
    survey_type: str
    score_ref: str | None = None

    @property
    def path(self) -> str:
        return f"/forms/{self.form_id}/responses"


SURVEY_TYPES = ("nps", "csat", "ces")


def parse_forms(text: str | None, key: str = "CX_TYPEFORM_FORMS") -> tuple[TypeformForm, ...]:
    """`form_id:survey_type[:score_field_ref]`, comma-separated (u6nXL7:nps,Xy12ab:csat:q_csat)."""
    forms = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        form_id, survey_type, ref, *extra = [*(p.strip() for p in part.split(":")), None, None][:4]
        if not form_id or survey_type not in SURVEY_TYPES or extra != [None]:
            raise ConfigError(
                f"{key} has {part.strip()!r}: set it to form_id:survey_type[:score_field_ref] "
                f"pairs, comma-separated, with survey_type one of {SURVEY_TYPES} "
                "(CX_TYPEFORM_FORMS=u6nXL7:nps,Xy12ab:csat)"
            )
        forms.append(TypeformForm(form_id, survey_type, ref or None))
    if not forms:
        raise ConfigError(
            f"{key} is not set but CX_SURVEYS_MODE=typeform: set it to the forms to read as "
            "form_id:survey_type pairs (CX_TYPEFORM_FORMS=u6nXL7:nps,Xy12ab:csat); the form id "
            "is in the form's URL (https://you.typeform.com/to/u6nXL7)"
        )
    return tuple(forms)


DUCKDB_MEMORY_LIMIT = "4GB"  # CX_DUCKDB_MEMORY_LIMIT's default, for each DuckDB connection
# CX_DUCKDB_VACUUM_AT's default: the share of a table's stored rows that may be deleted rows
# before dbt's closing checkpoint vacuums (ingestion/common/warehouse.py).
DUCKDB_VACUUM_AT = 0.1


# Settings that existed and no longer do, with what replaced them: set, they fail loudly, since
# silently ignoring them would leave a deployment believing they still act.
REMOVED = {
    "CX_KPI_CRON": "the KPI marts are built by every cx_hourly run (CX_HOURLY_CRON, or the landing "
    "sensor), not by a schedule of their own",
}


@dataclass(frozen=True)
class Settings:
    env: str
    data_dir: Path
    duckdb_path: Path
    landing_dir: Path
    pipelines_dir: Path
    tickets_mode: str
    surveys_mode: str
    tickets_api_url: str | None
    surveys_api_url: str | None  # for typeform: https://api.typeform.com unless set
    typeform_forms: tuple[TypeformForm, ...]  # CX_TYPEFORM_FORMS (ingestion/surveys/typeform.py)
    duckdb_memory_limit: str
    duckdb_vacuum_at: float  # deleted share of a table at which dbt's closing checkpoint vacuums
    gx_dir: Path  # Great Expectations project root (GX writes <it>/gx: suites, results, Data Docs)
    analytics_path: Path  # the published read-only copy of the marts analysts query
    published_dir: Path  # the published marts as Parquet: <it>/current -> snapshots/<id>

    @property
    def dbt_target(self) -> str:
        return self.env

    def feed_dir(self, feed: str) -> Path:
        return self.landing_dir / feed

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        for key, replaced_by in REMOVED.items():
            if key in environ:
                raise ConfigError(f"{key} is no longer a setting: {replaced_by}; unset {key}")
        env = environ.get("CX_ENV", "dev")
        if env not in ENVIRONMENTS:
            raise ConfigError(
                f"CX_ENV={env!r} is not one of {ENVIRONMENTS}: set CX_ENV=dev, ci or prod"
            )
        data_dir = Path(environ.get("CX_DATA_DIR") or PROJECT_ROOT / "data").resolve()
        modes = {}
        for feed in ("tickets", "surveys"):
            key = f"CX_{feed.upper()}_MODE"
            modes[feed] = environ.get(key, "files")
            if modes[feed] not in MODES[feed]:
                raise ConfigError(
                    f"{key}={modes[feed]!r} is not one of {MODES[feed]}: set {key}="
                    + " or ".join(MODES[feed])
                )
        urls = {}
        for feed in ("tickets", "surveys"):
            key = f"CX_{feed.upper()}_API_URL"
            urls[feed] = environ.get(key) or None
            if modes[feed] == "api" and not urls[feed]:
                raise ConfigError(
                    f"{key} is not set but CX_{feed.upper()}_MODE=api: set {key} to the API's base URL"
                )
        typeform_forms = ()
        if modes["surveys"] == "typeform":
            typeform_forms = parse_forms(environ.get("CX_TYPEFORM_FORMS"))
        return cls(
            env=env,
            data_dir=data_dir,
            duckdb_path=Path(
                environ.get("CX_DUCKDB_PATH") or data_dir / "warehouse.duckdb"
            ).resolve(),
            landing_dir=Path(environ.get("CX_LANDING_DIR") or data_dir / "landing").resolve(),
            pipelines_dir=Path(
                environ.get("CX_PIPELINES_DIR") or data_dir / "dlt_pipelines"
            ).resolve(),
            tickets_mode=modes["tickets"],
            surveys_mode=modes["surveys"],
            tickets_api_url=urls["tickets"],
            surveys_api_url=urls["surveys"],
            typeform_forms=typeform_forms,
            duckdb_memory_limit=environ.get("CX_DUCKDB_MEMORY_LIMIT", DUCKDB_MEMORY_LIMIT),
            duckdb_vacuum_at=_number(environ, "CX_DUCKDB_VACUUM_AT", DUCKDB_VACUUM_AT, float, 0, 1),
            gx_dir=Path(environ.get("CX_GX_DIR") or data_dir / "quality").resolve(),
            analytics_path=Path(
                environ.get("CX_ANALYTICS_PATH") or data_dir / "analytics.duckdb"
            ).resolve(),
            published_dir=Path(environ.get("CX_PUBLISHED_DIR") or data_dir / "published").resolve(),
        )


@dataclass(frozen=True)
class CollectorSettings:
    """The event collector's settings (`python -m ingestion.collector`), read once at its start."""

    host: str
    port: int
    write_keys: Mapping[str, str]  # write key -> source id recorded on its messages
    landing_dir: Path  # finished files go to <it>/events/<day>/
    spool_dir: Path  # open and crashed segments (same filesystem as the landing folder or not)
    rotate_seconds: float
    rotate_bytes: int
    max_pending_bytes: int  # accepted but not yet on disk; past it requests get 429
    body_timeout_seconds: float  # a body that takes longer gets 408 (slow clients hold no slot)
    tls_certfile: Path | None
    tls_keyfile: Path | None
    trust_forwarded_for: bool  # take the client IP from X-Forwarded-For (behind a proxy only)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CollectorSettings:
        environ = os.environ if environ is None else environ
        base = Settings.from_env(environ)
        keys_text = environ.get("CX_COLLECTOR_WRITE_KEYS") or dlt.secrets.get(
            "collector.write_keys"
        )
        if not keys_text:
            raise ConfigError(
                "CX_COLLECTOR_WRITE_KEYS is not set: set it to key:source pairs "
                "(CX_COLLECTOR_WRITE_KEYS=wk_web:web,wk_ios:ios) or add "
                '`write_keys = "wk_web:web"` under [collector] in .dlt/secrets.toml'
            )
        write_keys = {}
        for pair in str(keys_text).split(","):
            key, sep, source = (part.strip() for part in pair.partition(":"))
            if not (key and sep and source):
                raise ConfigError(
                    f"CX_COLLECTOR_WRITE_KEYS has {pair.strip()!r}, not key:source: set it to "
                    "each write key and the source id its events are recorded under, "
                    "comma-separated (wk_web:web,wk_ios:ios)"
                )
            write_keys[key] = source
        tls = [environ.get(k) or None for k in ("CX_COLLECTOR_TLS_CERT", "CX_COLLECTOR_TLS_KEY")]
        if (tls[0] is None) != (tls[1] is None):
            raise ConfigError(
                "CX_COLLECTOR_TLS_CERT and CX_COLLECTOR_TLS_KEY go together: set both (PEM "
                "files) to serve https, or neither for plain http behind a TLS proxy"
            )
        for key, value in zip(("CX_COLLECTOR_TLS_CERT", "CX_COLLECTOR_TLS_KEY"), tls, strict=True):
            if value and not Path(value).is_file():
                raise ConfigError(f"{key}={value!r} is not a file: set it to a PEM file's path")
        return cls(
            host=environ.get("CX_COLLECTOR_HOST", "127.0.0.1"),
            port=_number(environ, "CX_COLLECTOR_PORT", 8088, int, 1, 65535),
            write_keys=write_keys,
            landing_dir=base.landing_dir,
            spool_dir=Path(
                environ.get("CX_COLLECTOR_SPOOL_DIR") or base.data_dir / "collector" / "spool"
            ).resolve(),
            rotate_seconds=_number(environ, "CX_COLLECTOR_ROTATE_SECONDS", 60.0, float, 0.05),
            rotate_bytes=int(
                _number(environ, "CX_COLLECTOR_ROTATE_MB", 64.0, float, 0.001) * 2**20
            ),
            max_pending_bytes=int(
                _number(environ, "CX_COLLECTOR_MAX_PENDING_MB", 64.0, float, 1.0) * 2**20
            ),
            body_timeout_seconds=_number(environ, "CX_COLLECTOR_BODY_TIMEOUT", 10.0, float, 0.1),
            tls_certfile=Path(tls[0]) if tls[0] else None,
            tls_keyfile=Path(tls[1]) if tls[1] else None,
            trust_forwarded_for=environ.get("CX_COLLECTOR_TRUST_PROXY", "0") == "1",
        )


def _number(environ: Mapping[str, str], key: str, default, kind, low, high=None):
    """A numeric setting within [low, high], or a ConfigError naming the key and the range."""
    text = environ.get(key)
    if text is None or text == "":
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ConfigError(f"{key}={text!r} is not valid: set it to a number {bounds}")
    return value


def secret_env_name(key: str) -> str:
    """The environment variable dlt reads a secret `a.b` from (`A__B`)."""
    return key.upper().replace(".", "__")


def secret(key: str, how: str) -> str:
    """A secret from dlt's providers (env `A__B` or `[a] b` in .dlt/secrets.toml), or a clear error."""
    value = dlt.secrets.get(key)
    if not value:
        env_name = secret_env_name(key)
        section, _, name = key.rpartition(".")
        raise ConfigError(
            f"secret {key!r} is missing: set the environment variable {env_name} or add "
            f'`{name} = "..."` under [{section}] in .dlt/secrets.toml ({how})'
        )
    return str(value)


def pii_hash_key() -> bytes:
    return secret("pii.hash_key", "`make run` creates a random one for the demo").encode()


def partitions_start(environ: Mapping[str, str] | None = None) -> str:
    """First hour of the hourly partitions ('YYYY-MM-DD-HH:MM', UTC), from CX_PARTITIONS_START."""
    environ = os.environ if environ is None else environ
    value = environ.get("CX_PARTITIONS_START") or "2026-01-01"
    try:
        start = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"CX_PARTITIONS_START={value!r} is not a date: set it like 2026-01-01 or "
            "2026-01-01T00:00 (UTC), the first hour the partitions cover"
        ) from None
    return start.strftime("%Y-%m-%d-%H:%M")


@functools.cache
def dbt_vars() -> dict:
    """The dbt project's vars (dbt_project/dbt_project.yml): the one place the funnel steps, the
    conversion event and the metric parameters are defined, read by the Python that needs them
    (alert segments, the publish's consistency check, the dashboard's labels)."""
    import yaml

    project = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text())
    return project["vars"]


def funnel_steps() -> tuple[str, ...]:
    """The funnel's steps in order (dbt var funnel_steps): step 1 is any page or screen view."""
    return tuple(dbt_vars()["funnel_steps"])


def conversion_event() -> str:
    """The event that counts as an order (dbt var conversion_event)."""
    return dbt_vars()["conversion_event"]


# The schedules' crons (UTC): read when the Dagster definitions load, from here like every setting.
CRONS = {
    "CX_HOURLY_CRON": "10 * * * *",  # cx_hourly: the latest complete hour
    "CX_RETENTION_CRON": "20 3 * * *",  # cx_retention: the daily purge
}


def cron(key: str, environ: Mapping[str, str] | None = None) -> str:
    """A schedule's cron from the environment (CRONS: key and default), checked: five fields."""
    environ = os.environ if environ is None else environ
    value = environ.get(key) or CRONS[key]
    if len(value.split()) != 5:
        raise ConfigError(
            f"{key}={value!r} is not a cron schedule: write five fields, minute hour day month "
            f"weekday (UTC), like the default {CRONS[key]!r}"
        )
    return value


def dagster_url(environ: Mapping[str, str] | None = None) -> str:
    """Where the Dagster UI is served (CX_DAGSTER_URL): the dashboard links to it."""
    environ = os.environ if environ is None else environ
    return (environ.get("CX_DAGSTER_URL") or "http://127.0.0.1:3000").rstrip("/")
