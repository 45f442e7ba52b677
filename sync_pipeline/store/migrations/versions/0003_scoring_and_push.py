"""Scoring and push: engagement events, pushed state, push results, the consent ledger, conflicts, pushed Tasks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("all_contacts") as batch:
        batch.add_column(_timestamp("last_activity_at", nullable=True))
    op.create_table(
        "engagement_events",
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        _timestamp("occurred_at", nullable=False),
        sa.Column("campaign", sa.Text, nullable=True),
        sa.Column("email_name", sa.Text, nullable=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("form", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("source", sa.Text, nullable=False),
        _timestamp("ingested_at", nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_engagement_events"),
    )
    op.create_index("ix_engagement_events_email", "engagement_events", ["email"])
    op.create_table(
        "ingested_files",
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("modified_at", sa.Float, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        _timestamp("ingested_at", nullable=False),
        sa.PrimaryKeyConstraint("path", name="pk_ingested_files"),
    )
    op.create_table(
        "pushed_state",
        sa.Column("crm_id", sa.String(18), nullable=False),
        sa.Column("field", sa.String(255), nullable=False),
        sa.Column("value", sa.Text, nullable=True),
        _timestamp("pushed_at", nullable=False),
        sa.PrimaryKeyConstraint("crm_id", "field", name="pk_pushed_state"),
    )
    op.create_table(
        "push_results",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("object_name", sa.String(80), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("record_key", sa.String(255), nullable=False),
        sa.Column("crm_id", sa.String(18), nullable=True),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("error_code", sa.String(80), nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        _timestamp("pushed_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_push_results"),
    )
    op.create_index("ix_push_results_run_id", "push_results", ["run_id"])
    op.create_table(
        "consent_ledger",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("contact_key", sa.String(18), nullable=False),
        sa.Column("crm_id", sa.String(18), nullable=True),
        sa.Column("system", sa.String(16), nullable=False),
        sa.Column("old_value", sa.Boolean, nullable=True),
        sa.Column("new_value", sa.Boolean, nullable=False),
        _timestamp("changed_at", nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consent_ledger"),
    )
    op.create_index("ix_consent_ledger_contact_key", "consent_ledger", ["contact_key"])
    op.create_table(
        "push_conflicts",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("crm_id", sa.String(18), nullable=False),
        sa.Column("field", sa.String(255), nullable=False),
        sa.Column("marketing_value", sa.Text, nullable=True),
        sa.Column("salesforce_value", sa.Text, nullable=True),
        sa.Column("winner", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        _timestamp("decided_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_push_conflicts"),
    )
    op.create_table(
        "pushed_activities",
        sa.Column("activity_key", sa.String(80), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("task_id", sa.String(18), nullable=True),
        _timestamp("pushed_at", nullable=False),
        sa.PrimaryKeyConstraint("activity_key", name="pk_pushed_activities"),
    )


def downgrade() -> None:
    op.drop_table("pushed_activities")
    op.drop_table("push_conflicts")
    op.drop_index("ix_consent_ledger_contact_key", table_name="consent_ledger")
    op.drop_table("consent_ledger")
    op.drop_index("ix_push_results_run_id", table_name="push_results")
    op.drop_table("push_results")
    op.drop_table("pushed_state")
    op.drop_table("ingested_files")
    op.drop_index("ix_engagement_events_email", table_name="engagement_events")
    op.drop_table("engagement_events")
    with op.batch_alter_table("all_contacts") as batch:
        batch.drop_column("last_activity_at")
