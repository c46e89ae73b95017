"""A simulated CX world written as landing files (events, tickets, surveys) with its ground truth
(<out>/_simulator/truth.json): python -m simulator --out data/landing [--users N ...]."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path

from simulator import TRUTH_FILE, SimConfig, load_truth, simulate

log = logging.getLogger("cx.simulator")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="landing folder to write")
    parser.add_argument(
        "--users",
        type=int,
        default=3000,
        help="people in the world (default 3000; make run: 10000)",
    )
    parser.add_argument(
        "--days", type=int, default=14,
        help="days of activity (default 14); sessions start until 2 h before the last midnight",
    )  # fmt: skip
    parser.add_argument(
        "--start",
        type=dt.date.fromisoformat,
        default=None,
        help="first day (UTC, YYYY-MM-DD); default: --days before today, so the world ends today",
    )
    parser.add_argument(
        "--seed", type=int, default=42, help="random seed: the same arguments give the same files"
    )
    parser.add_argument(
        "--no-incident", action="store_true",
        help="no incident (default: mobile checkout 4x slower for 6 h from 14:00 UTC on day 9, "
        "or the day before the last in shorter worlds)",
    )  # fmt: skip
    parser.add_argument(
        "--if-missing", action="store_true", help="do nothing when the folder already holds a world"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.if_missing and (args.out / TRUTH_FILE).exists():
        truth = load_truth(args.out)
        log.info(
            "landing folder %s already holds a world (%s); not regenerating",
            args.out,
            truth["config"],
        )
        return 0
    start = args.start or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=args.days))
    config = SimConfig(
        users=args.users,
        days=args.days,
        start=start,
        seed=args.seed,
        incident_day=None if args.no_incident else min(9, max(0, args.days - 2)),
    )
    began = time.monotonic()
    truth = simulate(config, args.out)
    d = truth["delivery"]
    log.info(
        "wrote %s event lines (%s unique events, %s duplicates, %s malformed) in %s files, "
        "%s ticket versions, %s survey versions to %s in %.1fs",
        d["event_lines"],
        d["unique_events"],
        d["duplicate_lines"],
        d["malformed_lines"],
        d["event_files"],
        d["ticket_records"],
        d["survey_records"],
        args.out,
        time.monotonic() - began,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
