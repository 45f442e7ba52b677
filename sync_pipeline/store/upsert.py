"""Idempotent bulk writes keyed on natural keys: insert new keys, update existing ones.

Every write of pulled data goes through :func:`bulk_upsert`, so re-running a page, a batch or a whole killed sync
converges to the same table instead of duplicating rows. Semantics, identical on SQLite and PostgreSQL:

- ``rows`` is a list of dicts (all with the same keys) or a ``pyarrow.Table``; its columns are a subset of the
  table's columns and include the key columns (which must carry a primary key or unique constraint);
- an existing key gets the batch's values for ``update_columns`` (default: every non-key column of the batch); the
  other columns keep their stored values. ``update_columns=[]`` makes the write insert-only;
- a key repeated within one batch is written once, with its LAST occurrence (PostgreSQL's ON CONFLICT refuses to
  touch one row twice in a statement, and "last wins" is what a sequence of single upserts would have produced);
- with ``only_if_newer=<column>``, an existing row is updated only when the batch's value of that column is newer
  than or equal to the stored one: a stale copy of a record (an old page re-read, a late retry) never overwrites a
  newer one;
- with ``only_if_changed=<columns>``, an existing row is updated only when one of those columns differs from the
  batch's value (NULL-safe): a write that changes nothing leaves the row, and any change stamp it carries, as it was;
- the return value is the number of distinct keys in the batch (offered for insert or update).

How it is written:

- SQLite, and PostgreSQL below ``copy_threshold`` rows: ``INSERT ... ON CONFLICT DO UPDATE`` executed over chunks of
  rows sized to the driver's bound-parameter limit;
- PostgreSQL at or above ``copy_threshold``: the rows are streamed with ``COPY ... FROM STDIN (FORMAT csv)`` into a
  temporary staging table, then merged with one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``. COPY is an order of
  magnitude faster than multi-row INSERTs for the full pulls of hundreds of thousands of records. The CSV marks NULL
  as an unquoted empty field and quotes every other value, so NULL and the empty string stay distinct. The raw
  psycopg2 connection is borrowed from the SQLAlchemy connection, so the COPY runs in the caller's transaction.

Nothing here commits: the caller owns the transaction (rows and the cursor describing them commit together).

Types: naive datetimes mean UTC (PostgreSQL sessions run in UTC, see ``engine``). JSON columns should be declared
``sa.JSON(none_as_null=True)`` so that None is SQL NULL on both paths. Callers building Arrow tables from Python
datetimes should pass UTC values: pandera sets ``PYARROW_IGNORE_TIMEZONE=1`` on import, under which pyarrow drops
the offset of an aware datetime (dict rows are normalised here for that reason).
"""

from __future__ import annotations

import dataclasses
import io
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from sync_pipeline.store.types import as_utc

Rows: TypeAlias = Sequence[Mapping[str, Any]] | pa.Table

DEFAULT_COPY_THRESHOLD = 5000
COPY_ROWS_PER_STATEMENT = 50_000
"""Rows rendered to CSV per COPY statement: bounds the memory of the CSV buffer whatever the batch size."""

_ROW_NUMBER = "__bulk_upsert_row__"
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")


@dataclass(frozen=True)
class _Batch:
    """A validated, de-duplicated batch: which columns it has, which are keys, which an existing row takes."""

    columns: tuple[str, ...]
    keys: tuple[str, ...]
    updates: tuple[str, ...]
    rows: list[dict[str, Any]] | pa.Table
    newer_column: str | None = None
    compared_columns: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return self.rows.num_rows if isinstance(self.rows, pa.Table) else len(self.rows)

    def as_dicts(self) -> list[dict[str, Any]]:
        return self.rows.to_pylist() if isinstance(self.rows, pa.Table) else self.rows

    def as_arrow(self) -> pa.Table:
        if isinstance(self.rows, pa.Table):
            return self.rows
        return _dicts_to_arrow(self.rows, self.columns)


