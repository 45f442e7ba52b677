"""Raw mirror tables of Salesforce objects (``sf_lead``, ``sf_contact``...), managed at run time.

Which fields a mirror holds depends on the settings (mapped fields, list columns) and may change between runs, so
these tables are not created by the Alembic migrations: :func:`ensure_mirror_table` creates a mirror on first use
and adds a column when a newly pulled field appears (columns are never dropped: an unmapped field keeps its last
values until the next full sync rewrites the rows). The row format is described in :mod:`sync_pipeline.records.mirror`.

Writes are idempotent and never let a stale copy overwrite a newer one (an existing row is replaced only by a copy
with a newer or equal ``system_modstamp``). On PostgreSQL a Bulk CSV page is copied as Salesforce sent it: straight
into the mirror when the mirror was empty when the pull began (a first full load), else through a staging table and
one merge. Every row a write changes is stamped (``change_seq``) with the mirror's next version, and only a write
that changed a row moves the version (``store.versions``): a page read again as it was changes nothing, so the
steps after the pull have nothing to do. A full pull of a non-empty mirror records the ids it saw
(:class:`SeenIds`) so that the records it did not see can be checked against Salesforce afterwards.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from sync_pipeline.records.mirror import SYSTEM_FIELDS, mirror_column, mirror_table, parse_bulk_csv
from sync_pipeline.store.columns import add_missing_columns
from sync_pipeline.store.types import UtcDateTime
from sync_pipeline.store.upsert import bulk_upsert
from sync_pipeline.store.versions import CHANGE_SEQ, next_version, record_stamped_change

FIXED_COLUMNS = ("id", "system_modstamp", "is_deleted", CHANGE_SEQ)
_SYSTEM_COLUMNS = {"Id": "id", "SystemModstamp": "system_modstamp", "IsDeleted": "is_deleted"}


def _fixed_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(18), primary_key=True),
        sa.Column("system_modstamp", UtcDateTime, nullable=False),
        sa.Column("is_deleted", sa.Boolean, nullable=False),
        sa.Column(CHANGE_SEQ, sa.BigInteger, nullable=True),  # NULL: written before changes were tracked
    ]


def _change_index(table: sa.Table) -> sa.Index:
    return sa.Index(f"ix_{table.name}_{CHANGE_SEQ}", table.c[CHANGE_SEQ])


def column_for(field: str) -> str:
    return _SYSTEM_COLUMNS.get(field) or mirror_column(field)


def ensure_mirror_table(conn: sa.Connection, object_name: str, fields: Sequence[str]) -> sa.Table:
    """The mirror of ``object_name`` with a text column for every field in ``fields`` (created or extended)."""
    name = mirror_table(object_name)
    wanted = [mirror_column(f) for f in fields if f not in SYSTEM_FIELDS]
    inspector = sa.inspect(conn)
    metadata = sa.MetaData()
    if not inspector.has_table(name):
        table = sa.Table(name, metadata, *_fixed_columns(), *(sa.Column(c, sa.Text) for c in dict.fromkeys(wanted)))
        table.create(conn)
        _change_index(table).create(conn)
        return table
    columns: dict[str, sa.types.TypeEngine] = {CHANGE_SEQ: sa.BigInteger()}
    existing = add_missing_columns(conn, name, {**columns, **{column: sa.Text() for column in dict.fromkeys(wanted)}})
    table = sa.Table(name, metadata, *_fixed_columns(),
                     *(sa.Column(c, sa.Text) for c in sorted(existing - set(FIXED_COLUMNS))))
    _change_index(table).create(conn, checkfirst=True)
    return table


def is_empty(conn: sa.Connection, table: sa.Table) -> bool:
    return conn.execute(sa.select(table.c.id).limit(1)).first() is None


def mirror_rows(page: pa.Table) -> pa.Table:
    """A page of records (Salesforce field names, text values) in mirror form."""
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for field in page.column_names:
        values = page.column(field)
        name = column_for(field)
        if name == "system_modstamp":
            values = _parse_stamps(values)
        elif name == "is_deleted":
            values = pc.equal(pc.utf8_lower(values), "true")
        columns[name] = values
    return pa.table(columns)


def _parse_stamps(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """``2024-01-02T03:04:05.000Z`` (Bulk) or ``...000+0000`` (REST) → UTC timestamps with milliseconds."""
    text = pc.utf8_slice_codeunits(values, 0, 23)  # drop the zone: Salesforce always answers in UTC
    return pc.cast(pc.cast(text, pa.timestamp("ms")), pa.timestamp("ms", tz="UTC"))


class SeenIds:
    """The ids a full pull saw, in a work table of its own (dropped when the pull ends)."""

    def __init__(self, conn: sa.Connection, object_name: str) -> None:
        self.name = f"pull_seen_{mirror_table(object_name)}"
        self.table = sa.Table(self.name, sa.MetaData(), sa.Column("id", sa.String(18), primary_key=True))
        self.table.drop(conn, checkfirst=True)
        self.table.create(conn)

    def add(self, conn: sa.Connection, ids: Sequence[str] | sa.Select) -> None:
        if isinstance(ids, sa.Select):
            conn.execute(sa.insert(self.table).from_select(["id"], ids))
        elif ids:
            bulk_upsert(conn, self.table, [{"id": i} for i in ids], ["id"], update_columns=[])

    def unseen_live(self, conn: sa.Connection, mirror: sa.Table) -> list[str]:
        """Live mirrored records this pull did not see."""
        query = sa.select(mirror.c.id).where(
            mirror.c.is_deleted.is_(False), ~sa.exists().where(self.table.c.id == mirror.c.id))
        return [row[0] for row in conn.execute(query)]

    def drop(self, conn: sa.Connection) -> None:
        self.table.drop(conn, checkfirst=True)


def write_mirror_page(conn: sa.Connection, table: sa.Table, page: pa.Table | str, *, fresh: bool = False,
                      seen: SeenIds | None = None) -> int:
    """Write one page (an Arrow table, or a Bulk CSV page); a stored row newer than the page's copy is kept, and so
    is one the page holds unchanged. Returns the rows offered; the rows changed are stamped, and move the mirror's
    version, in the same transaction.

    ``fresh``: the mirror was empty when this pull began, so PostgreSQL may copy a Bulk page straight in.
    """
    stamp = next_version(conn, table.name)
    written = _write_page(conn, table, page, stamp, fresh=fresh, seen=seen)
    if written:
        record_stamped_change(conn, table.name, table, stamp)
    return written


def _write_page(conn: sa.Connection, table: sa.Table, page: pa.Table | str, stamp: int, *, fresh: bool,
                seen: SeenIds | None) -> int:
    if isinstance(page, str):
        if conn.dialect.name == "postgresql":
            return _copy_bulk_csv(conn, table, page, stamp, fresh=fresh, seen=seen)
        page = parse_bulk_csv(page)
    if page.num_rows == 0:
        return 0
    rows = mirror_rows(page)
    if seen is not None:
        seen.add(conn, rows.column("id").to_pylist())
    compared = [name for name in rows.column_names if name != "id"]
    rows = rows.append_column(CHANGE_SEQ, pa.array([stamp] * rows.num_rows, pa.int64()))
    # COPY from a couple of hundred rows on: psycopg2 runs an INSERT ... ON CONFLICT batch row by row.
    return bulk_upsert(conn, table, rows, ["id"], only_if_newer="system_modstamp", only_if_changed=compared,
                       copy_threshold=200)


def _copy_bulk_csv(conn: sa.Connection, table: sa.Table, page: str, stamp: int, *, fresh: bool,
                   seen: SeenIds | None) -> int:
    """PostgreSQL: the Bulk CSV page goes to COPY as it came (no parsing in Python). FORCE_NULL makes Salesforce's
    quoted empty values NULL; COPY's own input functions read the timestamps and booleans."""
    header = next(csv.reader([page.split("\n", 1)[0]]))
    if not header or page.count("\n") < 2 and not page.rstrip("\n").count("\n"):
        return 0
    preparer = conn.dialect.identifier_preparer
    columns = [preparer.quote(column_for(field)) for field in header]
    data = io.BytesIO(page.encode("utf-8"))  # bytes: a quarter of the memory of a StringIO
    options = f"FORMAT csv, HEADER true, FORCE_NULL ({', '.join(columns)})"
    dbapi = conn.connection.driver_connection
    assert dbapi is not None  # a live psycopg2 connection: COPY needs the driver's own cursor
    mirror = preparer.format_table(table)
    seq = preparer.quote(CHANGE_SEQ)
    if fresh and seen is None:
        # The copied rows take the stamp as the column's default, set for this transaction's COPY only (DDL takes
        # no bound parameters; the stamp is an integer from data_versions).
        conn.exec_driver_sql(f"ALTER TABLE {mirror} ALTER COLUMN {seq} SET DEFAULT {int(stamp)}")
        with dbapi.cursor() as cursor:
            cursor.copy_expert(f"COPY {mirror} ({', '.join(columns)}) FROM STDIN WITH ({options})", data)
            copied = int(cursor.rowcount)
        conn.exec_driver_sql(f"ALTER TABLE {mirror} ALTER COLUMN {seq} DROP DEFAULT")
        return copied
    staging = preparer.quote(f"mirror_page_{uuid.uuid4().hex[:12]}")
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
                         f"SELECT {', '.join(columns)} FROM {preparer.format_table(table)} WITH NO DATA")
    with dbapi.cursor() as cursor:
        cursor.copy_expert(f"COPY {staging} ({', '.join(columns)}) FROM STDIN WITH ({options})", data)
        copied = int(cursor.rowcount)
    values = [preparer.quote(column_for(field)) for field in header if column_for(field) != "id"]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in [*values, seq])
    stored = ", ".join(f"{mirror}.{c}" for c in values)
    offered = ", ".join(f"EXCLUDED.{c}" for c in values)
    conn.exec_driver_sql(
        f"INSERT INTO {mirror} ({', '.join(columns)}, {seq}) SELECT {', '.join(columns)}, %(stamp)s FROM {staging} "
        f"ON CONFLICT (id) DO UPDATE SET {updates} WHERE {mirror}.system_modstamp <= EXCLUDED.system_modstamp "
        f"AND ROW({stored}) IS DISTINCT FROM ROW({offered})", {"stamp": stamp})
    if seen is not None:
        staged = sa.table(staging.strip('"'), sa.column("id"))
        seen.add(conn, sa.select(staged.c.id))
    conn.exec_driver_sql(f"DROP TABLE {staging}")
    return copied


def mark_deleted(conn: sa.Connection, table: sa.Table, ids: Sequence[str]) -> int:
    """Records Salesforce no longer has, or reported deleted: kept as deleted history."""
    stamp = next_version(conn, table.name)
    total = 0
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        result = conn.execute(sa.update(table).where(table.c.id.in_(chunk), table.c.is_deleted.is_(False))
                              .values({"is_deleted": True, CHANGE_SEQ: stamp}))
        total += int(result.rowcount or 0)
    if total:
        record_stamped_change(conn, table.name, table, stamp)
    return total
