"""Helpers of the Dagster-level tests."""

from __future__ import annotations

import sqlalchemy as sa


def query_rows(url: str, sql: str, **params: object) -> list[tuple]:
    """The rows of one SQL query against the marketing database at ``url``."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()
