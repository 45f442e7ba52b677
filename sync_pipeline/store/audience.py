"""Reading mirrors and writing the audience tables: All Contacts, contact links, list members, sales users, reports.

``all_contacts`` gets one extra column per mapped custom field and ``list_members`` one per list column; they are
added here at run time (typed by the mapping for All Contacts, text for lists), never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from sync_pipeline.records.mirror import mirror_table
from sync_pipeline.store.columns import add_missing_columns
from sync_pipeline.store.tables import (
    all_contacts,
    contact_links,
    list_members,
    quarantine,
    sales_users,
)
from sync_pipeline.store.types import UtcDateTime, utc_now
from sync_pipeline.store.upsert import bulk_upsert, chunks
from sync_pipeline.store.versions import (
    ALL_CONTACTS,
    CHANGE_SEQ,
    SALES_USERS,
    bump,
    changed_keys,
    list_dataset,
    next_version,
    record_stamped_change,
)

IDS_PER_QUERY = 5000  # values of one IN list: well under every backend's bound-parameter limit

MARKETING_SQL_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "text": sa.Text(), "email": sa.Text(), "multi_text": sa.Text(), "number": sa.Float(), "score": sa.Float(),
    "boolean": sa.Boolean(), "date": sa.Date(), "datetime": UtcDateTime(),
}


def with_runtime_columns(conn: sa.Connection, table: sa.Table | str) -> sa.Table:
    """The table as the database holds it: with the columns the mapping and the lists added at run time."""
    return sa.Table(table if isinstance(table, str) else table.name, sa.MetaData(), autoload_with=conn)


@dataclass(frozen=True)
class KeyRange:
    """One page of keys: those after ``after`` up to ``last`` (None: no bound on that side), of contact_keys unless
    told. The pages of :func:`key_ranges` cover every key, so a row keyed by a person unknown to All Contacts (a
    pending edit of a removed person) still falls in exactly one page."""

    after: str | None
    last: str | None

    def holds(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        bounds: list[sa.ColumnElement[bool]] = [sa.true()]
        if self.after is not None:
            bounds.append(column > self.after)
        if self.last is not None:
            bounds.append(column <= self.last)
        return sa.and_(*bounds)

    def contact_keys(self) -> sa.Select[Any]:
        return sa.select(all_contacts.c.contact_key).where(self.holds(all_contacts.c.contact_key))

    def emails(self) -> sa.Select[Any]:
        return sa.select(all_contacts.c.email).where(self.holds(all_contacts.c.contact_key),
                                                     all_contacts.c.email.is_not(None))

    def record_ids(self, crm_type: str | None = None) -> sa.Select[Any]:
        """The Salesforce records linked to the page's people (of one type, if given)."""
        query = sa.select(contact_links.c.crm_id).where(self.holds(contact_links.c.contact_key))
        return query if crm_type is None else query.where(contact_links.c.crm_type == crm_type)


# Which rows a read takes: every row (None), the rows of these values (IN lists), of the values a query selects, or
# of a page of people (one query each: a page read by its key range needs no list of bound values).
Values = Sequence[Any] | sa.Select[Any] | KeyRange | None


