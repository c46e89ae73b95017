"""Retention: weekly cohorts (the week people were first seen) and the share active in each
week after."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.data import Snapshot
from dashboard.filters import Filters

MEASURES = {
    "active_on_pct": "active in week N",
    "active_on_or_after_pct": "active in week N or later",
}


def render(snap: Snapshot, f: Filters) -> None:
    st.title("Retention")
    st.caption(
        "marts.kpi_retention_weekly — cohorts by the week (Monday, UTC) a person was first "
        "seen, every cohort up to the chosen end date (retention reads back from there). The "
        "newest weeks are partial."
    )
    measure = st.radio(
        "Measure", list(MEASURES), format_func=MEASURES.get, horizontal=True, key="retention_m"
    )
    rows = snap.query(
        "select * from marts.kpi_retention_weekly where cohort_week < ? "
        "order by cohort_week, week_number",
        (f.end_exclusive,),
    )
    if rows.empty:
        st.info("No cohorts in this date range.")
        return
    rows["cohort_week"] = pd.to_datetime(rows["cohort_week"]).dt.strftime("%Y-%m-%d")
    rows["cohort"] = rows["cohort_week"] + " (" + rows["cohort_users"].map("{:,}".format) + ")"
    base = alt.Chart(rows).encode(
        x=alt.X("week_number:O", title="weeks after the first", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("cohort:O", title="cohort week (people)"),
    )
    heat = base.mark_rect().encode(
        color=alt.Color(f"{measure}:Q", title="%", scale=alt.Scale(scheme="blues", domain=[0, 100])),
        tooltip=["cohort_week:N", "week_number", "cohort_users", "active_users_on",
                 "active_users_on_or_after", measure],
    )  # fmt: skip
    text = base.mark_text(baseline="middle").encode(text=alt.Text(f"{measure}:Q", format=".1f"))
    st.altair_chart(
        (heat + text).properties(height=40 * rows["cohort"].nunique() + 40), width="stretch"
    )
    st.dataframe(rows.drop(columns=["cohort"]), hide_index=True, width="stretch")


if __name__ == "__main__":
    from dashboard.views import context

    render(*context())
