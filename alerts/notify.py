"""Notifications to Slack (incoming webhook), a generic JSON webhook and email (SMTP).

Secrets (webhook URLs, SMTP login) come from the environment variables the channel names. A
channel whose variables are unset is skipped with a log line. A failing channel is retried
(CX_ALERT_RETRIES times, default 3, with backoff) and then logged and recorded in
ops.alert_notifications — it never raises: the pipeline does not fail because Slack is down.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import smtplib
import time
from email.message import EmailMessage

import requests

from alerts.config import Channel

log = logging.getLogger(__name__)


def _retries() -> tuple[int, float]:
    return int(os.environ.get("CX_ALERT_RETRIES", "3")), float(
        os.environ.get("CX_ALERT_RETRY_SECONDS", "2")
    )


def _env(channel: Channel, key: str, required: bool = True) -> str | None:
    name = channel.settings.get(key)
    value = os.environ.get(name) if name else None
    if required and not value:
        raise LookupError(f"channel {channel.name}: set {name or key} to enable it")
    return value


def _post(url: str, body: dict) -> None:
    response = requests.post(url, json=body, timeout=10)
    response.raise_for_status()


def _email(channel: Channel, subject: str, text: str) -> None:
    to = [a.strip() for a in _env(channel, "to_env").split(",") if a.strip()]
    host = _env(channel, "host_env")
    port = int(_env(channel, "port_env", required=False) or 25)
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = (
        subject, channel.settings.get("sender", "cx-warehouse@localhost"), ", ".join(to),
    )  # fmt: skip
    message.set_content(text)
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        user = _env(channel, "user_env", required=False)
        if user:
            smtp.login(user, _env(channel, "password_env"))
        smtp.send_message(message)


def deliver(channel: Channel, subject: str, text: str, payload: dict) -> tuple[str, int, str]:
    """Send one message on one channel: (status, attempts, error). Status is sent, skipped
    (channel not configured) or failed (after the retries)."""
    try:
        # An unset variable means the channel is not configured here: skip it (raises LookupError).
        needed = ("to_env", "host_env") if channel.type == "email" else ("url_env",)
        target = [_env(channel, key) for key in needed][0]
    except LookupError as exc:
        log.info("%s", exc)
        return "skipped", 0, str(exc)
    retries, pause = _retries()
    error = ""
    for attempt in range(1, retries + 1):
        try:
            if channel.type == "slack":
                _post(target, {"text": f"*{subject}*\n{text}"})
            elif channel.type == "webhook":
                _post(target, payload)
            else:
                _email(channel, subject, text)
            return "sent", attempt, ""
        except (requests.RequestException, OSError, smtplib.SMTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "channel %s attempt %d/%d failed: %s", channel.name, attempt, retries, error
            )
            if attempt < retries:
                time.sleep(pause * 2 ** (attempt - 1))
    log.error("channel %s: giving up after %d attempts: %s", channel.name, retries, error)
    return "failed", retries, error


def send(
    channels: dict[str, Channel], names: tuple[str, ...], subject: str, text: str, payload: dict,
    record=None,
) -> list[dict]:  # fmt: skip
    """Send to each named channel; `record(channel, status, attempts, error)` stores the
    outcome. The outcomes, one per channel."""
    outcomes = []
    for name in names:
        status, attempts, error = deliver(channels[name], subject, text, payload)
        outcomes.append({"channel": name, "status": status, "attempts": attempts, "error": error})
        if record:
            record(name, status, attempts, error)
    return outcomes


def alert_message(transition) -> tuple[str, str, dict]:
    """Subject, text and JSON payload of an alert transition (engine.Transition)."""
    alert, rule, judged = transition.alert, transition.rule, transition.judgement
    segments = json.loads(alert.get("segments") or "[]")
    verb = {"opened": "OPEN", "escalated": "ESCALATED", "resolved": "RESOLVED"}[transition.event]
    severity = alert["severity"]
    subject = f"[cx-warehouse] {verb} {severity}: {rule.name} ({rule.metric})"
    # whole hours, or up to the minute of a running hour's newest event (engine.early_judgements)
    first, last = ("%Y-%m-%d %H:%M", "%H:%M") if judged.early_until else ("%Y-%m-%d %H:00", "%H:59")
    window = f"{judged.window[0]:{first}}–{judged.window[1]:{last}} UTC" if judged.window else ""
    lines = [
        rule.description,
        f"{rule.metric}: {_fmt(judged.value)} against {_fmt(judged.baseline)} "
        f"({rule.condition}, score {_fmt(judged.score)}, z {_fmt(judged.z)}, "
        f"{judged.sample} rows) in {window}",
        f"opened for hour {alert['opened_hour']:%Y-%m-%d %H:00} UTC",
    ]
    if judged.early_until:
        lines.append(
            f"early: hour {judged.hour:%H:00} is still running; judged up to the newest event "
            f"({judged.early_until:%H:%M:%S} UTC) against the same minutes of the baseline "
            "periods (the whole hour is judged when it ends)"
        )
    if transition.event == "resolved":
        lines.append(f"resolved at hour {alert['resolved_hour']:%Y-%m-%d %H:00} UTC")
    if segments and transition.event != "resolved":
        lines.append("Where (share of the change if this segment alone were back to normal):")
        lines += [f"  {segment_line(s)}" for s in segments]
    payload = {
        "event": transition.event,
        "alert_id": alert["alert_id"],
        "rule": rule.name,
        "metric": rule.metric,
        "severity": severity,
        "status": alert["status"],
        "value": judged.value,
        "baseline": judged.baseline,
        "score": judged.score,
        "z": judged.z,
        "sample": judged.sample,
        "window": [judged.window[0].isoformat(), judged.window[1].isoformat()]
        if judged.window
        else None,
        "opened_hour": alert["opened_hour"].isoformat(),
        "resolved_hour": alert["resolved_hour"].isoformat()
        if transition.event == "resolved"
        else None,
        "segments": segments,
        "description": rule.description,
        "early": judged.early_until is not None,
        "data_until": judged.early_until.isoformat() if judged.early_until else None,
    }
    return subject, "\n".join(lines), payload


def segment_line(segment: dict) -> str:
    """One explaining segment (judge.explain's dict) as the notifications, the run summary and
    the dashboard show it: label, its value against before, its share of the change."""
    return (
        f"{segment['label']}: {_fmt(segment['value'])} vs {_fmt(segment['baseline'])}, "
        f"{segment['share_of_change']:.0%} of the change"
    )


def _fmt(x) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.2f}" if abs(x) < 100 else f"{x:,.0f}"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
