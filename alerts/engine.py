"""Stateful alerts: evaluate every rule at each batch hour, open / escalate / resolve alerts in
ops.alerts, log every judgement in ops.alert_evaluations, and return the transitions to notify.

An alert opens when its rule fires, escalates when it fires at a higher severity, and resolves
after `resolve_after_hours` judged hours in a row back near normal (below the rule's resolve
level: hysteresis, so one incident whose value wavers around the warning level stays one alert;
hours with too little data change nothing). Hours are evaluated once, in order: a re-run skips the hours a rule has
already judged, so it sends nothing twice; a run after a gap (a skipped or failed run) first
judges the hours missed since, up to a day.

An hour is judged whole once it is complete: when an event of a later hour has been loaded
(the collector's files land in order), or SETTLE after its end; a run that finds its partition's
hour still open leaves it to a later run (open_hour, complete_hours). While an hour is open,
every run judges it early (judge_running_hour), by the rules an unfinished hour cannot fool
(Rule.early_judgeable): the minutes of the hour loaded so far (up to the newest event) stand for
the hour, against the same minutes of the baseline days or weeks. An early judgement that fires
opens or escalates the alert at once; one that does not changes nothing (only complete hours
resolve an alert), and the complete hour is judged as usual.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

import duckdb
import pandas as pd

from alerts.config import SEVERITIES, AlertConfig, Rule
from alerts.judge import Judgement, RuleRows, history_shifts, hours_needed, judge
from alerts.metrics import METRICS, fetch
from ingestion.common import ops_schema

log = logging.getLogger(__name__)
CATCH_UP_HOURS = 24
HOUR = dt.timedelta(hours=1)
EARLY_KEPT = dt.timedelta(days=7)  # how long early judgements stay in ops.alert_early_evaluations
# An hour is complete this long after its end even if no event of a later hour was loaded: the
# hourly schedule runs 10 minutes past the hour (CX_HOURLY_CRON) and judges it then.
SETTLE = dt.timedelta(minutes=10)


@dataclass
class Transition:
    """An alert that opened, escalated or resolved at an hour: what gets notified."""

    event: str  # opened | escalated | resolved
    alert: dict  # the ops.alerts row after the change
    rule: Rule
    judgement: Judgement


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    ops_schema.ensure(con)


def _naive(hour: dt.datetime) -> dt.datetime:
    return hour.astimezone(dt.UTC).replace(tzinfo=None) if hour.tzinfo else hour


def _open_alert(con, rule: str) -> dict | None:
    rows = con.execute("select * from ops.alerts where rule = ? and status = 'open'", [rule]).df()
    return None if rows.empty else rows.iloc[0].to_dict()


def last_judged(con, rule: str | None = None) -> dt.datetime | None:
    """The latest hour `rule` (any rule: None) was judged; None before the first judgement."""
    if rule is None:
        return con.execute("select max(hour) from ops.alert_evaluations").fetchone()[0]
    return con.execute(
        "select max(hour) from ops.alert_evaluations where rule = ?", [rule]
    ).fetchone()[0]


def evaluate(
    con: duckdb.DuckDBPyConnection, config: AlertConfig, hours: list[dt.datetime], run_id: str = ""
) -> tuple[list[Transition], list[Judgement]]:
    """Evaluate every rule at each of the batch hours (in order); the transitions and the
    judgements made."""
    ensure_tables(con)
    hours = sorted(_naive(h) for h in hours)
    plan = {rule.name: _hours_to_judge(hours, last_judged(con, rule.name)) for rule in config.rules}
    frames = _frames(con, [(rule, hour) for rule in config.rules for hour in plan[rule.name]])
    transitions, judgements = [], []
    for rule in config.rules:
        if not plan[rule.name]:
            continue
        metric = METRICS[rule.metric]
        rows = RuleRows(rule, metric, frames[metric.source])
        alert = _open_alert(con, rule.name)
        records = []
        for hour in plan[rule.name]:
            judged = judge(rule, metric, rows, hour)
            judgements.append(judged)
            transition, after = _advance(con, rule, judged, alert)
            if transition:
                transitions.append(transition)
            records.append(_record(judged, (after or alert or {}).get("alert_id"), run_id))
            alert = after
        frame = pd.DataFrame(records, columns=EVALUATION_COLUMNS)  # noqa: F841 (read by SQL)
        con.execute("insert or replace into ops.alert_evaluations select * from frame")
    return transitions, judgements


def open_hour(
    con: duckdb.DuckDBPyConnection, now: dt.datetime
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The hour the loaded events are still arriving in, and the newest event time in it (not
    after `now`): the hour of the newest event, unless it ended SETTLE ago. (None, None) when
    every hour is complete. An hour is complete once an event of a later hour is loaded (the
    collector's files land in order) or SETTLE after its end (quiet traffic, a stopped feed)."""
    now = _naive(now)
    newest = con.execute(
        "select max(event_at) from marts.fct_events where event_at > ? and event_at <= ?",
        [now - HOUR - SETTLE, now],
    ).fetchone()[0]
    if newest is None:
        return None, None
    hour = newest.replace(minute=0, second=0, microsecond=0)
    return (hour, newest) if now < hour + HOUR + SETTLE else (None, None)


