"""Foundation: the org binding, the per-object pull cursors and the quarantine.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Tables are spelled out here, not imported from ``sync_pipeline.store.tables``, so this revision keeps creating the
same schema after the metadata moves on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "org_state",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("org_id", sa.String(18), nullable=False),
        sa.Column("org_name", sa.String(255), nullable=False),
        sa.Column("is_sandbox", sa.Boolean, nullable=False),
        sa.Column("instance_host", sa.String(255), nullable=False),
        _timestamp("first_connected_at", nullable=False),
        _timestamp("last_connected_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_org_state"),
    )
    op.create_table(
        "sync_state",
        sa.Column("object_name", sa.String(80), nullable=False),
        _timestamp("cursor", nullable=True),
        sa.Column("cursor_id", sa.String(18), nullable=True),
        _timestamp("last_full_sync_at", nullable=True),
        sa.Column("mapped_fields_hash", sa.String(64), nullable=True),
        _timestamp("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("object_name", name="pk_sync_state"),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("object_name", sa.String(80), nullable=False),
        sa.Column("record_id", sa.String(255), nullable=True),
        sa.Column("field", sa.String(255), nullable=False),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        _timestamp("quarantined_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine"),
    )
    op.create_index("ix_quarantine_object_name_record_id", "quarantine", ["object_name", "record_id"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_object_name_record_id", table_name="quarantine")
    op.drop_table("quarantine")
    op.drop_table("sync_state")
    op.drop_table("org_state")
