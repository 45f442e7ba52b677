"""Raw mirror tables of Salesforce objects (``sf_lead``, ``sf_contact``...), managed at run time.

Which fields a mirror holds depends on the settings (mapped fields, list columns) and may change between runs, so
these tables are not created by the Alembic migrations: :func:`ensure_mirror_table` creates a mirror on first use
and adds a column when a newly pulled field appears (columns are never dropped: an unmapped field keeps its last
values until the next full sync rewrites the rows). The row format is described in :mod:`sync_pipeline.sync.mirror`.

Writes are idempotent and never let a stale copy overwrite a newer one (``only_if_newer`` on ``system_modstamp``);
every write stamps ``seen_at`` with the run's start, which lets a full pull find records purged from Salesforce.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from sync_pipeline.store.types import UtcDateTime, as_utc
from sync_pipeline.store.upsert import bulk_upsert
from sync_pipeline.sync.mirror import SYSTEM_FIELDS, mirror_column, mirror_table, parse_bulk_csv

FIXED_COLUMNS = ("id", "system_modstamp", "is_deleted", "seen_at")


def _fixed_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(18), primary_key=True),
        sa.Column("system_modstamp", UtcDateTime, nullable=False, index=True),
        sa.Column("is_deleted", sa.Boolean, nullable=False),
        sa.Column("seen_at", UtcDateTime, nullable=False),
    ]


def ensure_mirror_table(conn: sa.Connection, object_name: str, fields: Sequence[str]) -> sa.Table:
    """The mirror of ``object_name`` with a text column for every field in ``fields`` (created or extended)."""
    name = mirror_table(object_name)
    wanted = [mirror_column(f) for f in fields if f not in SYSTEM_FIELDS]
    inspector = sa.inspect(conn)
    metadata = sa.MetaData()
    if not inspector.has_table(name):
        table = sa.Table(name, metadata, *_fixed_columns(), *(sa.Column(c, sa.Text) for c in dict.fromkeys(wanted)))
        table.create(conn)
        return table
    existing = {column["name"] for column in inspector.get_columns(name)}
    preparer = conn.dialect.identifier_preparer
    for column in dict.fromkeys(wanted):
        if column not in existing:
            conn.exec_driver_sql(f"ALTER TABLE {preparer.quote(name)} ADD COLUMN {preparer.quote(column)} TEXT")
    return sa.Table(name, metadata, *_fixed_columns(),
                    *(sa.Column(c, sa.Text) for c in sorted((existing | set(wanted)) - set(FIXED_COLUMNS))))


def mirror_rows(page: pa.Table, seen_at: datetime) -> pa.Table:
    """A page of records (Salesforce field names, text values) in mirror form."""
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for field in page.column_names:
        values = page.column(field)
        if field == "Id":
            columns["id"] = values
        elif field == "SystemModstamp":
            columns["system_modstamp"] = _parse_stamps(values)
        elif field == "IsDeleted":
            columns["is_deleted"] = pc.equal(pc.utf8_lower(values), "true")
        else:
            columns[mirror_column(field)] = values
    stamp = np.datetime64(int(as_utc(seen_at).timestamp() * 1_000_000), "us")
    columns["seen_at"] = pa.array(np.full(page.num_rows, stamp), pa.timestamp("us", tz="UTC"))
    return pa.table(columns)


def _parse_stamps(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """``2024-01-02T03:04:05.000Z`` (Bulk) or ``...000+0000`` (REST) → UTC timestamps with milliseconds."""
    text = pc.utf8_slice_codeunits(values, 0, 23)  # drop the zone: Salesforce always answers in UTC
    return pc.cast(pc.cast(text, pa.timestamp("ms")), pa.timestamp("ms", tz="UTC"))


def write_mirror_page(conn: sa.Connection, table: sa.Table, page: pa.Table | str, seen_at: datetime) -> int:
    """Upsert one page (an Arrow table, or a Bulk CSV page); a stored row newer than the page's copy is kept."""
    if isinstance(page, str):
        if conn.dialect.name == "postgresql":
            return _copy_bulk_csv(conn, table, page, seen_at)
        page = parse_bulk_csv(page)
    if page.num_rows == 0:
        return 0
    rows = mirror_rows(page, seen_at)
    return bulk_upsert(conn, table, rows, ["id"], only_if_newer="system_modstamp")


def _copy_bulk_csv(conn: sa.Connection, table: sa.Table, page: str, seen_at: datetime) -> int:
    """PostgreSQL: the Bulk CSV page goes to COPY as it came (no parsing in Python), into a staging table, then
    one INSERT ... SELECT ... ON CONFLICT merges it. FORCE_NULL turns Salesforce's quoted empty values into NULL."""
    header = next(csv.reader([page.split("\n", 1)[0]]))
    if not header or page.count("\n") < 1:
        return 0
    preparer = conn.dialect.identifier_preparer
    staging = preparer.quote(f"mirror_page_{uuid.uuid4().hex[:12]}")
    staged = [preparer.quote(f"c{i}") for i in range(len(header))]
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {staging} ({', '.join(c + ' text' for c in staged)}) "
                         "ON COMMIT DROP")
    dbapi = conn.connection.driver_connection
    with dbapi.cursor() as cursor:
        cursor.copy_expert(
            f"COPY {staging} ({', '.join(staged)}) FROM STDIN WITH (FORMAT csv, HEADER true, "
            f"FORCE_NULL ({', '.join(staged)}))", io.StringIO(page))
        copied = cursor.rowcount
    targets, sources = [], []
    for column, field in zip(staged, header, strict=True):
        name = {"Id": "id", "SystemModstamp": "system_modstamp", "IsDeleted": "is_deleted"}.get(field) \
            or mirror_column(field)
        cast = {"system_modstamp": "::timestamptz", "is_deleted": "::boolean"}.get(name, "")
        targets.append(preparer.quote(name))
        sources.append(f"{column}{cast}")
    updates = ", ".join(f"{t} = EXCLUDED.{t}" for t in [*targets, preparer.quote("seen_at")] if t != '"id"' and t != "id")
    mirror = preparer.format_table(table)
    conn.execute(sa.text(
        f"INSERT INTO {mirror} ({', '.join(targets)}, seen_at) SELECT {', '.join(sources)}, :seen_at FROM {staging} "
        f"ON CONFLICT (id) DO UPDATE SET {updates} WHERE {mirror}.system_modstamp <= EXCLUDED.system_modstamp"
    ), {"seen_at": seen_at})
    conn.exec_driver_sql(f"DROP TABLE {staging}")
    return int(copied)


def unseen_ids(conn: sa.Connection, table: sa.Table, seen_at: datetime) -> list[str]:
    """After a full pull: live mirrored records the pull did not see (purged in Salesforce, or changed after the
    pull's upper bound: the caller asks Salesforce which)."""
    rows = conn.execute(sa.select(table.c.id).where(table.c.seen_at < seen_at, table.c.is_deleted.is_(False)))
    return [row[0] for row in rows]


def mark_deleted(conn: sa.Connection, table: sa.Table, ids: Sequence[str], deleted_at: datetime) -> int:
    """Records Salesforce reported deleted (getDeleted): deleted history, stamped with the deletion time."""
    total = 0
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        result = conn.execute(
            sa.update(table)
            .where(table.c.id.in_(chunk), table.c.is_deleted.is_(False))
            .values(is_deleted=True, system_modstamp=sa.func.coalesce(table.c.system_modstamp, deleted_at))
        )
        total += int(result.rowcount or 0)
    return total
