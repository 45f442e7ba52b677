"""bulk_update, only_if_newer, and the engagement store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.store.engagement import (
    finish_scores,
    pending_files,
    read_events,
    remember_file,
    store_events,
    write_scores,
)
from sync_pipeline.store.tables import all_contacts
from sync_pipeline.store.upsert import bulk_update, bulk_upsert
from sync_pipeline.store.versions import ALL_CONTACTS, next_version

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _person(key: str, **values) -> dict:
    return {"contact_key": key, "email": f"{key}@example.com", "crm_type": "Lead", "crm_id": key, "opted_out": False,
            "hard_bounced": False, "is_active": True, "updated_at": NOW, **values}


def test_bulk_update_changes_only_existing_rows_and_given_columns(migrated_engine: Engine) -> None:
    with migrated_engine.begin() as conn:
        bulk_upsert(conn, all_contacts, [_person("A", first_name="Ann", lead_score=1.0),
                                             _person("B", first_name=None, lead_score=None)],
                    ["contact_key"])
        updated = bulk_update(conn, all_contacts, [{"contact_key": "A", "lead_score": 42.0},
                                                   {"contact_key": "Z", "lead_score": 7.0}], ["contact_key"])
    assert updated == 1
    with migrated_engine.connect() as conn:
        rows = {r.contact_key: r for r in conn.execute(sa.select(all_contacts))}
    assert set(rows) == {"A", "B"} and rows["A"].lead_score == 42.0 and rows["A"].first_name == "Ann"


def test_only_if_newer_keeps_the_newer_row(migrated_engine: Engine) -> None:
    table = sa.Table("pushed_state", sa.MetaData(), autoload_with=migrated_engine)
    with migrated_engine.begin() as conn:
        bulk_upsert(conn, table, [{"crm_id": "X", "field": "F", "value": "new", "pushed_at": NOW}],
                    ["crm_id", "field"], only_if_newer="pushed_at")
        bulk_upsert(conn, table, [{"crm_id": "X", "field": "F", "value": "stale", "pushed_at": NOW - timedelta(1)}],
                    ["crm_id", "field"], only_if_newer="pushed_at")
    with migrated_engine.connect() as conn:
        assert conn.execute(sa.select(table.c.value)).scalar_one() == "new"


def test_events_are_stored_once_and_files_remembered(migrated_engine: Engine, tmp_path: Path) -> None:
    events = pd.DataFrame({
        "event_id": ["e1", "e2"], "event_type": ["email_open", "form_submit"], "email": ["a@example.com"] * 2,
        "occurred_at": [NOW, NOW], "campaign": [None, None], "email_name": ["Hello", None], "url": [None, None],
        "form": [None, "Demo"], "reason": [None, None], "source": ["f.jsonl"] * 2,
    })
    with migrated_engine.begin() as conn:
        assert store_events(conn, events) == 2
        assert store_events(conn, events) == 0  # the same events again: nothing new
    with migrated_engine.connect() as conn:
        stored = read_events(conn)
    assert sorted(stored["event_id"]) == ["e1", "e2"] and stored["occurred_at"].iloc[0] == NOW
    drop = tmp_path / "events"
    drop.mkdir()
    (drop / "a.jsonl").write_text("{}\n")
    with migrated_engine.begin() as conn:
        pending = pending_files(conn, drop)
        assert [f.path.name for f in pending] == ["a.jsonl"]
        remember_file(conn, pending[0], events=1, rejected=0)
        assert pending_files(conn, drop) == []
    (drop / "a.jsonl").write_text("{}\n{}\n")  # grown: read again
    with migrated_engine.connect() as conn:
        assert [f.path.name for f in pending_files(conn, drop)] == ["a.jsonl"]


def test_write_scores_updates_people(migrated_engine: Engine) -> None:
    with migrated_engine.begin() as conn:
        bulk_upsert(conn, all_contacts, [_person("A"), _person("B")], ["contact_key"])
        scores = pd.DataFrame({"contact_key": ["A", "B"], "behavioral_score": [3.5, 0.0], "lead_score": [4, 0],
                               "last_activity_at": [NOW, None]})
        stamp = next_version(conn, ALL_CONTACTS)
        decimals = pd.DataFrame({"contact_key": [], "behavioral_score": []})
        assert write_scores(conn, scores, decimals, stamp) == 2
        assert finish_scores(conn, stamp, 2) == 2
    with migrated_engine.connect() as conn:
        rows = {r.contact_key: r for r in conn.execute(sa.select(all_contacts))}
    assert rows["A"].behavioral_score == 3.5 and rows["A"].lead_score == 4 and rows["A"].last_activity_at == NOW
    assert rows["B"].last_activity_at is None
