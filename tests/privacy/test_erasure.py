"""Right to erasure and retention on the real pipeline: one person, named by their email only, is erased from
the warehouse, the published copy (file and Parquet) and dlt's working folder; the suppression
list keeps them out when every landing file is replayed (through the feed loaders) and after a
full dbt rebuild. The person
and their identifiers are read from the landing files, not from the code under test. Then the
retention purge on the same warehouse (one pipeline build serves both)."""

import datetime as dt
import gzip
import json
import os
from pathlib import Path

import duckdb

from ingestion.common.pii import hash_email
from ingestion.common.suppression import Suppression
from ingestion.events.source import events_source
from ingestion.pipelines import feed_pipeline
from ingestion.settings import Settings, pii_hash_key
from ingestion.surveys.source import surveys_source
from ingestion.tickets.source import tickets_source
from orchestration.run import recompute_kpis, run_job, run_pipeline
from privacy.erasure import erase
from privacy.retention import purge
from publish import publisher
from publish.publisher import publish
from tests.transform.test_microbatch_invariant import dbt

HOUR = "2026-11-06-23:00"  # the small world's last hour


def _pages(folder: Path) -> list[dict]:
    pages = []
    for path in sorted(folder.glob("*.json")):
        try:
            page = json.loads(path.read_text())
        except ValueError:
            continue  # the simulator's malformed exports
        if isinstance(page, dict):
            pages.append(page)
    return pages


