"""The store's engines (one per backend, migrated to the latest schema) for the step tests."""

from sync_pipeline_tests.store.conftest import (  # noqa: F401  (fixtures)
    engine,
    migrated_engine,
    postgres_engine,
    postgres_schema,
    sqlite_engine,
)
