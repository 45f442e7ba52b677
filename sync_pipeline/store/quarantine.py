"""The quarantine: values that failed validation, kept with the reason instead of being dropped.

Invalid rows leave the batch and land here; the valid rows continue. Nothing is lost silently: an analyst or a data
engineer can see per record and field what is refused now and why, and which run first refused it.

The quarantine holds the current problems of each scope, not a log of every run. A scope is an object name and,
optionally, a source (the event file a row came from); its caller hands over every value of the scope that fails
now, and :func:`record_quarantine` makes the stored rows match them:

- a value already quarantined for the same reason (same record id, field, value and reason) keeps its row, with
  the run and time it was first refused: running the same batch again adds nothing;
- a value that fails and is not stored yet (a new problem, or a new bad value of the same field) gets a row;
- a stored row whose value no longer fails (fixed, replaced by another value, or its record gone) is deleted: its
  value went through, so there is nothing left to look at. Of a problem stored twice (by older versions), the
  first row stays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa

from sync_pipeline.store.tables import quarantine
from sync_pipeline.store.types import utc_now
from sync_pipeline.store.upsert import chunks

ROWS_PER_STATEMENT = 5000  # rows per INSERT, ids per DELETE: well under every backend's parameter limit

# What identifies one quarantined problem within its scope: record id, field, value (as text), reason.
ProblemKey = tuple[str | None, str, str | None, str]


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


@dataclass(frozen=True)
class QuarantineUpdate:
    """What one write did: values that fail now (stored once each), rows added, rows of fixed values deleted."""

    failing: int
    added: int
    removed: int


def record_quarantine(
    conn: sa.Connection,
    run_id: str,
    object_name: str,
    rejections: Iterable[RejectionLike],
    *,
    source: str | None = None,
    record_ids: Sequence[str] | None = None,
) -> QuarantineUpdate:
    """Make the quarantine of ``object_name`` (and ``source``) hold exactly ``rejections``, in the caller's transaction.

    ``rejections`` must be every value of the scope that fails now (all Leads of a build, all lines of a file):
    stored rows not among them are deleted as fixed. With ``record_ids`` the scope is those records only (a build
    that examined only them): the rows of other records stay as they are. Values are stored as text (None stays
    NULL), whatever type they arrived as, because a value that failed validation is by definition not trusted to fit
    a typed column; a NUL character in any text is stored as the four characters ``\\x00``. One SELECT of the
    scope's rows, then batched DELETEs and INSERTs.
    """
    failing = _by_key(rejections)
    scope = sa.and_(quarantine.c.object_name == object_name,
                    quarantine.c.source.is_(None) if source is None else quarantine.c.source == source)
    query = sa.select(quarantine.c.id, quarantine.c.record_id, quarantine.c.field, quarantine.c.value,
                      quarantine.c.reason).where(scope)
    if record_ids is None:
        stored = list(conn.execute(query.order_by(quarantine.c.id)).all())
    else:
        stored = sorted((row for part in chunks(sorted(set(record_ids)), ROWS_PER_STATEMENT)
                         for row in conn.execute(query.where(quarantine.c.record_id.in_(part)))),
                        key=lambda row: row.id)
    kept: set[ProblemKey] = set()
    stale: list[int] = []
    for row in stored:
        key: ProblemKey = (row.record_id, row.field, row.value, row.reason)
        if key in failing and key not in kept:
            kept.add(key)
        else:
            stale.append(row.id)
    _delete(conn, stale)
    quarantined_at = utc_now()
    new_rows = [{"run_id": run_id, "object_name": object_name, "source": source, "record_id": record_id,
                 "field": field, "value": value, "reason": reason, "quarantined_at": quarantined_at}
                for (record_id, field, value, reason) in failing if (record_id, field, value, reason) not in kept]
    for start in range(0, len(new_rows), ROWS_PER_STATEMENT):
        conn.execute(sa.insert(quarantine), new_rows[start : start + ROWS_PER_STATEMENT])
    return QuarantineUpdate(failing=len(failing), added=len(new_rows), removed=len(stale))


def _by_key(rejections: Iterable[RejectionLike]) -> dict[ProblemKey, None]:
    """The distinct problems as stored, in the order given (a dict keeps it; the same problem twice is one row)."""
    return {(_storable(r.record_id), _spelled(r.field), _storable(None if r.value is None else str(r.value)),
             _spelled(r.reason)): None for r in rejections}


def _storable(text: str | None) -> str | None:
    return None if text is None else _spelled(text)


def _spelled(text: str) -> str:
    """NUL characters spelled out: PostgreSQL text cannot hold them, and the quarantine must never refuse a row."""
    return text.replace("\x00", "\\x00")


def _delete(conn: sa.Connection, ids: Sequence[int]) -> None:
    for start in range(0, len(ids), ROWS_PER_STATEMENT):
        conn.execute(sa.delete(quarantine).where(quarantine.c.id.in_(ids[start : start + ROWS_PER_STATEMENT])))
