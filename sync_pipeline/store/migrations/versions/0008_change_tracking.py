"""Change tracking: a version per dataset, and per derived step the versions it last consumed.

``data_versions``: each dataset a step writes (a mirror, All Contacts, the events, the scores, a list, a saved
report, the marketing edits) has a number that grows whenever the dataset changes, in the same transaction as the
change. ``step_watermarks``: per step, the versions (and settings fingerprint, day...) of the inputs its last
complete run consumed, with what it reported; a step whose inputs match its watermark has nothing to do.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_versions",
        sa.Column("dataset", sa.String(255), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "step_watermarks",
        sa.Column("step", sa.String(255), primary_key=True),
        sa.Column("inputs", sa.Text, nullable=False),  # JSON: what the step consumed
        sa.Column("report", sa.Text, nullable=False),  # JSON: what it reported (re-shown when it has nothing to do)
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("step_watermarks")
    op.drop_table("data_versions")
