"""Judge one rule over one window: the value, its reference (threshold, baseline of previous
weeks, or the median of previous days), a score, a significance z and the severity reached;
and explain a change by the segments that contribute most to it."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from alerts.config import SEVERITIES, Rule
from alerts.metrics import FUNNEL_STEPS, Metric, rows_for, value, weighted_quantile

HOUR = dt.timedelta(hours=1)


@dataclass
class Judgement:
    rule: str
    hour: dt.datetime  # the batch hour the rule was evaluated for
    status: str  # firing | ok | insufficient
    severity: str | None = None
    value: float | None = None
    baseline: float | None = None
    score: float | None = None
    z: float | None = None
    sample: int = 0
    window: tuple[dt.datetime, dt.datetime] | None = None  # first, last hour judged
    reason: str = ""
    segments: list[dict] = field(default_factory=list)
    # An early judgement of a running hour: the newest event time it saw (None: a whole hour)
    early_until: dt.datetime | None = None


def window_units(rule: Rule, hour: dt.datetime) -> list[list[dt.datetime]]:
    """The groups of hours judged at this batch hour: one pooled group, or each hour alone."""
    end = hour - rule.lag_hours * HOUR
    hours = [end - k * HOUR for k in reversed(range(rule.window_hours))]
    return [hours] if rule.pooled else [[h] for h in hours]


def history_shifts(rule: Rule) -> list[dt.timedelta]:
    """How far back the baseline periods lie: whole weeks (relative_change) or days."""
    if rule.condition == "relative_change":
        return [dt.timedelta(weeks=k) for k in range(1, rule.history + 1)]
    return [dt.timedelta(days=k) for k in range(1, rule.history + 1)]


def hours_needed(rule: Rule, hour: dt.datetime) -> list[dt.datetime]:
    units = window_units(rule, hour)
    now = [h for unit in units for h in unit]
    return now + [h - shift for shift in history_shifts(rule) for h in now]


def _sign(rule: Rule) -> int:
    return 1 if rule.direction == "up" else -1


def _z_vs(metric: Metric, rows: pd.DataFrame, reference: float, periods: int) -> float:
    """How many standard errors the rows' value lies above a fixed reference."""
    n = len(rows)
    if metric.kind == "count":
        expected = reference * periods
        return (n - expected) / math.sqrt(max(expected, 1.0))
    x = rows[metric.column].to_numpy(dtype=float)
    if metric.kind == "mean":
        if metric.binary:
            p = min(max(reference / 100.0, 0.001), 0.999)
            se = 100.0 * math.sqrt(p * (1 - p) / n)
        else:
            se = max(float(x.std(ddof=1)) if n > 1 else 0.0, 1.0) / math.sqrt(n)
        return (float(x.mean()) - reference) / se
    q = metric.q
    return (float((x > reference).mean()) - (1 - q)) / math.sqrt(q * (1 - q) / n)


def _z_two(
    metric: Metric, rows: pd.DataFrame, base: pd.DataFrame, periods: int, base_periods: int
) -> float:
    """How many standard errors the rows' value lies above the baseline rows' value."""
    n1, n0 = len(rows), len(base)
    if metric.kind == "count":
        ratio = periods / base_periods
        expected = n0 * ratio
        return (n1 - expected) / math.sqrt(expected * (1 + ratio) + 1.0)
    x1 = rows[metric.column].to_numpy(dtype=float)
    x0 = base[metric.column].to_numpy(dtype=float)
    if metric.kind == "mean":
        if metric.binary:
            p = min(max((x1.sum() + x0.sum()) / (100.0 * (n1 + n0)), 0.001), 0.999)
            se = 100.0 * math.sqrt(p * (1 - p) * (1 / n1 + 1 / n0))
        else:
            v1 = max(float(x1.var(ddof=1)) if n1 > 1 else 0.0, 1.0)
            v0 = max(float(x0.var(ddof=1)) if n0 > 1 else 0.0, 1.0)
            se = math.sqrt(v1 / n1 + v0 / n0)
        return (float(x1.mean()) - float(x0.mean())) / se
    q = metric.q
    reference = float(np.quantile(x0, q))
    share_above = float((x1 > reference).mean())
    return (share_above - (1 - q)) / math.sqrt(q * (1 - q) * (1 / n1 + 1 / n0))


def _sampling_se(metric: Metric, rows: pd.DataFrame, periods: int) -> float:
    """The standard error of the rows' value, in the metric's unit."""
    n = len(rows)
    if metric.kind == "count":
        return math.sqrt(max(n, 1)) / periods
    x = rows[metric.column].to_numpy(dtype=float)
    if metric.kind == "mean":
        if metric.binary:
            p = min(max(float(x.mean()) / 100.0, 0.001), 0.999)
            return 100.0 * math.sqrt(p * (1 - p) / n)
        return (float(x.std(ddof=1)) if n > 1 else 0.0) / math.sqrt(n)
    q = metric.q
    half = math.sqrt(q * (1 - q) / n)  # one standard error, in ranks (order-statistic interval)
    low, high = np.quantile(x, [max(q - half, 0.0), min(q + half, 1.0)])
    return float(high - low) / 2


