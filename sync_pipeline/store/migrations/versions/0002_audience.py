"""Audience: All Contacts, the record-to-person links, marketing lists, sales users, report rows, deletion checks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Mapped custom fields of ``all_contacts`` and the columns of ``list_members`` depend on the settings; they are added
at run time (see ``store/audience.py``), like the columns of the raw mirror tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("sync_state") as batch:
        batch.add_column(_timestamp("last_deleted_check_at", nullable=True))
    op.create_table(
        "all_contacts",
        sa.Column("contact_key", sa.String(18), nullable=False),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("crm_type", sa.String(16), nullable=False),
        sa.Column("crm_id", sa.String(18), nullable=False),
        sa.Column("first_name", sa.Text, nullable=True),
        sa.Column("last_name", sa.Text, nullable=True),
        sa.Column("company", sa.Text, nullable=True),
        sa.Column("owner_id", sa.String(18), nullable=True),
        sa.Column("behavioral_score", sa.Float, nullable=True),
        sa.Column("lead_score", sa.Float, nullable=True),
        sa.Column("opted_out", sa.Boolean, nullable=False),
        sa.Column("hard_bounced", sa.Boolean, nullable=False),
        sa.Column("hard_bounce_reason", sa.Text, nullable=True),
        _timestamp("hard_bounced_at", nullable=True),
        sa.Column("is_active", sa.Boolean, nullable=False),
        _timestamp("system_modstamp", nullable=True),
        _timestamp("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("contact_key", name="pk_all_contacts"),
    )
    op.create_index("ix_all_contacts_email", "all_contacts", ["email"])
    op.create_index("ix_all_contacts_crm_id", "all_contacts", ["crm_id"])
    op.create_table(
        "contact_links",
        sa.Column("crm_id", sa.String(18), nullable=False),
        sa.Column("crm_type", sa.String(16), nullable=False),
        sa.Column("contact_key", sa.String(18), nullable=False),
        sa.Column("email", sa.Text, nullable=True),
        _timestamp("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("crm_id", name="pk_contact_links"),
    )
    op.create_index("ix_contact_links_contact_key", "contact_links", ["contact_key"])
    op.create_table(
        "list_members",
        sa.Column("list_name", sa.String(255), nullable=False),
        sa.Column("crm_id", sa.String(18), nullable=False),
        sa.Column("contact_key", sa.String(18), nullable=True),
        sa.Column("crm_type", sa.String(16), nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        _timestamp("added_at", nullable=True),
        _timestamp("updated_at", nullable=True),
        _timestamp("removed_at", nullable=True),
        sa.PrimaryKeyConstraint("list_name", "crm_id", name="pk_list_members"),
    )
    op.create_index("ix_list_members_contact_key", "list_members", ["contact_key"])
    op.create_table(
        "sales_users",
        sa.Column("user_id", sa.String(18), nullable=False),
        sa.Column("name", sa.Text, nullable=True),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("username", sa.Text, nullable=True),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("department", sa.Text, nullable=True),
        sa.Column("is_active", sa.Boolean, nullable=False),
        _timestamp("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_sales_users"),
    )
    op.create_table(
        "report_rows",
        sa.Column("report_name", sa.String(255), nullable=False),
        sa.Column("row_number", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("crm_id", sa.String(18), nullable=True),
        sa.Column("cells", sa.JSON(none_as_null=True), nullable=False),
        _timestamp("pulled_at", nullable=False),
        sa.PrimaryKeyConstraint("report_name", "row_number", name="pk_report_rows"),
    )
    op.create_table(
        "report_pulls",
        sa.Column("report_name", sa.String(255), nullable=False),
        sa.Column("report_id", sa.String(18), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("total_rows", sa.Integer, nullable=True),
        sa.Column("truncated", sa.Boolean, nullable=False),
        _timestamp("pulled_at", nullable=False),
        sa.PrimaryKeyConstraint("report_name", name="pk_report_pulls"),
    )


def downgrade() -> None:
    op.drop_table("report_pulls")
    op.drop_table("report_rows")
    op.drop_table("sales_users")
    op.drop_index("ix_list_members_contact_key", table_name="list_members")
    op.drop_table("list_members")
    op.drop_index("ix_contact_links_contact_key", table_name="contact_links")
    op.drop_table("contact_links")
    op.drop_index("ix_all_contacts_crm_id", table_name="all_contacts")
    op.drop_index("ix_all_contacts_email", table_name="all_contacts")
    op.drop_table("all_contacts")
    with op.batch_alter_table("sync_state") as batch:
        batch.drop_column("last_deleted_check_at")
