"""Pulling one Salesforce object into its raw mirror table: full or incremental, REST or Bulk, restartable.

One pull, in API calls:
1. ``SELECT COUNT() ... WHERE SystemModstamp >= lower AND SystemModstamp < upper`` through queryAll (1 call): how
   many records changed, deleted ones included. Zero changed → done (the cursor still moves on).
2. The changed records, through REST queryAll below ``bulk_threshold`` (1 call per 2,000) or a Bulk API 2.0
   queryAll job above it (create, one poll, one call per 200,000 records), ordered by SystemModstamp then Id.
3. Once a day per object, ``getDeleted`` for the last 15 days (1 call): records deleted and purged from the recycle
   bin before queryAll could see them. A full pull instead reconciles Ids: mirrored records it did not see are
   looked up by Id (1 call per 200, usually none) and those Salesforce no longer has are marked deleted.

Each page is written in its own transaction; the cursor (the frozen upper bound) is written in the same transaction
as the last page. A pull killed at any point leaves the old cursor, so the next run reads the same window again;
the writes are upserts that never let an older copy overwrite a newer one, so the result is the same as an
uninterrupted run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import SalesforceRefusedRequest

from sync_pipeline.records.mirror import SYSTEM_FIELDS
from sync_pipeline.rules.pull_plan import CursorState, PullMode, PullPlan, plan_pull, use_bulk
from sync_pipeline.salesforce.errors import SalesforceLimitReached, error_code
from sync_pipeline.salesforce.query import bulk_pages, count, prefetched, rest_pages
from sync_pipeline.settings import fields_hash as hash_of
from sync_pipeline.store.mirrors import SeenIds, ensure_mirror_table, is_empty, mark_deleted, write_mirror_page
from sync_pipeline.store.sync_state import ObjectSyncState, read_sync_state, write_deleted_check, write_sync_state

DELETED_CHECK_EVERY = timedelta(days=1)
DELETED_WINDOW = timedelta(days=14, hours=23)  # getDeleted answers for about 15 days


@dataclass(frozen=True)
class PullOptions:
    full_sync_every_days: int = 14
    lookback_minutes: int = 10
    bulk_threshold: int = 10_000
    force_full: bool = False  # the full-sync schedule asks for one whatever the cursor says


@dataclass
class PullResult:
    object_name: str
    plan: PullPlan
    changed: int = 0
    rows_written: int = 0
    pages: int = 0
    used_bulk: bool = False
    purged: int = 0
    deleted_reported: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict[str, Any]:
        return {
            "mode": self.plan.mode.value, "reason": self.plan.reason, "changed_records": self.changed,
            "rows_written": self.rows_written, "pages": self.pages, "api": "bulk" if self.used_bulk else "rest",
            "purged_records_marked_deleted": self.purged, "deleted_reported_by_getDeleted": self.deleted_reported,
            "window_upper": self.plan.upper.isoformat(),
            "window_lower": self.plan.lower.isoformat() if self.plan.lower else "(full)",
            "seconds": round(self.seconds, 2),
        }


def select_fields(fields: list[str]) -> list[str]:
    """Id, SystemModstamp and IsDeleted first, then the object's other pulled fields, each once."""
    rest = [f for f in fields if f not in SYSTEM_FIELDS]
    return [*SYSTEM_FIELDS, *dict.fromkeys(rest)]


def pull_object(client: Salesforce, engine: sa.Engine, object_name: str, fields: list[str], *,
                run_started_at: datetime, options: PullOptions, fields_hash: str | None = None) -> PullResult:
    """Pull the records of ``object_name`` changed since the last cursor (or all of them) into its mirror.

    ``fields_hash`` (default: ``settings.fields_hash`` of ``fields``) is stored with the cursor; another value on a
    later pull makes it a full one.

    Raises :class:`SalesforceLimitReached` when the org's daily API limit stops it (no retry: retrying only burns
    more of a used-up allocation).
    """
    try:
        return _pull_object(client, engine, object_name, fields, fields_hash=fields_hash or hash_of(fields),
                            run_started_at=run_started_at, options=options)
    except SalesforceRefusedRequest as error:
        if error_code(error) == "REQUEST_LIMIT_EXCEEDED":
            raise SalesforceLimitReached(object_name) from None
        raise


def _pull_object(client: Salesforce, engine: sa.Engine, object_name: str, fields: list[str], *, fields_hash: str,
                 run_started_at: datetime, options: PullOptions) -> PullResult:
    """:func:`pull_object` itself: plan the window from the stored cursor, copy it, then the check for deletes."""
    started = time.perf_counter()
    # SOQL datetimes carry whole seconds (format_soql drops the fraction): the window's bounds must be what is sent.
    run_started_at = run_started_at.replace(microsecond=0)
    selected = select_fields(fields)
    with engine.begin() as conn:
        table = ensure_mirror_table(conn, object_name, selected)
        state = read_sync_state(conn, object_name)
        fresh = is_empty(conn, table)
    result = PullResult(object_name, _plan(state, run_started_at=run_started_at, fields_hash=fields_hash,
                                           options=options))
    _copy_window(client, engine, table, selected, result, fresh=fresh, fields_hash=fields_hash,
                 bulk_threshold=options.bulk_threshold)
    _check_deleted(client, engine, table, result, state, run_started_at)
    result.seconds = time.perf_counter() - started
    return result


