"""Data status: how fresh each feed is, the latest data-quality results, what was quarantined,
and where to look further (Dagster UI, dbt docs, GX Data Docs)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.data import Snapshot
from dashboard.filters import Filters
from ingestion.settings import PROJECT_ROOT, Settings, dagster_url


def render(snap: Snapshot, f: Filters) -> None:
    st.title("Data status")
    st.caption(
        f"As of snapshot {snap.snapshot_id}, published {snap.published_at:%Y-%m-%d %H:%M} UTC "
        "(status.* tables of the published copy: publish/status.py)"
    )
    feeds = snap.query("select * from status.feeds order by feed")
    published = pd.Timestamp(snap.published_at)
    feeds["hours_since_newest"] = [
        None if pd.isna(t) else round((published - pd.Timestamp(t)).total_seconds() / 3600, 1)
        for t in feeds["newest_at"]
    ]
    st.subheader("Feeds")
    first = ["feed", "rows", "newest_at", "hours_since_newest", "last_loaded_at"]
    st.dataframe(
        feeds[first + [c for c in feeds.columns if c not in first]], hide_index=True,
        width="stretch",
    )  # fmt: skip
    st.caption(
        "hours_since_newest: from the newest record (newest_column) to the publish. The ledger "
        "reconciles: items_read = items_loaded + items_quarantined + items_suppressed "
        "(+ versions superseded in the same file)."
    )
    results = snap.query("select * from status.dq_results order by passed, asset_key, check_name")
    failed = results[~results["passed"].astype(bool)]
    st.subheader(f"Data quality: {len(results) - len(failed)} of {len(results)} checks passed")
    for _, row in failed.iterrows():
        show = st.error if row["severity"] == "ERROR" else st.warning
        show(f"{row['severity']} {row['asset_key']} {row['check_name']}: {row['message']}")
    st.dataframe(results, hide_index=True, width="stretch")
    st.subheader("Quarantine")
    quarantine = snap.query("select * from status.quarantine order by feed, rows desc")
    if quarantine.empty:
        st.success("Nothing quarantined.")
    else:
        st.dataframe(quarantine, hide_index=True, width="stretch")
        st.caption(
            "The lines themselves (source, file, position, reason, raw text) stay in the "
            "warehouse: staging.stg_ingestion__quarantine (docs/operations.md)."
        )
    settings = Settings.from_env()
    st.subheader("Further")
    st.markdown(
        f"- Dagster UI (runs, asset checks, lineage): [{dagster_url()}]({dagster_url()}) "
        "(`make dev`)\n"
        f"- dbt docs (every model and column): `make docs`, then open "
        f"`{PROJECT_ROOT / 'dbt_project' / 'target' / 'static_index.html'}`\n"
        f"- Great Expectations Data Docs: `{settings.gx_dir}` (their pages load styles from a "
        "CDN and render bare offline: the results above are the same ones)"
    )


if __name__ == "__main__":
    from dashboard.views import context

    render(*context())
