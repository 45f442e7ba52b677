"""What the push remembers: the last value pushed per (record, field), every outcome, consent and conflicts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from sync_pipeline.records.mirror import PEOPLE_OBJECTS, mirror_table
from sync_pipeline.store.audience import Values, read_in, with_runtime_columns
from sync_pipeline.store.tables import (
    all_contacts,
    consent_ledger,
    contact_links,
    marketing_edits,
    push_conflicts,
    push_refusals,
    push_results,
    pushed_activities,
    pushed_state,
)
from sync_pipeline.store.upsert import bulk_update, bulk_upsert
from sync_pipeline.store.versions import (
    CONSENT,
    MARKETING_EDITS,
    bump,
)


def to_json(value: Any) -> str:
    """A pushed, refused or edited value as stored: JSON, so its type survives (dates and times as ISO text)."""
    return json.dumps(value, default=str)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def read_pushed_state(conn: sa.Connection, crm_ids: Values = None) -> pd.DataFrame:
    """What Salesforce last accepted from us, per record and field (of every record, or of ``crm_ids``)."""
    frame = read_in(conn, sa.select(pushed_state), pushed_state.c.crm_id, crm_ids)
    frame["value"] = frame["value"].map(from_json)
    return frame


def remember_pushed(conn: sa.Connection, updates: pd.DataFrame, succeeded: set[str], at: datetime) -> int:
    """The values Salesforce accepted become the pushed state (values kept as JSON, so types survive)."""
    rows = [{"crm_id": row.crm_id, "field": row.field, "value": to_json(row.value), "pushed_at": at}
            for row in updates.itertuples() if row.crm_id in succeeded]
    return bulk_upsert(conn, pushed_state, rows, ["crm_id", "field"]) if rows else 0


def record_results(conn: sa.Connection, run_id: str, object_name: str, operation: str, outcomes: Iterable[Any],
                   at: datetime) -> int:
    rows = [{"run_id": run_id, "object_name": object_name, "operation": operation, "record_key": o.key,
             "crm_id": o.sf_id or (o.key if operation == "update" else None), "success": o.success,
             "outcome": o.kind, "error_code": o.error_code, "error_message": o.error_message, "attempts": o.attempts,
             "pushed_at": at}
            for o in outcomes]
    if rows:
        conn.execute(sa.insert(push_results), rows)
    return len(rows)


def read_ledger(conn: sa.Connection, keys: Values = None) -> pd.DataFrame:
    """The consent ledger (of everyone, or of the people of ``keys``)."""
    frame = read_in(conn, sa.select(consent_ledger), consent_ledger.c.contact_key, keys)
    frame["changed_at"] = pd.to_datetime(frame["changed_at"], utc=True)
    return frame


def append_ledger(conn: sa.Connection, entries: pd.DataFrame) -> int:
    """Append-only: consent changes are never updated or deleted."""
    if entries.empty:
        return 0
    columns = ["contact_key", "crm_id", "system", "old_value", "new_value", "changed_at", "evidence"]
    rows = [{c: (None if pd.isna(v) else v) for c, v in zip(columns, row, strict=True)}
            for row in entries[columns].itertuples(index=False)]
    conn.execute(sa.insert(consent_ledger), rows)
    return len(rows)


def record_conflicts(conn: sa.Connection, conflicts: pd.DataFrame) -> int:
    if conflicts.empty:
        return 0
    rows = [{"crm_id": r.crm_id, "field": r.field, "marketing_value": to_json(r.marketing_value),
             "salesforce_value": to_json(r.salesforce_value), "winner": r.winner, "rule": r.rule,
             "decided_at": r.decided_at} for r in conflicts.itertuples()]
    conn.execute(sa.insert(push_conflicts), rows)
    return len(rows)


def pushed_activity_keys(conn: sa.Connection, keys: Sequence[str] | None = None) -> set[str]:
    """The activity keys of the Tasks pushed before (of all, or of these ``keys``)."""
    column = pushed_activities.c.activity_key
    return {str(key) for key in read_in(conn, sa.select(column), column, keys)["activity_key"]}


def remember_activities(conn: sa.Connection, rows: list[dict[str, Any]]) -> int:
    return bulk_upsert(conn, pushed_activities, rows, ["activity_key"]) if rows else 0


def record_edit(conn: sa.Connection, contact_key: str, column_name: str, value: Any, changed_at: datetime,
                source: str) -> int:
    """A marketing-side edit of one All Contacts cell, pending until the push settles it; returns its edit_id.

    The cell's current value is kept as ``old_value``: Salesforce holding anything else at push time means it
    changed there too (a two-way conflict)."""
    table = with_runtime_columns(conn, all_contacts)
    old = None
    if column_name in table.c:
        old = conn.execute(sa.select(table.c[column_name]).where(table.c.contact_key == contact_key)
                           ).scalar_one_or_none()
    row = {"contact_key": contact_key, "column_name": column_name, "value": to_json(value),
           "old_value": to_json(old), "changed_at": changed_at, "source": source,
           "status": "pending"}
    bump(conn, MARKETING_EDITS)
    return int(conn.execute(sa.insert(marketing_edits).returning(marketing_edits.c.edit_id), row).scalar_one())


def pending_edits(conn: sa.Connection, keys: Values = None) -> pd.DataFrame:
    """The edits not settled yet (of everyone, or of the people of ``keys``)."""
    frame = read_in(conn, sa.select(marketing_edits).where(marketing_edits.c.status == "pending"),
                    marketing_edits.c.contact_key, keys)
    for column in ("value", "old_value"):
        frame[column] = frame[column].map(from_json)
    frame["changed_at"] = pd.to_datetime(frame["changed_at"], utc=True)
    return frame


def latest_pending_edit_id(conn: sa.Connection) -> int | None:
    return conn.execute(sa.select(sa.func.max(marketing_edits.c.edit_id))
                        .where(marketing_edits.c.status == "pending")).scalar_one_or_none()


def settle_edits(conn: sa.Connection, statuses: dict[int, tuple[str, str]], at: datetime) -> int:
    """Record how each edit ended: edit_id → (status, reason)."""
    if not statuses:
        return 0
    statement = (sa.update(marketing_edits).where(marketing_edits.c.edit_id == sa.bindparam("b_edit_id"))
                 .values(status=sa.bindparam("b_status"), reason=sa.bindparam("b_reason"), settled_at=at))
    conn.execute(statement, [{"b_edit_id": edit_id, "b_status": status, "b_reason": reason or None}
                             for edit_id, (status, reason) in statuses.items()])
    return len(statuses)


def read_refusals(conn: sa.Connection, crm_ids: Values = None) -> pd.DataFrame:
    """The values held back after a refusal (of every record, or of ``crm_ids``)."""
    frame = read_in(conn, sa.select(push_refusals), push_refusals.c.crm_id, crm_ids)
    frame["value"] = frame["value"].map(from_json)
    frame["record_stamp"] = pd.to_datetime(frame["record_stamp"], utc=True)
    return frame


def remember_refusals(conn: sa.Connection, sent: pd.DataFrame, accepted: set[str], held: pd.DataFrame,
                      at: datetime) -> int:
    """Hold back ``held`` (crm_id, field, value, error_code, record_stamp: what the push rules chose to hold after
    a refusal) and release what Salesforce now accepted: the ``sent`` cells (crm_id, field) of ``accepted`` records."""
    held_now = {(crm_id, field) for crm_id, field in conn.execute(sa.select(push_refusals.c.crm_id,
                                                                            push_refusals.c.field))}
    cleared = [{"b_crm_id": row.crm_id, "b_field": row.field} for row in sent.itertuples()
               if row.crm_id in accepted and (row.crm_id, row.field) in held_now]  # the table is small: read it
    if cleared:
        conn.execute(sa.delete(push_refusals).where(push_refusals.c.crm_id == sa.bindparam("b_crm_id"),
                                                    push_refusals.c.field == sa.bindparam("b_field")), cleared)
    rows = [{"crm_id": row.crm_id, "field": row.field, "value": to_json(row.value),
             "error_code": row.error_code, "record_stamp": None if pd.isna(row.record_stamp) else row.record_stamp,
             "refused_at": at} for row in held.itertuples()]
    return bulk_upsert(conn, push_refusals, rows, ["crm_id", "field"]) if rows else 0


def write_consent(conn: sa.Connection, people: pd.DataFrame) -> int:
    """The consent and bounce columns of existing people (by contact_key), as the push round decided them, where they
    differ; moves the CONSENT version when any did. Returns how many people changed."""
    if people.empty:
        return 0
    rows = people.astype(object).where(people.notna(), None).to_dict("records")
    compared = [column for column in people.columns if column != "contact_key"]
    updated = bulk_update(conn, all_contacts, rows, ["contact_key"], only_if_changed=compared)
    if updated:
        bump(conn, CONSENT)
    return updated


def known_and_deleted_emails(conn: sa.Connection) -> tuple[pd.Series, pd.Series]:
    """Every email a person, a link or a live mirrored Lead/Contact holds; and those of deleted Leads/Contacts. Only
    the email and deleted columns are read: the new Leads step asks this of every form submitter."""
    live, deleted = [], []
    for name in PEOPLE_OBJECTS:
        table_name = mirror_table(name)
        if not sa.inspect(conn).has_table(table_name):
            continue
        table = with_runtime_columns(conn, table_name)
        if "email" in table.c:
            rows = pd.read_sql(sa.select(table.c.email, table.c.is_deleted), conn)
            gone = rows["is_deleted"].astype(bool)
            live.append(rows.loc[~gone, "email"])
            deleted.append(rows.loc[gone, "email"])
    people = pd.read_sql(sa.select(all_contacts.c.email), conn)["email"]
    linked = pd.read_sql(sa.select(contact_links.c.email), conn)["email"]
    return (pd.concat([people, linked, *live], ignore_index=True),
            pd.concat([pd.Series(dtype=object), *deleted], ignore_index=True))


def latest_due_refusal(conn: sa.Connection, due_before: datetime, *, fields: Sequence[str] = (),
                       not_fields: Sequence[str] = ()) -> datetime | None:
    """The newest ``refused_at`` not after ``due_before``, among the refusals of ``fields`` (or of every field but
    ``not_fields``): when it moves, a held value has come due again."""
    held = push_refusals.c.field.in_(list(fields)) if fields else push_refusals.c.field.not_in(list(not_fields))
    return conn.execute(sa.select(sa.func.max(push_refusals.c.refused_at))
                        .where(held, push_refusals.c.refused_at <= due_before)).scalar_one_or_none()


def lead_keys_done(conn: sa.Connection, key_field: str, refused_since: datetime) -> set[str]:
    """The new-Lead keys created before (pushed_state) or refused since ``refused_since`` (push_refusals): not to be
    sent again."""
    created = conn.execute(sa.select(pushed_state.c.crm_id).where(pushed_state.c.field == key_field)).scalars()
    refused = conn.execute(sa.select(push_refusals.c.crm_id).where(push_refusals.c.field == key_field,
                                                                   push_refusals.c.refused_at > refused_since)
                           ).scalars()
    return {*created, *refused}


def refused_keys(conn: sa.Connection, key_field: str, refused_since: datetime) -> dict[str, Any]:
    """Records refused since ``refused_since`` that are keyed by ``key_field`` (Tasks): key → the value refused."""
    rows = conn.execute(sa.select(push_refusals.c.crm_id, push_refusals.c.value).where(
        push_refusals.c.field == key_field, push_refusals.c.refused_at > refused_since))
    return {key: from_json(value) for key, value in rows}
