"""Reading mirrors and writing the audience tables: All Contacts, contact links, list members, sales users, reports.

``all_contacts`` gets one extra column per mapped custom field and ``list_members`` one per list column; they are
added here at run time (typed by the mapping for All Contacts, text for lists), never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    sales_users,
)
from sync_pipeline.store.types import UtcDateTime, utc_now
from sync_pipeline.store.upsert import bulk_upsert
from sync_pipeline.store.versions import ALL_CONTACTS, SALES_USERS, bump, list_dataset

MARKETING_SQL_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "text": sa.Text(), "email": sa.Text(), "multi_text": sa.Text(), "number": sa.Float(), "score": sa.Float(),
    "boolean": sa.Boolean(), "date": sa.Date(), "datetime": UtcDateTime(),
}


def with_runtime_columns(conn: sa.Connection, table: sa.Table | str) -> sa.Table:
    """The table as the database holds it: with the columns the mapping and the lists added at run time."""
    return sa.Table(table if isinstance(table, str) else table.name, sa.MetaData(), autoload_with=conn)


def read_people(conn: sa.Connection) -> pd.DataFrame:
    """All Contacts with its run-time columns, times as UTC."""
    frame = pd.read_sql(sa.select(with_runtime_columns(conn, all_contacts)), conn)
    for name in ("last_activity_at", "system_modstamp", "hard_bounced_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


def read_mirror(conn: sa.Connection, object_name: str) -> pd.DataFrame:
    """Every row of an object's mirror (empty frame with the fixed columns when it was never pulled)."""
    name = mirror_table(object_name)
    if not sa.inspect(conn).has_table(name):
        return pd.DataFrame({"id": pd.Series(dtype="string"), "is_deleted": pd.Series(dtype=bool)})
    frame = pd.read_sql(sa.select(with_runtime_columns(conn, name)), conn)
    frame["is_deleted"] = frame["is_deleted"].astype(bool)
    if "system_modstamp" in frame:
        frame["system_modstamp"] = pd.to_datetime(frame["system_modstamp"], utc=True)
    return frame


def ensure_columns(conn: sa.Connection, table: sa.Table, columns: Mapping[str, sa.types.TypeEngine[Any]]) -> sa.Table:
    """Add the columns the table lacks; returns the table as it now is (reflected)."""
    add_missing_columns(conn, table.name, columns)
    return with_runtime_columns(conn, table)


def read_links(conn: sa.Connection) -> pd.DataFrame:
    """contact_links: which person (contact_key) each Salesforce record (crm_id, crm_type, email) belongs to."""
    return pd.read_sql(sa.select(contact_links), conn)


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame.astype(object).where(frame.notna(), None), preserve_index=False)


def write_all_contacts(conn: sa.Connection, people: pd.DataFrame, links: pd.DataFrame,
                       custom_types: Mapping[str, str]) -> int:
    """Upsert the people (every Salesforce-side column; behavioral_score is the marketing side's) and their links."""
    table = ensure_columns(conn, all_contacts, {c: MARKETING_SQL_TYPES[t] for c, t in custom_types.items()})
    now = utc_now()
    rows = people.assign(updated_at=now)
    rows = rows[[c for c in rows.columns if c in table.c and c != "behavioral_score"]]
    updates = [c for c in rows.columns if c != "contact_key"]
    written = bulk_upsert(conn, table, _arrow(rows), ["contact_key"], update_columns=updates)
    link_rows = links[["crm_id", "crm_type", "contact_key", "email"]].assign(updated_at=now)
    bulk_upsert(conn, contact_links, _arrow(link_rows), ["crm_id"])
    bump(conn, ALL_CONTACTS)
    return written


def read_list(conn: sa.Connection, list_name: str, columns: Sequence[str]) -> pd.DataFrame:
    """The list's rows, with the list's columns added to list_members first (call inside a transaction)."""
    table = ensure_columns(conn, list_members, {c: sa.Text() for c in columns})
    frame = pd.read_sql(sa.select(table).where(table.c.list_name == list_name), conn)
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


def copy_lead_scores(conn: sa.Connection, list_name: str, columns: Sequence[str]) -> int:
    """Set ``columns`` of the list's members to their person's lead score (whole number as text) where it differs,
    in one UPDATE per column; returns the cells changed."""
    table = with_runtime_columns(conn, list_members)
    score = (sa.select(sa.cast(sa.cast(all_contacts.c.lead_score, sa.Integer), sa.Text))
             .where(all_contacts.c.contact_key == table.c.contact_key, all_contacts.c.lead_score.is_not(None))
             .scalar_subquery())
    changed = 0
    for name in columns:
        if name in table.c:
            column = table.c[name]
            result = conn.execute(sa.update(table).where(table.c.list_name == list_name, score.is_not(None),
                                                         sa.or_(column.is_(None), column != score))
                                  .values({name: score}))
            changed += result.rowcount or 0
    if changed:
        bump(conn, list_dataset(list_name))
    return changed


def read_sales_users(conn: sa.Connection) -> pd.DataFrame:
    return pd.read_sql(sa.select(sales_users), conn)


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
