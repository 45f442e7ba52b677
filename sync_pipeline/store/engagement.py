"""Engagement events and scores in the marketing database.

Events are stored once per event_id (insert-only upsert): a file read twice, or an event seen in two files, counts
once. Files are remembered by path, size and modification time, so a sensor can tell new or grown files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from sync_pipeline.store.audience import read_in
from sync_pipeline.store.tables import all_contacts, engagement_events, ingested_files
from sync_pipeline.store.types import utc_now
from sync_pipeline.store.upsert import bulk_update, bulk_upsert
from sync_pipeline.store.versions import (
    ALL_CONTACTS,
    CHANGE_SEQ,
    ENGAGEMENT_EVENTS,
    SCORES,
    bump,
    changed_keys,
    next_version,
    record_stamped_change,
)

EVENT_COLUMNS = ("event_id", "event_type", "email", "occurred_at", "campaign", "email_name", "url", "form", "reason",
                 "source")


@dataclass(frozen=True)
class DropFile:
    path: Path
    size: int
    modified_at: float


def drop_files(folder: Path) -> list[DropFile]:
    """The event files of the drop folder (``*.jsonl``), oldest first."""
    if not folder.is_dir():
        return []
    files = [DropFile(p, p.stat().st_size, p.stat().st_mtime) for p in folder.glob("*.jsonl") if p.is_file()]
    return sorted(files, key=lambda f: (f.modified_at, str(f.path)))


def pending_files(conn: sa.Connection, folder: Path) -> list[DropFile]:
    """Files never read, or changed since they were read."""
    seen = {row.path: (row.size, row.modified_at) for row in conn.execute(sa.select(ingested_files))}
    return [f for f in drop_files(folder) if seen.get(str(f.path)) != (f.size, f.modified_at)]


def store_events(conn: sa.Connection, events: pd.DataFrame) -> int:
    """Insert the events not stored yet; returns how many were new."""
    if events.empty:
        return 0
    stamp = next_version(conn, ENGAGEMENT_EVENTS)  # the new events carry it: a reader finds them by it
    frame = events[list(EVENT_COLUMNS)].assign(ingested_at=utc_now(), **{CHANGE_SEQ: stamp})
    table = pa.Table.from_pandas(frame.astype(object).where(frame.notna(), None), preserve_index=False)
    bulk_upsert(conn, engagement_events, table, ["event_id"], update_columns=[])
    return record_stamped_change(conn, ENGAGEMENT_EVENTS, engagement_events, stamp)


def remember_file(conn: sa.Connection, file: DropFile, *, events: int, rejected: int) -> None:
    bulk_upsert(conn, ingested_files, [{"path": str(file.path), "size": file.size, "modified_at": file.modified_at,
                                        "events": events, "rejected": rejected, "ingested_at": utc_now()}], ["path"])


def read_events(conn: sa.Connection, emails: Sequence[str] | None = None,
                event_types: Sequence[str] | None = None) -> pd.DataFrame:
    """Every stored event, or the events of these emails (and of these types), in event_id order: a person's score
    then sums their events in the same order whichever people are read, so scoring some people gives the very
    floats scoring all gives."""
    query = sa.select(engagement_events)
    if event_types is not None:
        query = query.where(engagement_events.c.event_type.in_(list(event_types)))
    frame = read_in(conn, query, engagement_events.c.email, emails)
    frame = frame.sort_values("event_id", kind="mergesort", ignore_index=True)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame


def changed_event_emails(conn: sa.Connection, since: int) -> set[str]:
    """The emails of the events stored after the events' version ``since``."""
    return {str(email) for email in changed_keys(conn, engagement_events, "email", since)}


def read_scores(conn: sa.Connection, keys: Sequence[str] | None = None) -> pd.DataFrame:
    """Each person's (or the people of ``keys``) contact_key, email, behavioral_score and lead_score."""
    return read_in(conn, sa.select(all_contacts.c.contact_key, all_contacts.c.email, all_contacts.c.behavioral_score,
                                   all_contacts.c.lead_score), all_contacts.c.contact_key, keys)


def write_scores(conn: sa.Connection, scores: pd.DataFrame) -> int:
    """behavioral_score, lead_score and last_activity_at of existing people (by contact_key), where they differ; the
    people changed are stamped as changed All Contacts rows (the push reads them). Returns how many changed."""
    columns = [c for c in ("contact_key", "behavioral_score", "lead_score", "last_activity_at") if c in scores]
    stamp = next_version(conn, ALL_CONTACTS)
    frame = scores[columns].assign(**{CHANGE_SEQ: stamp})
    table = pa.Table.from_pandas(frame.astype(object).where(frame.notna(), None), preserve_index=False)
    bulk_update(conn, all_contacts, table, ["contact_key"], only_if_changed=columns[1:])
    changed = record_stamped_change(conn, ALL_CONTACTS, all_contacts, stamp)
    if changed:
        bump(conn, SCORES)
    return changed


def latest_ingested_at(conn: sa.Connection, event_types: Sequence[str]) -> datetime | None:
    """When the latest event of these types was stored (set by this database, so a back-dated event counts)."""
    return conn.execute(sa.select(sa.func.max(engagement_events.c.ingested_at))
                        .where(engagement_events.c.event_type.in_(list(event_types)))).scalar_one_or_none()
