"""Small helpers shared by the store tests."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url


def postgres_schema_url(base_url: str, schema: str, *, password: str | None = None) -> str:
    """``base_url`` with every session's search_path set to ``schema`` (and optionally a password)."""
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    if password is not None:
        url = url.set(password=password)
    return url.render_as_string(hide_password=False)


def table_rows(engine: Engine, table: sa.Table, order_by: str | None = None) -> list[dict[str, Any]]:
    """Every row of ``table`` as dicts, ordered by ``order_by`` (default: the primary key)."""
    order = [table.c[order_by]] if order_by else list(table.primary_key.columns)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(sa.select(table).order_by(*order)).mappings()]
