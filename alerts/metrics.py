"""The metrics alert rules can watch, read row by row from the marts for the hours a rule needs.

Each metric is one of three kinds, computed the same way for a whole window, a segment of it or
a counterfactual (explain.py):
- `mean`: the mean of a per-row value (conversion: 100 or 0 per session, NPS: +100/0/-100 per
  answer). `binary` metrics take two values only, which fixes their sampling error.
- `quantile`: a quantile of a per-row value (p75 page load of the page views).
- `count`: rows per hour (tickets created).

Rows come from the fact marts (fct_sessions, fct_page_views, fct_survey_responses, fct_tickets)
with the segment columns an alert can point at: device, OS, browser, country, plan (at the row's
time, as in the KPI marts: a response's or ticket's device, OS, browser and country are those of
its feedback row in fct_feedback_experience, the person's latest event before it), source (the
person's first touch), step (the furthest funnel step a session reached) and page, survey or
channel where the source has them. Their overall values equal marts.kpi_hourly's, hour by hour
(tests/orchestration/test_pipeline_e2e.py).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from ingestion.settings import funnel_steps

# The funnel's steps (dbt var funnel_steps): `step` segments are nested, "reached at least".
FUNNEL_STEPS = funnel_steps()

SOURCES = {
    "sessions": """
        select date_trunc('hour', s.session_start_at) as hour, s.session_start_at as at,
               coalesce(s.device_type, 'unknown') as device, coalesce(s.country, 'unknown') as country,
               coalesce(s.os, 'unknown') as os, coalesce(s.browser, 'unknown') as browser,
               coalesce(s.plan, 'unknown') as plan, coalesce(u.first_touch_source, 'direct') as source,
               coalesce(s.reached_funnel_step, 1) as step,
               case when s.is_converted then 100.0 else 0.0 end as converted,
               case when s.errors > 0 then 100.0 else 0.0 end as errored,
               case when s.is_bounce then 100.0 else 0.0 end as bounced
        from marts.fct_sessions as s
        left join marts.dim_users as u on s.stitched_user_id = u.stitched_user_id
        where s.session_start_at >= {low} and s.session_start_at < {high}
            and date_trunc('hour', s.session_start_at) in ({hours})""",
    "page_views": """
        select date_trunc('hour', v.viewed_at) as hour, v.viewed_at as at,
               coalesce(v.device_type, 'unknown') as device, coalesce(v.country, 'unknown') as country,
               coalesce(v.os, 'unknown') as os, coalesce(v.browser, 'unknown') as browser,
               coalesce(v.plan, 'unknown') as plan,
               coalesce(u.first_touch_source, 'direct') as source,
               coalesce(v.page_name, 'unknown') as page, v.page_load_ms
        from marts.fct_page_views as v
        left join marts.dim_users as u on v.stitched_user_id = u.stitched_user_id
        where v.page_load_ms is not null and v.viewed_at >= {low} and v.viewed_at < {high}
            and date_trunc('hour', v.viewed_at) in ({hours})""",
    "surveys": """
        select date_trunc('hour', r.created_at) as hour, r.created_at as at,
               coalesce(f.device_type, 'unknown') as device,
               coalesce(f.os, 'unknown') as os, coalesce(f.browser, 'unknown') as browser,
               coalesce(f.country, 'unknown') as country, coalesce(p.plan, 'unknown') as plan,
               coalesce(u.first_touch_source, 'direct') as source, r.survey_id as survey,
               r.survey_type,
               case when r.is_satisfied then 100.0 else 0.0 end as satisfied,
               case r.nps_category when 'promoter' then 100.0 when 'detractor' then -100.0
                    else 0.0 end as nps_points
        from marts.fct_survey_responses as r
        left join marts.fct_feedback_experience as f
            on f.feedback_kind = 'survey' and f.feedback_id = r.response_id
        left join marts.dim_users as u on r.stitched_user_id = u.stitched_user_id
        {plan_at:r.stitched_user_id:r.created_at}
        where date_trunc('hour', r.created_at) in ({hours})""",
    "tickets": """
        select date_trunc('hour', t.created_at) as hour, t.created_at as at,
               coalesce(f.device_type, 'unknown') as device,
               coalesce(f.os, 'unknown') as os, coalesce(f.browser, 'unknown') as browser,
               coalesce(f.country, 'unknown') as country, coalesce(p.plan, 'unknown') as plan,
               coalesce(u.first_touch_source, 'direct') as source,
               coalesce(s.reached_funnel_step, 1) as step, coalesce(t.channel, 'unknown') as channel,
               cast(t.first_reply_minutes as double) as first_reply_minutes
        from marts.fct_tickets as t
        left join marts.fct_feedback_experience as f
            on f.feedback_kind = 'ticket' and f.feedback_id = cast(t.ticket_id as varchar)
        left join marts.fct_sessions as s on t.last_session_id = s.session_id
        left join marts.dim_users as u on t.stitched_user_id = u.stitched_user_id
        {plan_at:t.stitched_user_id:t.created_at}
        where date_trunc('hour', t.created_at) in ({hours})""",
}
DIMENSIONS = {
    "sessions": ("device", "os", "browser", "country", "plan", "source", "step"),
    "page_views": ("device", "os", "browser", "country", "plan", "source", "page"),
    "surveys": ("device", "os", "browser", "country", "plan", "source", "survey"),
    "tickets": ("device", "os", "browser", "country", "plan", "source", "step", "channel"),
}


@dataclass(frozen=True)
class Metric:
    name: str
    source: str
    kind: str  # mean | quantile | count
    column: str | None = None
    q: float = 0.5
    binary: bool = False
    row_filter: tuple[str, str] | None = None  # (column, value) rows must have
    unit: str = ""
    description: str = ""
    # How a row's value can still change after the row appears (what judging a running hour
    # may assume, alerts/engine.py): "final" (a page load, an answer, a ticket's creation),
    # "rises" (a session's conversion or error flag: 0 until it happens; a reply time: none
    # until the reply) or "falls" (a session's bounce flag: set until a second page view).
    settles: str = "final"

    @property
    def dimensions(self) -> tuple[str, ...]:
        return DIMENSIONS[self.source]


METRICS = {
    m.name: m
    for m in (
        Metric("conversion_rate", "sessions", "mean", "converted", binary=True, unit="%",
               settles="rises",
               description="Sessions that converted, % (kpi_hourly.conversion_rate_pct)"),
        Metric("error_rate", "sessions", "mean", "errored", binary=True, unit="%",
               settles="rises",
               description="Sessions with an API error, % (kpi_hourly.error_session_rate_pct)"),
        Metric("bounce_rate", "sessions", "mean", "bounced", binary=True, unit="%",
               settles="falls",
               description="Sessions with one page view, % (kpi_hourly.bounce_rate_pct)"),
        Metric("p75_page_load_ms", "page_views", "quantile", "page_load_ms", q=0.75, unit="ms",
               description="75th percentile page load (kpi_hourly.p75_page_load_ms)"),
        Metric("csat", "surveys", "mean", "satisfied", binary=True, unit="%",
               row_filter=("survey_type", "csat"),
               description="CSAT answers scoring 4-5, % (kpi_hourly.csat_pct)"),
        Metric("nps", "surveys", "mean", "nps_points", row_filter=("survey_type", "nps"),
               description="NPS: % promoters - % detractors (kpi_hourly.nps)"),
        Metric("ticket_volume", "tickets", "count", unit="tickets/h",
               description="Tickets created per hour (kpi_hourly.tickets_created)"),
        Metric("first_reply_minutes", "tickets", "quantile", "first_reply_minutes", q=0.5,
               unit="min", settles="rises",
               description="Median first reply time of the tickets created "
               "(kpi_hourly.median_first_reply_minutes)"),
    )
}  # fmt: skip


HOUR = dt.timedelta(hours=1)
_PLAN_AT = re.compile(r"\{plan_at:([\w.]+):([\w.]+)\}")


def _plan_at(match: re.Match) -> str:
    """The join of the plan the person was on at the row's time (dbt's join_plan_at macro)."""
    person, at = match.groups()
    return (
        f"left join intermediate.int_identity__plans as p on p.stitched_user_id = {person} "
        f"and p.valid_from_at <= {at} and (p.valid_to_at is null or {at} < p.valid_to_at)"
    )


def fetch(con: duckdb.DuckDBPyConnection, source: str, hours: list[dt.datetime]) -> pd.DataFrame:
    """The rows of `source` in the given UTC hours (naive UTC timestamps in column `hour`)."""
    if not hours:
        hours = [dt.datetime(1970, 1, 1)]
    hours = sorted({h.replace(minute=0, second=0, microsecond=0) for h in hours})
    listed = ", ".join(f"timestamp '{h:%Y-%m-%d %H:00:00}'" for h in hours)
    # The range as well as the list: DuckDB skips the blocks outside it (the facts are stored in
    # time order) instead of truncating every row's timestamp.
    low, high = (f"timestamp '{h:%Y-%m-%d %H:00:00}'" for h in (hours[0], hours[-1] + HOUR))
    sql = _PLAN_AT.sub(_plan_at, SOURCES[source]).format(hours=listed, low=low, high=high)
    frame = con.execute(sql).df()
    frame["hour"] = pd.to_datetime(frame["hour"])
    frame["at"] = pd.to_datetime(frame["at"])
    return frame


def matches(frame: pd.DataFrame, where: dict[str, str | list[str]]) -> pd.Series:
    """Rows inside a segment: {dimension: value or values}; `step` means reached at least."""
    mask = pd.Series(True, index=frame.index)
    for dim, wanted in where.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if dim == "step":
            mask &= frame["step"] >= min(FUNNEL_STEPS.index(v) + 1 for v in values)
        else:
            mask &= frame[dim].isin(values)
    return mask


def rows_for(metric: Metric, frame: pd.DataFrame, where: dict | None = None) -> pd.DataFrame:
    """The metric's rows: its own filter (e.g. CSAT answers only), the rule's segment filter,
    and (for mean/quantile) a value present."""
    mask = pd.Series(True, index=frame.index)
    if metric.row_filter:
        mask &= frame[metric.row_filter[0]] == metric.row_filter[1]
    if where:
        mask &= matches(frame, where)
    if metric.column and metric.kind != "count":
        mask &= frame[metric.column].notna()
    return frame[mask]


def value(metric: Metric, rows: pd.DataFrame, periods: int = 1) -> float | None:
    """The metric over rows spanning `periods` hours (None without rows, except counts)."""
    if metric.kind == "count":
        return len(rows) / periods
    if rows.empty:
        return None
    values = rows[metric.column].to_numpy(dtype=float)
    if metric.kind == "mean":
        return float(values.mean())
    return float(np.quantile(values, metric.q))


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The q-quantile of values with weights (a step function: the first value whose
    cumulative weight reaches q of the total)."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, q * cumulative[-1]))
    return float(values[order][min(index, len(values) - 1)])
