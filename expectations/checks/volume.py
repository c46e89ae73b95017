"""Volume: the events that arrived in each hour of the window against the same hours of earlier
days and weeks."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path

import great_expectations.expectations as gxe
import pandas as pd

from expectations import gx_runner
from expectations.checks.batch import delivered
from expectations.checks.outcome import CheckOutcome, expect, outcome, rules
from expectations.gx_runner import WARN, Validation


def hourly_counts(con, hours: Sequence[dt.datetime] | None = None) -> pd.Series:
    """Rows of raw.events per hour of arrival (received_at, UTC), every hour from the first to the
    last (0 where none arrived). With `hours` (naive UTC): those of them in that span only, each
    counted over its own time range, so that DuckDB reads only their blocks (raw.events is
    appended in arrival order): a month of events grouped by hour is a 0.65 s scan."""
    if not delivered(con, "raw.events"):  # no event file read yet
        return pd.Series(dtype="int64")
    if hours is None:
        frame = con.execute(
            "select date_trunc('hour', received_at at time zone 'UTC') as hour, count(*) as n "
            "from raw.events group by 1 order by 1"
        ).df()
        if frame.empty:
            return pd.Series(dtype="int64")
        series = frame.set_index("hour")["n"]
        full = pd.date_range(series.index.min(), series.index.max(), freq="h")
        return series.reindex(full, fill_value=0)
    first, last = con.execute(
        "select date_trunc('hour', min(received_at) at time zone 'UTC'), "
        "date_trunc('hour', max(received_at) at time zone 'UTC') from raw.events"
    ).fetchone()
    if first is None:
        return pd.Series(dtype="int64")
    wanted = sorted({pd.Timestamp(h) for h in hours} & set(pd.date_range(first, last, freq="h")))
    if not wanted:
        return pd.Series(dtype="int64")
    counts = " union all ".join(
        f"select timestamp '{h:%Y-%m-%d %H:00:00}' as hour, count(*) as n from raw.events "
        f"where received_at >= timestamptz '{h:%Y-%m-%d %H:00:00}+00' "
        f"and received_at < timestamptz '{h + pd.Timedelta(hours=1):%Y-%m-%d %H:00:00}+00'"
        for h in wanted
    )
    frame = con.execute(f"select * from ({counts}) order by hour").df()
    return frame.set_index(pd.DatetimeIndex(frame["hour"]))["n"].rename_axis(None)


def _naive_hour(hour: dt.datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(hour)
    return stamp.tz_localize(None) if stamp.tzinfo else stamp


def _baseline_candidates(hour: pd.Timestamp, cfg: dict) -> list[list[pd.Timestamp]]:
    """The hours a baseline may come from, in order of preference: the same hour of the week on
    the earlier weeks, else the same hour of the day on the earlier days."""
    return [
        [hour - k * step for k in range(1, limit + 1)]
        for step, limit in (
            (pd.Timedelta(days=7), cfg["weeks"]),
            (pd.Timedelta(days=1), cfg["fallback_days"]),
        )
    ]


def baseline_hours(hours: Sequence[dt.datetime], cfg: dict) -> list[pd.Timestamp]:
    """The hours volume_profile reads for `hours`: each, and every hour its baseline may come from."""
    needed = set()
    for hour in map(_naive_hour, hours):
        needed.add(hour)
        for candidates in _baseline_candidates(hour, cfg):
            needed.update(candidates)
    return sorted(needed)


def volume_profile(counts: pd.Series, hours: Sequence[dt.datetime], cfg: dict) -> pd.DataFrame:
    """Per hour checked: observed rows, the baseline (median, MAD of the same hour of the week
    in earlier weeks, or of the same hour of the day on earlier days while too few weeks exist)
    and the bounds outside which it fails."""
    rows = []
    for hour in map(_naive_hour, hours):
        history, basis = [], "same hour of week"
        for candidates in _baseline_candidates(hour, cfg):
            history = [counts[h] for h in candidates if h in counts.index]
            if len(history) >= cfg["min_history"]:
                break
            basis = "same hour of day"
        observed = int(counts.get(hour, 0))
        median = float(pd.Series(history).median()) if history else math.nan
        mad = float((pd.Series(history) - median).abs().median()) if history else math.nan
        judged = len(history) >= cfg["min_history"] and median >= cfg["min_rows"]
        spread = cfg["mad_limit"] * 1.4826 * mad if judged else math.nan
        # Events come in sessions, not one by one: an hour's count varies `dispersion` times
        # more than a Poisson count of the same mean, which the few baseline hours' MAD can miss.
        noise = cfg["noise_z"] * math.sqrt(cfg["dispersion"] * median) if judged else math.nan
        rows.append({
            "hour": hour.strftime("%Y-%m-%d %H:00"), "observed": observed,
            "baseline_median": median, "baseline_mad": mad, "history_hours": len(history),
            "basis": basis if judged else "not judged (history or volume too small)",
            "lower": min(cfg["drop_ratio"] * median, median - spread, median - noise)
            if judged else -math.inf,
            "upper": max(cfg["spike_ratio"] * median, median + spread, median + noise)
            if judged else math.inf,
        })  # fmt: skip
    return pd.DataFrame(rows)


def volume_check(con, gx_dir: Path, hours: Sequence[dt.datetime]) -> CheckOutcome:
    """raw.events rows per hour of arrival within the learned baseline (WARN)."""
    cfg = rules()["volume"]
    frame = volume_profile(hourly_counts(con, baseline_hours(hours, cfg)), hours, cfg)
    expectations = [
        expect(gxe.ExpectColumnPairValuesAToBeGreaterThanB, WARN,
                f"no drop to {cfg['drop_ratio']:.0%} of the baseline median or below",
                column_A="observed", column_B="lower"),
        expect(gxe.ExpectColumnPairValuesAToBeGreaterThanB, WARN,
                f"no spike to {cfg['spike_ratio']:g}x the baseline median or above",
                column_A="upper", column_B="observed"),
    ]  # fmt: skip
    run = gx_runner.run(gx_dir, [Validation("raw_events.volume", frame, expectations)])
    bad = frame[(frame["observed"] <= frame["lower"]) | (frame["observed"] >= frame["upper"])]
    problems = [
        f"{r.hour}: {r.observed} rows, baseline median {r.baseline_median:g} "
        f"(MAD {r.baseline_mad:g}, {r.basis}), allowed {r.lower:g}..{r.upper:g}"
        for r in bad.itertuples()
    ]
    judged = frame[frame["upper"] != math.inf]
    return outcome(
        "raw/events", "volume", run,
        f"{len(judged)} of {len(frame)} hours judged, all within their baseline", problems,
        max_severity=WARN,
        observed={r.hour: r.observed for r in frame.itertuples()},
        expected={r.hour: {"median": r.baseline_median, "mad": r.baseline_mad,
                           "lower": None if r.lower == -math.inf else r.lower,
                           "upper": None if r.upper == math.inf else r.upper,
                           "basis": r.basis} for r in frame.itertuples()},
    )  # fmt: skip
