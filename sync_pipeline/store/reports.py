"""What the analyst reports read, narrowed in SQL to the rows and columns their rules use.

The report rules (``rules/funnel.py``, ``rules/roi.py``, ``rules/hot_prospects.py``) take whole frames; these
queries hand them the same answer from far less: only active people and the columns a rule reads, only live rows of
the sales objects, only the links a rule resolves, and for hot prospects only the people who can be ranked at all.
A step-level test holds each narrowed input to the rule's answer on the whole tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from sync_pipeline.records.mirror import mirror_table
from sync_pipeline.store.audience import with_runtime_columns
from sync_pipeline.store.tables import all_contacts, contact_links, engagement_events, list_members

PERSON_TIMES = ("last_activity_at", "system_modstamp", "hard_bounced_at")


def _frame(conn: sa.Connection, query: sa.Select, names: Sequence[str]) -> pd.DataFrame:
    frame = pd.read_sql(query, conn)
    for name in PERSON_TIMES:
        if name in frame:
            frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame.reindex(columns=[name for name in names if name in frame.columns])


def _people_table(conn: sa.Connection, columns: Sequence[str]) -> tuple[sa.Table, list[str]]:
    """All Contacts as the database holds it, and which of ``columns`` it has (a mapped column may not exist)."""
    table = with_runtime_columns(conn, all_contacts)
    return table, [name for name in dict.fromkeys(["contact_key", *columns]) if name in table.c]


def active_people(conn: sa.Connection, columns: Sequence[str]) -> pd.DataFrame:
    """The active people (``is_active``), with contact_key and those of ``columns`` the table has."""
    table, names = _people_table(conn, ["is_active", *columns])
    return _frame(conn, sa.select(*(table.c[name] for name in names)).where(table.c.is_active.is_(True)), names)


def live_rows(conn: sa.Connection, object_name: str, columns: Sequence[str]) -> pd.DataFrame:
    """The object's mirror rows that are not deleted, with id, is_deleted and those of ``columns`` it has (an
    empty frame when the object was never pulled)."""
    name = mirror_table(object_name)
    if not sa.inspect(conn).has_table(name):
        return pd.DataFrame({"id": pd.Series(dtype="string"), "is_deleted": pd.Series(dtype=bool)})
    table = with_runtime_columns(conn, name)
    names = [column for column in dict.fromkeys(["id", "is_deleted", *columns]) if column in table.c]
    frame = _frame(conn, sa.select(*(table.c[n] for n in names)).where(table.c.is_deleted.is_(False)), names)
    frame["is_deleted"] = frame["is_deleted"].astype(bool)
    return frame


def _record_ids(conn: sa.Connection, object_name: str, columns: Sequence[str]) -> list[sa.Select]:
    """One query per column of the object's live mirror rows that names a Lead or Contact."""
    name = mirror_table(object_name)
    if not sa.inspect(conn).has_table(name):
        return []
    table = with_runtime_columns(conn, name)
    return [sa.select(table.c[column]).where(table.c.is_deleted.is_(False), table.c[column].is_not(None))
            for column in columns if column in table.c]


def report_links(conn: sa.Connection) -> pd.DataFrame:
    """The contact_links a report resolves: the records named by live contact roles and campaign members, and every
    link of a converted person (one with a Lead and a Contact link), in (contact_key, crm_id) order."""
    links = contact_links
    other = links.alias("other")
    converted = sa.exists().where(other.c.contact_key == links.c.contact_key, other.c.crm_type != links.c.crm_type)
    named = [*_record_ids(conn, "OpportunityContactRole", ["contactid"]),
             *_record_ids(conn, "CampaignMember", ["leadid", "contactid"])]
    wanted = sa.or_(converted, *(links.c.crm_id.in_(query.scalar_subquery()) for query in named))
    query = (sa.select(links.c.crm_id, links.c.crm_type, links.c.contact_key, links.c.email).where(wanted)
             .order_by(links.c.contact_key, links.c.crm_id))
    return pd.read_sql(query, conn)


def hot_prospect_candidates(conn: sa.Connection, list_names: Sequence[str], *, min_score: float, since: datetime,
                            columns: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The people who can be ranked (active, score above ``min_score``, activity at or after ``since``, an active
    member of one of the lists) with ``columns``, and their memberships (contact_key, list_name)."""
    table, names = _people_table(conn, ["is_active", "behavioral_score", "last_activity_at", *columns])
    members = list_members
    is_candidate: list[sa.ColumnElement[Any]] = [
        table.c.is_active.is_(True), table.c.behavioral_score > min_score, table.c.last_activity_at >= since]
    in_lists = [members.c.list_name.in_(list(list_names)), members.c.is_active.is_(True),
                members.c.contact_key.is_not(None)]
    candidates = sa.select(members.c.contact_key, members.c.list_name).join(
        table, table.c.contact_key == members.c.contact_key).where(*in_lists, *is_candidate)
    memberships = pd.read_sql(candidates.distinct(), conn)
    chosen = sa.select(*(table.c[name] for name in names)).where(
        *is_candidate, table.c.contact_key.in_(sa.select(members.c.contact_key).where(*in_lists).scalar_subquery()))
    return _frame(conn, chosen, names), memberships


def engaged_people(conn: sa.Connection, event_types: Sequence[str], start: datetime, end: datetime) -> set[str]:
    """The contact_keys of the active people with an event of ``event_types`` in [start, end] (both included)."""
    events = engagement_events
    query = (sa.select(all_contacts.c.contact_key).distinct()
             .join(events, events.c.email == all_contacts.c.email)
             .where(all_contacts.c.is_active.is_(True), events.c.event_type.in_(list(event_types)),
                    events.c.occurred_at >= start, events.c.occurred_at <= end))
    return {str(key) for key in conn.execute(query).scalars()}
