"""The CX dashboard (`make dashboard`: http://127.0.0.1:8501, CX_DASHBOARD_PORT). It reads only
the published copy of the marts (dashboard/data.py), so it never blocks or sees the pipeline
mid-run; the sidebar's filters live in the URL (dashboard/filters.py)."""

from __future__ import annotations

import streamlit as st

from dashboard import data
from dashboard.filters import sidebar
from dashboard.views import PAGES

st.set_page_config(page_title="cx-warehouse", layout="wide")
page = st.navigation(
    [st.Page(path, title=title, url_path=url, default=i == 0)
     for i, (path, title, url) in enumerate(PAGES)]
)  # fmt: skip
try:
    snap = data.current()
except data.NotPublished as missing:
    st.error(str(missing))
    st.stop()
seen = st.session_state.get("_snapshot_seen")
if seen and seen != snap.snapshot_id:
    st.toast(f"New data published: snapshot {snap.snapshot_id}")
st.session_state["_snapshot_seen"] = snap.snapshot_id
st.sidebar.caption(
    f"Snapshot {snap.snapshot_id}, published {snap.published_at:%Y-%m-%d %H:%M} UTC "
    f"({snap.path.name})"
)
st.session_state["_context"] = (snap, sidebar(snap))
page.run()
