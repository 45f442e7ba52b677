"""Bringing the marketing database to the latest schema, programmatically, at every run start.

The Alembic configuration is built in code (no ini file to find at run time) and points at the ``migrations``
folder shipped inside this package. The engine's own connection is handed to Alembic, so the same call works on a
SQLite file, an in-memory SQLite database and PostgreSQL.

Safe to call from every process that starts a run: when the database is already at head nothing is locked or
written; otherwise the upgrade runs in one transaction under a lock (an advisory lock on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite), so concurrent run starts on a fresh database queue up instead of racing to create the same
tables, and a failed upgrade leaves the previous schema intact.
"""

from __future__ import annotations

import logging
import threading
import zlib
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from sync_pipeline.store.engine import SQLITE_BEGIN_OPTION, safe_url

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK_KEY = zlib.crc32(b"sync_pipeline.store.migrate")
"""PostgreSQL advisory lock id held while migrating (any fixed 64-bit number unlikely to clash)."""

_ALEMBIC_IN_USE = threading.Lock()
"""Alembic runs ``env.py`` through a module-global ``context`` proxy: two upgrades in one process at the same
time (threads, even on different databases) would swap contexts under each other, so they take turns."""


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """The Alembic configuration of the marketing database, optionally bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database that was never migrated."""
    with engine.connect() as conn:
        return _revision_of(conn)


def upgrade_to_head(engine: Engine) -> None:
    """Migrate the database to the newest revision; a no-op (no lock, no write) when it is already there."""
    target = head_revision()
    if current_revision(engine) == target:
        return
    with _ALEMBIC_IN_USE, engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        with conn.begin():
            _lock_against_concurrent_upgrades(conn)
            before = _revision_of(conn)
            if before != target:
                log.info("migrating %s from %s to %s", safe_url(engine.url), before or "an empty database", target)
                command.upgrade(alembic_config(conn), "head")


def _revision_of(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _lock_against_concurrent_upgrades(conn: sa.Connection) -> None:
    """Serialise upgrades across processes until the transaction ends (SQLite: already done by BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
