"""Alert rules and channels from YAML (alerts/rules.yml, or $CX_ALERT_RULES),
validated: every mistake raises ConfigError naming the key and how to fix it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from alerts.metrics import FUNNEL_STEPS, METRICS
from ingestion.settings import ConfigError

DEFAULT_RULES = Path(__file__).with_name("rules.yml")
CONDITIONS = {"threshold": set(), "relative_change": {"weeks"}, "anomaly": {"days"}}
SEVERITIES = ("warning", "critical")
CHANNEL_KEYS = {
    "slack": {"url_env"},
    "webhook": {"url_env"},
    "email": {"to_env", "host_env", "port_env", "user_env", "password_env", "sender"},
}
RULE_KEYS = {"name", "metric", "description", "where", "condition", "levels", "window",
             "min_sample", "confidence_z", "resolve_after_hours", "lag_hours", "channels",
             "early"}  # fmt: skip


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    condition: str  # threshold | relative_change | anomaly
    direction: str  # up | down  (threshold: above | below are accepted and normalised)
    levels: dict[str, float]
    history: int  # weeks (relative_change), days (anomaly, threshold: days for explanations)
    window_hours: int
    pooled: bool
    min_sample: int
    confidence_z: float
    resolve_after_hours: int
    lag_hours: int
    channels: tuple[str, ...]
    where: dict = field(default_factory=dict)
    description: str = ""
    resolve_level: float | None = None  # levels.resolve: see calm()
    # Judge the running hour too, on what has landed of it (False: complete hours only). Only
    # rules an unfinished hour cannot fool do (early_judgeable).
    early: bool = False

    def early_judgeable(self, settles: str | None = None) -> bool:
        """Whether the running hour can be judged before it ends, for a metric whose rows settle
        as `settles` (default: its metric's, alerts.metrics.Metric.settles). The latest minutes
        are compared with the same minutes of baseline days, whose rows have settled: a value
        that can only rise later (a session's conversion) is a lower bound now, so a rule
        watching it go up cannot fire on what is still to come, but one watching it go down
        could. Never for a rule judged lag_hours late (its metric matures after the hour)."""
        settles = settles or METRICS[self.metric].settles
        return (
            self.early
            and self.lag_hours == 0
            and (settles == "final" or (settles == "rises") == (self.direction == "up"))
        )

    def level_of(self, score: float) -> str | None:
        """The highest severity whose level the (direction-signed) score reaches."""
        reached = [s for s in SEVERITIES if s in self.levels and score >= self.signed(s)]
        return reached[-1] if reached else None

    def calm(self, score: float | None) -> bool:
        """Whether a judged hour that did not fire is back near normal, so that it counts
        towards resolving an open alert (hysteresis): its score short of `levels.resolve` (by
        default three quarters of the warning level; for a threshold, the warning level). An hour between
        the two keeps the alert open: a six-hour incident whose score dips under the warning
        level for two hours is still one incident."""
        if score is None:
            return True
        level = self.resolve_level
        if level is None:
            level = self.levels["warning"] * (1.0 if self.condition == "threshold" else 0.75)
        if self.condition == "threshold" and self.direction == "down":
            return score > level
        return score < level

    def signed(self, severity: str) -> float:
        """A level as a score: thresholds below become negative like the scores they meet."""
        level = self.levels[severity]
        return -level if self.condition == "threshold" and self.direction == "down" else level


@dataclass(frozen=True)
class Channel:
    name: str
    type: str
    settings: dict


@dataclass(frozen=True)
class AlertConfig:
    rules: tuple[Rule, ...]
    channels: dict[str, Channel]
    pipeline_channels: tuple[str, ...]
    path: Path


def _fail(path: Path, key: str, problem: str, fix: str) -> None:
    raise ConfigError(f"{path}: {key}: {problem} — {fix}")


def _number(path, key, value, minimum=0.0, integer=False):
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < minimum:
        what = "a whole number" if integer else "a number"
        _fail(path, key, f"{value!r} is not {what} >= {minimum}", f"write {what} >= {minimum}")
    return value


def _rule(path: Path, index: int, raw, defaults: dict, channels: dict) -> Rule:
    if not isinstance(raw, dict):
        _fail(path, f"rules[{index}]", "is not a mapping", "write `- name: ...` with its keys")
    name = raw.get("name") or f"rules[{index}]"
    where = f"rules[{name}]"
    unknown = set(raw) - RULE_KEYS
    if unknown:
        _fail(path, f"{where}.{sorted(unknown)[0]}", "unknown key",
              f"use one of {', '.join(sorted(RULE_KEYS))}")  # fmt: skip
    if "name" not in raw:
        _fail(path, where, "has no name", "add `name: <unique_snake_case>`")
    metric = raw.get("metric")
    if metric not in METRICS:
        _fail(path, f"{where}.metric", f"unknown metric {metric!r}",
              f"use one of {', '.join(METRICS)}")  # fmt: skip
    segment = raw.get("where") or {}
    if not isinstance(segment, dict):
        _fail(path, f"{where}.where", "is not a mapping", "write e.g. `where: {device: mobile}`")
    for dim, value in segment.items():
        if dim not in METRICS[metric].dimensions:
            _fail(path, f"{where}.where.{dim}", f"metric {metric} has no segment {dim!r}",
                  f"use one of {', '.join(METRICS[metric].dimensions)}")  # fmt: skip
        values = value if isinstance(value, list) else [value]
        if dim == "step" and any(v not in FUNNEL_STEPS for v in values):
            _fail(path, f"{where}.where.step", f"{value!r} is not a funnel step",
                  f"use one of {', '.join(FUNNEL_STEPS)}")  # fmt: skip
    condition = raw.get("condition")
    if not isinstance(condition, dict) or condition.get("type") not in CONDITIONS:
        _fail(path, f"{where}.condition.type", f"missing or unknown ({condition!r})",
              f"write `condition: {{type: one of {', '.join(CONDITIONS)}, direction: up|down}}`")  # fmt: skip
    kind = condition["type"]
    allowed = {"type", "direction"} | CONDITIONS[kind]
    if set(condition) - allowed:
        bad = sorted(set(condition) - allowed)[0]
        _fail(path, f"{where}.condition.{bad}", f"not a key of a {kind} condition",
              f"use {', '.join(sorted(allowed))}")  # fmt: skip
    direction = {"above": "up", "below": "down"}.get(condition.get("direction"),
                                                     condition.get("direction"))  # fmt: skip
    if direction not in ("up", "down"):
        _fail(path, f"{where}.condition.direction", f"{condition.get('direction')!r}",
              "write up (or above) / down (or below)")  # fmt: skip
    history_key = {"relative_change": "weeks", "anomaly": "days"}.get(kind)
    history = condition.get(history_key, 4 if kind == "relative_change" else 7)
    history = _number(path, f"{where}.condition.{history_key}", history, 1, integer=True)
    if kind == "anomaly" and history < 3:
        _fail(path, f"{where}.condition.days", "needs at least 3 days", "write days: 7")
    levels = raw.get("levels")
    if (
        not isinstance(levels, dict)
        or "warning" not in levels
        or set(levels) - {*SEVERITIES, "resolve"}
    ):
        _fail(path, f"{where}.levels", f"{levels!r}",
              "write `levels: {warning: <level>, critical: <higher level>, resolve: <lower "
              "level>}` (critical and resolve optional)")  # fmt: skip
    for severity, level in levels.items():
        _number(path, f"{where}.levels.{severity}", level, 0.0 if kind != "threshold" else -1e18)
    if (
        "critical" in levels
        and levels["critical"] <= levels["warning"]
        and not (kind == "threshold" and direction == "down")
    ):
        _fail(path, f"{where}.levels.critical", "is not beyond warning",
              "critical must be further from normal than warning")  # fmt: skip
    resolve = levels.get("resolve")
    if resolve is not None and (
        resolve < levels["warning"] if kind == "threshold" and direction == "down"
        else resolve > levels["warning"]
    ):  # fmt: skip
        _fail(path, f"{where}.levels.resolve", "is beyond warning",
              "resolve must be nearer to normal than warning (or equal: no hysteresis)")  # fmt: skip
    merged = {**defaults, **{k: v for k, v in raw.items() if k in defaults}}
    window = merged["window"]
    if not isinstance(window, dict) or set(window) - {"hours", "mode"}:
        _fail(path, f"{where}.window", f"{window!r}", "write `window: {hours: 2, mode: pooled}`")
    hours = _number(path, f"{where}.window.hours", window.get("hours", 1), 1, integer=True)
    mode = window.get("mode", "pooled")
    if mode not in ("pooled", "consecutive"):
        _fail(path, f"{where}.window.mode", f"{mode!r}", "write pooled or consecutive")
    rule_channels = merged["channels"]
    if not isinstance(rule_channels, list):
        _fail(path, f"{where}.channels", f"{rule_channels!r}", "write a list like [slack]")
    for channel in rule_channels:
        if channel not in channels:
            _fail(path, f"{where}.channels", f"unknown channel {channel!r}",
                  f"define it under `channels:` or use one of {', '.join(channels)}")  # fmt: skip
    return Rule(
        name=str(raw["name"]),
        metric=metric,
        condition=kind,
        direction=direction,
        levels={k: float(v) for k, v in levels.items() if k in SEVERITIES},
        history=history,
        window_hours=hours,
        pooled=mode == "pooled",
        min_sample=_number(path, f"{where}.min_sample", merged["min_sample"], 1, integer=True),
        confidence_z=float(_number(path, f"{where}.confidence_z", merged["confidence_z"], 0)),
        resolve_after_hours=_number(
            path, f"{where}.resolve_after_hours", merged["resolve_after_hours"], 1, integer=True
        ),
        lag_hours=_number(path, f"{where}.lag_hours", merged["lag_hours"], 0, integer=True),
        channels=tuple(rule_channels),
        where=segment,
        description=str(raw.get("description", "")),
        resolve_level=None if resolve is None else float(resolve),
        early=_flag(path, f"{where}.early", merged["early"]),
    )


def _flag(path: Path, key: str, value) -> bool:
    if not isinstance(value, bool):
        _fail(path, key, f"{value!r} is not true or false", "write true or false")
    return value


def load(path: Path | str | None = None) -> AlertConfig:
    """The alert configuration at path (default: $CX_ALERT_RULES or the shipped rules.yml)."""
    path = Path(path or os.environ.get("CX_ALERT_RULES") or DEFAULT_RULES)
    if not path.exists():
        raise ConfigError(f"CX_ALERT_RULES: {path} does not exist — point it at a rules file "
                          f"or unset it to use {DEFAULT_RULES}")  # fmt: skip
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    unknown = set(raw) - {"defaults", "channels", "pipeline_channels", "rules"}
    if unknown:
        _fail(path, sorted(unknown)[0], "unknown top-level key",
              "use defaults, channels, pipeline_channels, rules")  # fmt: skip
    defaults = {
        "window": {"hours": 1, "mode": "pooled"},
        "min_sample": 30,
        "confidence_z": 3.0,
        "resolve_after_hours": 2,
        "lag_hours": 0,
        "channels": [],
        "early": True,
    }
    given = raw.get("defaults") or {}
    if set(given) - set(defaults):
        _fail(path, f"defaults.{sorted(set(given) - set(defaults))[0]}", "unknown key",
              f"use one of {', '.join(defaults)}")  # fmt: skip
    defaults.update(given)
    channels = {}
    for name, spec in (raw.get("channels") or {}).items():
        if not isinstance(spec, dict) or spec.get("type") not in CHANNEL_KEYS:
            _fail(path, f"channels.{name}.type", f"{spec!r}",
                  f"write type: one of {', '.join(CHANNEL_KEYS)}")  # fmt: skip
        extra = set(spec) - CHANNEL_KEYS[spec["type"]] - {"type"}
        if extra:
            _fail(path, f"channels.{name}.{sorted(extra)[0]}", f"not a key of a {spec['type']} "
                  "channel", f"use {', '.join(sorted(CHANNEL_KEYS[spec['type']]))}; secrets "
                  "go in environment variables named by *_env keys")  # fmt: skip
        channels[name] = Channel(name, spec["type"], {k: v for k, v in spec.items() if k != "type"})
    rules = [_rule(path, i, r, defaults, channels) for i, r in enumerate(raw.get("rules") or [])]
    names = [r.name for r in rules]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        _fail(path, f"rules[{duplicate}].name", "is used twice", "give every rule its own name")
    pipeline = raw.get("pipeline_channels") or []
    for channel in pipeline:
        if channel not in channels:
            _fail(path, "pipeline_channels", f"unknown channel {channel!r}",
                  f"use one of {', '.join(channels)}")  # fmt: skip
    return AlertConfig(tuple(rules), channels, tuple(pipeline), path)
