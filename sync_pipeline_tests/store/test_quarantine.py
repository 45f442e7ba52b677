"""The quarantine: rejected values stored with their reason, as text."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.schemas.contact_fields import Rejection
from sync_pipeline.store.quarantine import add_to_quarantine
from sync_pipeline.store.tables import quarantine
from sync_pipeline.store.types import utc_now
from sync_pipeline_tests.store.helpers import table_rows

REJECTIONS = [
    Rejection(record_id="00Q000000000001AAA", field="Email", value="not-an-email", reason="not a valid email address"),
    Rejection(record_id="00Q000000000001AAA", field="Behavior_Score__c", value="-3", reason="not a score"),
    Rejection(record_id=None, field="Id", value=None, reason="required value is missing"),
    Rejection(record_id="00Q000000000002AAA", field="Company", value="", reason="required value is missing"),
]


def test_rejections_are_stored_and_read_back(migrated_engine: Engine) -> None:
    before = utc_now()
    with migrated_engine.begin() as conn:
        assert add_to_quarantine(conn, "run-1", "Lead", REJECTIONS) == 4

    rows = table_rows(migrated_engine, quarantine)
    assert [(r["run_id"], r["object_name"], r["record_id"], r["field"], r["value"], r["reason"]) for r in rows] == [
        ("run-1", "Lead", "00Q000000000001AAA", "Email", "not-an-email", "not a valid email address"),
        ("run-1", "Lead", "00Q000000000001AAA", "Behavior_Score__c", "-3", "not a score"),
        ("run-1", "Lead", None, "Id", None, "required value is missing"),
        ("run-1", "Lead", "00Q000000000002AAA", "Company", "", "required value is missing"),
    ]
    assert len({r["id"] for r in rows}) == 4
    for row in rows:
        assert row["quarantined_at"].utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= row["quarantined_at"] <= utc_now() + timedelta(seconds=1)


def test_non_text_values_are_stored_as_text(migrated_engine: Engine) -> None:
    number = Rejection("003A", "NumberOfEmployees", 12.5, "too precise")  # type: ignore[arg-type]
    with migrated_engine.begin() as conn:
        add_to_quarantine(conn, "run-2", "Contact", [number])

    [row] = table_rows(migrated_engine, quarantine)
    assert row["value"] == "12.5"


def test_nothing_to_quarantine_writes_nothing(migrated_engine: Engine) -> None:
    with migrated_engine.begin() as conn:
        assert add_to_quarantine(conn, "run-3", "Lead", []) == 0

    assert table_rows(migrated_engine, quarantine) == []


def test_quarantine_joins_the_callers_transaction(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as conn:
        with conn.begin() as transaction:
            add_to_quarantine(conn, "run-4", "Lead", REJECTIONS)
            transaction.rollback()

    with migrated_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(quarantine)).scalar() == 0
