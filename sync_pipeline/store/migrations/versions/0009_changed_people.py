"""Changed people and events: each All Contacts row carries the version of ``all_contacts`` that last changed it, and
each engagement event the version of ``engagement_events`` that stored it.

``all_contacts.change_seq`` (indexed) lets the steps after All Contacts read only the people changed since their
watermark; rows written before it are NULL (older than any watermark taken after this revision).
``engagement_events.change_seq`` does the same for the events. ``contact_links.email`` is indexed: the audience
step finds everyone who shares a changed record's email.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("all_contacts", sa.Column("change_seq", sa.BigInteger, nullable=True))
    op.create_index("ix_all_contacts_change_seq", "all_contacts", ["change_seq"])
    op.create_index("ix_contact_links_email", "contact_links", ["email"])
    op.add_column("engagement_events", sa.Column("change_seq", sa.BigInteger, nullable=True))
    op.create_index("ix_engagement_events_change_seq", "engagement_events", ["change_seq"])


def downgrade() -> None:
    op.drop_index("ix_engagement_events_change_seq", "engagement_events")
    op.drop_column("engagement_events", "change_seq")
    op.drop_index("ix_contact_links_email", "contact_links")
    op.drop_index("ix_all_contacts_change_seq", "all_contacts")
    op.drop_column("all_contacts", "change_seq")
