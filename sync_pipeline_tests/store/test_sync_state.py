"""Sync state: the org binding and the per-object cursors, written in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.store.sync_state import (
    ObjectSyncState,
    OrgState,
    read_org_state,
    read_sync_state,
    remember_org,
    reset_org,
    write_sync_state,
)
from sync_pipeline.store.upsert import bulk_upsert
from sync_pipeline_tests.store.helpers import table_rows

ORG_ID = "00D5g000004XyZaEAK"
OTHER_ORG_ID = "00D7x000001AbCdEAF"
STAMP = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
HASH = "a" * 64

pulled_leads = sa.Table(
    "pulled_leads",
    sa.MetaData(),
    sa.Column("id", sa.String(18), primary_key=True),
    sa.Column("email", sa.String(255)),
)


def bind(engine: Engine, org_id: str = ORG_ID, org_name: str = "Acme") -> None:
    with engine.begin() as conn:
        remember_org(conn, org_id=org_id, org_name=org_name, is_sandbox=False, instance_host="acme.my.example.com")


def org_of(engine: Engine) -> OrgState | None:
    with engine.connect() as conn:
        return read_org_state(conn)


def state_of(engine: Engine, object_name: str) -> ObjectSyncState | None:
    with engine.connect() as conn:
        return read_sync_state(conn, object_name)


def write(engine: Engine, object_name: str, cursor: datetime, *, full_sync: bool, fields_hash: str = HASH) -> None:
    with engine.begin() as conn:
        write_sync_state(
            conn, object_name, cursor=cursor, cursor_id="00Q000000000001AAA", mapped_fields_hash=fields_hash,
            full_sync=full_sync,
        )


def test_an_unknown_object_has_no_state(migrated_engine: Engine) -> None:
    assert state_of(migrated_engine, "Lead") is None
    assert org_of(migrated_engine) is None


def test_cursor_round_trips_as_aware_utc(migrated_engine: Engine) -> None:
    in_paris = STAMP.astimezone(timezone(timedelta(hours=1)))
    write(migrated_engine, "Lead", in_paris, full_sync=True)

    state = state_of(migrated_engine, "Lead")

    assert state is not None
    assert state.object_name == "Lead"
    assert state.cursor == STAMP and state.cursor is not None and state.cursor.utcoffset() == timedelta(0)
    assert state.cursor_id == "00Q000000000001AAA"
    assert state.mapped_fields_hash == HASH
    assert state.last_full_sync_at is not None and state.last_full_sync_at.tzinfo is not None


def test_a_naive_cursor_is_refused(migrated_engine: Engine) -> None:
    with migrated_engine.begin() as conn, pytest.raises(ValueError, match="timezone-aware"):
        write_sync_state(
            conn, "Lead", cursor=datetime(2026, 3, 1), cursor_id=None, mapped_fields_hash=HASH, full_sync=True
        )


def test_only_a_full_sync_moves_the_full_sync_clock(migrated_engine: Engine) -> None:
    write(migrated_engine, "Contact", STAMP, full_sync=False)
    never_full = state_of(migrated_engine, "Contact")
    assert never_full is not None and never_full.last_full_sync_at is None

    write(migrated_engine, "Contact", STAMP + timedelta(hours=1), full_sync=True)
    after_full = state_of(migrated_engine, "Contact")
    assert after_full is not None and after_full.last_full_sync_at is not None

    write(migrated_engine, "Contact", STAMP + timedelta(hours=2), full_sync=False, fields_hash="b" * 64)
    after_incremental = state_of(migrated_engine, "Contact")
    assert after_incremental == ObjectSyncState(
        object_name="Contact",
        cursor=STAMP + timedelta(hours=2),
        cursor_id="00Q000000000001AAA",
        last_full_sync_at=after_full.last_full_sync_at,
        mapped_fields_hash="b" * 64,
    )


def test_rows_and_cursor_commit_together(migrated_engine: Engine) -> None:
    pulled_leads.create(migrated_engine)
    with migrated_engine.begin() as conn:
        bulk_upsert(conn, pulled_leads, [{"id": "00Q1", "email": "a@example.com"}], ["id"])
        write_sync_state(conn, "Lead", cursor=STAMP, cursor_id="00Q1", mapped_fields_hash=HASH, full_sync=True)

    assert table_rows(migrated_engine, pulled_leads) == [{"id": "00Q1", "email": "a@example.com"}]
    state = state_of(migrated_engine, "Lead")
    assert state is not None and (state.cursor, state.cursor_id) == (STAMP, "00Q1")


def test_a_rolled_back_pull_leaves_neither_rows_nor_cursor(migrated_engine: Engine) -> None:
    pulled_leads.create(migrated_engine)
    write(migrated_engine, "Lead", STAMP, full_sync=True)
    before = state_of(migrated_engine, "Lead")

    with migrated_engine.connect() as conn, conn.begin() as transaction:
        bulk_upsert(conn, pulled_leads, [{"id": "00Q2", "email": "b@example.com"}], ["id"])
        write_sync_state(
            conn, "Lead", cursor=STAMP + timedelta(hours=1), cursor_id="00Q2", mapped_fields_hash=HASH,
            full_sync=False,
        )
        assert read_sync_state(conn, "Lead") != before  # visible inside the transaction...
        transaction.rollback()  # ...as when the run is killed before the commit

    assert table_rows(migrated_engine, pulled_leads) == []
    assert state_of(migrated_engine, "Lead") == before


def test_remember_org_binds_then_refreshes_but_keeps_first_connected_at(migrated_engine: Engine) -> None:
    bind(migrated_engine, org_name="Acme")
    first = org_of(migrated_engine)
    assert first is not None
    assert (first.org_id, first.org_name, first.is_sandbox, first.instance_host) == (
        ORG_ID, "Acme", False, "acme.my.example.com",
    )
    assert first.first_connected_at == first.last_connected_at
    assert first.first_connected_at.utcoffset() == timedelta(0)

    bind(migrated_engine, org_id=ORG_ID[:15], org_name="Acme Corp")  # the API may give the 15-character id
    again = org_of(migrated_engine)

    assert again is not None
    assert again.org_id == ORG_ID
    assert again.org_name == "Acme Corp"
    assert again.first_connected_at == first.first_connected_at
    assert again.last_connected_at >= first.last_connected_at


def test_reset_org_clears_the_org_and_every_cursor(migrated_engine: Engine) -> None:
    bind(migrated_engine)
    write(migrated_engine, "Lead", STAMP, full_sync=True)
    write(migrated_engine, "Contact", STAMP, full_sync=True)

    with migrated_engine.begin() as conn:
        reset_org(conn)

    assert org_of(migrated_engine) is None
    assert state_of(migrated_engine, "Lead") is None
    assert state_of(migrated_engine, "Contact") is None
    bind(migrated_engine, org_id=OTHER_ORG_ID, org_name="Other")  # a deliberate switch now binds
    rebound = org_of(migrated_engine)
    assert rebound is not None and rebound.org_id == OTHER_ORG_ID
