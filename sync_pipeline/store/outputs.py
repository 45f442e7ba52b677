"""The analyst outputs: each rebuilt whole in its table, and written as a Parquet file and a chart under exports.

The table is replaced in one transaction (readers see the old rows or the new ones, never a mix). Files are written
to a temporary name and moved into place, so an analyst opening ``hot_prospects.parquet`` mid-run reads the previous
complete file rather than half of a new one.
"""

from __future__ import annotations

import os
from pathlib import Path

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
