"""What a dbt run's micro-batch contained, as metadata on the assets that show it.

Read after dbt has exited, with one short-lived read-only connection (see row_counts.py):
- on stg_segment__events: loads in the batch, messages and persons it touched, and how many of
  its events are more than LOOKBACK_HOURS older than the newest event already in the warehouse. Those are applied like any
  other (the batch rebuilds the persons and periods they touch), but they change days that
  were already reported, so they are counted where an engineer looks.
- on int_batch__changed_periods: how many hours and days the KPI marts recomputed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import dagster as dg
import duckdb

LOOKBACK_HOURS = 72

_QUERIES = {
    "stg_segment__events": {
        "batch_loads": "select count(*) from intermediate.int_batch__loads",
        "batch_messages": "select count(*) from intermediate.int_batch__events",
        "batch_persons": "select count(*) from intermediate.int_batch__persons",
        # Late relative to the data, not the wall clock: more than LOOKBACK_HOURS older than
        # the newest event the warehouse held before this batch (_newest_before_batch).
        "events_later_than_lookback": lambda con: con.execute(
            "select count(*) from intermediate.int_batch__events where is_from_batch_loads "
            f"and event_at < cast(? as timestamptz) - interval {LOOKBACK_HOURS} hour",
            [_newest_before_batch(con)],
        ).fetchone()[0],
        "oldest_event_in_batch": "select cast(min(event_at) as varchar) from intermediate.int_batch__events",
    },
    "int_batch__changed_periods": {
        "changed_hours": "select count(*) from intermediate.int_batch__changed_periods",
        "changed_days": """select count(distinct cast(period_hour as date))
                           from intermediate.int_batch__changed_periods""",
    },
}


def _newest_before_batch(con):
    """The newest event time among the staged events the batch did not bring. Looked for among
    the last day's events first, so that the id lookup reads those rows only (0.08 s instead of
    0.4 s at 30 days of history); among all events when the batch holds every one of them."""
    not_in_batch = "message_id not in (select message_id from intermediate.int_batch__events)"
    newest = con.execute(
        "select max(event_at) from staging.stg_segment__events where event_at >= "
        f"(select max(event_at) - interval 1 day from staging.stg_segment__events) and {not_in_batch}"
    ).fetchone()[0]
    if newest is None:
        newest = con.execute(
            f"select max(event_at) from staging.stg_segment__events where {not_in_batch}"
        ).fetchone()[0]
    return newest


def _model_name(event) -> str | None:
    if not isinstance(event, dg.Output):
        return None
    unique_id = (event.metadata or {}).get("unique_id")
    unique_id = getattr(unique_id, "value", unique_id)
    return unique_id.rsplit(".", 1)[-1] if unique_id else None


def batch_summary(events: Iterable, duckdb_path: Path) -> Iterator:
    events = list(events)
    wanted = {_model_name(e) for e in events} & _QUERIES.keys()
    found: dict[str, dict] = {}
    if wanted:
        con = duckdb.connect(str(duckdb_path), read_only=True)
        try:
            for model in wanted:
                found[model] = {
                    k: q(con) if callable(q) else con.execute(q).fetchone()[0]
                    for k, q in _QUERIES[model].items()
                }
        finally:
            con.close()
    for event in events:
        model = _model_name(event)
        if model in found:
            event = event.with_metadata({**event.metadata, **found[model]})
        yield event
