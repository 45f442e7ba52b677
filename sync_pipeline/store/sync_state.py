"""What the store remembers between runs: the org it is bound to, and where each object's last pull ended.

Every function takes a ``sqlalchemy.Connection`` and never commits: the caller writes the cursor in the same
transaction as the rows it describes, so a run killed between the two leaves neither (the next run re-reads the
same window) rather than a cursor past rows that were never stored.

Timestamps come out timezone-aware in UTC on every backend; cursors going in must be timezone-aware.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from sync_pipeline.store.tables import org_state, sync_state
from sync_pipeline.store.types import utc_now
from sync_pipeline.store.upsert import bulk_upsert

ORG_ROW_ID = 1


@dataclass(frozen=True)
class OrgState:
    """The Salesforce org this marketing database is bound to."""

    org_id: str
    org_name: str
    is_sandbox: bool
    instance_host: str
    first_connected_at: datetime
    last_connected_at: datetime


@dataclass(frozen=True)
class ObjectSyncState:
    """Where the last committed pull of one Salesforce object ended."""

    object_name: str
    cursor: datetime | None  # SystemModstamp upper bound of the last committed pull
    cursor_id: str | None  # the last Id at the cursor, to break ties between equal stamps
    last_full_sync_at: datetime | None
    mapped_fields_hash: str | None  # the set of pulled fields then; a change forces a full sync
    last_deleted_check_at: datetime | None = None  # the last getDeleted call for this object


def read_org_state(conn: sa.Connection) -> OrgState | None:
    """The bound org, or None before the first successful connection (or after :func:`reset_org`)."""
    row = conn.execute(sa.select(org_state).where(org_state.c.id == ORG_ROW_ID)).mappings().first()
    if row is None:
        return None
    return OrgState(
        org_id=row["org_id"],
        org_name=row["org_name"],
        is_sandbox=bool(row["is_sandbox"]),
        instance_host=row["instance_host"],
        first_connected_at=row["first_connected_at"],
        last_connected_at=row["last_connected_at"],
    )


def remember_org(conn: sa.Connection, *, org_id: str, org_name: str, is_sandbox: bool, instance_host: str) -> None:
    """Store the org on first connection; afterwards refresh its name, host and last-connected time.

    ``first_connected_at`` is never rewritten. Whether this org may be stored is the caller's rule
    (``steps.connect.bind_org`` refuses another org until :func:`reset_org`)."""
    now = utc_now()
    row = {
        "id": ORG_ROW_ID,
        "org_id": org_id,
        "org_name": org_name,
        "is_sandbox": is_sandbox,
        "instance_host": instance_host,
        "first_connected_at": now,
        "last_connected_at": now,
    }
    refreshed = ["org_name", "is_sandbox", "instance_host", "last_connected_at"]
    bulk_upsert(conn, org_state, [row], ["id"], update_columns=refreshed)


def reset_org(conn: sa.Connection) -> None:
    """Unbind the org and forget every cursor, so the next sync binds afresh and pulls everything in full."""
    conn.execute(sa.delete(sync_state))
    conn.execute(sa.delete(org_state))


def read_sync_state(conn: sa.Connection, object_name: str) -> ObjectSyncState | None:
    """The state of one object's pulls; None when it was never pulled (the next pull is full)."""
    row = conn.execute(sa.select(sync_state).where(sync_state.c.object_name == object_name)).mappings().first()
    if row is None:
        return None
    return ObjectSyncState(
        object_name=row["object_name"],
        cursor=row["cursor"],
        cursor_id=row["cursor_id"],
        last_full_sync_at=row["last_full_sync_at"],
        mapped_fields_hash=row["mapped_fields_hash"],
        last_deleted_check_at=row["last_deleted_check_at"],
    )


def write_sync_state(
    conn: sa.Connection,
    object_name: str,
    *,
    cursor: datetime | None,
    cursor_id: str | None,
    mapped_fields_hash: str | None,
    full_sync: bool,
) -> None:
    """Record where a pull ended, in the caller's transaction.

    A full sync also stamps ``last_full_sync_at`` with now (the periodic full-sync clock restarts); an incremental
    one keeps the previous stamp.
    """
    if cursor is not None and cursor.tzinfo is None:
        raise ValueError(f"the cursor of {object_name} must be timezone-aware, got {cursor!r}")
    now = utc_now()
    row = {
        "object_name": object_name,
        "cursor": cursor,
        "cursor_id": cursor_id,
        "mapped_fields_hash": mapped_fields_hash,
        "updated_at": now,
        "last_full_sync_at": now if full_sync else None,
    }
    updated = ["cursor", "cursor_id", "mapped_fields_hash", "updated_at"]
    if full_sync:
        updated.append("last_full_sync_at")
    bulk_upsert(conn, sync_state, [row], ["object_name"], update_columns=updated)


def write_deleted_check(conn: sa.Connection, object_name: str, checked_at: datetime) -> None:
    """Remember when getDeleted was last asked for this object (the pull asks at most once a day)."""
    conn.execute(
        sa.update(sync_state).where(sync_state.c.object_name == object_name).values(last_deleted_check_at=checked_at)
    )
