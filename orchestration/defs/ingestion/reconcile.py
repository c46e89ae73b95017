"""After a load: count what landed, from the destination itself, and check it adds up.

items read = rows loaded + rows quarantined + rows suppressed (people erased: on the suppression
list) + versions superseded within the load (a record that appears twice in one merge load is
kept once). The counts come from the ledger and the tables,
filtered on this run's load ids, not from the code that produced them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dlt


@dataclass
class Reconciliation:
    items_read: int
    rows_loaded: int
    rows_quarantined: int
    rows_suppressed: int
    versions_superseded: int
    items_accepted: int
    ledger_rows: int
    schema_changes: list[str]
    files_by_layout: dict[str, int] = field(default_factory=dict)  # events: files read, by layout
    files_ignored: list[str] = field(default_factory=list)  # "path (why)" of files not loaded
    load_ids: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return (
            self.items_read
            == self.rows_loaded
            + self.rows_quarantined
            + self.rows_suppressed
            + self.versions_superseded
        )

    def as_metadata(self) -> dict:
        return {
            "items_read": self.items_read,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "rows_suppressed": self.rows_suppressed,
            "versions_superseded": self.versions_superseded,
            "reconciled": self.balanced,
            "schema_changes": ", ".join(self.schema_changes) or "none",
            **({"files_by_layout": self.files_by_layout} if self.files_by_layout else {}),
            **({"files_ignored": self.files_ignored} if self.files_ignored else {}),
        }


def _in_list(values: list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values) or "''"


def reconcile(pipeline: dlt.Pipeline, feed: str, table: str) -> Reconciliation:
    trace = pipeline.last_trace
    load_info = trace.last_load_info if trace else None
    load_ids = list(load_info.loads_ids) if load_info else []
    changes = []
    for package in load_info.load_packages if load_info else []:
        for changed_table, spec in (package.schema_update or {}).items():
            if changed_table.startswith("_dlt"):
                continue
            for column in spec.get("columns", {}):
                changes.append(f"{changed_table}.{column}")
    ids = _in_list(load_ids)
    with pipeline.sql_client() as client:
        existing = {
            row[0]
            for row in client.execute_sql(
                "select table_name from information_schema.tables where table_schema = %s",
                client.dataset_name,
            )
        }

        def count(sql: str, name: str) -> int:
            if name not in existing:
                return 0
            return int(
                client.execute_sql(sql.format(t=client.make_qualified_table_name(name)))[0][0] or 0
            )

        read = count(
            f"select sum(items_read) from {{t}} where _dlt_load_id in ({ids})", f"{feed}_ledger"
        )
        accepted = count(
            f"select sum(items_loaded) from {{t}} where _dlt_load_id in ({ids})", f"{feed}_ledger"
        )
        loaded = count(f"select count(*) from {{t}} where _dlt_load_id in ({ids})", table)
        quarantined = count(
            f"select count(*) from {{t}} where _dlt_load_id in ({ids})", f"{feed}_quarantine"
        )
        suppressed = count(
            f"select sum(items_suppressed) from {{t}} where _dlt_load_id in ({ids})",
            f"{feed}_ledger",
        )
        ledger_rows = count(
            f"select count(*) from {{t}} where _dlt_load_id in ({ids})", f"{feed}_ledger"
        )
        files_by_layout, files_ignored = {}, []
        ledger = client.make_qualified_table_name(f"{feed}_ledger")
        if f"{feed}_ledger" in existing and client.execute_sql(
            "select count(*) from information_schema.columns where table_schema = %s "
            "and table_name = %s and column_name = 'layout'",
            client.dataset_name, f"{feed}_ledger",
        )[0][0]:  # fmt: skip
            files_by_layout = dict(
                client.execute_sql(
                    f"select layout, count(*) from {ledger} where _dlt_load_id in ({ids}) "
                    "group by layout order by layout"
                )
            )
            quarantine = client.make_qualified_table_name(f"{feed}_quarantine")
            files_ignored = (
                [
                    f"{file} ({why})"
                    for file, why in client.execute_sql(
                        f"select file, raw_text from {quarantine} where _dlt_load_id in ({ids}) "
                        "and reason = 'unrecognized_file' order by file"
                    )
                ]
                if f"{feed}_quarantine" in existing
                else []
            )
    return Reconciliation(
        items_read=read,
        rows_loaded=loaded,
        rows_quarantined=quarantined,
        rows_suppressed=suppressed,
        versions_superseded=accepted - loaded,
        items_accepted=accepted,
        ledger_rows=ledger_rows,
        schema_changes=changes,
        files_by_layout=files_by_layout,
        files_ignored=files_ignored,
        load_ids=load_ids,
    )
