"""Values of the batch: ids, the quarantined share, survey scores, event times."""

from __future__ import annotations

from pathlib import Path

import great_expectations.expectations as gxe
import pandas as pd

from expectations import gx_runner
from expectations.checks.batch import IN_BATCH, delivered
from expectations.checks.outcome import CheckOutcome, expect, outcome, rules
from expectations.contracts import FEEDS
from expectations.gx_runner import ERROR, WARN, Validation


def _quarantine_share(con, feed: str) -> tuple[int, int]:
    if not delivered(con, f"raw.{feed}_ledger"):  # the feed has read nothing yet
        return 0, 0
    read, quarantined = con.execute(
        f"select coalesce(sum(items_read), 0), coalesce(sum(items_quarantined), 0) "
        f"from raw.{feed}_ledger where {IN_BATCH}"
    ).fetchone()
    return int(read), int(quarantined)


def values_check(con, gx_dir: Path, table: str) -> CheckOutcome:
    """Values of the batch: ids not null and the quarantined share under its limit (ERROR);
    survey scores in their range (ERROR); event times not beyond the skew limit (WARN)."""
    cfg = rules()["values"]
    feed, _ = FEEDS[table]
    read, quarantined = _quarantine_share(con, feed)
    # Small batches (one cut-off file among three tickets) are not judged by share.
    share = quarantined / read if read >= cfg["quarantine_min_items"] else 0.0
    validations = [
        Validation(
            f"raw_{table}.quarantine",
            pd.DataFrame({"items_read": [read], "items_quarantined": [quarantined],
                          "quarantine_share": [share]}),  # fmt: skip
            [expect(gxe.ExpectColumnValuesToBeBetween, ERROR,
                     f"at most {cfg['max_quarantine_share']:.0%} of the items read quarantined",
                     column="quarantine_share", max_value=cfg["max_quarantine_share"])],
        )
    ]  # fmt: skip
    problems = []
    if share > cfg["max_quarantine_share"]:
        problems.append(
            f"{quarantined} of {read} items read quarantined ({share:.1%}, limit "
            f"{cfg['max_quarantine_share']:.0%}): see raw.{feed}_quarantine for reasons"
        )
    observed: dict = {"items_read": read, "items_quarantined": quarantined}
    if table == "events":
        skew = cfg["max_future_skew_minutes"]
        rows, null_ids, future = (
            con.execute(
                f"select count(*), count(*) - count(message_id), "
                f'count(*) filter (where "timestamp" > received_at + interval {int(skew)} minute) '
                f"from raw.events where {IN_BATCH}"
            ).fetchone()
            if delivered(con, "raw.events")  # no event file read yet: nothing to check
            else (0, 0, 0)
        )
        frame = pd.DataFrame({"rows": [rows], "null_message_ids": [null_ids],
                              "future_events": [future]})  # fmt: skip
        validations.append(Validation("raw_events.values", frame, [
            expect(gxe.ExpectColumnValuesToBeBetween, ERROR, "message_id never null",
                    column="null_message_ids", max_value=0),
            expect(gxe.ExpectColumnValuesToBeBetween, WARN,
                    f"no event time more than {skew} min after its arrival",
                    column="future_events", max_value=0),
        ]))  # fmt: skip
        observed.update(rows=rows, null_message_ids=null_ids, future_events=future)
        if null_ids:
            problems.append(f"{null_ids} events without message_id")
        if future:
            problems.append(f"{future} events timed more than {skew} min after their arrival")
    else:
        columns = "id, survey_type, score" if table == "survey_responses" else "id"
        frame = (
            con.execute(f"select {columns} from raw.{table} where {IN_BATCH}").df()
            if delivered(con, f"raw.{table}")
            else pd.DataFrame({c: pd.Series(dtype="float64") for c in columns.split(", ")})
        )
        expectations = [
            expect(gxe.ExpectColumnValuesToNotBeNull, ERROR, "id never null", column="id")
        ]
        if table == "survey_responses":
            for kind, (low, high) in cfg["score_ranges"].items():
                expectations.append(
                    expect(gxe.ExpectColumnValuesToBeBetween, ERROR,
                            f"{kind} scores within {low}..{high}", column="score",
                            min_value=low, max_value=high,
                            row_condition=f'survey_type=="{kind}"', condition_parser="pandas")
                )  # fmt: skip
                out = frame[(frame["survey_type"] == kind) & ~frame["score"].between(low, high)]
                if len(out):
                    problems.append(
                        f"{len(out)} {kind} scores outside {low}..{high} "
                        f"(e.g. {', '.join(map(str, out['score'].head(3)))})"
                    )
        validations.append(Validation(f"raw_{table}.values", frame, expectations))
        observed["rows"] = len(frame)
        if frame["id"].isna().any():
            problems.append(f"{int(frame['id'].isna().sum())} rows without id")
    run = gx_runner.run(gx_dir, validations)
    return outcome(
        f"raw/{table}", "values", run, "values within their limits", problems,
        observed=observed,
        expected={"max_quarantine_share": cfg["max_quarantine_share"],
                  **({"score_ranges": cfg["score_ranges"]} if table == "survey_responses" else {})},
    )  # fmt: skip
