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

from sync_pipeline.store.audience import Values, read_in
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


def _event_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Events in event_id order: a person's score then sums their events in the same order whichever people are
    read, so scoring some people gives the very floats scoring all gives."""
    frame = frame.sort_values("event_id", kind="mergesort", ignore_index=True)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame


def read_events(conn: sa.Connection, emails: Values = None,
                event_types: Sequence[str] | None = None) -> pd.DataFrame:
    """Every stored event, or the events of these emails (and of these types), in event_id order."""
    query = sa.select(engagement_events)
    if event_types is not None:
        query = query.where(engagement_events.c.event_type.in_(list(event_types)))
    return _event_frame(read_in(conn, query, engagement_events.c.email, emails))


def changed_event_emails(conn: sa.Connection, since: int) -> set[str]:
    """The emails of the events stored after the events' version ``since``."""
    return {str(email) for email in changed_keys(conn, engagement_events, "email", since)}


SCORE_READ = (all_contacts.c.contact_key, all_contacts.c.email, all_contacts.c.behavioral_score,
              all_contacts.c.lead_score, all_contacts.c.last_activity_at)


def _score_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame["last_activity_at"] = pd.to_datetime(frame["last_activity_at"], utc=True)
    return frame


def read_scores(conn: sa.Connection, keys: Sequence[str] | None = None) -> pd.DataFrame:
    """Each person's (or the people of ``keys``) contact_key, email, behavioral_score, lead_score and
    last_activity_at."""
    return _score_frame(read_in(conn, sa.select(*SCORE_READ), all_contacts.c.contact_key, keys))


def score_page(conn: sa.Connection, after: str | None, size: int) -> pd.DataFrame:
    """:func:`read_scores` of the next ``size`` people in contact_key order after ``after`` (None: from the first)."""
    query = sa.select(*SCORE_READ).order_by(all_contacts.c.contact_key).limit(size)
    if after is not None:
        query = query.where(all_contacts.c.contact_key > after)
    return _score_frame(pd.read_sql(query, conn))


def page_events(conn: sa.Connection, first_key: str, last_key: str) -> pd.DataFrame:
    """The events of the emails of the people whose contact_key lies in [first_key, last_key], in event_id order
    (one query: the page's emails are a subquery, not a list of bound values)."""
    page = sa.select(all_contacts.c.email).where(all_contacts.c.contact_key.between(first_key, last_key),
                                                 all_contacts.c.email.is_not(None))
    query = sa.select(engagement_events).where(engagement_events.c.email.in_(page.scalar_subquery()))
    return _event_frame(pd.read_sql(query, conn))


def decaying_people(conn: sa.Connection, scored_at: datetime) -> set[str]:
    """The people a day's decay can move when their scores were computed as of ``scored_at`` (scoring rule 8): a
    score above 0, or an event dated at or after ``scored_at``."""
    late = sa.select(engagement_events.c.email).where(engagement_events.c.occurred_at >= scored_at)
    query = sa.select(all_contacts.c.contact_key).where(sa.or_(
        all_contacts.c.behavioral_score > 0, all_contacts.c.email.in_(late.scalar_subquery())))
    return {str(key) for key in conn.execute(query).scalars()}


def write_scores(conn: sa.Connection, changed: pd.DataFrame, decimals_only: pd.DataFrame, stamp: int) -> int:
    """behavioral_score, lead_score and last_activity_at of existing people (by contact_key), where they differ
    (scoring rule 7): the ``changed`` people are stamped ``stamp`` (:func:`next_version` of All Contacts, taken once
    for a whole scoring run), those whose decimals alone moved are not. Returns how many rows changed; the run
    ends with :func:`finish_scores`."""
    written = 0
    for frame, columns in ((changed.assign(**{CHANGE_SEQ: stamp}), ["lead_score", "last_activity_at"]),
                           (decimals_only, ["behavioral_score"])):
        if frame.empty:
            continue
        table = pa.Table.from_pandas(frame.astype(object).where(frame.notna(), None), preserve_index=False)
        written += bulk_update(conn, all_contacts, table, ["contact_key"], only_if_changed=columns)
    return written


def finish_scores(conn: sa.Connection, stamp: int, written: int) -> int:
    """After the writes of a scoring run: All Contacts takes version ``stamp`` when a row was stamped with it, and
    the scores' version moves when any score was written. Returns the people changed (stamped)."""
    changed = record_stamped_change(conn, ALL_CONTACTS, all_contacts, stamp)
    if written:
        bump(conn, SCORES)
    return changed


def latest_ingested_at(conn: sa.Connection, event_types: Sequence[str]) -> datetime | None:
    """When the latest event of these types was stored (set by this database, so a back-dated event counts)."""
    return conn.execute(sa.select(sa.func.max(engagement_events.c.ingested_at))
                        .where(engagement_events.c.event_type.in_(list(event_types)))).scalar_one_or_none()
