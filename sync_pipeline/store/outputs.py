"""The analyst outputs: each rebuilt whole in its table, and written as a Parquet file and a chart under exports.

The funnel and ROI also keep one snapshot a day: rows of ``<table>_history`` keyed by ``as_of``, and a Parquet file
per day under ``<exports>/<name>/as_of=YYYY-MM-DD/part-0.parquet`` (Hive-style partitions, which DuckDB, pyarrow and
Spark read as a column ``as_of``); ``<name>.parquet`` beside them is always the latest. Snapshots older than the kept
period are dropped, rows and files alike.

The table is replaced in one transaction (readers see the old rows or the new ones, never a mix). Files are written
to a temporary name and moved into place, so an analyst opening ``hot_prospects.parquet`` mid-run reads the previous
complete file rather than half of a new one.
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

DEFAULT_EXPORTS_DIR = "data/exports"


def exports_dir() -> Path:
    """Where the Parquet files and charts go: ``EXPORTS_DIR``, else ``data/exports``."""
    return Path(os.environ.get("EXPORTS_DIR") or DEFAULT_EXPORTS_DIR)


def replace_output(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> int:
    """Replace every row of ``table`` with ``rows`` (columns named as the table's)."""
    conn.execute(sa.delete(table))
    records = rows.to_pylist()
    if records:
        conn.execute(sa.insert(table), records)
    return len(records)


def _replace_file(path: Path, write: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    write(partial)  # type: ignore[operator]
    os.replace(partial, path)
    return path


def write_parquet(rows: pa.Table, path: Path) -> Path:
    """``rows`` as a Parquet file (the schema's field descriptions travel with it)."""
    return _replace_file(path, lambda target: pq.write_table(rows, target))


def write_chart(png: bytes, path: Path) -> Path:
    return _replace_file(path, lambda target: target.write_bytes(png))


def write_text(text: str, path: Path) -> Path:
    return _replace_file(path, lambda target: target.write_text(text, encoding="utf-8"))


PARTITION = "as_of"


def replace_snapshot(conn: sa.Connection, table: sa.Table, rows: pa.Table, as_of: date, keep_from: date) -> int:
    """Replace the ``as_of`` snapshot in ``table`` (a ``<report>_history`` table) with ``rows``, and delete the
    snapshots dated before ``keep_from``; returns the rows written."""
    conn.execute(sa.delete(table).where(sa.or_(table.c.as_of == as_of, table.c.as_of < keep_from)))
    records = [{**record, PARTITION: as_of} for record in rows.to_pylist()]
    if records:
        conn.execute(sa.insert(table), records)
    return len(records)


def write_snapshot_file(rows: pa.Table, folder: Path, as_of: date, keep_from: date) -> Path:
    """``rows`` as ``folder/as_of=<as_of>/part-0.parquet``; the partitions dated before ``keep_from`` are removed."""
    path = write_parquet(rows, folder / f"{PARTITION}={as_of.isoformat()}" / "part-0.parquet")
    for partition in folder.glob(f"{PARTITION}=*"):
        try:
            day = date.fromisoformat(partition.name.split("=", 1)[1])
        except ValueError:
            continue  # not one of ours: leave it
        if day < keep_from:
            shutil.rmtree(partition)
    return path


def read_history(conn: sa.Connection, table: sa.Table, dimension: str) -> pd.DataFrame:
    """The snapshots' rows of one dimension (``overall``, ``campaign``...), oldest day first."""
    query = sa.select(table).where(table.c.dimension == dimension).order_by(table.c.as_of)
    return pd.read_sql(query, conn)
