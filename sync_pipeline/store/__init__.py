"""The marketing database: SQLAlchemy tables, Alembic migrations, bulk upsert and the sync state.

Modules:
- ``engine``: the database URL (``MARKETING_DB_URL``) and engines configured per backend (SQLite, PostgreSQL);
- ``migrate``: brings any database to the latest schema, safely at every run start;
- ``tables``: the SQLAlchemy metadata the migrations create (``types.UtcDateTime``: aware UTC on every backend);
- ``upsert``: idempotent bulk writes keyed on the natural keys (COPY-staged on PostgreSQL for large batches);
- ``sync_state``: the org the database is bound to and the per-object pull cursors;
- ``quarantine``: the values that fail validation now, once each, with the reason.

Every function that writes takes a ``sqlalchemy.Connection`` and leaves the transaction to the caller, so the rows
of a pull and the cursor that describes them commit (or roll back) together.
"""
