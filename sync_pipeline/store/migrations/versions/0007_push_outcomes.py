"""The kind of each push outcome, and refusals of records keyed by more than a Salesforce Id.

``push_results.outcome`` says what happened to the record: pushed, refused, locked, deferred (this run's API
budget) or unsent (the connection, the login, a server error or the org's daily limit). ``push_refusals.crm_id``
also holds the stable keys of Tasks Salesforce refused (35 characters), so it widens to the record-key length.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("push_results") as batch:
        batch.add_column(sa.Column("outcome", sa.String(16), nullable=True))
    with op.batch_alter_table("push_refusals") as batch:
        batch.alter_column("crm_id", type_=sa.String(255), existing_type=sa.String(18), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("push_refusals") as batch:
        batch.alter_column("crm_id", type_=sa.String(18), existing_type=sa.String(255), existing_nullable=False)
    with op.batch_alter_table("push_results") as batch:
        batch.drop_column("outcome")