def bulk_upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Rows,
    key_columns: Sequence[str],
    *,
    update_columns: Sequence[str] | None = None,
    copy_threshold: int = DEFAULT_COPY_THRESHOLD,
    only_if_newer: str | None = None,
    only_if_changed: Sequence[str] = (),
) -> int:
    """Insert or update ``rows`` in ``table`` by ``key_columns``; returns the number of distinct keys offered."""
    batch = _prepare(table, rows, key_columns, update_columns)
    absent = [c for c in (only_if_newer, *only_if_changed) if c is not None and c not in batch.columns]
    if absent:
        raise ValueError(f"only_if_newer/only_if_changed column(s) {absent} are not columns of the batch")
    batch = dataclasses.replace(batch, newer_column=only_if_newer, compared_columns=tuple(only_if_changed))
    if batch.size == 0:
        return 0
    dialect = conn.dialect.name
    if dialect == "postgresql" and batch.size >= copy_threshold:
        _copy_upsert(conn, table, batch)
    elif dialect in {"postgresql", "sqlite"}:
        _values_upsert(conn, table, batch)
    else:
        raise NotImplementedError(f"bulk_upsert supports SQLite and PostgreSQL, not {dialect}")
    return batch.size


def delete_keys(conn: sa.Connection, table: sa.Table, key_column: str, keys: Sequence[Any]) -> int:
    """Delete the rows whose ``key_column`` is in ``keys``, in chunks; returns the number of rows deleted."""
    if key_column not in table.c:
        raise ValueError(f"{table.name} has no column {key_column!r}")
    column = table.c[key_column]
    deleted = 0
    for chunk in chunks(list(dict.fromkeys(keys)), _rows_per_statement(conn.dialect, 1)):
        deleted += conn.execute(sa.delete(table).where(column.in_(chunk))).rowcount
    return deleted


# --- preparing a batch -------------------------------------------------------------------------------------------


def _prepare(
    table: sa.Table, rows: Rows, key_columns: Sequence[str], update_columns: Sequence[str] | None
) -> _Batch:
    columns = _batch_columns(rows)
    keys = tuple(key_columns)
    _check_columns(table, columns, keys)
    updates = tuple(c for c in columns if c not in keys) if update_columns is None else tuple(update_columns)
    _check_updates(table, columns, keys, updates)
    deduplicated = _last_per_key_arrow(rows, keys) if isinstance(rows, pa.Table) else _last_per_key(rows, keys)
    return _Batch(columns, keys, updates, deduplicated)


def _batch_columns(rows: Rows) -> tuple[str, ...]:
    """The batch's columns; dict rows must all have the same keys (a missing key would silently write NULL)."""
    if isinstance(rows, pa.Table):
        return tuple(rows.column_names)
    if not rows:
        return ()
    columns = tuple(rows[0])
    expected = set(columns)
    for position, row in enumerate(rows):
        if set(row) != expected:
            raise ValueError(
                f"row {position} has columns {sorted(row)}, but the batch started with {sorted(expected)}: "
                "every row of one bulk_upsert must have the same columns"
            )
    return columns


