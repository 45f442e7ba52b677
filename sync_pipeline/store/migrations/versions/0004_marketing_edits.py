"""Marketing-side field edits waiting for the push, and the values Salesforce refused.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "marketing_edits",
        sa.Column("edit_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("contact_key", sa.String(18), nullable=False),
        sa.Column("column_name", sa.String(255), nullable=False),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("old_value", sa.Text, nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_marketing_edits_contact_key", "marketing_edits", ["contact_key"])
    op.create_index("ix_marketing_edits_status", "marketing_edits", ["status"])
    op.create_table(
        "push_refusals",
        sa.Column("crm_id", sa.String(18), primary_key=True),
        sa.Column("field", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=True),
        sa.Column("error_code", sa.String(80), nullable=False),
        sa.Column("record_stamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("push_refusals")
    op.drop_table("marketing_edits")
