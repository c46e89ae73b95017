"""Soak test of the published warehouse: the real pipeline (cx_hourly through
Dagster) runs CX_PUBLISH_SOAK_RUNS times on the small world delivered in as many slices, while
analysts' readers (tests/publish/readers.py) query the published copy every second and hold a
connection open. The readers must see no error and only whole snapshots (each day's KPIs equal
that day's facts), every publish; at the end the published copy equals the warehouse's marts
and neither file holds raw personal data.

Skipped in `make test` (the end-to-end test runs the same readers across its pipeline runs);
`make soak` runs it with 20 runs (about 20 minutes on 2 cores).
"""

import os
import time

import pytest

from ingestion.settings import Settings
from publish.publisher import KEEP
from tests.ingestion.helpers import withhold
from tests.publish.readers import (
    Readers,
    landing_pii,
    pii_found,
    published_equals_warehouse,
    run_slice,
    slices,
)

RUNS = int(os.environ.get("CX_PUBLISH_SOAK_RUNS", "0"))


@pytest.mark.skipif(RUNS < 2, reason="soak test: `make soak` (CX_PUBLISH_SOAK_RUNS=20)")
def test_readers_across_many_pipeline_runs(cx_env, instance, tmp_path):
    landing = cx_env["landing"]
    world = tmp_path / "world"
    files = withhold(landing, world)
    settings = Settings.from_env()
    published = []
    with Readers(tmp_path, settings) as readers:
        for part in slices(files, RUNS):
            meta = run_slice(instance, part, world, landing)
            published.append(meta["snapshot_id"].value)
            time.sleep(1.5)  # let the readers see this snapshot before the next run
    seen = readers.check(published)
    assert len(seen) > 3 * RUNS
    published_equals_warehouse(settings)
    assert len(list((settings.published_dir / "snapshots").iterdir())) == min(RUNS, KEEP)

    # Privacy by default: no raw email, IP, phone number or name anywhere in either file.
    pii = landing_pii(world)
    assert pii_found(settings.duckdb_path, pii) == []
    assert pii_found(settings.analytics_path, pii) == []