def _check_columns(table: sa.Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> None:
    if not keys:
        raise ValueError("bulk_upsert needs at least one key column")
    unknown = [c for c in columns if c not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {unknown}")
    missing_keys = [k for k in keys if k not in columns] if columns else []
    if missing_keys:
        raise ValueError(f"the rows lack the key column(s) {missing_keys} of {table.name}")


def _check_updates(table: sa.Table, columns: tuple[str, ...], keys: tuple[str, ...], updates: tuple[str, ...]) -> None:
    keyed = [c for c in updates if c in keys]
    if keyed:
        raise ValueError(f"key column(s) {keyed} cannot be update columns")
    absent = [c for c in updates if c not in columns] if columns else []
    if absent:
        raise ValueError(f"update column(s) {absent} are not in the rows written to {table.name}")


def _last_per_key(rows: Sequence[Mapping[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per key, the last occurrence winning, in the order keys first appeared."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        latest[tuple(row[k] for k in keys)] = dict(row)
    return list(latest.values())


def _last_per_key_arrow(rows: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """One row per key, the last occurrence winning, in the order of those last occurrences (vectorised)."""
    if rows.num_rows == 0:
        return rows
    numbered = rows.select(list(keys)).append_column(_ROW_NUMBER, pa.array(np.arange(rows.num_rows)))
    last = numbered.group_by(list(keys), use_threads=False).aggregate([(_ROW_NUMBER, "max")])
    if last.num_rows == rows.num_rows:
        return rows
    return rows.take(pa.array(np.sort(last[f"{_ROW_NUMBER}_max"].to_numpy())))


def _dicts_to_arrow(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pa.Table:
    return pa.table({name: _arrow_column([row[name] for row in rows]) for name in columns})


def _arrow_column(values: list[Any]) -> pa.Array:
    """An Arrow column for COPY: inferred type; JSON text for dicts/lists; text when the values mix types.

    Datetimes are converted to UTC first. Besides making naive and aware values agree (naive means UTC in the
    store), this guards against ``PYARROW_IGNORE_TIMEZONE=1``, which pandera sets in the process environment on
    import and which makes pyarrow read an aware datetime's wall-clock digits as UTC, silently shifting it.
    """
    if any(isinstance(v, (dict, list)) for v in values):
        return pa.array([None if v is None else json.dumps(v, default=str) for v in values], pa.string())
    values = [as_utc(v) if isinstance(v, datetime) else v for v in values]
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


# --- INSERT ... ON CONFLICT ----------------------------------------------------------------------------------------


def _values_upsert(conn: sa.Connection, table: sa.Table, batch: _Batch) -> None:
    statement = _on_conflict_statement(conn.dialect.name, table, batch)
    for chunk in chunks(batch.as_dicts(), _rows_per_statement(conn.dialect, len(batch.columns))):
        conn.execute(statement, chunk)


def _on_conflict_statement(dialect: str, table: sa.Table, batch: _Batch) -> sa.Insert:
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return _on_conflict(insert, table, batch)


def _on_conflict(insert: postgresql.Insert | sqlite.Insert, table: sa.Table, batch: _Batch) -> sa.Insert:
    """Existing keys take the batch's update columns; with no update columns they are left alone."""
    if not batch.updates:
        return insert.on_conflict_do_nothing(index_elements=list(batch.keys))
    conditions = []
    if batch.newer_column is not None:
        conditions.append(table.c[batch.newer_column] <= insert.excluded[batch.newer_column])
    if batch.compared_columns:
        conditions.append(sa.or_(*(table.c[c].is_distinct_from(insert.excluded[c]) for c in batch.compared_columns)))
    where = sa.and_(*conditions) if conditions else None
    return insert.on_conflict_do_update(
        index_elements=list(batch.keys), set_={c: insert.excluded[c] for c in batch.updates}, where=where
    )


def _rows_per_statement(dialect: sa.Dialect, columns: int) -> int:
    """Rows per executemany call: even rendered as one multi-row INSERT, a chunk stays within the driver's
    bound-parameter limit (999 on old SQLite builds, 32,700 otherwise), and a huge batch is bound piecewise."""
    limit = int(getattr(dialect, "insertmanyvalues_max_parameters", 32_700))
    return max(1, limit // max(1, columns))


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size`` (the bound parameters of one IN list, or one statement's rows)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- COPY into a staging table, then one INSERT ... SELECT -----------------------------------------------------------


def _copy_upsert(conn: sa.Connection, table: sa.Table, batch: _Batch) -> None:
    dbapi_connection = conn.connection.driver_connection
    if getattr(dbapi_connection, "autocommit", False):
        raise ValueError("bulk_upsert's COPY path needs a transaction; the connection is in autocommit mode")
    preparer = conn.dialect.identifier_preparer
    staging = f"bulk_upsert_{uuid.uuid4().hex[:16]}"
    quoted_staging = preparer.quote(staging)
    column_list = ", ".join(preparer.quote(c) for c in batch.columns)
    # The staging table has the target's types for exactly the batch's columns (no constraints, no defaults, no
    # sequences): a COPY of a column subset then behaves like the INSERT it stands for. ON COMMIT DROP cleans up
    # after a failure too; the explicit DROP frees it at once when the caller's transaction goes on.
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {quoted_staging} ON COMMIT DROP AS "
        f"SELECT {column_list} FROM {preparer.format_table(table)} WITH NO DATA"
    )
    copy_sql = f"COPY {quoted_staging} ({column_list}) FROM STDIN WITH (FORMAT csv, ENCODING 'UTF8')"
    _copy_csv(dbapi_connection, copy_sql, _csv_ready(batch.as_arrow()))
    conn.execute(_merge_statement(table, staging, batch))
    conn.exec_driver_sql(f"DROP TABLE {quoted_staging}")


def _copy_csv(dbapi_connection: Any, copy_sql: str, rows: pa.Table) -> None:
    """Stream ``rows`` as CSV through COPY, one bounded in-memory buffer at a time."""
    with dbapi_connection.cursor() as cursor:
        for offset in range(0, rows.num_rows, COPY_ROWS_PER_STATEMENT):
            buffer = io.BytesIO()
            pa_csv.write_csv(rows.slice(offset, COPY_ROWS_PER_STATEMENT), buffer, _CSV_OPTIONS)
            buffer.seek(0)
            cursor.copy_expert(copy_sql, buffer)


def _csv_ready(rows: pa.Table) -> pa.Table:
    """Columns PostgreSQL reads from CSV text: nested values as JSON text, binary as bytea hex."""
    return pa.table({name: _csv_column(rows.column(name)) for name in rows.column_names})


def _csv_column(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _csv_column(column.cast(kind.value_type))
    if pa.types.is_nested(kind):
        return pa.array([None if v is None else json.dumps(v, default=str) for v in column.to_pylist()], pa.string())
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
        return pa.array([None if v is None else "\\x" + v.hex() for v in column.to_pylist()], pa.string())
    return column


def _merge_statement(table: sa.Table, staging: str, batch: _Batch) -> sa.Insert:
    source = sa.table(staging, *(sa.column(c) for c in batch.columns))
    return _on_conflict(postgresql.insert(table).from_select(list(batch.columns), sa.select(*source.c)), table, batch)


def bulk_update(conn: sa.Connection, table: sa.Table, rows: Rows, key_columns: Sequence[str],
                only_if_changed: Sequence[str] = ()) -> int:
    """Update existing rows (by ``key_columns``) with the batch's other columns; keys not in the table are ignored.

    Unlike :func:`bulk_upsert` it never inserts, so a batch may carry only some columns of a table whose other
    columns are NOT NULL. PostgreSQL: COPY into a staging table, then one ``UPDATE ... FROM``; SQLite: executemany.
    With ``only_if_changed``, a row is updated only when one of those columns differs (NULL-safe). Returns the number
    of rows updated.
    """
    batch = _prepare(table, rows, key_columns, None)
    if batch.size == 0 or not batch.updates:
        return 0
    if conn.dialect.name != "postgresql":
        changed = [table.c[c].is_distinct_from(sa.bindparam(f"v_{c}")) for c in only_if_changed]
        statement = sa.update(table).where(*(table.c[k] == sa.bindparam(f"k_{k}") for k in batch.keys),
                                           sa.or_(*changed) if changed else sa.true()).values(
            {c: sa.bindparam(f"v_{c}") for c in batch.updates})
        params = [{**{f"k_{k}": row[k] for k in batch.keys}, **{f"v_{c}": row[c] for c in batch.updates}}
                  for row in batch.as_dicts()]
        return int(conn.execute(statement, params).rowcount or 0)
    preparer = conn.dialect.identifier_preparer
    staging = f"bulk_update_{uuid.uuid4().hex[:16]}"
    quoted = preparer.quote(staging)
    column_list = ", ".join(preparer.quote(c) for c in batch.columns)
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {quoted} ON COMMIT DROP AS "
                         f"SELECT {column_list} FROM {preparer.format_table(table)} WITH NO DATA")
    _copy_csv(conn.connection.driver_connection,
              f"COPY {quoted} ({column_list}) FROM STDIN WITH (FORMAT csv, ENCODING 'UTF8')",
              _csv_ready(batch.as_arrow()))
    target = preparer.format_table(table)
    sets = ", ".join(f"{preparer.quote(c)} = s.{preparer.quote(c)}" for c in batch.updates)
    match = " AND ".join(f"{target}.{preparer.quote(k)} = s.{preparer.quote(k)}" for k in batch.keys)
    if only_if_changed:
        match += " AND (" + " OR ".join(f"{target}.{preparer.quote(c)} IS DISTINCT FROM s.{preparer.quote(c)}"
                                        for c in only_if_changed) + ")"
    updated = conn.exec_driver_sql(f"UPDATE {target} SET {sets} FROM {quoted} AS s WHERE {match}").rowcount
    conn.exec_driver_sql(f"DROP TABLE {quoted}")
    return int(updated or 0)
