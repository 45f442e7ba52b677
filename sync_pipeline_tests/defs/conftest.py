"""Fixtures of the Dagster-level tests: a marketing database URL of each backend."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh marketing database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'marketing.db'}"
    return request.getfixturevalue("postgres_database")()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite marketing database, for job tests of behaviour: what differs between the backends (COPY,
    upserts, types) is covered by the store tests and the whole-job tests that take ``database_url`` (the first
    sync and re-sync, scores and Tasks, the random kills)."""
    return f"sqlite:///{tmp_path / 'marketing.db'}"
