"""Columns added at run time: the mirrors and the audience tables grow with the settings (mapped fields, list
columns), so these columns are added when a sync first needs them, not by migrations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa


def add_missing_columns(conn: sa.Connection, table_name: str, columns: Mapping[str, sa.types.TypeEngine[Any]]
                        ) -> set[str]:
    """``ALTER TABLE ... ADD COLUMN`` for each of ``columns`` the table lacks; returns the table's columns now."""
    existing = {column["name"] for column in sa.inspect(conn).get_columns(table_name)}
    preparer = conn.dialect.identifier_preparer
    for name, kind in columns.items():
        if name not in existing:
            conn.exec_driver_sql(f"ALTER TABLE {preparer.quote(table_name)} ADD COLUMN {preparer.quote(name)} "
                                 f"{kind.compile(dialect=conn.dialect)}")
            existing.add(name)
    return existing
