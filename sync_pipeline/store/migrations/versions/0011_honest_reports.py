"""Honest reports: the funnel counts each stage by its own criterion, ROI has a period, attribution and cost.

funnel gains from_previous, entered_directly and small_sample; roi gains closed_opportunities, the first-touch,
last-touch and even-split amounts, the campaign's costs and return, and its period. Both tables are rebuilt by the
next run (their steps see the new columns), so existing rows only need defaults.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROI_MONEY_COLUMNS = ("won_amount_first_touch", "won_amount_last_touch", "won_amount_even_split",
                     "pipeline_amount_even_split", "budgeted_cost", "actual_cost", "cost", "return_on_cost",
                     "cost_per_opportunity", "cost_per_won")


def upgrade() -> None:
    with op.batch_alter_table("funnel") as funnel:
        funnel.add_column(sa.Column("from_previous", sa.Integer, nullable=False, server_default="0"))
        funnel.add_column(sa.Column("entered_directly", sa.Integer, nullable=False, server_default="0"))
        funnel.add_column(sa.Column("small_sample", sa.Boolean, nullable=False, server_default=sa.false()))
    with op.batch_alter_table("roi") as roi:
        roi.add_column(sa.Column("closed_opportunities", sa.Integer, nullable=False, server_default="0"))
        for name in ROI_MONEY_COLUMNS:
            roi.add_column(sa.Column(name, sa.Float, nullable=True))
        roi.add_column(sa.Column("period_start", sa.DateTime(timezone=True), nullable=True))
        roi.add_column(sa.Column("period_end", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("roi") as roi:
        for name in ("period_end", "period_start", *reversed(ROI_MONEY_COLUMNS), "closed_opportunities"):
            roi.drop_column(name)
    with op.batch_alter_table("funnel") as funnel:
        for name in ("small_sample", "entered_directly", "from_previous"):
            funnel.drop_column(name)