def _person(landing: Path) -> tuple[str, str, set[str]]:
    """(user id, email, anonymous ids) of a person with tickets, survey answers and events."""
    requesters = {}
    for page in _pages(landing / "tickets"):
        for user in page.get("users") or []:
            if isinstance(user, dict) and user.get("external_id") and user.get("email"):
                requesters[user["external_id"]] = user["email"]
    respondents = set()
    for page in _pages(landing / "surveys"):
        for r in page.get("data") or []:
            if isinstance(r, dict) and isinstance(r.get("respondent"), dict):
                respondents.add(r["respondent"].get("user_id"))
    user_id = sorted(u for u in requesters if u in respondents)[0]
    anons = set()
    for path in (landing / "events").rglob("*.jsonl.gz"):
        for line in gzip.decompress(path.read_bytes()).decode(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if (
                isinstance(event, dict)
                and event.get("userId") == user_id
                and event.get("anonymousId")
            ):
                anons.add(event["anonymousId"])
    assert anons
    return user_id, requesters[user_id], anons


def rows_mentioning(database: Path, tokens: set[str]) -> list[str]:
    """Every (table, column) of `database` with a text value containing one of `tokens`; the
    suppression list and the erasure audit (which must name whom to keep out) excepted."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type in ('VARCHAR', 'JSON') and table_schema not in "
            "('information_schema', 'pg_catalog') and table_name not like 'erasure_%'"
        ).fetchall()
        hits = []
        for schema, table, column in columns:
            where = " or ".join(f"contains(\"{column}\"::varchar, '{t}')" for t in tokens)
            n = con.execute(f'select count(*) from "{schema}"."{table}" where {where}').fetchone()[
                0
            ]
            if n:
                hits.append(f"{schema}.{table}.{column}: {n}")
        return hits
    finally:
        con.close()


def test_erasure_everywhere_and_replays_keep_the_person_out(cx_env, instance, monkeypatch):
    settings = Settings.from_env()
    assert run_pipeline(instance, HOUR).success
    user_id, email, anons = _person(cx_env["landing"])
    email_hash = hash_email(email, pii_hash_key())
    tokens = {user_id, email_hash, *anons}
    assert rows_mentioning(settings.duckdb_path, tokens)  # they are there before
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        total, theirs = con.execute(
            "select count(*), count(*) filter (where stitched_user_id = ?) from marts.fct_sessions",
            [user_id],
        ).fetchone()
    assert theirs > 0
    # A second publish keeps the first file as the spare it patches next time (publisher.py;
    # kept from any size here): the person is in it too.
    monkeypatch.setattr(publisher, "SPARE_MIN_BYTES", 0)
    publish(settings.duckdb_path, settings.analytics_path, settings.published_dir, "second")
    spare = settings.analytics_path.with_name(f".{settings.analytics_path.name}.spare")
    assert rows_mentioning(spare, tokens)

    started = dt.datetime.now(dt.UTC)
    report = erase(
        settings, email=email, requested_by="test",
        recompute_kpis=lambda first, last: recompute_kpis(instance, first, last),
    )  # fmt: skip
    assert user_id in report.identities.user_ids
    assert anons <= report.identities.anonymous_ids
    assert report.identities.email_hashes == {email_hash}
    # Gone from the warehouse, the published file, the Parquet snapshot; no older snapshot kept.
    assert rows_mentioning(settings.duckdb_path, tokens) == []
    assert rows_mentioning(settings.analytics_path, tokens) == []
    assert not spare.exists()
    snapshots = list((settings.published_dir / "snapshots").iterdir())
    assert len(snapshots) == 1
    with duckdb.connect() as con:
        for parquet in snapshots[0].rglob("*.parquet"):  # the facts: a folder of days
            for t in tokens:
                n = con.execute(
                    f"select count(*) from read_parquet('{parquet}') as p "
                    f"where contains(cast(p as varchar), '{t}')"
                ).fetchone()[0]
                assert n == 0, (parquet.name, t)
    # dlt's working folder: removed (it is rebuilt from the warehouse's state on the next run).
    assert not settings.pipelines_dir.exists()
    # Everyone else is untouched; the KPIs were recomputed without them (the publish step checks
    # each KPI total against its facts) and the request is audited, without the raw email.
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        assert (
            con.execute("select count(*) from marts.fct_sessions").fetchone()[0] == total - theirs
        )
        audit = con.execute(
            "select identifier_kind, identifier, status, rows_deleted from ops.erasure_requests"
        ).fetchall()
    assert len(audit) == 1 and audit[0][:3] == ("email", email_hash, "done")
    assert json.loads(audit[0][3])["marts.fct_sessions"] == theirs

    # Replay every landing file (a newer modification time: all are read again) through the feed
    # loaders, with the suppression list the raw assets load; every ledger still reconciles.
    later = dt.datetime(2030, 1, 1).timestamp()
    for i, path in enumerate(sorted(p for p in cx_env["landing"].rglob("*") if p.is_file())):
        os.utime(path, (later + i, later + i))
    suppression = Suppression.load(settings.duckdb_path)
    assert suppression.user_ids == {user_id}
    for feed, source in (
        ("events", events_source(settings.landing_dir, suppression=suppression)),
        ("tickets", tickets_source("files", settings.landing_dir, suppression=suppression)),
        ("surveys", surveys_source("files", settings.landing_dir, suppression=suppression)),
    ):
        with feed_pipeline(feed, settings) as pipeline:
            pipeline.run(source, loader_file_format="parquet")
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        for ledger in ("events_ledger", "tickets_ledger", "surveys_ledger"):
            read, loaded, quarantined, suppressed = con.execute(
                f"select sum(items_read), sum(items_loaded), sum(items_quarantined), "
                f"sum(items_suppressed) from raw.{ledger} where read_at > ?",
                [started],
            ).fetchone()
            assert suppressed > 0 and read == loaded + quarantined + suppressed, ledger
        replayed = con.execute(
            "select count(*) from raw.events_ledger where read_at > ?", [started]
        ).fetchone()[0]
    assert replayed == cx_env["truth"]["delivery"]["event_files"]
    assert rows_mentioning(settings.duckdb_path, tokens) == []

    # A full rebuild from raw still has none of them.
    dbt("build", settings.duckdb_path, "--full-refresh")
    assert rows_mentioning(settings.duckdb_path, tokens) == []

    # Retention on the same warehouse: with the clock at 2026-11-08 12:00 and 3 days, every
    # person-level row dated before 2026-11-05 goes; the KPI marts keep those days.
    cutoff = dt.datetime(2026, 11, 5, tzinfo=dt.UTC)
    kpi_sql = {t: f"select * from marts.{t} where {c} < '2026-11-05' order by all"
               for t, c in (("kpi_daily", "kpi_date"), ("kpi_hourly", "kpi_hour"),
                            ("kpi_daily_by_segment", "kpi_date"))}  # fmt: skip
    old_events = "select count(*) from raw.events where received_at < '2026-11-05 00:00:00+00'"
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        kpis_before = {t: con.execute(q).fetchall() for t, q in kpi_sql.items()}
        events_before, old = con.execute("select count(*) from raw.events").fetchone()[0], con.execute(old_events).fetchone()[0]  # fmt: skip
    assert old > 0 and all(kpis_before.values())
    summary = purge(settings, days=3, now=dt.datetime(2026, 11, 8, 12, tzinfo=dt.UTC))
    assert summary["cutoff"] == cutoff
    dated = {"raw.events": "received_at", "raw.tickets": "created_at",
             "raw.survey_responses": "created_at", "staging.stg_segment__events": "event_at",
             "marts.fct_events": "event_at", "marts.fct_sessions": "session_start_at",
             "marts.fct_page_views": "viewed_at", "marts.fct_tickets": "created_at",
             "marts.fct_survey_responses": "created_at", "marts.dim_users": "last_seen_at"}  # fmt: skip
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        for table, column in dated.items():
            oldest = con.execute(f"select min({column}) from {table}").fetchone()[0]
            assert oldest is None or oldest.replace(tzinfo=dt.UTC) >= cutoff, (table, oldest)
        assert con.execute("select count(*) from raw.events").fetchone()[0] == events_before - old
        assert {t: con.execute(q).fetchall() for t, q in kpi_sql.items()} == kpis_before
    # The pipeline goes on after a purge: the KPI job and its publish step (which checks each
    # KPI day against the facts that remain) succeed, and the purged days' KPIs are kept.
    assert run_job(instance, "cx_kpis", "2026-11-06-00:00", "2026-11-06-23:00").success
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        assert {t: con.execute(q).fetchall() for t, q in kpi_sql.items()} == kpis_before
