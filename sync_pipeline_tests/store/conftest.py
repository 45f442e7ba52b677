"""Engines for the store tests: every test runs on SQLite and on PostgreSQL.

SQLite gets a fresh file per test. PostgreSQL shares the session's throwaway database (``postgres_url``) but gets a
fresh schema per test, selected through the connection's ``search_path``: tests see an empty database each time
(migrations start from nothing) without paying for a CREATE DATABASE per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from sync_pipeline.store.engine import make_engine
from sync_pipeline.store.migrate import upgrade_to_head
from sync_pipeline_tests.store.helpers import postgres_schema_url

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A fresh, empty schema in the session's PostgreSQL database, dropped after the test."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')  # a name we generated
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'marketing.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine(postgres_url: str, postgres_schema: str) -> Iterator[Engine]:
    engine = make_engine(postgres_schema_url(postgres_url, postgres_schema))
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Engine:
    """An engine on an empty database, one per backend."""
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    return engine


@pytest.fixture
def migrated_engine(engine: Engine) -> Engine:
    """An engine on a database at the latest schema."""
    upgrade_to_head(engine)
    return engine