class RuleRows:
    """A rule's rows (its metric's and segment filter applied) by hour, and the hours in which
    the source had any row at all (a count of zero there is a zero, elsewhere no data)."""

    def __init__(self, rule: Rule, metric: Metric, frame: pd.DataFrame):
        self.source_hours = set(frame["hour"].drop_duplicates().tolist())
        rows = rows_for(metric, frame, rule.where)
        self.empty = rows.iloc[0:0]
        self.by_hour = {hour: part for hour, part in rows.groupby("hour")}

    def take(self, hours: list[dt.datetime]) -> pd.DataFrame:
        parts = [self.by_hour[h] for h in hours if h in self.by_hour]
        return pd.concat(parts) if parts else self.empty

    def covered(self, hours: list[dt.datetime]) -> bool:
        return all(h in self.source_hours for h in hours)


def judge_unit(
    rule: Rule, metric: Metric, rows: RuleRows, unit: list[dt.datetime]
) -> tuple[Judgement, pd.DataFrame, pd.DataFrame, int]:
    """The judgement of one group of hours, with the current and baseline rows behind it and
    the number of baseline periods."""
    judged = Judgement(rule.name, unit[-1], "insufficient", window=(unit[0], unit[-1]))
    periods = len(unit)
    current = rows.take(unit)
    judged.sample = len(current)
    history = []
    for shift in history_shifts(rule):
        shifted = [h - shift for h in unit]
        if rows.covered(shifted):  # periods before the data began are not zeros
            history.append(rows.take(shifted))
    base_parts = [part for part in history if metric.kind == "count" or len(part) > 0]
    base = pd.concat(base_parts) if base_parts else current.iloc[0:0]
    base_periods = max(len(base_parts), 1) * periods
    if metric.kind == "count":
        expected = len(base) / base_periods * periods if base_parts else 0.0
        enough = max(len(current), expected) >= rule.min_sample
    else:
        enough = len(current) >= rule.min_sample
    if not enough:
        judged.reason = f"{len(current)} rows, fewer than min_sample {rule.min_sample}"
        return judged, current, base, base_periods
    judged.value = value(metric, current, periods)
    sign = _sign(rule)
    reached: str | None = None
    if rule.condition == "threshold":
        judged.baseline = rule.levels["warning"]
        judged.score = judged.value
        for severity in SEVERITIES:
            if severity not in rule.levels:
                continue
            z = sign * _z_vs(metric, current, rule.levels[severity], periods)
            if severity == "warning":
                judged.z = z
            if sign * judged.value >= sign * rule.levels[severity] and z >= rule.confidence_z:
                reached = severity
    elif rule.condition == "relative_change":
        if metric.kind != "count" and len(base) < rule.min_sample:
            judged.reason = f"baseline has {len(base)} rows, fewer than min_sample"
            return judged, current, base, base_periods
        judged.baseline = value(metric, base, base_periods)
        if not judged.baseline:
            judged.reason = "baseline is zero"
            return judged, current, base, base_periods
        judged.score = sign * (judged.value - judged.baseline) / abs(judged.baseline)
        judged.z = sign * _z_two(metric, current, base, periods, base_periods)
        if judged.z >= rule.confidence_z:
            reached = rule.level_of(judged.score)
    else:  # anomaly: robust z against the same hours of previous days
        minimum = 0 if metric.kind == "count" else rule.min_sample
        values = [value(metric, part, periods) for part in history if len(part) >= minimum]
        values = [v for v in values if v is not None]
        if len(values) < 3:
            judged.reason = f"{len(values)} earlier days with enough rows, fewer than 3"
            return judged, current, base, base_periods
        median = float(np.median(values))
        mad = float(np.median(np.abs(np.asarray(values) - median)))
        scale = math.hypot(1.4826 * mad, _sampling_se(metric, current, periods)) or 1e-9
        judged.baseline = median
        judged.score = judged.z = sign * (judged.value - median) / scale
        reached = rule.level_of(judged.score)
    judged.status = "firing" if reached else "ok"
    judged.severity = reached
    return judged, current, base, base_periods


def judge(rule: Rule, metric: Metric, rows: RuleRows, hour: dt.datetime) -> Judgement:
    """The rule at a batch hour. Pooled: the window's one judgement. Consecutive: firing only
    if every hour fires (at the lowest severity among them), insufficient if any hour is."""
    results = [judge_unit(rule, metric, rows, unit) for unit in window_units(rule, hour)]
    judgements = [r[0] for r in results]
    last = judgements[-1]
    if any(j.status == "insufficient" for j in judgements):
        worst = next(j for j in judgements if j.status == "insufficient")
        out = Judgement(rule.name, hour, "insufficient", reason=worst.reason, sample=last.sample)
    elif all(j.status == "firing" for j in judgements):
        severity = min((j.severity for j in judgements), key=SEVERITIES.index)
        out = Judgement(rule.name, hour, "firing", severity=severity)
    else:
        out = Judgement(rule.name, hour, "ok")
    out.value, out.baseline, out.score, out.z = last.value, last.baseline, last.score, last.z
    out.sample = sum(j.sample for j in judgements)
    out.window = (judgements[0].window[0], last.window[1])
    if out.status == "firing":
        unit_hours = [h for unit in window_units(rule, hour) for h in unit]
        current = rows.take(unit_hours)
        base = pd.concat([r[2] for r in results])
        base_periods = sum(r[3] for r in results)
        out.segments = explain(metric, current, base, len(unit_hours), base_periods, rule.where)
    return out


