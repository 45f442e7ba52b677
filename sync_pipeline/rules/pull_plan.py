"""Deciding what one pull of one object reads: full or incremental, and the SystemModstamp window.

Rules (each a test):
- full when the object has no cursor, when the last full sync is older than ``full_sync_every_days``, and whenever
  the set of pulled fields changed (its hash differs);
- otherwise incremental: ``SystemModstamp >= cursor - lookback`` and ``SystemModstamp < upper``, where ``upper`` is
  frozen at run start, so a record modified during the run is read by the next run rather than lost; the lookback
  re-reads records whose transaction committed late with an earlier stamp;
- Bulk API above ``bulk_threshold`` changed rows (decided by a COUNT()), REST queryAll below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class PullMode(StrEnum):
    FULL = "full"
    INCREMENTAL = "incremental"


@dataclass(frozen=True)
class CursorState:
    """What the store remembers of the last pull of one object."""

    cursor_stamp: datetime | None
    last_full_sync_at: datetime | None
    mapped_field_hash: str | None


@dataclass(frozen=True)
class PullPlan:
    mode: PullMode
    reason: str
    lower: datetime | None  # inclusive; None for a full pull
    upper: datetime  # exclusive, frozen at run start

    @property
    def is_full(self) -> bool:
        return self.mode is PullMode.FULL


def plan_pull(
    state: CursorState | None,
    *,
    run_started_at: datetime,
    fields_hash: str,
    full_sync_every_days: int,
    lookback: timedelta,
) -> PullPlan:
    """The window of one object's pull. ``run_started_at`` must be timezone-aware (UTC)."""
    if run_started_at.tzinfo is None:
        raise ValueError("run_started_at must be timezone-aware")
    upper = run_started_at
    if state is None or state.cursor_stamp is None:
        return PullPlan(PullMode.FULL, "first sync of this object", None, upper)
    if state.mapped_field_hash != fields_hash:
        return PullPlan(PullMode.FULL, "the set of pulled fields changed", None, upper)
    if state.last_full_sync_at is None or run_started_at - state.last_full_sync_at >= timedelta(
        days=full_sync_every_days
    ):
        return PullPlan(PullMode.FULL, f"last full sync is {full_sync_every_days} days old or more", None, upper)
    lower = min(state.cursor_stamp - lookback, upper)
    return PullPlan(PullMode.INCREMENTAL, "changes since the last cursor", lower, upper)


def use_bulk(changed_rows: int, bulk_threshold: int) -> bool:
    """Bulk API 2.0 for large change sets: fewer calls per record; REST for small ones: no job overhead."""
    return changed_rows >= bulk_threshold
