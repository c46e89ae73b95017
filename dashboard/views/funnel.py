"""Funnel: step conversion and drop-off by entry day, over time and split by a segment. An entry
day whose funnel window is still open (is_incomplete) is marked: its later steps can still
fill in, so its drop is not a drop yet."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.data import Snapshot
from dashboard.filters import Filters
from ingestion.settings import funnel_steps

STEP_PCTS = {"step_1_to_2_pct": "1 → 2", "step_2_to_3_pct": "2 → 3",
             "step_3_to_4_pct": "3 → 4", "step_4_to_5_pct": "4 → 5"}  # fmt: skip
PCT = {label: st.column_config.NumberColumn(format="%.1f %%") for label in
       [*STEP_PCTS.values(), "overall_conversion_pct"]}  # fmt: skip


def funnel_rows(snap: Snapshot, f: Filters) -> pd.DataFrame:
    where, params = f.segment_where()
    rows = snap.query(
        f"select * from marts.kpi_funnel_daily where {where} and entry_date >= ? "
        "and entry_date < ? order by entry_date, segment_value",
        tuple(params + [f.start, f.end_exclusive]),
    )
    rows["entry_date"] = pd.to_datetime(rows["entry_date"])
    return rows


def render(snap: Snapshot, f: Filters) -> None:
    st.title("Funnel")
    st.caption(
        f"marts.kpi_funnel_daily — {f.label}; steps of var funnel_steps, in order, within the "
        "funnel window of the entry (docs/metrics.md)"
    )
    rows = funnel_rows(snap, f)
    if rows.empty:
        st.info("No funnel entries in this date range.")
        return
    complete = rows[~rows["is_incomplete"]]
    open_days = rows["is_incomplete"].sum()
    if open_days:
        st.warning(
            f"{open_days} of {len(rows)} rows have an open funnel window (is_incomplete): later "
            "steps may still come, so their conversion is a floor. They are drawn hollow."
        )
    picked = complete if not complete.empty else rows
    latest_day = picked["entry_date"].max()
    st.subheader(
        f"Entries of {latest_day:%Y-%m-%d}"
        + (" (window still open)" if complete.empty else " (latest complete entry day)")
    )
    latest = picked[picked["entry_date"] == latest_day]
    steps = latest.melt(
        id_vars=["segment_value"], value_vars=[f"step_{k}_users" for k in range(1, 6)],
        var_name="step", value_name="users",
    )  # fmt: skip
    names = funnel_steps()
    steps["step"] = [
        f"{k} {names[k - 1]}" for k in steps["step"].str.extract(r"step_(\d)")[0].astype(int)
    ]
    st.altair_chart(
        alt.Chart(steps).mark_bar().encode(
            x=alt.X("step:O", title=None, axis=alt.Axis(labelAngle=0)), y=alt.Y("users:Q"),
            color=alt.Color("segment_value:N", title=None), xOffset="segment_value:N",
            tooltip=["segment_value", "step", "users"],
        ).properties(height=240),
        width="stretch",
    )  # fmt: skip
    drop = latest[["segment_value", *STEP_PCTS, "overall_conversion_pct"]].rename(columns=STEP_PCTS)
    st.dataframe(drop, hide_index=True, width="stretch", column_config=PCT)
    st.subheader("Step conversion over time")
    long = rows.melt(
        id_vars=["entry_date", "segment_value", "is_incomplete"], value_vars=list(STEP_PCTS),
        var_name="step", value_name="pct",
    )  # fmt: skip
    long["step"] = long["step"].map(STEP_PCTS)
    long["series"] = long["segment_value"] + " " + long["step"]
    st.altair_chart(
        alt.Chart(long).mark_line(point=True).encode(
            x=alt.X("entry_date:T", title=None),
            y=alt.Y("pct:Q", title="% of the previous step"),
            color=alt.Color("series:N", title=None),
            fill=alt.condition("datum.is_incomplete", alt.value("white"), alt.Color("series:N")),
            tooltip=["entry_date:T", "segment_value", "step", "pct", "is_incomplete"],
        ).properties(height=280),
        width="stretch",
    )  # fmt: skip


if __name__ == "__main__":
    from dashboard.views import context

    render(*context())
