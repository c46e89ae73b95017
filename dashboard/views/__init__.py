"""One module per dashboard page: `render(snapshot, filters)`, run by the page's script body
when Streamlit runs the file as a page (`__main__`), importable without side effects."""

from __future__ import annotations

import streamlit as st

# (script, title, URL path) of each page, in the navigation's order.
PAGES = (
    ("views/overview.py", "Overview", "overview"),
    ("views/segments.py", "Segments", "segments"),
    ("views/funnel.py", "Funnel", "funnel"),
    ("views/retention.py", "Retention", "retention"),
    ("views/experience.py", "Experience ↔ sentiment", "experience"),
    ("views/support.py", "Support", "support"),
    ("views/alerts.py", "Alerts", "alerts"),
    ("views/data_status.py", "Data status", "data-status"),
)


def context():
    """The snapshot and filters dashboard/app.py resolved for this run of the session."""
    return st.session_state["_context"]