def _plan(state: ObjectSyncState | None, *, run_started_at: datetime, fields_hash: str,
          options: PullOptions) -> PullPlan:
    """Full or incremental, and the window, from the last committed cursor (or a full one the schedule asks for)."""
    plan = plan_pull(
        CursorState(state.cursor, state.last_full_sync_at, state.mapped_fields_hash) if state else None,
        run_started_at=run_started_at, fields_hash=fields_hash,
        full_sync_every_days=options.full_sync_every_days, lookback=timedelta(minutes=options.lookback_minutes))
    if options.force_full and not plan.is_full:
        plan = PullPlan(PullMode.FULL, "a full sync was asked for (full-sync schedule)", None, plan.upper)
    return plan


def _copy_window(client: Salesforce, engine: sa.Engine, table: sa.Table, selected: list[str], result: PullResult, *,
                 fresh: bool, fields_hash: str, bulk_threshold: int) -> None:
    """Count the window's changed records, then copy them page by page; the cursor commits with the last page."""
    object_name, plan = result.object_name, result.plan
    where = _window(plan)
    result.changed = count(client, f"SELECT COUNT() FROM {object_name} WHERE {where}")
    result.used_bulk = use_bulk(result.changed, bulk_threshold)
    seen: SeenIds | None = None
    if plan.is_full and not fresh:  # a full pull over earlier data: remember what it saw, to find purged records
        with engine.begin() as conn:
            seen = SeenIds(conn, object_name)
    if result.changed == 0:  # nothing to copy: the cursor still moves on
        with engine.begin() as conn:
            _finish(conn, client, table, result, seen, fields_hash)
        return
    soql = f"SELECT {', '.join(selected)} FROM {object_name} WHERE {where}"
    for page, is_last in _with_last(prefetched(_pages(client, object_name, soql, selected, bulk=result.used_bulk))):
        with engine.begin() as conn:  # one transaction per page: a killed pull keeps what it wrote
            result.rows_written += write_mirror_page(conn, table, page, fresh=fresh and plan.is_full, seen=seen)
            result.pages += 1
            if is_last:
                _finish(conn, client, table, result, seen, fields_hash)


def _pages(client: Salesforce, object_name: str, soql: str, selected: list[str], *,
           bulk: bool) -> Iterator[pa.Table | str]:
    """The window's records as Bulk API 2.0 CSV pages, or as REST pages in SystemModstamp then Id order."""
    if bulk:
        return bulk_pages(client, object_name, soql)
    return rest_pages(client, soql + " ORDER BY SystemModstamp, Id", selected)


def _finish(conn: sa.Connection, client: Salesforce, table: sa.Table, result: PullResult, seen: SeenIds | None,
            fields_hash: str) -> None:
    """The pull's last transaction: mark what a full pull found purged, then move the cursor to the window's end."""
    if seen is not None:
        purged = _purged(client, result.object_name, seen.unseen_live(conn, table))
        result.purged = mark_deleted(conn, table, purged) if purged else 0
        seen.drop(conn)
    write_sync_state(conn, result.object_name, cursor=result.plan.upper, cursor_id=None,
                     mapped_fields_hash=fields_hash, full_sync=result.plan.is_full)


def _check_deleted(client: Salesforce, engine: sa.Engine, table: sa.Table, result: PullResult,
                   state: ObjectSyncState | None, run_started_at: datetime) -> None:
    """The daily check for records purged before a pull saw them (step 3 of the module docstring)."""
    if result.plan.is_full:
        with engine.begin() as conn:  # a full pull saw everything that still exists: the check is done
            write_deleted_check(conn, result.object_name, run_started_at)
        return
    due = state is None or state.last_deleted_check_at is None or (
        run_started_at - state.last_deleted_check_at >= DELETED_CHECK_EVERY)
    if due:
        result.deleted_reported = _apply_get_deleted(client, engine, table, result.object_name, run_started_at)


def _window(plan: PullPlan) -> str:
    if plan.lower is None:
        return format_soql("SystemModstamp < {}", plan.upper)
    return format_soql("SystemModstamp >= {} AND SystemModstamp < {}", plan.lower, plan.upper)


def _with_last(items: Iterator[Any]) -> Iterator[tuple[Any, bool]]:
    """Each item with whether it is the last one (the cursor commits with the last page)."""
    iterator = iter(items)
    try:
        current = next(iterator)
    except StopIteration:
        return
    for following in iterator:
        yield current, False
        current = following
    yield current, True


def _purged(client: Salesforce, object_name: str, ids: list[str]) -> list[str]:
    """Which of ``ids`` Salesforce no longer has at all (queryAll sees the recycle bin too)."""
    gone: list[str] = []
    for start in range(0, len(ids), 200):
        chunk = ids[start : start + 200]
        found = client.query_all(format_soql(f"SELECT Id FROM {object_name} WHERE Id IN {{}}", chunk),
                                 include_deleted=True)["records"]
        present = {record["Id"] for record in found}
        gone.extend(record_id for record_id in chunk if record_id not in present)
    return gone


def _apply_get_deleted(client: Salesforce, engine: sa.Engine, table: sa.Table, object_name: str,
                       now: datetime) -> int:
    answer = getattr(client, object_name).deleted(now - DELETED_WINDOW, now)
    ids = [item["id"] for item in answer.get("deletedRecords", [])]
    with engine.begin() as conn:
        marked = mark_deleted(conn, table, ids) if ids else 0
        write_deleted_check(conn, object_name, now)
    return marked
