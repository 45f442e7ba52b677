"""The quarantine remembers which event file a row came from, so a file read again replaces its own rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Rows already quarantined for a line without an event id (record id ``<file>.jsonl:<line>``) get that file as their
source; rows of other events named no file before this revision and keep none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_OBJECT = "engagement_event"
FILE_SUFFIX = ".jsonl"

_quarantine = sa.table(  # only what the backfill touches, as this revision knows it
    "quarantine",
    sa.column("id", sa.Integer),
    sa.column("object_name", sa.String),
    sa.column("record_id", sa.String),
    sa.column("source", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("source", sa.Text, nullable=True))
    op.create_index("ix_quarantine_object_name_source", "quarantine", ["object_name", "source"])
    _backfill_event_files()


def downgrade() -> None:
    op.drop_index("ix_quarantine_object_name_source", table_name="quarantine")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("source")


def _backfill_event_files() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_quarantine.c.id, _quarantine.c.record_id).where(
            _quarantine.c.object_name == EVENT_OBJECT, _quarantine.c.record_id.like(f"%{FILE_SUFFIX}:%")
        )
    ).all()
    updates = [{"row_id": row.id, "file": file} for row in rows if (file := _file_of(row.record_id))]
    if updates:
        conn.execute(
            sa.update(_quarantine).where(_quarantine.c.id == sa.bindparam("row_id"))
            .values(source=sa.bindparam("file")),
            updates,
        )


def _file_of(record_id: str) -> str | None:
    """``a.jsonl`` of ``a.jsonl:12``; None for anything else."""
    file, _, line = record_id.rpartition(":")
    return file if file.endswith(FILE_SUFFIX) and line.isdigit() else None
