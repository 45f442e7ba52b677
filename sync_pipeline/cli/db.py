"""`sync-pipeline db upgrade`: create or migrate the marketing database (MARKETING_DB_URL)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from sync_pipeline.store.engine import default_database_url, make_engine
from sync_pipeline.store.migrate import upgrade_to_head


def migrated_engine() -> Engine:
    """The marketing database of the environment, at the latest schema."""
    engine = make_engine(default_database_url())
    upgrade_to_head(engine)
    return engine


def upgrade_command() -> int:
    engine = migrated_engine()
    print(f"marketing database at {engine.url.render_as_string(hide_password=True)} is at the latest schema")
    return 0
