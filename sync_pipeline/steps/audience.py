"""The audience steps: All Contacts from the Lead and Contact mirrors, and the sales users (lists: ``steps.lists``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.records.mirror import PEOPLE_OBJECTS, mirror_column
from sync_pipeline.records.values import checkbox
from sync_pipeline.rules.audience import normalize_email
from sync_pipeline.rules.contacts import STANDARD_COLUMNS, build_all_contacts, column_sources
from sync_pipeline.salesforce.connect import SalesforceConnection
from sync_pipeline.settings import SyncSettings
from sync_pipeline.steps.changes import StepInputs, Unchanged, step_inputs, whole_pass_cheaper
from sync_pipeline.steps.connect import DESCRIBED_OBJECTS
from sync_pipeline.store.audience import (
    audience_totals,
    changed_record_ids,
    links_touching,
    mirror_rows,
    read_links,
    read_mirror,
    write_all_contacts,
    write_sales_users,
)
from sync_pipeline.store.quarantine import record_quarantine
from sync_pipeline.store.versions import mirror_dataset

AUDIENCE_STEP = "all_contacts"
SALES_USERS_STEP = "sales_users"
QUARANTINE_WARN_SHARE = 0.05  # the quarantine_share check warns above this share of records quarantined


@dataclass(frozen=True)
class AudienceResult:
    """What one build of All Contacts did: over every record (``full``), or over the changed records and everyone
    linked to them (then ``counts`` are the org's totals, read back from the store)."""

    people: pd.DataFrame  # the rows built (for the preview)
    rows_written: int  # people changed (new ones included)
    counts: dict[str, int]
    quarantined_values: int  # values failing validation now, of the records examined
    newly_quarantined: int  # of those, recorded by this build (the rest were already in the quarantine)
    api_calls: int
    records_examined: int
    full: bool

    @property
    def records(self) -> int:
        return int(self.counts["leads"] + self.counts["contacts"])

    @property
    def quarantined_share(self) -> float:
        return self.counts["quarantined_records"] / self.records if self.records else 0.0

    def as_metadata(self) -> dict[str, Any]:
        counts = {name: count for name, count in self.counts.items() if name != "quarantined_records"}
        return {"table": "all_contacts", "rows_written": self.rows_written, **counts,
                "build": "every record" if self.full else "changed records and everyone linked to them",
                "keys_examined": self.records_examined, "people_built": len(self.people),
                "keys_changed": self.rows_written,
                "records_quarantined": int(self.counts["quarantined_records"]),
                "quarantined_values": self.quarantined_values, "newly_quarantined_values": self.newly_quarantined,
                "quarantined_share": round(self.quarantined_share, 4), "api_calls": self.api_calls}


@dataclass(frozen=True)
class _Records:
    """The mirror rows a build reads, and the links it keys them with."""

    leads: pd.DataFrame
    contacts: pd.DataFrame
    links: pd.DataFrame
    full: bool

    def ids(self, object_name: str) -> list[str]:
        frame = self.leads if object_name == "Lead" else self.contacts
        return [str(i) for i in frame["id"]]


def build_audience(engine: Engine, connection: SalesforceConnection, settings: SyncSettings,
                   run_id: str) -> AudienceResult | Unchanged:
    """All Contacts and its links from the mirrors; every record examined is validated, failures quarantined.
    Nothing to do (:class:`Unchanged`) while neither mirror nor the settings changed; after a change, only the
    changed records and everyone linked to them are built again (:func:`_linked_records`)."""
    inputs, unchanged = step_inputs(engine, AUDIENCE_STEP, [mirror_dataset(name) for name in PEOPLE_OBJECTS],
                                    settings)
    if unchanged:
        return unchanged
    with engine.connect() as conn:
        records = _records_to_build(conn, inputs, settings)
    calls_before = connection.usage.calls
    # Field lengths, restricted picklists and required fields come from the org's own metadata (asked once).
    describes = {name: connection.describe(name) for name in DESCRIBED_OBJECTS}
    build = build_all_contacts(records.leads, records.contacts, settings, records.links, describes)
    custom = {s.column: s.marketing_type for s in column_sources(settings) if s.column not in STANDARD_COLUMNS}
    with engine.begin() as conn:
        written = write_all_contacts(conn, build.all_contacts, build.links, custom)
        # The quarantine keeps what fails now of the records examined, each value once.
        newly = sum(record_quarantine(conn, run_id, object_name, rejections,
                                      record_ids=None if records.full else records.ids(object_name)).added
                    for object_name, rejections in build.rejections_by_object.items())
        counts = dict(build.counts) if records.full else audience_totals(conn)
        inputs.done(conn, run_id)
    return AudienceResult(build.all_contacts, written, counts, len(build.rejections), newly,
                          connection.usage.calls - calls_before, len(records.leads) + len(records.contacts),
                          records.full)


def _records_to_build(conn: sa.Connection, inputs: StepInputs, settings: SyncSettings) -> _Records:
    """Every record when the step never ran with these settings or most records changed, else the changed ones and
    those linked to them."""
    changed: dict[str, set[str]] = {}
    for name in PEOPLE_OBJECTS:
        since = inputs.since(mirror_dataset(name))
        if since is None:
            return _Records(read_mirror(conn, "Lead"), read_mirror(conn, "Contact"), read_links(conn), full=True)
        changed[name] = changed_record_ids(conn, name, since)
    count = sum(len(ids) for ids in changed.values())
    if whole_pass_cheaper(count, sum(mirror_rows(conn, name) for name in PEOPLE_OBJECTS)):
        return _Records(read_mirror(conn, "Lead"), read_mirror(conn, "Contact"), read_links(conn), full=True)
    return _linked_records(conn, changed, _email_columns(settings))


def _email_columns(settings: SyncSettings) -> dict[str, str | None]:
    """The mirror column each object's email is read from."""
    email = next(source for source in column_sources(settings) if source.column == "email")
    return {name: mirror_column(field) if (field := email.fields[name]) else None for name in PEOPLE_OBJECTS}


def _linked_records(conn: sa.Connection, changed: dict[str, set[str]],
                    email_columns: dict[str, str | None]) -> _Records:
    """The changed records and, until nothing more joins, every record linked to them: of the same person (stored
    links), under the same normalized email (stored links and the records' own emails), converted into or from
    them. Built together, they make the same people a build of every record would make (keys are stable, and a
    new record joins only a person known under its email or a record converted into or from it)."""
    ids = {name: set(values) for name, values in changed.items()}
    frames = {name: read_mirror(conn, name, sorted(values)) for name, values in ids.items()}
    while True:
        emails = _emails(frames, email_columns)
        links = links_touching(conn, crm_ids=sorted(ids["Lead"] | ids["Contact"]), emails=sorted(emails))
        links = links_touching(conn, crm_ids=sorted(ids["Lead"] | ids["Contact"]),
                               contact_keys=sorted(set(links["contact_key"])),
                               emails=sorted(emails | set(links["email"].dropna())))
        grown = _grown(ids, frames["Lead"], links)
        if grown == ids:
            return _Records(frames["Lead"], frames["Contact"], links, full=False)
        for name in PEOPLE_OBJECTS:
            new = sorted(grown[name] - ids[name])
            if new:
                frames[name] = pd.concat([frames[name], read_mirror(conn, name, new)], ignore_index=True)
        ids = grown


def _emails(frames: dict[str, pd.DataFrame], email_columns: dict[str, str | None]) -> set[str]:
    found: set[str] = set()
    for name, frame in frames.items():
        column = email_columns[name]
        if column and column in frame.columns:
            found |= {str(email) for email in normalize_email(frame[column]).dropna()}
    return found


def _grown(ids: dict[str, set[str]], leads: pd.DataFrame, links: pd.DataFrame) -> dict[str, set[str]]:
    """``ids`` with the records of ``links`` and the Contacts the Leads read so far were converted into. (The Leads
    converted into a Contact need no search: a conversion changes the Lead itself, and a Contact built before keeps
    its own person.)"""
    grown = {name: set(values) for name, values in ids.items()}
    for name in PEOPLE_OBJECTS:
        grown[name] |= {str(i) for i in links.loc[links["crm_type"] == name, "crm_id"]}
    if "convertedcontactid" in leads.columns:
        grown["Contact"] |= {str(i) for i in leads["convertedcontactid"].dropna() if str(i)}
    return grown


@dataclass(frozen=True)
class SalesUsersResult:
    rows: list[dict[str, Any]]

    def as_metadata(self) -> dict[str, Any]:
        return {"table": "sales_users", "rows": len(self.rows), "active": sum(1 for r in self.rows if r["is_active"])}


def sync_sales_users(engine: Engine, settings: SyncSettings, run_id: str) -> SalesUsersResult | Unchanged:
    """The org's Users, active and inactive, from the sf_user mirror (nothing to do while it did not change)."""
    inputs, unchanged = step_inputs(engine, SALES_USERS_STEP, [mirror_dataset("User")], settings)
    if unchanged:
        return unchanged
    with engine.connect() as conn:
        users = read_mirror(conn, "User")
    now = datetime.now(UTC)
    rows = [{"user_id": row.id, "name": row.name, "email": row.email, "username": row.username, "title": row.title,
             "department": row.department, "is_active": bool(checkbox(row.isactive)) and not row.is_deleted,
             "updated_at": now} for row in users.itertuples()]
    with engine.begin() as conn:
        write_sales_users(conn, rows)
        inputs.done(conn, run_id)
    return SalesUsersResult(rows)


__all__ = ["AUDIENCE_STEP", "QUARANTINE_WARN_SHARE", "SALES_USERS_STEP", "AudienceResult", "SalesUsersResult",
           "Unchanged", "build_audience", "sync_sales_users"]
