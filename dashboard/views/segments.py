"""Segments: one KPI broken down by device, OS, browser, country, plan and first-touch source,
its trend per value of the chosen dimension, and the segments that moved most."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import kpis
from dashboard.data import Snapshot
from dashboard.filters import DIMENSIONS, Filters
from dashboard.views.overview import period_rows, trend_chart

# The marts' KPIs by segment (ces and churn exist for the whole day only).
SEGMENT_KPIS = ("conversion_rate_pct", "p75_page_load_ms", "error_session_rate_pct", "nps",
                "csat_pct", "tickets_created", "median_first_reply_minutes", "sessions",
                "active_users", "bounce_rate_pct")  # fmt: skip


# Two decimals on screen (the frames keep the marts' values).
NUMBERS = {
    name: st.column_config.NumberColumn(format="%.2f")
    for name in ["before", "value", "change", *(k.label for k in kpis.KPIS.values())]
}


def latest_by_segment(snap: Snapshot, f: Filters, column: str) -> pd.DataFrame:
    """Every segment's value in the latest period of the range and the period before it (the
    day before; at hour grain the same hour a day before), with its sessions."""
    table, period = (
        ("kpi_daily_by_segment", "kpi_date") if f.grain == "day"
        else ("kpi_hourly_by_segment", "kpi_hour")
    )  # fmt: skip
    return snap.query(
        f"""
        with latest as (
            select max({period}) as at from marts.{table}
            where {period} >= ? and {period} < ? and segment_type = 'overall'
        )
        select now.segment_type, now.segment_value, now.sessions, now.{column} as value,
               before.{column} as before, now.{period} as period
        from marts.{table} as now
        cross join latest
        left join marts.{table} as before
            on before.segment_type = now.segment_type
            and before.segment_value = now.segment_value
            and before.{period} = latest.at - interval 1 day
        where now.{period} = latest.at and now.segment_type <> 'overall'
        order by 1, 2
        """,
        (f.start, f.end_exclusive),
    )


def render(snap: Snapshot, f: Filters) -> None:
    st.title("Segments")
    asked = st.query_params.get("kpi")  # a link's KPI (from Alerts), unless the widget wrote it
    if asked in SEGMENT_KPIS and asked != st.session_state.get("_segments_kpi_url"):
        st.session_state["segments_kpi"] = asked
    column = st.selectbox(
        "KPI", SEGMENT_KPIS, format_func=lambda c: kpis.KPIS[c].label, key="segments_kpi"
    )
    st.query_params["kpi"] = st.session_state["_segments_kpi_url"] = column
    kpi = kpis.KPIS[column]
    st.caption(f"marts.kpi_{'daily' if f.grain == 'day' else 'hourly'}_by_segment.{column}")
    if f.dim != "overall":
        st.subheader(f"{kpi.label} by {f.dim}")
        st.altair_chart(
            trend_chart(period_rows(snap, f, [column]), column, kpi.label), width="stretch"
        )
    latest = latest_by_segment(snap, f, column)
    if latest.empty:
        st.info("No rows in this date range.")
        return
    at = pd.Timestamp(latest["period"].iloc[0])
    st.subheader(f"{at:%Y-%m-%d}{'' if f.grain == 'day' else f' {at:%H}:00'} UTC by segment")
    latest["change"] = latest["value"] - latest["before"]
    cols = st.columns(3)
    for i, dim in enumerate(d for d in DIMENSIONS if d != "overall"):
        part = latest[latest["segment_type"] == dim][
            ["segment_value", "value", "change", "sessions"]
        ]
        with cols[i % 3]:
            st.markdown(f"**{dim}**")
            st.dataframe(
                part.rename(columns={"segment_value": dim, "value": kpi.label}),
                hide_index=True, width="stretch", column_config=NUMBERS,
            )  # fmt: skip
    st.subheader("Top movers against the period before")
    movers = latest.dropna(subset=["change"]).copy()
    movers = movers.reindex(movers["change"].abs().sort_values(ascending=False).index).head(10)
    st.dataframe(
        movers[["segment_type", "segment_value", "before", "value", "change", "sessions"]],
        hide_index=True, width="stretch", column_config=NUMBERS,
    )  # fmt: skip
    st.caption(
        "Change = value − the period before, from the mart's rows; a segment with few sessions "
        "moves by chance (the alert rules test significance: docs/alerts.md)."
    )


if __name__ == "__main__":
    from dashboard.views import context

    render(*context())
