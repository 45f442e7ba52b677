"""The quarantine: pulled values that failed validation, kept with the reason instead of being dropped.

Invalid rows leave the batch and land here; the valid rows continue. Nothing is lost silently: an analyst or a data
engineer can see per record and field what was refused and why, and which run refused it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import sqlalchemy as sa

from sync_pipeline.store.tables import quarantine
from sync_pipeline.store.types import utc_now

ROWS_PER_INSERT = 5000


class RejectionLike(Protocol):
    """What a rejection must tell (``sync_pipeline.schemas.contact_fields.Rejection`` is one)."""

    @property
    def record_id(self) -> str | None: ...

    @property
    def field(self) -> str: ...

    @property
    def value(self) -> object: ...

    @property
    def reason(self) -> str: ...


def add_to_quarantine(
    conn: sa.Connection, run_id: str, object_name: str, rejections: Iterable[RejectionLike]
) -> int:
    """Store the rejections of one object in one run, in the caller's transaction; returns how many were stored.

    Values are stored as text (None stays NULL), whatever type they arrived as, because a value that failed
    validation is by definition not trusted to fit a typed column.
    """
    quarantined_at = utc_now()
    rows = [
        {
            "run_id": run_id,
            "object_name": object_name,
            "record_id": rejection.record_id,
            "field": rejection.field,
            "value": None if rejection.value is None else str(rejection.value),
            "reason": rejection.reason,
            "quarantined_at": quarantined_at,
        }
        for rejection in rejections
    ]
    for start in range(0, len(rows), ROWS_PER_INSERT):
        conn.execute(sa.insert(quarantine), rows[start : start + ROWS_PER_INSERT])
    return len(rows)
