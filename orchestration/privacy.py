"""Privacy commands (docs/privacy.md).

python -m orchestration.privacy erase --email ann@example.com [--requested-by ticket-123]
python -m orchestration.privacy erase --user-id u000123
python -m orchestration.privacy erase --anonymous-id 3ece9f2c-…
    Erase one person everywhere (warehouse, published copy, dlt working folders), add them to
    the suppression list so replays keep them out, and audit the request.
python -m orchestration.privacy purge [--days 400]
    Purge person-level rows older than the retention horizon (CX_RETENTION_DAYS).
"""

from __future__ import annotations

import argparse
import json
import sys

from ingestion.settings import Settings
from privacy import erasure, retention


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.privacy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    erase = sub.add_parser("erase", help="erase one person and keep them out")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--email")
    who.add_argument("--user-id")
    who.add_argument("--anonymous-id")
    erase.add_argument("--requested-by", default="", help="who asked (ticket, name): audited")
    purge = sub.add_parser("purge", help="purge rows older than the retention horizon")
    purge.add_argument("--days", type=int, help="default: CX_RETENTION_DAYS (400)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.command == "erase":
        import dagster as dg

        from orchestration.run import recompute_kpis

        with dg.DagsterInstance.get() as instance:
            report = erasure.erase(
                settings, user_id=args.user_id, anonymous_id=args.anonymous_id,
                email=args.email, requested_by=args.requested_by,
                recompute_kpis=lambda first, last: recompute_kpis(instance, first, last),
            )  # fmt: skip
        print(json.dumps({"request_id": report.request_id,
                          "identities": {k: len(v) for k, v in report.identities.as_dict().items()},
                          "rows_deleted": report.rows_deleted, "kpi_days": report.kpi_days,
                          "seconds": round(report.seconds, 1)}, indent=1))  # fmt: skip
    else:
        summary = retention.purge(settings, args.days or retention.retention_days())
        print(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
