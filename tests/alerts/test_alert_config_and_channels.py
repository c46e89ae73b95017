"""Alert rules are validated with errors that name the key; channels deliver to real servers on
localhost, retry a flaky receiver, and never raise when one is down."""

import dataclasses
import datetime as dt

import duckdb
import pytest
import yaml

from alerts import config, engine, notify
from alerts.engine import Transition
from alerts.judge import Judgement
from alerts.metrics import METRICS
from ingestion.settings import ConfigError


def test_shipped_rules_cover_the_cx_metrics():
    cfg = config.load()
    metrics = {rule.metric for rule in cfg.rules}
    assert {"conversion_rate", "error_rate", "p75_page_load_ms", "csat", "nps", "ticket_volume",
            "first_reply_minutes"} <= metrics  # fmt: skip
    assert {r.condition for r in cfg.rules} == {"threshold", "relative_change", "anomaly"}
    assert set(cfg.pipeline_channels) == {"slack", "webhook", "email"}


BAD = [
    ({"metric": "revenue"}, "rules[r].metric", "conversion_rate"),
    ({"where": {"survey": "csat_checkout"}}, "rules[r].where.survey", "device, os, browser"),
    ({"where": {"step": "Paid"}}, "rules[r].where.step", "Checkout Started"),
    ({"condition": {"type": "zscore"}}, "rules[r].condition.type", "relative_change"),
    ({"condition": {"type": "threshold", "direction": "sideways"}},
     "rules[r].condition.direction", "up"),
    ({"levels": {"warning": 5, "critical": 2}}, "rules[r].levels.critical", "further"),
    ({"window": {"hours": 0}}, "rules[r].window.hours", ">= 1"),
    ({"channels": ["pager"]}, "rules[r].channels", "define it under `channels:`"),
    ({"treshold": 5}, "rules[r].treshold", "unknown key"),
    ({"levels": {"warning": 5, "resolve": 7}}, "rules[r].levels.resolve", "nearer to normal"),
    ({"early": "yes"}, "rules[r].early", "write true or false"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "key", "fix"), BAD)
def test_bad_rules_name_the_key_and_the_fix(tmp_path, change, key, fix):
    rule = {"name": "r", "metric": "error_rate", "condition": {"type": "threshold",
            "direction": "above"}, "levels": {"warning": 5}, "channels": ["hook"]}  # fmt: skip
    rule.update(change)
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"channels": {"hook": {"type": "webhook",
                    "url_env": "X"}}, "rules": [rule]}))  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        config.load(path)
    assert key in str(raised.value) and fix in str(raised.value), str(raised.value)


def test_only_rules_an_unfinished_hour_cannot_fool_judge_it_early():
    """A running hour's sessions have not all converted (or hit an error) yet: conversion can
    only rise, so a drop rule would fire on what is still to come, an error rule would not.
    Page loads, answers and ticket counts are final when they land; a reply time matures late."""
    early = {r.name for r in config.load().rules if r.early_judgeable(METRICS[r.metric].settles)}
    assert {"checkout_page_load_slow", "page_load_slow", "checkout_errors", "error_rate_high",
            "csat_drop", "nps_drop", "ticket_spike"} <= early  # fmt: skip
    assert not early & {"conversion_drop", "first_reply_slow"}
    rule = next(r for r in config.load().rules if r.name == "checkout_page_load_slow")
    assert not dataclasses.replace(rule, early=False).early_judgeable("final")
    assert dataclasses.replace(rule, direction="down").early_judgeable("falls")
    assert not dataclasses.replace(rule, direction="up").early_judgeable("falls")