def read_in(conn: sa.Connection, query: sa.Select, column: sa.ColumnElement[Any], values: Values) -> pd.DataFrame:
    """``query`` as a frame; with ``values``, only its rows whose ``column`` is one of them (IN lists of
    IDS_PER_QUERY values, or one query for a subquery or a page of people keyed by ``column``)."""
    if values is None:
        return pd.read_sql(query, conn)
    if isinstance(values, sa.Select):
        return pd.read_sql(query.where(column.in_(values.scalar_subquery())), conn)
    if isinstance(values, KeyRange):
        return pd.read_sql(query.where(values.holds(column)), conn)
    parts = [pd.read_sql(query.where(column.in_(part)), conn) for part in chunks(sorted(set(values)), IDS_PER_QUERY)]
    parts = [part for part in parts if not part.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.read_sql(query.limit(0), conn)


def key_ranges(conn: sa.Connection, column: sa.Column[Any], size: int) -> list[KeyRange]:
    """Every value of ``column`` (an indexed key: contact_key, or the events' email) in pages of about ``size``
    rows, in the column's order (one small query per page: its last value; a page takes every row of its last
    value, so a value is never split)."""
    values = sa.select(column).where(column.is_not(None)).order_by(column)
    final = conn.execute(sa.select(sa.func.max(column))).scalar_one_or_none()
    pages: list[KeyRange] = []
    after: str | None = None
    while True:
        page = values if after is None else values.where(column > after)
        last = conn.execute(page.offset(size - 1).limit(1)).scalar_one_or_none()
        if last is None or last == final:
            return [*pages, KeyRange(after, None)]
        pages.append(KeyRange(after, str(last)))
        after = str(last)


def read_people(conn: sa.Connection, keys: Values = None, *, by: str = "contact_key") -> pd.DataFrame:
    """All Contacts (or the people whose ``by`` column, the contact_key unless told, is one of ``keys``) with its
    run-time columns, times as UTC."""
    table = with_runtime_columns(conn, all_contacts)
    frame = read_in(conn, sa.select(table), table.c[by], keys)
    for name in ("last_activity_at", "system_modstamp", "hard_bounced_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


def read_mirror(conn: sa.Connection, object_name: str, ids: Values = None, *,
                by: str = "id") -> pd.DataFrame:
    """Every row of an object's mirror, or the rows whose ``by`` column (the Id unless told) is one of ``ids``
    (empty frame with the fixed columns when it was never pulled, or has no ``by`` column). The change stamp is the
    store's, not the record's: it is left out."""
    name = mirror_table(object_name)
    if not sa.inspect(conn).has_table(name):
        return pd.DataFrame({"id": pd.Series(dtype="string"), "is_deleted": pd.Series(dtype=bool)})
    table = with_runtime_columns(conn, name)
    query = sa.select(*(c for c in table.c if c.name != CHANGE_SEQ))
    if by not in table.c:
        query, ids = query.where(sa.false()), None
    frame = read_in(conn, query, table.c.get(by, table.c.id), ids)
    frame["is_deleted"] = frame["is_deleted"].astype(bool)
    if "system_modstamp" in frame:
        frame["system_modstamp"] = pd.to_datetime(frame["system_modstamp"], utc=True)
    return frame


def changed_record_ids(conn: sa.Connection, object_name: str, since: int) -> set[str]:
    """The ids of the mirror's rows changed after its version ``since``."""
    name = mirror_table(object_name)
    if not sa.inspect(conn).has_table(name):
        return set()
    return {str(i) for i in changed_keys(conn, with_runtime_columns(conn, name), "id", since)}


def changed_people(conn: sa.Connection, since: int) -> set[str]:
    """The contact_keys of the people whose All Contacts row changed after its version ``since``."""
    return {str(k) for k in changed_keys(conn, all_contacts, "contact_key", since)}


def people_count(conn: sa.Connection) -> int:
    """How many people All Contacts holds (active and inactive)."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(all_contacts)).scalar_one())


def people_with_emails(conn: sa.Connection, emails: Sequence[str]) -> set[str]:
    """The contact_keys of the people whose email is one of ``emails``."""
    return {str(k) for k in read_in(conn, sa.select(all_contacts.c.contact_key), all_contacts.c.email,
                                    emails)["contact_key"]}


def ensure_columns(conn: sa.Connection, table: sa.Table, columns: Mapping[str, sa.types.TypeEngine[Any]]) -> sa.Table:
    """Add the columns the table lacks; returns the table as it now is (reflected)."""
    add_missing_columns(conn, table.name, columns)
    return with_runtime_columns(conn, table)


LINK_COLUMNS = [column for column in contact_links.c if column.name != CHANGE_SEQ]


def changed_link_ids(conn: sa.Connection, since: int, crm_types: Sequence[str]) -> set[str]:
    """The records of these types whose link (person, type or email) changed after All Contacts version ``since``."""
    return {str(crm_id) for crm_id in conn.execute(sa.select(contact_links.c.crm_id).where(
        contact_links.c[CHANGE_SEQ] > since, contact_links.c.crm_type.in_(list(crm_types)))).scalars()}


def read_links(conn: sa.Connection, page: KeyRange | None = None) -> pd.DataFrame:
    """contact_links (of everyone, or of one page of people): which person (contact_key) each Salesforce record
    (crm_id, crm_type, email) belongs to, in (contact_key, crm_id) order: of two people known under one email, a new
    record joins the one first in it."""
    query = sa.select(*LINK_COLUMNS).order_by(contact_links.c.contact_key, contact_links.c.crm_id)
    if page is not None:
        query = query.where(page.holds(contact_links.c.contact_key))
    return pd.read_sql(query, conn)


def links_touching(conn: sa.Connection, *, crm_ids: Sequence[str] = (), contact_keys: Sequence[str] = (),
                   emails: Sequence[str] = ()) -> pd.DataFrame:
    """The links of these records, of these people, or known under these emails, in :func:`read_links` order."""
    parts = []
    for column, values in ((contact_links.c.crm_id, crm_ids), (contact_links.c.contact_key, contact_keys),
                           (contact_links.c.email, emails)):
        for part in chunks(sorted(set(values)), IDS_PER_QUERY):
            parts.append(pd.read_sql(sa.select(*LINK_COLUMNS).where(column.in_(part)), conn))
    if not parts:
        return pd.read_sql(sa.select(*LINK_COLUMNS).limit(0), conn)
    found = pd.concat([part for part in parts if not part.empty] or parts[:1], ignore_index=True)
    found = found.drop_duplicates("crm_id")
    return found.sort_values(["contact_key", "crm_id"], kind="mergesort").reset_index(drop=True)


def mirror_rows(conn: sa.Connection, object_name: str) -> int:
    """How many records the object's mirror holds (deleted ones included)."""
    name = mirror_table(object_name)
    if not sa.inspect(conn).has_table(name):
        return 0
    return int(conn.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one())


def audience_totals(conn: sa.Connection) -> dict[str, int]:
    """Leads and Contacts mirrored, people (active, inactive) and the records quarantined now, org-wide."""
    totals = {"leads": mirror_rows(conn, "Lead"), "contacts": mirror_rows(conn, "Contact")}
    people, active = conn.execute(sa.select(sa.func.count(), sa.func.count().filter(all_contacts.c.is_active))
                                  ).one()
    quarantined = sum(int(conn.execute(sa.select(sa.func.count(sa.distinct(quarantine.c.record_id))).where(
        quarantine.c.object_name == object_name, quarantine.c.source.is_(None))).scalar_one())
        for object_name in ("Lead", "Contact"))
    return {**totals, "people": int(people), "active": int(active), "inactive": int(people) - int(active),
            "quarantined_records": int(quarantined)}


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame.astype(object).where(frame.notna(), None), preserve_index=False)


def write_all_contacts(conn: sa.Connection, people: pd.DataFrame, links: pd.DataFrame,
                       custom_types: Mapping[str, str]) -> int:
    """Upsert the people (every Salesforce-side column; behavioral_score is the marketing side's) and their links.

    A person whose columns are as stored is left as it is; the others are stamped with the next version of
    all_contacts, which the dataset then takes. Returns the people changed (new ones included)."""
    table = ensure_columns(conn, all_contacts, {c: MARKETING_SQL_TYPES[t] for c, t in custom_types.items()})
    now = utc_now()
    stamp = next_version(conn, ALL_CONTACTS)
    rows = people.assign(updated_at=now, **{CHANGE_SEQ: stamp})
    rows = rows[[c for c in rows.columns if c in table.c and c != "behavioral_score"]]
    compared = [c for c in rows.columns if c not in ("contact_key", "updated_at", CHANGE_SEQ)]
    bulk_upsert(conn, table, _arrow(rows), ["contact_key"], only_if_changed=compared)
    link_rows = links[["crm_id", "crm_type", "contact_key", "email"]].assign(updated_at=now, **{CHANGE_SEQ: stamp})
    bulk_upsert(conn, contact_links, _arrow(link_rows), ["crm_id"],
                only_if_changed=["crm_type", "contact_key", "email"])
    # A record that joined another person changes no person's columns, yet its list rows: a changed link alone is a
    # change of the dataset too.
    record_stamped_change(conn, ALL_CONTACTS, contact_links, stamp)
    return record_stamped_change(conn, ALL_CONTACTS, table, stamp)


def read_list(conn: sa.Connection, list_name: str, columns: Sequence[str],
              crm_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The list's rows (or those of ``crm_ids``), with the list's columns added to list_members first (call inside a
    transaction)."""
    table = ensure_columns(conn, list_members, {c: sa.Text() for c in columns})
    frame = read_in(conn, sa.select(table).where(table.c.list_name == list_name), table.c.crm_id, crm_ids)
    frame["is_active"] = frame["is_active"].astype(bool)
    for column in ("added_at", "updated_at", "removed_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def write_list(conn: sa.Connection, upserts: pd.DataFrame) -> int:
    if upserts.empty:
        return 0
    table = with_runtime_columns(conn, list_members)
    rows = upserts[[c for c in upserts.columns if c in table.c]]
    written = bulk_upsert(conn, table, _arrow(rows), ["list_name", "crm_id"])
    for name in dict.fromkeys(upserts["list_name"]):
        bump(conn, list_dataset(str(name)))
    return written


def copy_lead_scores(conn: sa.Connection, list_name: str, columns: Sequence[str],
                     contact_keys: Sequence[str] | None = None) -> int:
    """Set ``columns`` of the list's members (or of its members who are one of ``contact_keys``) to their person's
    lead score (whole number as text) where it differs, in one UPDATE per column (and IN list); returns the cells
    changed."""
    table = with_runtime_columns(conn, list_members)
    score = (sa.select(sa.cast(sa.cast(all_contacts.c.lead_score, sa.Integer), sa.Text))
             .where(all_contacts.c.contact_key == table.c.contact_key, all_contacts.c.lead_score.is_not(None))
             .scalar_subquery())
    scopes = ([sa.true()] if contact_keys is None else
              [table.c.contact_key.in_(part) for part in chunks(sorted(set(contact_keys)), IDS_PER_QUERY)])
    changed = 0
    for name in columns:
        if name not in table.c:
            continue
        column = table.c[name]
        for scope in scopes:
            result = conn.execute(sa.update(table).where(table.c.list_name == list_name, scope, score.is_not(None),
                                                         sa.or_(column.is_(None), column != score))
                                  .values({name: score}))
            changed += result.rowcount or 0
    if changed:
        bump(conn, list_dataset(list_name))
    return changed


def read_sales_users(conn: sa.Connection) -> pd.DataFrame:
    return pd.read_sql(sa.select(sales_users), conn)


def written_list_columns(conn: sa.Connection, list_name: str, columns: Sequence[str]) -> set[str]:
    """Of ``columns``, those that hold a value in some row of the list (the others were added to its settings after
    its rows were written, and fill from Salesforce)."""
    table = with_runtime_columns(conn, list_members)
    return {name for name in columns if name in table.c and conn.execute(
        sa.select(sa.literal(1)).where(table.c.list_name == list_name, table.c[name].is_not(None)).limit(1)
    ).first() is not None}


def read_list_members(conn: sa.Connection, list_names: Sequence[str]) -> pd.DataFrame:
    """The rows of these lists, with the columns lists added at run time."""
    table = with_runtime_columns(conn, list_members)
    return pd.read_sql(sa.select(table).where(table.c.list_name.in_(list(list_names))), conn)


def write_sales_users(conn: sa.Connection, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    bump(conn, SALES_USERS)
    return bulk_upsert(conn, sales_users, rows, ["user_id"])


def first_rows(engine: sa.Engine, table_name: str, columns: Sequence[str], order_by: str,
               limit: int) -> pd.DataFrame:
    """``SELECT <columns> FROM <table> ORDER BY <order_by> LIMIT <limit>``: of ``columns``, those the table has,
    with their types (the table is reflected, run-time columns included)."""
    with engine.connect() as conn:
        table = with_runtime_columns(conn, table_name)
        names = [n for n in dict.fromkeys(columns) if n in table.c]
        rows = conn.execute(sa.select(*(table.c[n] for n in names)).order_by(table.c[order_by]).limit(limit)).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=names)
