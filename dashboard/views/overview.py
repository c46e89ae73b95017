"""Overview: the headline KPIs of the latest period against the one before, and their trends."""

from __future__ import annotations

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import kpis
from dashboard.data import Snapshot
from dashboard.filters import Filters


def period_rows(snap: Snapshot, f: Filters, columns: list[str], lead_days: int = 0) -> pd.DataFrame:
    """The rows of kpi_daily/kpi_hourly (or their *_by_segment marts when a segment is chosen)
    in the date range (starting `lead_days` earlier), with a `period` and a `segment` column."""
    table, period = ("kpi_daily", "kpi_date") if f.grain == "day" else ("kpi_hourly", "kpi_hour")
    flags = sorted({k.small_sample_flag for k in kpis.KPIS.values() if k.small_sample_flag})
    wanted = ", ".join(dict.fromkeys([*columns, *flags]))
    start = f.start - dt.timedelta(days=lead_days)
    if f.dim == "overall":
        sql = (
            f"select {period} as period, 'all' as segment, {wanted} from marts.{table} "
            f"where {period} >= ? and {period} < ? order by 1"
        )
        params = [start, f.end_exclusive]
    else:
        where, params = f.segment_where()
        sql = (
            f"select {period} as period, segment_value as segment, {wanted} "
            f"from marts.{table}_by_segment where {where} and {period} >= ? and {period} < ? "
            "order by 1, 2"
        )
        params += [start, f.end_exclusive]
    rows = snap.query(sql, tuple(params))
    rows["period"] = pd.to_datetime(rows["period"])
    return rows


def _tiles(rows: pd.DataFrame, f: Filters) -> None:
    """One tile per KPI: the latest period of the range against the period before it (the day
    before; at hour grain the same hour a day before, as hours of a day differ by nature)."""
    if rows.empty:
        st.info("No KPI rows in this date range.")
        return
    segment = rows["segment"].iloc[0] if rows["segment"].nunique() == 1 else None
    if segment is None:
        st.caption(
            "Several segments chosen: the tiles show all users; the trends show each segment."
        )
    latest_at = rows["period"].max()
    before_at = latest_at - pd.Timedelta(days=1)
    step = "day" if f.grain == "day" else "same hour a day"
    st.markdown(
        f"**{latest_at:%Y-%m-%d}{'' if f.grain == 'day' else f' {latest_at:%H}:00'} UTC**"
        f" against the {step} before"
        + ("" if segment is None or f.dim == "overall" else f" — {f.dim} = {segment}")
    )
    if segment is None:
        return
    latest = rows[rows["period"] == latest_at].iloc[0]
    before = rows[rows["period"] == before_at]
    before = before.iloc[0] if not before.empty else None
    mart = "kpi_daily" if f.grain == "day" else "kpi_hourly"
    mart += "_by_segment" if f.dim != "overall" else ""
    for names in (kpis.TILES[:4], kpis.TILES[4:]):
        for col, name in zip(st.columns(4), names, strict=False):
            kpi = kpis.KPIS[name]
            small = kpi.small_sample_flag and bool(latest[kpi.small_sample_flag])
            col.metric(
                kpi.label + (" (small sample)" if small else ""),
                kpi.show(latest[name]),
                None if before is None else kpi.change(latest[name], before[name]),
                delta_color="normal" if kpi.higher_is_better else "inverse",
                help=f"marts.{mart}.{name}"
                + (": fewer responses than min_sample_size" if small else ""),
                border=True,
            )


def trend_chart(rows: pd.DataFrame, column: str, title: str) -> alt.Chart:
    return (
        alt.Chart(rows, title=title)
        .mark_line(point=alt.OverlayMarkDef(size=12))
        .encode(
            x=alt.X("period:T", title=None),
            y=alt.Y(f"{column}:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color("segment:N", title=None),
            tooltip=["period:T", "segment:N", alt.Tooltip(f"{column}:Q", format=",.2f")],
        )
        .properties(height=220)
    )


def render(snap: Snapshot, f: Filters) -> None:
    st.title("Overview")
    st.caption(f"{f.label}, {f.start} to {f.end}, by {f.grain}")
    tile_filters = f if (f.dim == "overall" or len(f.values) == 1) else Filters(
        f.start, f.end, f.grain, "overall", ()
    )  # fmt: skip
    _tiles(period_rows(snap, tile_filters, list(kpis.TILES), lead_days=1), tile_filters)
    st.subheader("Trends")
    chosen = st.multiselect(
        "KPIs", list(kpis.KPIS), default=["conversion_rate_pct", "p75_page_load_ms", "csat_pct"],
        format_func=lambda c: kpis.KPIS[c].label, key="overview_kpis",
    )  # fmt: skip
    rows = period_rows(snap, f, chosen or list(kpis.TILES))
    for column in chosen:
        st.altair_chart(trend_chart(rows, column, kpis.KPIS[column].label), width="stretch")


if __name__ == "__main__":
    from dashboard.views import context

    render(*context())
