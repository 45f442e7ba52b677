"""Alembic environment of the marketing database.

Normally run through :func:`sync_pipeline.store.migrate.upgrade_to_head`, which hands over an open connection in
``config.attributes["connection"]`` (so in-memory SQLite and the caller's transaction work). Run from the command
line (``alembic -c sync_pipeline/store/migrations/alembic.ini ...``) it connects to ``MARKETING_DB_URL`` itself.

``render_as_batch`` lets later migrations alter tables on SQLite, which has almost no ALTER TABLE.
Logging is deliberately not configured here: the host process (Dagster, the CLI) owns it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from sync_pipeline.store.engine import default_database_url, make_engine
from sync_pipeline.store.tables import metadata


def _configure_and_run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate through the caller's connection when given one, else through a new engine."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or default_database_url())
    try:
        with engine.connect() as own_connection:
            _configure_and_run(own_connection)
            own_connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run them against a database")
run_migrations_online()
