"""What the push remembers: the last value pushed per (record, field), every outcome, consent and conflicts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from sync_pipeline.store.tables import consent_ledger, push_conflicts, push_results, pushed_activities, pushed_state
from sync_pipeline.store.upsert import bulk_upsert


def read_pushed_state(conn: sa.Connection) -> pd.DataFrame:
    frame = pd.read_sql(sa.select(pushed_state), conn)
    frame["value"] = frame["value"].map(lambda v: None if v is None else json.loads(v))
    return frame


def remember_pushed(conn: sa.Connection, updates: pd.DataFrame, succeeded: set[str], at: datetime) -> int:
    """The values Salesforce accepted become the pushed state (values kept as JSON, so types survive)."""
    rows = [{"crm_id": row.crm_id, "field": row.field, "value": json.dumps(row.value, default=str), "pushed_at": at}
            for row in updates.itertuples() if row.crm_id in succeeded]
    return bulk_upsert(conn, pushed_state, rows, ["crm_id", "field"]) if rows else 0


def record_results(conn: sa.Connection, run_id: str, object_name: str, operation: str, outcomes: Iterable[Any],
                   at: datetime) -> int:
    rows = [{"run_id": run_id, "object_name": object_name, "operation": operation, "record_key": o.key,
             "crm_id": o.sf_id or (o.key if operation == "update" else None), "success": o.success,
             "error_code": o.error_code, "error_message": o.error_message, "attempts": o.attempts, "pushed_at": at}
            for o in outcomes]
    if rows:
        conn.execute(sa.insert(push_results), rows)
    return len(rows)


def read_ledger(conn: sa.Connection) -> pd.DataFrame:
    frame = pd.read_sql(sa.select(consent_ledger), conn)
    frame["changed_at"] = pd.to_datetime(frame["changed_at"], utc=True)
    return frame


def append_ledger(conn: sa.Connection, entries: pd.DataFrame) -> int:
    """Append-only: consent changes are never updated or deleted."""
    if entries.empty:
        return 0
    columns = ["contact_key", "crm_id", "system", "old_value", "new_value", "changed_at", "evidence"]
    rows = [{c: (None if pd.isna(v) else v) for c, v in zip(columns, row, strict=True)}
            for row in entries[columns].itertuples(index=False)]
    conn.execute(sa.insert(consent_ledger), rows)
    return len(rows)


def record_conflicts(conn: sa.Connection, conflicts: pd.DataFrame) -> int:
    if conflicts.empty:
        return 0
    rows = [{"crm_id": r.crm_id, "field": r.field, "marketing_value": json.dumps(r.marketing_value, default=str),
             "salesforce_value": json.dumps(r.salesforce_value, default=str), "winner": r.winner, "rule": r.rule,
             "decided_at": r.decided_at} for r in conflicts.itertuples()]
    conn.execute(sa.insert(push_conflicts), rows)
    return len(rows)


def pushed_activity_keys(conn: sa.Connection) -> set[str]:
    return {row[0] for row in conn.execute(sa.select(pushed_activities.c.activity_key))}


def remember_activities(conn: sa.Connection, rows: list[dict[str, Any]]) -> int:
    return bulk_upsert(conn, pushed_activities, rows, ["activity_key"]) if rows else 0
