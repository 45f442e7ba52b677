"""Analyst outputs: hot prospects, the funnel and ROI.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "hot_prospects",
        sa.Column("owner_id", sa.String(18), nullable=True),
        sa.Column("owner_name", sa.Text, nullable=True),
        sa.Column("owner_email", sa.Text, nullable=True),
        sa.Column("owner_active", sa.Boolean, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("contact_key", sa.String(18), primary_key=True),
        sa.Column("crm_type", sa.String(16), nullable=False),
        sa.Column("crm_id", sa.String(18), nullable=False),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("first_name", sa.Text, nullable=True),
        sa.Column("last_name", sa.Text, nullable=True),
        sa.Column("company", sa.Text, nullable=True),
        sa.Column("score", sa.Float, nullable=False),
        _timestamp("last_activity_at", nullable=True),
        sa.Column("sources", sa.Text, nullable=False),
        sa.Column("opted_out", sa.Boolean, nullable=False),
        sa.Column("hard_bounced", sa.Boolean, nullable=False),
    )
    op.create_table(
        "funnel",
        sa.Column("dimension", sa.String(16), primary_key=True),
        sa.Column("segment", sa.String(255), primary_key=True),
        sa.Column("stage", sa.String(32), primary_key=True),
        sa.Column("stage_order", sa.Integer, nullable=False),
        sa.Column("people", sa.Integer, nullable=False),
        sa.Column("conversion_rate", sa.Float, nullable=True),
        sa.Column("rate_from_audience", sa.Float, nullable=True),
        sa.Column("amount", sa.Float, nullable=True),
        _timestamp("period_start", nullable=False),
        _timestamp("period_end", nullable=False),
    )
    op.create_table(
        "roi",
        sa.Column("dimension", sa.String(16), primary_key=True),
        sa.Column("segment", sa.String(255), primary_key=True),
        sa.Column("campaign_id", sa.String(18), nullable=True),
        sa.Column("contacts_touched", sa.Integer, nullable=False),
        sa.Column("opportunities_influenced", sa.Integer, nullable=False),
        sa.Column("open_opportunities", sa.Integer, nullable=False),
        sa.Column("won_opportunities", sa.Integer, nullable=False),
        sa.Column("pipeline_amount", sa.Float, nullable=False),
        sa.Column("won_amount", sa.Float, nullable=False),
        sa.Column("win_rate", sa.Float, nullable=True),
    )


def downgrade() -> None:
    for name in ("roi", "funnel", "hot_prospects"):
        op.drop_table(name)
