"""Report history: a snapshot of the funnel and of ROI per as-of date (funnel_history, roi_history).

Each run of a report replaces its day's snapshot and drops the snapshots older than ``funnel.history_days``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROI_MONEY_COLUMNS = ("won_amount_first_touch", "won_amount_last_touch", "won_amount_even_split",
                     "pipeline_amount_even_split", "budgeted_cost", "actual_cost", "cost", "return_on_cost",
                     "cost_per_opportunity", "cost_per_won")


def _keys() -> list[sa.Column[object]]:
    return [sa.Column("as_of", sa.Date, primary_key=True), sa.Column("dimension", sa.String(16), primary_key=True),
            sa.Column("segment", sa.String(255), primary_key=True)]


def upgrade() -> None:
    op.create_table(
        "funnel_history", *_keys(),
        sa.Column("stage", sa.String(32), primary_key=True),
        sa.Column("stage_order", sa.Integer, nullable=False),
        sa.Column("people", sa.Integer, nullable=False),
        sa.Column("from_previous", sa.Integer, nullable=False),
        sa.Column("entered_directly", sa.Integer, nullable=False),
        sa.Column("conversion_rate", sa.Float, nullable=True),
        sa.Column("rate_from_audience", sa.Float, nullable=True),
        sa.Column("small_sample", sa.Boolean, nullable=False),
        sa.Column("amount", sa.Float, nullable=True),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "roi_history", *_keys(),
        sa.Column("campaign_id", sa.String(18), nullable=True),
        sa.Column("contacts_touched", sa.Integer, nullable=False),
        sa.Column("opportunities_influenced", sa.Integer, nullable=False),
        sa.Column("open_opportunities", sa.Integer, nullable=False),
        sa.Column("won_opportunities", sa.Integer, nullable=False),
        sa.Column("closed_opportunities", sa.Integer, nullable=False),
        sa.Column("pipeline_amount", sa.Float, nullable=False),
        sa.Column("won_amount", sa.Float, nullable=False),
        sa.Column("win_rate", sa.Float, nullable=True),
        *(sa.Column(name, sa.Float, nullable=True) for name in ROI_MONEY_COLUMNS),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("roi_history")
    op.drop_table("funnel_history")
