"""The global filters (sidebar): date range, grain, segment dimension and values. They live in
the URL (`?from=…&to=…&grain=…&dim=…&values=…`), so a view can be shared or bookmarked, and a
link from the Alerts page can open another page already filtered."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import streamlit as st

from dashboard.data import Snapshot

# The segment types of the *_by_segment marts and kpi_funnel_daily (macros/metrics/segments.sql).
DIMENSIONS = ("overall", "device", "os", "browser", "country", "plan", "first_touch_source")
GRAINS = ("day", "hour")
DEFAULT_DAYS = 14


@dataclass(frozen=True)
class Filters:
    start: dt.date
    end: dt.date  # inclusive
    grain: str  # day | hour
    dim: str  # one of DIMENSIONS
    values: tuple[str, ...]  # empty: every value of dim

    @property
    def end_exclusive(self) -> dt.date:
        return self.end + dt.timedelta(days=1)

    def segment_where(self, type_column: str = "segment_type", value_column: str = "segment_value"):
        """SQL and parameters selecting the chosen segments of a *_by_segment mart."""
        if self.dim == "overall":
            return f"{type_column} = 'overall'", []
        if not self.values:
            return f"{type_column} = ?", [self.dim]
        marks = ", ".join("?" for _ in self.values)
        return f"{type_column} = ? and {value_column} in ({marks})", [self.dim, *self.values]

    @property
    def label(self) -> str:
        if self.dim == "overall":
            return "all users"
        return f"{self.dim} = {', '.join(self.values) if self.values else 'every value'}"


def _date(text: str | None, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(text) if text else default
    except ValueError:
        return default


URL_KEYS = ("from", "to", "grain", "dim", "values")


def _seed_from_url(first: dt.date, last: dt.date) -> None:
    """The widgets start from the URL's parameters when the URL says something the widgets did
    not write: a shared link opened, or a link to a page with its own filters."""
    params = st.query_params
    url = {k: params.get(k) for k in URL_KEYS if params.get(k)}
    if "_filters_url" in st.session_state and url == st.session_state["_filters_url"]:
        return
    end = min(max(_date(params.get("to"), last), first), last)
    start = min(
        max(_date(params.get("from"), end - dt.timedelta(days=DEFAULT_DAYS - 1)), first), end
    )
    st.session_state["f_range"] = (start, end)
    st.session_state["f_grain"] = params.get("grain") if params.get("grain") in GRAINS else "day"
    dim = params.get("dim")
    st.session_state["f_dim"] = dim if dim in DIMENSIONS else "overall"
    st.session_state["f_values"] = [v for v in (params.get("values") or "").split(",") if v]


def sidebar(snap: Snapshot) -> Filters:
    """The filter widgets, seeded from the URL; the URL then follows the widgets."""
    first, last = snap.query("select min(kpi_date), max(kpi_date) from marts.kpi_daily").iloc[0]
    today = dt.datetime.now(dt.UTC).date()
    first = first.date() if hasattr(first, "date") else (first or today)
    last = last.date() if hasattr(last, "date") else (last or today)
    _seed_from_url(first, last)
    chosen = st.session_state.get("f_range") or (first, last)
    # A new snapshot can cover other days (a retention purge, a new day): stay inside them.
    st.session_state["f_range"] = tuple(min(max(d, first), last) for d in chosen)
    side = st.sidebar
    side.header("Filters")
    chosen = side.date_input("Dates (UTC)", min_value=first, max_value=last, key="f_range")
    start, end = (chosen[0], chosen[-1]) if chosen else (first, last)
    grain = side.radio("Grain", GRAINS, key="f_grain", horizontal=True)
    dim = side.selectbox("Segment", DIMENSIONS, key="f_dim")
    values: list[str] = []
    if dim != "overall":
        options = snap.query(
            "select distinct segment_value from marts.kpi_daily_by_segment "
            "where segment_type = ? order by 1", (dim,),
        )["segment_value"].tolist()  # fmt: skip
        kept = [v for v in st.session_state.get("f_values", []) if v in options]
        st.session_state["f_values"] = kept
        values = side.multiselect(f"{dim} values (none: all)", options, key="f_values")
    filters = Filters(start, end, grain, dim, tuple(values))
    url = {"from": start.isoformat(), "to": end.isoformat(), "grain": grain, "dim": dim}
    if values:
        url["values"] = ",".join(values)
    for key, value in url.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value
    if not values and "values" in st.query_params:
        del st.query_params["values"]
    st.session_state["_filters_url"] = url
    return filters
