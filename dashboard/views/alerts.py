"""Alerts: open and recent alerts with the segments that explain them, each linking to the
Segments page filtered to that segment, KPI and day."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from alerts.notify import segment_line
from dashboard import kpis
from dashboard.data import Snapshot
from dashboard.filters import DIMENSIONS, Filters

RECENT = 50


def segments_link(alert: pd.Series, explained: list[dict]) -> dict[str, str]:
    """The Segments page's URL parameters for an alert: its KPI, at hour grain, the days it
    spans, and the dimension of its top explaining segment (when it is one the marts have)."""
    last = alert["resolved_hour"] if pd.notna(alert["resolved_hour"]) else alert["last_hour"]
    params = {
        "kpi": kpis.ALERT_METRIC_KPI.get(alert["metric"], "conversion_rate_pct"),
        "grain": "hour",
        "from": f"{alert['opened_hour']:%Y-%m-%d}",
        "to": f"{(last if pd.notna(last) else alert['opened_hour']):%Y-%m-%d}",
    }
    for dim, value in explained[0]["segment"].items() if explained else []:
        if dim in DIMENSIONS and not isinstance(value, list):
            params.update(dim=dim, values=str(value))
            break
    return params


def explaining_segments(alert: pd.Series) -> list[dict]:
    return json.loads(alert["segments"]) if alert["segments"] else []


def render(snap: Snapshot, f: Filters) -> None:
    st.title("Alerts")
    st.caption("status.alerts (ops.alerts as of this snapshot) — rules in docs/alerts.md")
    alerts = snap.query(f"select * from status.alerts order by opened_hour desc limit {RECENT}")
    opened = alerts[alerts["status"] == "open"]
    st.metric("Open alerts", len(opened))
    if alerts.empty:
        st.success("No alert has fired.")
        return
    for _, alert in alerts.iterrows():
        resolved = (
            f"resolved {alert['resolved_hour']:%Y-%m-%d %H}:00"
            if pd.notna(alert["resolved_hour"]) else "**open**"
        )  # fmt: skip
        with st.container(border=True):
            st.markdown(
                f"**{alert['severity'].upper()} · {alert['rule']}** — opened "
                f"{alert['opened_hour']:%Y-%m-%d %H}:00 UTC, {resolved}"
                + (
                    f", escalated {alert['escalated_at']:%Y-%m-%d %H:%M}"
                    if pd.notna(alert["escalated_at"])
                    else ""
                )  # fmt: skip
            )
            st.markdown(f"{alert['description']}")
            explained = explaining_segments(alert)
            lines = "\n".join(f"- {segment_line(s)}" for s in explained[:3])
            st.markdown(
                f"Value {alert['opened_value']:,.2f} when opened, baseline "
                f"{alert['baseline']:,.2f}. Explained by:\n"
                + (lines or "no single segment explains it")
            )
            link = segments_link(alert, explained)
            where = f"{link['dim']} = {link['values']}, " if "dim" in link else ""
            unsplit = sorted(
                {d for d in (explained[0]["segment"] if explained else {}) if d not in DIMENSIONS}
            )
            if unsplit:  # e.g. page: alerts judge page views, the KPI marts do not split by page
                st.caption(
                    f"The KPI marts are not split by {', '.join(unsplit)}: the link shows "
                    f"{where or 'everyone, '}over all of them."
                )
            st.page_link(
                "views/segments.py", query_params=link, icon=":material/query_stats:",
                label=f"Segments: {where}{kpis.KPIS[link['kpi']].label} by hour, "
                f"{link['from']} to {link['to']}",
            )  # fmt: skip


if __name__ == "__main__":
    from dashboard.views import context

    render(*context())