def test_an_hour_is_complete_once_later_events_are_in_or_it_has_settled(tmp_path):
    """The hour the newest loaded event falls in stays open (judged early, not whole) until an
    event of a later hour is loaded or SETTLE has passed since its end."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema marts; create table marts.fct_events (event_at timestamp)")
    ten = dt.datetime(2026, 11, 11, 10)
    con.execute("insert into marts.fct_events values (?), (?)",
                [ten - dt.timedelta(minutes=5), ten + dt.timedelta(minutes=58, seconds=30)])  # fmt: skip
    at = {m: ten + dt.timedelta(minutes=m) for m in (59, 61, 69, 70)}
    assert engine.open_hour(con, at[59]) == (ten, ten + dt.timedelta(minutes=58, seconds=30))
    # the clock is past 11:00, the events are not: 10:00 is still open until 11:10
    assert engine.open_hour(con, at[61])[0] == ten and engine.open_hour(con, at[69])[0] == ten
    assert engine.open_hour(con, at[70]) == (None, None)
    assert engine.complete_hours([ten - engine.HOUR, ten], ten) == [ten - engine.HOUR]
    assert engine.complete_hours([ten - engine.HOUR, ten], None) == [ten - engine.HOUR, ten]
    # an event of 11:00 is in: 10:00 is complete, 11:00 open
    con.execute(
        "insert into marts.fct_events values (?)", [ten + dt.timedelta(minutes=60, seconds=20)]
    )
    assert engine.open_hour(con, at[61])[0] == ten + engine.HOUR
    # an event stamped after the clock (a device clock ahead) does not open its hour
    con.execute("insert into marts.fct_events values (?)", [ten + dt.timedelta(hours=5)])
    assert engine.open_hour(con, at[61])[0] == ten + engine.HOUR


def test_a_secret_in_the_rules_file_is_refused(tmp_path):
    path = tmp_path / "rules.yml"
    path.write_text("channels:\n  slack: {type: slack, url: 'https://hooks.slack.com/x'}\n")
    with pytest.raises(ConfigError, match=r"channels.slack.url: .*environment variables"):
        config.load(path)


def _transition() -> Transition:
    rule = next(r for r in config.load().rules if r.name == "checkout_page_load_slow")
    hour = dt.datetime(2026, 11, 11, 15)
    segments = [{"segment": {"device": "mobile", "page": ["Checkout"]}, "label":
                 "device=mobile & page=Checkout", "share_of_change": 0.97, "value": 6000.0,
                 "baseline": 1500.0, "rows": 40}]  # fmt: skip
    judged = Judgement(rule.name, hour, "firing", "warning", 5000.0, 1500.0, 8.0, 8.0, 81,
                       (hour, hour), "", segments)  # fmt: skip
    alert = {"alert_id": f"{rule.name}:x", "severity": "warning", "status": "open",
             "opened_hour": hour, "resolved_hour": None, "segments": __import__("json").dumps(segments)}  # fmt: skip
    return Transition("opened", alert, rule, judged)


def test_channels_deliver_retry_and_never_raise(receivers, monkeypatch):
    http, smtp = receivers
    cfg = config.load()
    subject, text, payload = notify.alert_message(_transition())
    assert "device=mobile & page=Checkout" in text and "97% of the change" in text

    http.fail_next = 2  # Slack answers 503 twice, then 200: delivered on the third attempt
    outcomes = notify.send(cfg.channels, ("slack", "webhook", "email"), subject, text, payload)
    assert [(o["channel"], o["status"], o["attempts"]) for o in outcomes] == [
        ("slack", "sent", 3), ("webhook", "sent", 1), ("email", "sent", 1)]  # fmt: skip
    slack, hook = http.received
    assert slack[0] == "/slack" and subject in slack[1]["text"]
    assert hook == ("/hook", payload) and hook[1]["segments"][0]["share_of_change"] == 0.97
    (mail,) = smtp.messages
    assert mail["Subject"].strip() == subject and mail["To"] == "oncall@example.com"
    assert "device=mobile & page=Checkout" in mail.get_content()

    # A receiver that is down: retried, logged, reported as failed, nothing raised.
    monkeypatch.setenv("CX_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/down")
    monkeypatch.delenv("CX_SMTP_HOST")
    outcomes = notify.send(cfg.channels, ("webhook", "email"), subject, text, payload)
    assert outcomes[0]["status"] == "failed" and outcomes[0]["attempts"] == 3
    assert outcomes[1]["status"] == "skipped" and "CX_SMTP_HOST" in outcomes[1]["error"]


def test_every_metric_has_its_rows_columns():
    for metric in METRICS.values():
        assert metric.kind in ("mean", "quantile", "count")
        assert metric.kind == "count" or metric.column


def _rule_state_after(statuses_and_scores, levels=None) -> list[tuple[str, str | None]]:
    """Feed judgements of an anomaly rule (warning 4.5, resolve after 2 calm hours) through the
    alert engine's state machine on a real DuckDB; (alert id, event) after each hour."""
    import duckdb

    from alerts import engine

    rule = next(r for r in config.load().rules if r.name == "checkout_page_load_slow")
    if levels is not None:
        rule = dataclasses.replace(rule, resolve_level=levels)
    con = duckdb.connect()
    engine.ensure_tables(con)
    alert, out = None, []
    hour = dt.datetime(2026, 12, 1, 14)
    for k, (status, score) in enumerate(statuses_and_scores):
        judged = Judgement(rule.name, hour + dt.timedelta(hours=k), status, value=1.0,
                           baseline=1.0, score=score,
                           severity="warning" if status == "firing" else None)  # fmt: skip
        transition, alert = engine._advance(con, rule, judged, alert)
        out.append(((alert or {}).get("alert_id"), transition and transition.event))
    return out


def test_an_incident_wavering_under_warning_stays_one_alert():
    """Firing, two hours just under the warning level (scores 4.0 and 3.5: above 3/4 of 4.5, so
    not calm), firing again, then two calm hours: one alert, resolved at the second calm hour."""
    hours = [("firing", 6.0), ("ok", 4.0), ("ok", 3.5), ("firing", 5.0), ("ok", 0.5), ("ok", 3.0)]
    states = _rule_state_after(hours)
    assert [event for _, event in states] == [
        "opened", None, None, None, None, "resolved"
    ]  # fmt: skip
    assert len({alert_id for alert_id, _ in states[:-1]}) == 1
    # Without hysteresis (resolve level = warning) the same hours resolve early and reopen.
    states = _rule_state_after(hours, levels=4.5)
    assert [event for _, event in states] == [
        "opened", None, "resolved", "opened", None, "resolved"
    ]  # fmt: skip
    # Insufficient hours change nothing: the count of calm hours goes on after them.
    states = _rule_state_after([("firing", 6.0), ("ok", 1.0), ("insufficient", None), ("ok", 1.0)])
    assert [event for _, event in states] == ["opened", None, None, "resolved"]