def _segment_masks(metric: Metric, frame: pd.DataFrame, fixed: dict) -> dict[tuple, np.ndarray]:
    """Candidate segments: every value of every dimension, and every pair of them."""
    singles: dict[tuple, np.ndarray] = {}
    for dim in metric.dimensions:
        if dim in fixed or dim not in frame:
            continue
        if dim == "step":
            for k in range(2, len(FUNNEL_STEPS) + 1):
                singles[((dim, FUNNEL_STEPS[k - 1]),)] = (frame["step"] >= k).to_numpy()
        else:
            for v in frame[dim].dropna().unique():
                singles[((dim, str(v)),)] = (frame[dim] == v).to_numpy()
    masks = dict(singles)
    for (a, mask_a), (b, mask_b) in combinations(singles.items(), 2):
        if a[0][0] != b[0][0]:
            both = mask_a & mask_b
            if both.sum() >= 3:
                masks[a + b] = both
    return masks


def _counterfactual(
    metric: Metric, cur: pd.DataFrame, in_cur: np.ndarray, base: pd.DataFrame,
    in_base: np.ndarray, periods: int, base_periods: int,
) -> float | None:  # fmt: skip
    """The window's value had the segment behaved as in the baseline (keeping its volume)."""
    if metric.kind == "count":
        return (len(cur) - in_cur.sum()) / periods + in_base.sum() / base_periods
    if not in_base.any():
        return None
    x = cur[metric.column].to_numpy(dtype=float)
    b = base[metric.column].to_numpy(dtype=float)
    if metric.kind == "mean":
        return (x[~in_cur].sum() + in_cur.sum() * b[in_base].mean()) / len(x)
    values = np.concatenate([x[~in_cur], b[in_base]])
    weights = np.concatenate(
        [np.ones((~in_cur).sum()), np.full(in_base.sum(), in_cur.sum() / in_base.sum())]
    )
    return weighted_quantile(values, weights, metric.q)


def explain(
    metric: Metric, cur: pd.DataFrame, base: pd.DataFrame, periods: int, base_periods: int,
    fixed: dict, top: int = 5,
) -> list[dict]:  # fmt: skip
    """The segments that explain the change from the baseline to the window: for each, the share
    of the change that disappears if that segment alone had behaved as in the baseline. A
    segment inside another replaces it when it explains at least half of it and the rest of the
    broader one explains at most a fifth: "mobile checkout"
    rather than "mobile"."""
    now, before = value(metric, cur, periods), value(metric, base, base_periods)
    if now is None or before is None or math.isclose(now, before) or cur.empty:
        return []
    both = pd.concat([cur, base], ignore_index=True)
    is_cur = np.arange(len(both)) < len(cur)

    def share_of(mask: np.ndarray) -> float | None:
        in_cur, in_base = mask[is_cur], mask[~is_cur]
        cf = _counterfactual(metric, cur, in_cur, base, in_base, periods, base_periods)
        return None if cf is None else (now - cf) / (now - before)

    found = []
    for segment, mask in _segment_masks(metric, both, fixed).items():
        if mask[is_cur].sum() < 3:
            continue
        share = share_of(mask)
        if share is not None and share >= 0.05:
            found.append((share, segment, mask))
    found.sort(key=lambda f: (-f[0], len(f[1])))
    found = found[:40]

    def replaced(share: float, segment: tuple, mask: np.ndarray) -> bool:
        """A narrower segment inside this one explains nearly all of it (and the rest of this
        one explains little): report the narrower one instead."""
        for o_share, other, o_mask in found:
            if other is segment or o_share < 0.5 * share or (o_mask & ~mask).any():
                continue
            rest = mask & ~o_mask
            if not rest.any():
                if len(other) > len(segment):
                    return True
                continue
            rest_share = share_of(rest)
            if rest_share is None or rest_share <= 0.2 * share:
                return True
        return False

    kept = [f for f in found if not replaced(*f)]
    out = []
    for share, segment, mask in kept[:top]:
        in_cur, in_base = mask[is_cur], mask[~is_cur]
        where = {**fixed, **dict(segment)}
        out.append(
            {
                "segment": where,
                "label": " & ".join(
                    f"{d}={','.join(v) if isinstance(v, list) else v}" for d, v in where.items()
                ),
                "share_of_change": round(float(share), 3),
                "value": _rounded(value(metric, cur[in_cur], periods)),
                "baseline": _rounded(value(metric, base[in_base], base_periods)),
                "rows": int(in_cur.sum()),
            }
        )
    return out


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(float(x), 2)
