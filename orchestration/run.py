"""Run the pipeline from a shell, in this process, recorded in $DAGSTER_HOME like any other run.

    python -m orchestration.run latest
        The latest complete UTC hour (cx_hourly: load, model, KPIs, alerts, publish): what the
        hourly schedule does.
    python -m orchestration.run landed
        The same for the hour of the newest landed file (its delivery hour): what the landing
        sensor did when that file arrived.
    python -m orchestration.run landed --all
        Every hour from the oldest landed file's to the newest's not yet judged by the alert
        rules (all of them on a new warehouse), as one backfill run: what the schedules would
        have done had they run while the files landed. `make run` calls this, so the alert rules
        judge every hour of the demo world (its incident opens an alert) and the checks run at
        the world's own hours, not at today's; run again, it processes only the newest hour.
    python -m orchestration.run backfill --from 2026-11-20-00:00 --to 2026-11-20-23:00
        Rebuild a range of hours from what is in raw (one run of cx_hourly over the range, its
        days' KPIs included): the repair after late data, a model fix or a
        bad load. Both ends are partition keys (hours), inclusive.

The same runs can be started from the UI (Jobs → cx_hourly → Materialize / Backfill) or by the
schedule and sensor under `dagster dev`; all of them give the same tables (docs/operations.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import dagster as dg
import duckdb

from alerts.engine import last_judged
from ingestion.common.warehouse import WarehouseLocked, connect_warehouse
from ingestion.settings import Settings
from orchestration.defs.automation.jobs import (
    latest_complete_hour,
    newest_landing_file,
    oldest_landing_file,
)
from orchestration.defs.shared import DUCKDB_POOL
from orchestration.recovery import PoolWatch, recover_dead_runs, run_tags


def run_job(
    instance: dg.DagsterInstance, job_name: str, start: str, end: str, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    """One run of `job_name` over the partitions start..end (inclusive), in this process."""
    from orchestration.definitions import defs

    tags = (
        {"dagster/partition": start}
        if start == end
        else {
            "dagster/asset_partition_range_start": start,
            "dagster/asset_partition_range_end": end,
        }
    )
    warehouse = Settings.from_env().duckdb_path
    if warehouse.exists():  # fail now, with the file and the fix, rather than inside a step
        connect_warehouse(warehouse).close()
    for run_id in recover_dead_runs(instance):
        print(f"recovered run {run_id}: its process was gone; marked failed, pool slot freed "
              "(docs/operations.md, 'After a crash')", flush=True)  # fmt: skip
    print(f"{job_name}: partitions {start} .. {end}", flush=True)
    with PoolWatch(instance, DUCKDB_POOL):
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, tags={**tags, **run_tags()}, raise_on_error=raise_on_error
        )
    print(
        f"{job_name}: {'succeeded' if result.success else 'FAILED'} (run {result.run_id})",
        flush=True,
    )
    return result


def last_judged_hour(warehouse) -> dt.datetime | None:
    """The latest hour the alert rules judged in the warehouse (None: no warehouse or none)."""
    if not warehouse.exists():
        return None
    try:
        with connect_warehouse(warehouse, read_only=True) as con:
            return last_judged(con)
    except (duckdb.CatalogException, WarehouseLocked):  # no table yet; the run says it is held
        return None


def recompute_kpis(instance: dg.DagsterInstance, first_day: str, last_day: str) -> None:
    """The KPI job over the hours of days first_day..last_day (the KPI marts rebuilt from the
    facts as they are now, then published): what an erasure needs once the person's rows are
    gone."""
    result = run_job(instance, "cx_kpis", f"{first_day}-00:00", f"{last_day}-23:00")
    if not result.success:
        raise RuntimeError(
            f"KPI recompute for {first_day}..{last_day} failed (run {result.run_id}): the "
            "person's rows are deleted; re-run `python -m orchestration.run backfill` for those days"
        )


def run_pipeline(
    instance: dg.DagsterInstance, first: str, last: str | None = None, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    """cx_hourly over the hours first..last, as one run."""
    return run_job(instance, "cx_hourly", first, last or first, raise_on_error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keep the examples' lines
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("latest", help="the latest complete hour, then its day's KPIs")
    landed = sub.add_parser(
        "landed", help="the hour of the newest landed file, then its day's KPIs"
    )
    landed.add_argument(
        "--all", action="store_true",
        help="every hour from the oldest landed file's to the newest's (one backfill run)",
    )  # fmt: skip
    backfill = sub.add_parser("backfill", help="rebuild a range of hours and their days")
    backfill.add_argument(
        "--from", dest="first", required=True, help="first hour, YYYY-MM-DD-HH:00"
    )
    backfill.add_argument("--to", dest="last", required=True, help="last hour, YYYY-MM-DD-HH:00")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.command == "latest":
        first = last = latest_complete_hour(dt.datetime.now(dt.UTC))
    elif args.command == "landed":
        newest = newest_landing_file(settings.landing_dir)
        if newest is None:
            parser.error("no landing files: generate the demo world with `make demo-data`")
        # A file's modification time is the end of its delivery hour.
        first = last = latest_complete_hour(dt.datetime.fromtimestamp(newest[0], dt.UTC))
        if args.all:
            oldest = oldest_landing_file(settings.landing_dir)
            first = latest_complete_hour(dt.datetime.fromtimestamp(oldest[0], dt.UTC))
            judged = last_judged_hour(settings.duckdb_path)
            if judged is not None:
                first = min(max(first, f"{judged + dt.timedelta(hours=1):%Y-%m-%d-%H:%M}"), last)
    else:
        first, last = args.first, args.last
        for key in (first, last):
            try:
                dt.datetime.strptime(key, "%Y-%m-%d-%H:%M")
            except ValueError:
                parser.error(
                    f"{key!r} is not an hour partition key: write it like 2026-11-20-13:00"
                )
    with dg.DagsterInstance.get() as instance:
        try:
            result = run_pipeline(instance, first, last, raise_on_error=False)
        except WarehouseLocked as error:
            print(f"not started: {error}", file=sys.stderr)
            return 3
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
