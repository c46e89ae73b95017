"""The warehouse's `ops` schema: every operational table the Python side writes, created here
and nowhere else.

| table | written by |
|---|---|
| ops.dq_results | the data-quality checks (expectations/checks/outcome.py) |
| ops.alerts, ops.alert_evaluations, ops.alert_early_evaluations, ops.alert_notifications | the alert engine (alerts/) |
| ops.erasure_suppression, ops.erasure_requests | erasure (privacy/erasure.py) |
| ops.retention_runs | the retention purge (privacy/retention.py) |

The micro-batch bookkeeping (ops.processed_loads, ops.person_changes and its sequence
ops.person_change_seq, ops.pending_persons) belongs to the dbt project, which creates it at the
start of every run (dbt_project/macros/batch/batch.sql, batch_setup): dbt reads and writes it
inside its own runs, on whichever engine builds the models.
"""

from __future__ import annotations

import duckdb

DDL = """
create schema if not exists ops;
create table if not exists ops.dq_results (
    check_name varchar not null,      -- schema, volume, freshness, values
    asset_key varchar not null,       -- Dagster asset key, e.g. raw/events, marts/kpi_daily
    partition varchar,                -- the run's partition key or range
    passed boolean not null,
    severity varchar not null,        -- ERROR (blocks downstream models) or WARN
    message varchar,
    observed json,
    expected json,
    run_id varchar,
    checked_at timestamptz not null
);
create table if not exists ops.alerts (
    alert_id varchar primary key, rule varchar, metric varchar, description varchar,
    status varchar, severity varchar, opened_hour timestamp, opened_at timestamp,
    escalated_at timestamp, resolved_hour timestamp, resolved_at timestamp,
    last_hour timestamp, clean_hours integer, value double, baseline double, score double,
    opened_value double, segments varchar
);
create table if not exists ops.alert_evaluations (
    rule varchar, hour timestamp, status varchar, severity varchar, value double,
    baseline double, score double, z double, sample bigint, window_start timestamp,
    window_end timestamp, reason varchar, alert_id varchar, run_id varchar,
    evaluated_at timestamp, segments varchar, primary key (rule, hour)
);
-- Judgements of the running hour on its first minutes (alerts/engine.py, judge_running_hour):
-- one row per rule, hour and data_until (the newest event time the judgement saw).
create table if not exists ops.alert_early_evaluations (
    rule varchar, hour timestamp, data_until timestamp, status varchar, severity varchar,
    value double, baseline double, score double, z double, sample bigint, reason varchar,
    alert_id varchar, run_id varchar, evaluated_at timestamp, segments varchar,
    primary key (rule, hour, data_until)
);
create table if not exists ops.alert_notifications (
    alert_id varchar, rule varchar, event varchar, channel varchar, status varchar,
    attempts integer, error varchar, sent_at timestamp
);
create table if not exists ops.erasure_suppression (
    kind varchar, value varchar, request_id varchar, added_at timestamptz
);
create table if not exists ops.erasure_requests (
    request_id varchar, requested_at timestamptz, finished_at timestamptz, requested_by varchar,
    identifier_kind varchar, identifier varchar, identities json, rows_deleted json,
    kpi_days json, status varchar
);
create table if not exists ops.retention_runs (
    run_at timestamptz, cutoff timestamptz, days integer, rows_deleted json
);
"""


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ops schema and its tables where they do not exist yet (a no-op otherwise)."""
    con.execute(DDL)
