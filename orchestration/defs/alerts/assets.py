"""Alerts in Dagster: the `ops/alerts` asset evaluates the rules (alerts/rules.yml)
after each hourly batch, and a run-failure sensor reports failed runs and failed blocking
data-quality checks. Both notify the channels of alerts (docs/alerts.md).
"""

import datetime as dt
import json
import time

import dagster as dg
import duckdb

from alerts import config as alert_config
from alerts import engine, notify
from orchestration.defs.quality.checks import partition_window
from orchestration.defs.shared import DUCKDB_POOL, HOURLY, WarehouseResource

SOURCE_MARTS = ("fct_sessions", "fct_page_views", "fct_survey_responses",
                "fct_feedback_experience", "fct_tickets", "dim_users")  # fmt: skip


@dg.asset(
    key=["ops", "alerts"],
    group_name="alerts",
    partitions_def=HOURLY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_POOL,
    deps=[dg.AssetKey(["marts", mart]) for mart in SOURCE_MARTS],
    description="Alert rules judged at each hour of the partition (in order): alerts open, "
    "escalate and resolve in ops.alerts, every judgement in ops.alert_evaluations, and the "
    "opened/escalated/resolved ones are sent to their channels.",
)
def cx_alerts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    settings = warehouse.settings()
    cfg = alert_config.load()
    _, hours, _ = partition_window(context.run)
    started = time.monotonic()
    with duckdb.connect(str(settings.duckdb_path)) as con:
        # The hour events are still arriving in (runs of the landing sensor): judged early on
        # what has landed of it, by the rules that may; whole once complete (docs/alerts.md).
        running, until = engine.open_hour(con, dt.datetime.now(dt.UTC))
        complete = engine.complete_hours(hours, running)
        transitions, judgements = engine.evaluate(con, cfg, complete, context.run.run_id)
        early: list = []
        if running:
            found, early = engine.judge_running_hour(con, cfg, running, until, context.run.run_id)
            transitions += found
        sent = []
        for transition in transitions:
            subject, text, payload = notify.alert_message(transition)
            context.log.warning("%s\n%s", subject, text)

            def record(channel, status, attempts, error, t=transition):
                con.execute(
                    "insert into ops.alert_notifications values (?, ?, ?, ?, ?, ?, ?, ?)",
                    [t.alert["alert_id"], t.rule.name, t.event, channel, status, attempts,
                     error, notify.now()],
                )  # fmt: skip

            outcomes = notify.send(
                cfg.channels, transition.rule.channels, subject, text, payload, record
            )
            sent += [{"alert": transition.alert["alert_id"], "event": transition.event, **o}
                     for o in outcomes]  # fmt: skip
        open_now = engine.open_alerts(con)
    latest = {j.rule: j for j in judgements}
    judged_until = until or (max(complete) + engine.HOUR if complete else None)
    context.log.info(
        "%d rules judged over %d complete hour(s) in %.1f s: %d transition(s), %d open; %s",
        len(cfg.rules), len(complete), time.monotonic() - started, len(transitions),
        len(open_now),
        f"{len(early)} judged early on hour {running:%H:00} up to {until:%H:%M:%S}" if running
        else "no open hour",
    )  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "hours_evaluated": len(complete),
            # hours of the partition left for a later run: events of theirs are still arriving
            "hours_deferred": len(hours) - len(complete),
            # the newest event time judged: how far into the open hour the early judgements
            # saw, else the end of the last complete hour
            "judged_until": str(judged_until) if judged_until else "nothing judged",
            "early_judgements": dg.MetadataValue.json({j.rule: _summary(j) for j in early}),
            "open_alerts": len(open_now),
            "transitions": [
                f"{t.event}: {t.alert['alert_id']} ({t.alert['severity']})" for t in transitions
            ],  # fmt: skip
            "alerts": dg.MetadataValue.md(_alerts_table(open_now)),
            "judgements": dg.MetadataValue.json({r: _summary(j) for r, j in latest.items()}),
            "notifications": dg.MetadataValue.json(sent),
            "rules_file": str(cfg.path),
            "seconds": round(time.monotonic() - started, 2),
        }
    )


def _summary(j) -> dict:
    """A judgement in the asset's metadata."""
    return {"status": j.status, "severity": j.severity, "value": j.value,
            "baseline": j.baseline, "score": j.score, "z": j.z, "sample": j.sample,
            "reason": j.reason, "segments": j.segments}  # fmt: skip


def _alerts_table(open_now) -> str:
    if open_now.empty:
        return "No open alerts."
    lines = ["| alert | severity | opened (hour) | value | baseline | top segment |", "|---|---|---|---|---|---|"]  # fmt: skip
    for row in open_now.itertuples():
        segments = json.loads(row.segments or "[]")
        top = f"{segments[0]['label']} ({segments[0]['share_of_change']:.0%})" if segments else ""
        lines.append(
            f"| {row.rule} | {row.severity} | {row.opened_hour:%Y-%m-%d %H:00} | "
            f"{row.value:.2f} | {row.baseline:.2f} | {top} |"
        )
    return "\n".join(lines)


def failure_message(instance: dg.DagsterInstance, run: dg.DagsterRun, error: str) -> tuple:
    """Subject, text and payload for a failed run, naming the failed blocking checks."""
    records = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    failed = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if not evaluation.passed:
            message = evaluation.metadata.get("message")
            failed.append(
                {
                    "asset": evaluation.asset_key.to_user_string(),
                    "check": evaluation.check_name,
                    "severity": evaluation.severity.value,
                    "message": message.value if message else "",
                }
            )
    partition = partition_window(run)[0]
    subject = f"[cx-warehouse] run FAILED: {run.job_name} {partition}"
    lines = [f"run {run.run_id}: {error}"]
    lines += [f"  check {f['asset']} {f['check']} {f['severity']}: {f['message']}" for f in failed]
    payload = {"event": "run_failed", "job": run.job_name, "run_id": run.run_id,
               "partition": partition, "error": error, "failed_checks": failed}  # fmt: skip
    return subject, "\n".join(lines), payload


@dg.run_failure_sensor(
    name="cx_pipeline_failure_alerts",
    monitor_all_code_locations=False,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A failed run (and the blocking data-quality checks that failed in it) goes to "
    "the pipeline_channels of alerts/rules.yml.",
)
def cx_pipeline_failure_alerts(context: dg.RunFailureSensorContext):
    cfg = alert_config.load()
    error = context.failure_event.message or "run failed"
    subject, text, payload = failure_message(context.instance, context.dagster_run, error)
    outcomes = notify.send(cfg.channels, cfg.pipeline_channels, subject, text, payload)
    context.log.info("%s → %s", subject, outcomes)


defs = dg.Definitions(assets=[cx_alerts], sensors=[cx_pipeline_failure_alerts])
