"""Changed links: each contact link carries the version of ``all_contacts`` that last changed it.

A record that joins another person, or is linked for the first time, changes the list rows of that record (their
contact_key) even when no person's own columns changed; ``contact_links.change_seq`` (indexed) lets a list read
only those records. Rows written before it are NULL (older than any watermark taken after this revision).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("contact_links", sa.Column("change_seq", sa.BigInteger, nullable=True))
    op.create_index("ix_contact_links_change_seq", "contact_links", ["change_seq"])


def downgrade() -> None:
    op.drop_index("ix_contact_links_change_seq", "contact_links")
    op.drop_column("contact_links", "change_seq")
