"""Retention: person-level rows older than CX_RETENTION_DAYS are purged; aggregates stay.

`purge()` runs daily as the `ops/retention` asset (cx_retention job, cx_retention_schedule) and
from the shell (`python -m orchestration.privacy purge`). The cutoff is a UTC midnight:
`today - CX_RETENTION_DAYS days`. Every table in RETENTION loses its rows dated before it — raw
events by arrival, tickets and survey answers by creation, dbt's staging and intermediate event
tables and the fact marts by the time their KPIs count them by — so the facts that remain cover
whole days and every KPI day after the cutoff still equals its facts. The KPI marts (kpi_*), the
load ledgers and the ops tables keep everything: they hold counts, not people.

Known edge: a session that began before the cutoff and ran past midnight loses its start; an
event dated before the cutoff that arrives after the purge is loaded and modelled again until
the next purges pass over it (docs/privacy.md).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping

import duckdb

from ingestion.common import ops_schema
from ingestion.settings import ConfigError, Settings
from publish.publisher import record_changed_whole

DEFAULT_DAYS = 400
RETENTION = {
    "raw.events": "received_at",
    "raw.events_quarantine": "quarantined_at",
    "raw.tickets": "created_at",
    "raw.tickets_quarantine": "quarantined_at",
    "raw.survey_responses": "created_at",
    "raw.surveys_quarantine": "quarantined_at",
    "raw_staging.tickets": "created_at",
    "raw_staging.survey_responses": "created_at",
    "staging.stg_segment__events": "event_at",
    "intermediate.int_batch__events": "event_at",
    "intermediate.int_identity__events_stitched": "event_at",
    "intermediate.int_sessions__events_sessionized": "event_at",
    "intermediate.int_funnels__entries": "entry_date",
    "marts.fct_events": "event_at",
    "marts.fct_page_views": "viewed_at",
    "marts.fct_sessions": "session_start_at",
    "marts.fct_tickets": "created_at",
    "marts.fct_survey_responses": "created_at",
    "marts.fct_feedback_experience": "feedback_at",
    "marts.dim_users": "last_seen_at",
}


def retention_days(environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    value = environ.get("CX_RETENTION_DAYS", str(DEFAULT_DAYS))
    try:
        days = int(value)
    except ValueError:
        days = 0
    if days < 1:
        raise ConfigError(
            f"CX_RETENTION_DAYS={value!r} is not a positive number of days: set it like "
            f"CX_RETENTION_DAYS={DEFAULT_DAYS} (person-level rows older than that are purged)"
        )
    return days


def cutoff_for(days: int, now: dt.datetime | None = None) -> dt.datetime:
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    day = (now - dt.timedelta(days=days)).date()
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def purge(settings: Settings, days: int, now: dt.datetime | None = None) -> dict:
    """Delete the rows older than the cutoff; a summary (also recorded in ops.retention_runs)."""
    from privacy.erasure import delete_orphans

    cutoff = cutoff_for(days, now)
    deleted: dict[str, int] = {}
    with duckdb.connect(str(settings.duckdb_path)) as con:
        con.execute("set TimeZone = 'UTC'")
        existing = {
            f"{s}.{t}"
            for s, t in con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_type = 'BASE TABLE'"
            ).fetchall()
        }
        for table, column in RETENTION.items():
            if table not in existing:
                continue
            n = con.execute(
                f"delete from {table} where {column} < cast(? as timestamptz)", [cutoff]
            ).fetchone()[0]
            if n:
                deleted[table] = n
        deleted.update(delete_orphans(con))
        # The next publish writes a new analysts' copy: no purged row stays in it.
        record_changed_whole(con, [t.split(".", 1)[1] for t in deleted if t.startswith("marts.")])
        ops_schema.ensure(con)
        con.execute(
            "insert into ops.retention_runs values (?, ?, ?, ?)",
            [dt.datetime.now(dt.UTC), cutoff, days, json.dumps(deleted)],
        )
    return {"cutoff": cutoff, "days": days, "rows_deleted": deleted}
