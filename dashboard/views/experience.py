"""Experience ↔ sentiment: NPS and CSAT by the page-load time and errors people met in the 24
hours before they answered, with response counts and small-sample flags."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboard.data import Snapshot
from dashboard.filters import Filters

BUCKET_ORDER = ["<1s", "1-2s", "2-4s", ">=4s", "no page loads"]


def render(snap: Snapshot, f: Filters) -> None:
    st.title("Experience ↔ sentiment")
    st.caption(
        "marts.kpi_sentiment_by_experience — each answer with the experience of the person's "
        "sessions in the 24 h before it (all dates: the mart is not split by day). Bars of "
        "fewer responses than min_sample_size are pale."
    )
    devices = snap.query(
        "select distinct device_type from marts.kpi_sentiment_by_experience order by 1"
    )["device_type"].tolist()
    device = st.selectbox("Device", devices, key="experience_device") if devices else None
    rows = snap.query(
        "select * from marts.kpi_sentiment_by_experience where device_type = ?", (device,)
    )
    if rows.empty:
        st.info("No survey answers with sessions before them yet.")
        return
    rows["error"] = rows["had_error"].map({True: "had an error", False: "no error"})
    for score, count, flag, title in (
        ("nps", "nps_responses", "nps_sample_too_small", "NPS"),
        ("csat_pct", "csat_responses", "csat_sample_too_small", "CSAT (% satisfied)"),
    ):
        st.subheader(title)
        st.altair_chart(
            alt.Chart(rows.dropna(subset=[score])).mark_bar().encode(
                x=alt.X("latency_bucket:N", sort=BUCKET_ORDER, title="p75 page load before"),
                xOffset="error:N",
                y=alt.Y(f"{score}:Q", title=title),
                color=alt.Color("error:N", title=None),
                opacity=alt.condition(f"datum.{flag}", alt.value(0.35), alt.value(1.0)),
                tooltip=["latency_bucket", "error", score, count, flag],
            ).properties(height=240),
            width="stretch",
        )  # fmt: skip
    st.dataframe(rows.drop(columns=["error"]), hide_index=True, width="stretch")


if __name__ == "__main__":
    from dashboard.views import context

    render(*context())
