"""Where the marketing database is and how to connect to it.

SQLite (the default, a file under ``data/``) and PostgreSQL (production) are both first-class. Each gets the settings
it needs to behave like a transactional store under a pipeline that writes in bulk:

- SQLite: write-ahead logging (readers do not block the writer), foreign keys enforced, a busy timeout instead of
  immediate "database is locked" errors, and real transactions for DDL and SELECT too (the ``sqlite3`` driver's
  legacy mode only begins a transaction before DML, which would let a migration half-apply);
- PostgreSQL: the psycopg2 driver (a bare ``postgresql://`` URL would select psycopg 3, which is not installed),
  sessions in UTC (so a naive timestamp means UTC on both backends, whichever write path stores it), and pre-ping,
  so a connection dropped by a restart or an idle timeout is replaced instead of failing a run.

The password in a URL never reaches a log line or an error message raised here.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

log = logging.getLogger(__name__)

DATABASE_URL_ENV = "MARKETING_DB_URL"
DEFAULT_SQLITE_URL = "sqlite:///data/marketing.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_BEGIN_OPTION = "sqlite_begin"
"""Execution option naming the SQLite BEGIN mode (``DEFERRED`` by default, ``IMMEDIATE`` to take the write lock
up front, as the migration does so that concurrent run starts queue instead of racing)."""

_POSTGRES_ALIASES = {"postgresql", "postgres"}


def default_database_url() -> str:
    """``MARKETING_DB_URL`` when set, else the SQLite file ``data/marketing.db`` under the current directory.

    The ``data/`` folder is created for the default, so a fresh checkout runs without any setup step.
    """
    configured = os.environ.get(DATABASE_URL_ENV, "").strip()
    if configured:
        return configured
    Path("data").mkdir(parents=True, exist_ok=True)
    return DEFAULT_SQLITE_URL


def make_engine(url: str | URL | None = None) -> Engine:
    """An engine for ``url`` (default: :func:`default_database_url`), configured for its backend."""
    parsed = _parse_url(url if url is not None else default_database_url())
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = _sqlite_engine(parsed)
    elif backend == "postgresql":
        engine = _create(parsed, pool_pre_ping=True)
        event.listen(engine, "connect", _configure_postgresql_connection)
    else:
        engine = _create(parsed)
    log.debug("marketing database: %s", safe_url(engine.url))
    return engine


def safe_url(url: str | URL) -> str:
    """The URL as it may appear in a message: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return "<unparseable database URL>"


def _parse_url(url: str | URL) -> URL:
    """Parse and normalise the driver; errors name the URL only with its password hidden.

    SQLAlchemy's own parse errors quote the raw string, password included, so they are replaced rather than
    chained (``from None``).
    """
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        raise ValueError(
            f"the database URL (from {DATABASE_URL_ENV} or the resource config) is not a valid SQLAlchemy URL; "
            "expected e.g. sqlite:///data/marketing.db or postgresql+psycopg2://user@host:5432/marketing"
        ) from None
    if parsed.drivername in _POSTGRES_ALIASES:
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


def _create(url: URL, **kwargs: Any) -> Engine:
    """``create_engine`` whose failures (unknown dialect or driver) mention the URL without its password."""
    try:
        return sa.create_engine(url, **kwargs)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise ValueError(f"cannot use the database URL {safe_url(url)}: {exc}") from None


def _sqlite_engine(url: URL) -> Engine:
    """A SQLite engine with WAL, foreign keys, a busy timeout and SQLAlchemy-controlled transactions."""
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = _create(url)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection pragmas; also hands transaction control from ``sqlite3`` to SQLAlchemy (see the module doc)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")  # first: the statements below may wait
        cursor.execute("PRAGMA foreign_keys=ON")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL, much faster commits
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the file to write-ahead logging (a persistent setting, so normally a no-op read).

    The switch needs an exclusive lock that SQLite does not always wait for through the busy handler: when several
    processes open a fresh database at once, some get "database is locked" at once. They retry briefly instead.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _configure_postgresql_connection(dbapi_connection: Any, _record: Any) -> None:
    """Sessions in UTC: timestamps come back in UTC, and a naive timestamp is read as UTC, as on SQLite.

    Set outside any transaction (autocommit for the one statement) so the setting lasts for the session.
    """
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
    finally:
        dbapi_connection.autocommit = autocommit


def _begin_sqlite_transaction(conn: sa.Connection) -> None:
    """Emit BEGIN ourselves, so every statement (DDL and SELECT included) runs inside the transaction."""
    mode = str(conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")).upper()
    if mode not in {"DEFERRED", "IMMEDIATE", "EXCLUSIVE"}:
        raise ValueError(f"{SQLITE_BEGIN_OPTION} must be DEFERRED, IMMEDIATE or EXCLUSIVE, not {mode!r}")
    conn.exec_driver_sql(f"BEGIN {mode}")
