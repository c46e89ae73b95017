"""Which hours the raw checks judge: the run's partition or a range of them."""

import datetime as dt

import dagster as dg

from orchestration.defs.quality.checks import partition_window

UTC = dt.UTC


def _run(**tags) -> dg.DagsterRun:
    return dg.DagsterRun(job_name="cx_hourly", tags=tags)


def test_one_hour():
    label, hours, end = partition_window(_run(**{"dagster/partition": "2026-11-06-23:00"}))
    assert label == "2026-11-06-23:00"
    assert hours == [dt.datetime(2026, 11, 6, 23, tzinfo=UTC)]
    assert end == dt.datetime(2026, 11, 7, tzinfo=UTC)


def test_a_range_of_hours():
    label, hours, end = partition_window(
        _run(
            **{
                "dagster/asset_partition_range_start": "2026-11-06-22:00",
                "dagster/asset_partition_range_end": "2026-11-07-01:00",
            }
        )  # fmt: skip
    )
    assert label == "2026-11-06-22:00...2026-11-07-01:00"
    assert len(hours) == 4 and end == dt.datetime(2026, 11, 7, 2, tzinfo=UTC)
    assert hours[0] == dt.datetime(2026, 11, 6, 22, tzinfo=UTC)
