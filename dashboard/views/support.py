"""Support: ticket volume, first reply and resolution times (median and p90), reopens, and
satisfaction after an error."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.data import Snapshot
from dashboard.filters import Filters


def _lines(rows: pd.DataFrame, columns: dict[str, str], title: str) -> alt.Chart:
    long = rows.melt(id_vars=["ticket_date"], value_vars=list(columns), var_name="measure")
    long["measure"] = long["measure"].map(columns)
    return (
        alt.Chart(long, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("ticket_date:T", title=None), y=alt.Y("value:Q", title=None),
            color=alt.Color("measure:N", title=None),
            tooltip=["ticket_date:T", "measure", alt.Tooltip("value:Q", format=",.1f")],
        )
        .properties(height=220)
    )  # fmt: skip


def render(snap: Snapshot, f: Filters) -> None:
    st.title("Support")
    st.caption(
        "marts.kpi_support_daily — tickets by the day they were created (recent days fill in "
        "as tickets get replies and solves)"
    )
    rows = snap.query(
        "select * from marts.kpi_support_daily where ticket_date >= ? and ticket_date < ? "
        "order by ticket_date",
        (f.start, f.end_exclusive),
    )
    if rows.empty:
        st.info("No tickets in this date range.")
        return
    rows["ticket_date"] = pd.to_datetime(rows["ticket_date"])
    total = rows[
        ["tickets_created", "tickets_solved", "tickets_reopened", "tickets_after_error"]
    ].sum()
    cols = st.columns(4)
    cols[0].metric("Tickets created", f"{total['tickets_created']:,}")
    cols[1].metric("Solved", f"{total['tickets_solved']:,}")
    cols[2].metric("Reopened", f"{total['tickets_reopened']:,}")
    cols[3].metric("After an error", f"{total['tickets_after_error']:,}")
    st.caption("Counts summed over the dates; times and shares below are per day, from the mart.")
    st.altair_chart(
        _lines(rows, {"tickets_created": "created", "tickets_solved": "solved",
                      "tickets_reopened": "reopened"}, "Tickets per day"),
        width="stretch",
    )  # fmt: skip
    st.altair_chart(
        _lines(rows, {"median_first_reply_minutes": "median", "p90_first_reply_minutes": "p90"},
               "First reply (minutes)"),
        width="stretch",
    )  # fmt: skip
    st.altair_chart(
        _lines(rows, {"median_resolution_minutes": "median", "p90_resolution_minutes": "p90"},
               "Resolution (minutes)"),
        width="stretch",
    )  # fmt: skip
    st.altair_chart(
        _lines(rows, {"csat_good_pct": "all rated tickets",
                      "csat_good_pct_after_error": "tickets after an error"},
               "Ticket satisfaction (% good of rated)"),
        width="stretch",
    )  # fmt: skip
    st.caption(
        "Survey CSAT after an error (the answers, not ticket ratings): the Experience ↔ "
        "sentiment page."
    )
    st.dataframe(rows, hide_index=True, width="stretch")


if __name__ == "__main__":
    from dashboard.views import context

    render(*context())