def complete_hours(hours: list[dt.datetime], running: dt.datetime | None) -> list[dt.datetime]:
    """The batch's hours that are complete: those before the open hour (all, if none is open).
    The others are judged when a later run finds them complete (evaluate catches up on them)."""
    return [h for h in hours if running is None or _naive(h) < running]


def early_judgements(
    con: duckdb.DuckDBPyConnection, config: AlertConfig, hour: dt.datetime, until: dt.datetime
) -> list[Judgement]:
    """The running `hour` judged at `until` (the newest event time loaded) by the rules that may
    (Rule.early_judgeable): the minutes of the hour up to `until` stand for the hour, against
    the same minutes of the baseline days or weeks (a 2-hour window is the previous hour whole
    and these minutes). Changes nothing."""
    hour, until = _naive(hour), _naive(until)
    seen = until - hour
    rules = [rule for rule in config.rules if rule.early_judgeable()]
    frames = _frames(con, [(rule, hour) for rule in rules])
    judgements = []
    for rule in rules:
        metric = METRICS[rule.metric]
        frame = frames[metric.source]
        # The hour and its baseline hours keep their first `seen` minutes; other hours of the
        # windows are whole.
        cut = frame["hour"].isin(
            [hour - shift for shift in (dt.timedelta(0), *history_shifts(rule))]
        )
        rows = frame[~cut | (frame["at"] - frame["hour"] <= seen)]
        judged = judge(rule, metric, RuleRows(rule, metric, rows), hour)
        judged.early_until = until
        judged.window = (hour - (rule.window_hours - 1) * HOUR, until)
        judgements.append(judged)
    return judgements


def _frames(
    con: duckdb.DuckDBPyConnection, judged: list[tuple[Rule, dt.datetime]]
) -> dict[str, pd.DataFrame]:
    """The rows of each source the (rule, hour) judgements need, one fetch a source."""
    needed: dict[str, set] = {}
    for rule, hour in judged:
        needed.setdefault(METRICS[rule.metric].source, set()).update(hours_needed(rule, hour))
    return {source: fetch(con, source, sorted(wanted)) for source, wanted in needed.items()}


def judge_running_hour(
    con: duckdb.DuckDBPyConnection, config: AlertConfig, hour: dt.datetime,
    until: dt.datetime, run_id: str = "",
) -> tuple[list[Transition], list[Judgement]]:  # fmt: skip
    """Judge the running `hour` early, with its rows up to `until` (the newest event time
    loaded): early_judgements, by the rules that have not judged the hour whole yet. A firing
    judgement opens or escalates the rule's alert (the transitions to notify); every judgement
    is logged in ops.alert_early_evaluations (kept EARLY_KEPT)."""
    ensure_tables(con)
    hour, until = _naive(hour), _naive(until)
    rules = {rule.name: rule for rule in config.rules}
    transitions, judgements, records = [], [], []
    for judged in early_judgements(con, config, hour, until):
        if (last_judged(con, judged.rule) or dt.datetime.min) >= hour:
            continue  # judged whole already (a run of this very hour's partition)
        alert = _open_alert(con, judged.rule)
        if judged.status == "firing":
            transition, alert = _advance(con, rules[judged.rule], judged, alert)
            if transition:
                transitions.append(transition)
        judgements.append(judged)
        records.append(_record(judged, (alert or {}).get("alert_id"), run_id))
    if records:
        # the ops.alert_evaluations row, whose window ends at data_until
        frame = pd.DataFrame(records, columns=EVALUATION_COLUMNS)  # noqa: F841 (read by SQL)
        con.execute(
            "insert or replace into ops.alert_early_evaluations by name "
            "select * exclude (window_start) rename (window_end as data_until) from frame"
        )
        con.execute("delete from ops.alert_early_evaluations where hour < ?", [hour - EARLY_KEPT])
    return transitions, judgements


