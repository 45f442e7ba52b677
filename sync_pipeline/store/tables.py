"""The marketing database's tables, as SQLAlchemy metadata.

The Alembic migrations under ``migrations/versions`` create exactly these tables (a test compares the migrated
schema with this metadata on SQLite and PostgreSQL). The migrations spell their tables out rather than importing
this module, so that an old migration keeps creating what it created when this file changes: a schema change is
an edit here *and* a new migration.

Timestamps are :class:`UtcDateTime`: stored as ``timestamptz`` on PostgreSQL and always aware UTC in Python.
"""

from __future__ import annotations

import sqlalchemy as sa

from sync_pipeline.store.types import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so later migrations can drop or alter them by name on every backend."""

SALESFORCE_ID_LENGTH = 18
OBJECT_NAME_LENGTH = 80  # API names of sObjects, standard and custom (40 + namespace + __c)
FIELD_NAME_LENGTH = 255  # a field path such as Account.Name, or a marketing column name
RUN_ID_LENGTH = 64  # a Dagster run id is a 36-character UUID; room for other callers' ids
SHA256_HEX_LENGTH = 64
RECORD_ID_LENGTH = 255

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# The Salesforce org this marketing database is bound to (one row); data of two orgs never mixes.
org_state = sa.Table(
    "org_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1: one org per database
    sa.Column("org_id", sa.String(SALESFORCE_ID_LENGTH), nullable=False),
    sa.Column("org_name", sa.String(255), nullable=False),
    sa.Column("is_sandbox", sa.Boolean, nullable=False),
    sa.Column("instance_host", sa.String(255), nullable=False),
    sa.Column("first_connected_at", UtcDateTime, nullable=False),
    sa.Column("last_connected_at", UtcDateTime, nullable=False),
)

# Per Salesforce object: where the last committed pull ended, and what it pulled.
sync_state = sa.Table(
    "sync_state",
    metadata,
    sa.Column("object_name", sa.String(OBJECT_NAME_LENGTH), primary_key=True),
    sa.Column("cursor", UtcDateTime, nullable=True),  # SystemModstamp upper bound of the last committed pull
    sa.Column("cursor_id", sa.String(SALESFORCE_ID_LENGTH), nullable=True),  # the last Id at the cursor (tie-break)
    sa.Column("last_full_sync_at", UtcDateTime, nullable=True),
    sa.Column("mapped_fields_hash", sa.String(SHA256_HEX_LENGTH), nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# Pulled values that failed validation, with the reason; the rest of their batch went through.
quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(RUN_ID_LENGTH), nullable=False),
    sa.Column("object_name", sa.String(OBJECT_NAME_LENGTH), nullable=False),
    sa.Column("record_id", sa.String(RECORD_ID_LENGTH), nullable=True),  # wide: quarantine must never refuse a row
    sa.Column("field", sa.String(FIELD_NAME_LENGTH), nullable=False),
    sa.Column("value", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("quarantined_at", UtcDateTime, nullable=False),
    sa.Index("ix_quarantine_object_name_record_id", "object_name", "record_id"),
)
