"""The erasure suppression list, applied while reading the feeds.

A person erased with `python -m orchestration.privacy erase` is recorded in
`ops.erasure_suppression` of the warehouse (their user ids, anonymous ids and keyed email hashes:
never a raw email). Every load reads the list first and drops their records before anything is
stored, so replaying old landing files or re-reading an API from the start does not bring them
back. Dropped records are counted in each ledger row (`items_suppressed`), so a load still
reconciles: read = loaded + quarantined + suppressed (+ versions superseded in a merge).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.common.warehouse import connect_warehouse

TABLE = "ops.erasure_suppression"
KINDS = ("user_id", "anonymous_id", "email_hash")
_EMAIL_HASH = r'"email_hash":\s*"(?P<h>[0-9a-f]{64})"'


@dataclass(frozen=True)
class Suppression:
    user_ids: frozenset[str] = frozenset()
    anonymous_ids: frozenset[str] = frozenset()
    email_hashes: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.user_ids or self.anonymous_ids or self.email_hashes)

    @classmethod
    def load(cls, warehouse: Path) -> Suppression:
        """The list in the warehouse, or an empty one (no warehouse or nobody erased yet)."""
        if not Path(warehouse).exists():
            return cls()
        con = connect_warehouse(warehouse, read_only=True)
        try:
            exists = con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = 'ops' and table_name = 'erasure_suppression'"
            ).fetchone()[0]
            rows = con.execute(f"select kind, value from {TABLE}").fetchall() if exists else []
        finally:
            con.close()
        by_kind = {kind: frozenset(v for k, v in rows if k == kind) for kind in KINDS}
        return cls(by_kind["user_id"], by_kind["anonymous_id"], by_kind["email_hash"])

    def _ids(self) -> pa.Array:
        return pa.array(sorted(self.user_ids | self.anonymous_ids), pa.string())

    def event_mask(self, events: pa.Table) -> pa.ChunkedArray:
        """True for the events of suppressed people: by user id, anonymous id, the previous id of
        an alias, or the email hash in an identify's traits (already pseudonymised)."""
        ids = self._ids()
        mask = pc.is_in(events["anonymous_id"], ids)
        for column in ("user_id", "previous_id"):
            mask = pc.or_kleene(mask, pc.is_in(events[column], ids))
        if self.email_hashes:
            hashes = pc.struct_field(pc.extract_regex(events["traits"], _EMAIL_HASH), "h")
            mask = pc.or_kleene(mask, pc.is_in(hashes, pa.array(sorted(self.email_hashes))))
        return pc.fill_null(mask, False)

    def drops_person(self, person: dict | None) -> bool:
        """A pseudonymised person object (a ticket's requester, a survey's respondent)."""
        if not person:
            return False
        return (
            person.get("user_id") in self.user_ids
            or person.get("external_id") in self.user_ids
            or person.get("anonymous_id") in self.anonymous_ids
            or person.get("email_hash") in self.email_hashes
        )