def _hours_to_judge(hours: list[dt.datetime], last: dt.datetime | None) -> list[dt.datetime]:
    """The batch's hours a rule has not judged yet, after the hours it missed since its last
    judgement (a skipped or failed hourly run; at most CATCH_UP_HOURS back). Hours up to the
    last judged one are not judged again (a re-run sends nothing twice)."""
    if last is None:
        return hours
    todo = [h for h in hours if h > last]
    if todo:
        start = max(last + HOUR, todo[0] - CATCH_UP_HOURS * HOUR)
        todo = [start + k * HOUR for k in range((todo[0] - start) // HOUR)] + todo
    return todo


def _advance(
    con, rule: Rule, judged: Judgement, alert: dict | None
) -> tuple[Transition | None, dict | None]:
    """Move the rule's alert state (its open alert, or None) for one judgement: the
    transition, if any, and the open alert after it."""
    if alert is None and judged.status != "firing":
        return None, None
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    segments = json.dumps(judged.segments)
    if judged.status == "firing":
        if alert is None:
            alert_id = f"{rule.name}:{judged.hour:%Y-%m-%dT%H}"
            con.execute(
                "insert or replace into ops.alerts values "
                "(?, ?, ?, ?, 'open', ?, ?, ?, null, null, null, ?, 0, ?, ?, ?, ?, ?)",
                [alert_id, rule.name, rule.metric, rule.description, judged.severity,
                 judged.hour, now, judged.hour, judged.value, judged.baseline, judged.score,
                 judged.value, segments],
            )  # fmt: skip
            row = _row(con, alert_id)
            return Transition("opened", row, rule, judged), row
        escalated = SEVERITIES.index(judged.severity) > SEVERITIES.index(alert["severity"])
        con.execute(
            "update ops.alerts set last_hour = ?, clean_hours = 0, value = ?, baseline = ?, "
            "score = ?, segments = ?, severity = case when ? then ? else severity end, "
            "escalated_at = case when ? then ? else escalated_at end where alert_id = ?",
            [judged.hour, judged.value, judged.baseline, judged.score, segments, escalated,
             judged.severity, escalated, now, alert["alert_id"]],
        )  # fmt: skip
        row = _row(con, alert["alert_id"])
        return (Transition("escalated", row, rule, judged) if escalated else None), row
    if judged.status == "insufficient":
        return None, alert
    # Below warning but not yet calm (Rule.calm): the alert stays open, its count starts over.
    clean = int(alert["clean_hours"]) + 1 if rule.calm(judged.score) else 0
    resolved = clean >= rule.resolve_after_hours
    con.execute(
        "update ops.alerts set last_hour = ?, clean_hours = ?, value = ?, baseline = ?, "
        "score = ?, status = case when ? then 'resolved' else status end, "
        "resolved_hour = case when ? then ? end, resolved_at = case when ? then ? end "
        "where alert_id = ?",
        [judged.hour, clean, judged.value, judged.baseline, judged.score, resolved, resolved,
         judged.hour, resolved, now, alert["alert_id"]],
    )  # fmt: skip
    row = _row(con, alert["alert_id"])
    if resolved:
        return Transition("resolved", row, rule, judged), None
    return None, row


def _row(con, alert_id: str) -> dict:
    row = con.execute("select * from ops.alerts where alert_id = ?", [alert_id]).df()
    return row.iloc[0].to_dict()


EVALUATION_COLUMNS = ["rule", "hour", "status", "severity", "value", "baseline", "score", "z",
                      "sample", "window_start", "window_end", "reason", "alert_id", "run_id",
                      "evaluated_at", "segments"]  # fmt: skip


def _record(judged: Judgement, alert_id: str | None, run_id: str) -> list:
    """The ops.alert_evaluations row of a judgement."""
    window = judged.window or (None, None)
    return [judged.rule, judged.hour, judged.status, judged.severity, judged.value,
            judged.baseline, judged.score, judged.z, judged.sample, window[0], window[1],
            judged.reason, alert_id, run_id, dt.datetime.now(dt.UTC).replace(tzinfo=None),
            json.dumps(judged.segments) if judged.segments else None]  # fmt: skip


def open_alerts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    ensure_tables(con)
    return con.execute("select * from ops.alerts where status = 'open' order by opened_hour").df()
