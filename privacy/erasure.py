"""Right to erasure: remove one person from everything the pipeline keeps, and keep them out.

`erase()` (CLI: `python -m orchestration.privacy erase --email … | --user-id … | --anonymous-id …`):

1. resolves every identity of the person from the warehouse: the user ids, anonymous ids and keyed
   email hashes linked to the one given (identify calls, aliases, ticket requesters, survey
   respondents, the stitched ids of the marts);
2. adds them to the suppression list `ops.erasure_suppression`, which every later load applies
   (ingestion/common/suppression.py): replaying old landing files does not bring them back;
3. deletes every row keyed by one of them from every table the pipeline writes (raw and dlt's
   raw_staging, staging, intermediate, marts; dlt child tables follow their parents; quarantined
   lines mentioning them go too);
4. recomputes the KPI marts of the days their rows touched and republishes the analysts' copy
   (the cx_kpis job through Dagster), then drops older Parquet snapshots and dlt's local
   working folders (load packages could hold their records; dlt restores its state from the
   warehouse on the next run);
5. records the request in `ops.erasure_requests`: who asked, which identifier (the email only as
   its keyed hash), what was found and deleted, when it finished.

The suppression list holds pseudonymous ids and keyed hashes, never a raw email: it must name
whom to keep out.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingestion.common import ops_schema
from ingestion.common.pii import hash_email
from ingestion.settings import ConfigError, Settings, pii_hash_key
from publish import publisher

# Every schema the pipeline writes person-level rows to: dlt's raw tables and its merge staging
# copies (raw_staging), dbt's staging, intermediate and marts. (ops holds aggregates, and the
# suppression list itself.)
EXCLUDED_SCHEMAS = ("ops", "information_schema", "pg_catalog", "main")
ID_SUFFIXES = ("user_id", "anonymous_id", "previous_id", "external_id", "person_id")
HASH_SUFFIX = "email_hash"
TEXT_COLUMNS = ("raw_text",)  # quarantined lines: deleted when they mention the person


@dataclass
class Identities:
    user_ids: set[str] = field(default_factory=set)
    anonymous_ids: set[str] = field(default_factory=set)
    email_hashes: set[str] = field(default_factory=set)

    @property
    def ids(self) -> set[str]:
        return self.user_ids | self.anonymous_ids

    def size(self) -> int:
        return len(self.user_ids) + len(self.anonymous_ids) + len(self.email_hashes)

    def as_dict(self) -> dict:
        return {"user_ids": sorted(self.user_ids), "anonymous_ids": sorted(self.anonymous_ids),
                "email_hashes": sorted(self.email_hashes)}  # fmt: skip


@dataclass
class ErasureReport:
    request_id: str
    identities: Identities
    rows_deleted: dict[str, int]
    kpi_days: tuple[str, str] | None
    seconds: float


def _tables(con) -> dict[tuple[str, str], list[tuple[str, str]]]:
    rows = con.execute(
        "select c.table_schema, c.table_name, c.column_name, c.data_type "
        "from information_schema.columns c join information_schema.tables t "
        "on t.table_schema = c.table_schema and t.table_name = c.table_name "
        "and t.table_catalog = c.table_catalog "
        f"where t.table_type = 'BASE TABLE' and c.table_schema not in {EXCLUDED_SCHEMAS!r} "
        "and c.table_catalog = current_database() order by c.table_schema, c.table_name"
    ).fetchall()
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, kind in rows:
        out.setdefault((schema, table), []).append((column, kind))
    return out


def _literal(values: set[str]) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values)) + ")"


def _values(con, sql: str) -> set[str]:
    """The non-empty values `sql` returns; none when a table it reads does not exist yet."""
    try:
        return {r[0] for r in con.execute(sql).fetchall() if r[0]}
    except duckdb.CatalogException:
        return set()


# (the column holding the linked id, table, the column matched) — person links, one direction.
_TRAIT_HASH = "json_extract_string(traits, '$.email_hash')"
EMAIL_TO_USER = [("user_id", "raw.events", _TRAIT_HASH),
                 ("requester__external_id", "raw.tickets", "requester__email_hash"),
                 ("respondent__user_id", "raw.survey_responses", "respondent__email_hash"),
                 ("stitched_user_id", "marts.fct_tickets", "requester_email_hash")]  # fmt: skip
EMAIL_TO_DEVICE = [("respondent__anonymous_id", "raw.survey_responses", "respondent__email_hash")]
USER_TO_DEVICE = [("anonymous_id", "raw.events", "user_id"),
                  ("previous_id", "raw.events", "user_id"),  # aliases
                  ("anonymous_id", "marts.fct_events", "stitched_user_id"),
                  ("respondent__anonymous_id", "raw.survey_responses", "respondent__user_id")]  # fmt: skip
USER_TO_EMAIL = [(picked, table, matched) for matched, table, picked in EMAIL_TO_USER]


def _linked(con, links: list[tuple[str, str, str]], values: set[str]) -> set[str]:
    found = set()
    for picked, table, matched in links:
        found |= _values(
            con, f"select {picked} from {table} where {matched} in {_literal(values or {''})}"
        )
    return found


def resolve(con, who: Identities) -> Identities:
    """The person's identities, following links in one direction only (an email to its users,
    a user to its devices and emails; an anonymous id to the user dbt stitched it to), so that
    a device shared with someone else never pulls that someone in."""
    users, anons, hashes = set(who.user_ids), set(who.anonymous_ids), set(who.email_hashes)
    users |= _linked(con, EMAIL_TO_USER, hashes)
    users |= _values(con, "select stitched_user_id from marts.fct_events where anonymous_id in "
                          f"{_literal(anons or {''})} and stitched_user_id <> anonymous_id")  # fmt: skip
    anons |= _linked(con, USER_TO_DEVICE, users) | _linked(con, EMAIL_TO_DEVICE, hashes)
    hashes |= _linked(con, USER_TO_EMAIL, users)
    return Identities(users, anons - users, hashes)


def _kpi_days(con, ids: set[str]) -> tuple[str, str] | None:
    id_list = _literal(ids or {""})
    parts = []
    tables = _tables(con)
    for table, at in (("fct_sessions", "session_start_at"), ("fct_events", "event_at"),
                      ("fct_tickets", "created_at"), ("fct_survey_responses", "created_at")):  # fmt: skip
        if ("marts", table) in tables:
            parts.append(
                f"select min({at}) as lo, max({at}) as hi from marts.{table} "
                f"where stitched_user_id in {id_list}"
            )
    if not parts:
        return None
    lo, hi = con.execute(f"select min(lo), max(hi) from ({' union all '.join(parts)})").fetchone()
    if lo is None:
        return None
    return lo.strftime("%Y-%m-%d"), hi.strftime("%Y-%m-%d")


def delete_person(con, found: Identities) -> dict[str, int]:
    """Delete every row keyed by one of the identities; the rows deleted per table."""
    ids, hashes = _literal(found.ids or {""}), _literal(found.email_hashes or {""})
    tokens = sorted(found.ids | found.email_hashes)
    deleted: dict[str, int] = {}
    tables = _tables(con)
    for (schema, table), columns in tables.items():
        names = [c for c, _ in columns]
        where = [
            f'"{c}" in {ids}' for c in names if c.endswith(ID_SUFFIXES) or c == "stitched_user_id"
        ]
        where += [f'"{c}" in {hashes}' for c in names if c.endswith(HASH_SUFFIX)]
        if "traits" in names:
            where.append(f"json_extract_string(traits, '$.email_hash') in {hashes}")
        for column in (c for c in names if c in TEXT_COLUMNS):
            where += [f"contains(\"{column}\", '{t}')" for t in tokens]
        if not where:
            continue
        sql = f'delete from "{schema}"."{table}" where {" or ".join(where)}'
        n = con.execute(sql).fetchone()[0]
        if n:
            deleted[f"{schema}.{table}"] = n
    deleted.update(delete_orphans(con))
    marts = [t.split(".", 1)[1] for t in deleted if t.startswith("marts.")]
    publisher.record_changed_whole(con, marts, forget=found.ids)  # the next publish: a new file
    return deleted


def delete_orphans(con) -> dict[str, int]:
    """Rows of dlt child tables (e.g. raw.tickets__tags) whose parent rows were deleted."""
    deleted = {}
    tables = _tables(con)
    for (schema, table), columns in tables.items():
        parent = table.rsplit("__", 1)[0]
        if "_dlt_parent_id" in [c for c, _ in columns] and (schema, parent) in tables:
            n = con.execute(
                f'delete from "{schema}"."{table}" where _dlt_parent_id not in '
                f'(select _dlt_id from "{schema}"."{parent}")'
            ).fetchone()[0]
            if n:
                deleted[f"{schema}.{table}"] = n
    return deleted


def erase(
    settings: Settings,
    *,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    email: str | None = None,
    requested_by: str = "",
    recompute_kpis: Callable[[str, str], None],
) -> ErasureReport:
    """Erase one person (see the module docstring). `recompute_kpis(first_day, last_day)`
    rebuilds the KPI marts of the person's days from the facts they are now gone from, and
    republishes (the caller runs the pipeline's KPI job: orchestration.run.recompute_kpis); the
    older published copies are dropped after it."""
    given = [(k, v) for k, v in (("user_id", user_id), ("anonymous_id", anonymous_id),
                                 ("email", email)) if v]  # fmt: skip
    if len(given) != 1:
        raise ConfigError("erase needs exactly one of --user-id, --anonymous-id or --email")
    kind, value = given[0]
    started = time.monotonic()
    key = pii_hash_key()
    who = Identities()
    if kind == "email":
        shown = hash_email(value, key)  # the audit never stores the raw email
        who.email_hashes.add(shown)
    else:
        (who.user_ids if kind == "user_id" else who.anonymous_ids).add(value)
        shown = value
    request_id = str(uuid.uuid4())
    now = dt.datetime.now(dt.UTC)
    with duckdb.connect(str(settings.duckdb_path)) as con:
        ops_schema.ensure(con)
        found = resolve(con, who)
        days = _kpi_days(con, found.ids)
        con.execute(
            "insert into ops.erasure_requests values (?, ?, null, ?, ?, ?, ?, null, ?, 'started')",
            [request_id, now, requested_by, kind, shown, json.dumps(found.as_dict()),
             json.dumps(days)],
        )  # fmt: skip
        rows = [("user_id", v) for v in found.user_ids]
        rows += [("anonymous_id", v) for v in found.anonymous_ids]
        rows += [("email_hash", v) for v in found.email_hashes]
        for k, v in rows:
            con.execute(
                "insert into ops.erasure_suppression select ?, ?, ?, ? where not exists "
                "(select 1 from ops.erasure_suppression where kind = ? and value = ?)",
                [k, v, request_id, now, k, v],
            )
        deleted = delete_person(con, found)
    if days:
        recompute_kpis(*days)
    _drop_copies(settings)
    with duckdb.connect(str(settings.duckdb_path)) as con:
        con.execute(
            "update ops.erasure_requests set finished_at = ?, rows_deleted = ?, status = 'done' "
            "where request_id = ?",
            [dt.datetime.now(dt.UTC), json.dumps(deleted), request_id],
        )
    return ErasureReport(request_id, found, deleted, days, time.monotonic() - started)


def _drop_copies(settings: Settings) -> None:
    """Older Parquet snapshots (the current one was just republished) and dlt's local working
    folders (pending load packages could hold the person's records)."""
    publisher.prune(settings.published_dir / "snapshots", keep=1)  # the newest is current
    if Path(settings.pipelines_dir).exists():
        shutil.rmtree(settings.pipelines_dir)
