"""The quarantine: rejected values stored with their reason, as text, once each while they fail."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.schemas.contact_fields import Rejection
from sync_pipeline.store.quarantine import QuarantineUpdate, record_quarantine
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
        assert record_quarantine(conn, "run-1", "Lead", REJECTIONS) == QuarantineUpdate(failing=4, added=4, removed=0)

    rows = table_rows(migrated_engine, quarantine)
    assert [(r["run_id"], r["object_name"], r["record_id"], r["field"], r["value"], r["reason"], r["source"])
            for r in rows] == [
        ("run-1", "Lead", "00Q000000000001AAA", "Email", "not-an-email", "not a valid email address", None),
        ("run-1", "Lead", "00Q000000000001AAA", "Behavior_Score__c", "-3", "not a score", None),
        ("run-1", "Lead", None, "Id", None, "required value is missing", None),
        ("run-1", "Lead", "00Q000000000002AAA", "Company", "", "required value is missing", None),
    ]
    assert len({r["id"] for r in rows}) == 4
    for row in rows:
        assert row["quarantined_at"].utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= row["quarantined_at"] <= utc_now() + timedelta(seconds=1)


def test_non_text_values_are_stored_as_text(migrated_engine: Engine) -> None:
    number = Rejection("003A", "NumberOfEmployees", 12.5, "too precise")  # type: ignore[arg-type]
    with migrated_engine.begin() as conn:
        record_quarantine(conn, "run-2", "Contact", [number])

    [row] = table_rows(migrated_engine, quarantine)
    assert row["value"] == "12.5"


def test_nothing_to_quarantine_writes_nothing(migrated_engine: Engine) -> None:
    with migrated_engine.begin() as conn:
        assert record_quarantine(conn, "run-3", "Lead", []) == QuarantineUpdate(failing=0, added=0, removed=0)

    assert table_rows(migrated_engine, quarantine) == []


def test_quarantine_joins_the_callers_transaction(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as conn, conn.begin() as transaction:
        record_quarantine(conn, "run-4", "Lead", REJECTIONS)
        transaction.rollback()

    with migrated_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(quarantine)).scalar() == 0


def _stored(engine: Engine) -> list[tuple]:
    return [(r["run_id"], r["object_name"], r["source"], r["record_id"], r["field"], r["value"])
            for r in table_rows(engine, quarantine)]


def test_the_same_rejections_twice_are_stored_once(migrated_engine: Engine) -> None:
    with migrated_engine.begin() as conn:
        record_quarantine(conn, "run-1", "Lead", REJECTIONS)
    first = table_rows(migrated_engine, quarantine)
    with migrated_engine.begin() as conn:
        again = record_quarantine(conn, "run-2", "Lead", REJECTIONS)

    assert again == QuarantineUpdate(failing=4, added=0, removed=0)
    assert table_rows(migrated_engine, quarantine) == first  # same ids, first run and time kept


def test_a_changed_value_gets_a_new_row_and_a_fixed_one_leaves(migrated_engine: Engine) -> None:
    with migrated_engine.begin() as conn:
        record_quarantine(conn, "run-1", "Lead", REJECTIONS)
    changed = [
        Rejection("00Q000000000001AAA", "Email", "still@bad", "not a valid email address"),  # a new bad value
        REJECTIONS[1],  # unchanged
        REJECTIONS[2],  # unchanged (NULL record id and value match NULL)
    ]  # 00Q...2's Company was fixed
    with migrated_engine.begin() as conn:
        update = record_quarantine(conn, "run-2", "Lead", changed)

    assert update == QuarantineUpdate(failing=3, added=1, removed=2)
    assert _stored(migrated_engine) == [
        ("run-1", "Lead", None, "00Q000000000001AAA", "Behavior_Score__c", "-3"),
        ("run-1", "Lead", None, None, "Id", None),
        ("run-2", "Lead", None, "00Q000000000001AAA", "Email", "still@bad"),
    ]


def test_a_value_refused_for_another_reason_is_a_new_problem(migrated_engine: Engine) -> None:
    with migrated_engine.begin() as conn:
        record_quarantine(conn, "run-1", "Lead", [Rejection("00Q1", "Status", "Gone", "not an allowed value")])
        update = record_quarantine(conn, "run-2", "Lead", [Rejection("00Q1", "Status", "Gone", "too long")])

    assert update == QuarantineUpdate(failing=1, added=1, removed=1)
    assert [(r["run_id"], r["reason"]) for r in table_rows(migrated_engine, quarantine)] == [("run-2", "too long")]


def test_duplicates_in_one_batch_and_older_duplicate_rows_end_as_one_row(migrated_engine: Engine) -> None:
    bad_email = Rejection("003A", "Email", "x@", "not a valid email address")
    with migrated_engine.begin() as conn:  # rows stored every run by older versions
        conn.execute(sa.insert(quarantine), [
            {"run_id": f"old-{n}", "object_name": "Contact", "record_id": "003A", "field": "Email", "value": "x@",
             "reason": "not a valid email address", "quarantined_at": utc_now()} for n in range(3)])
        update = record_quarantine(conn, "run-new", "Contact", [bad_email, bad_email])

    assert update == QuarantineUpdate(failing=1, added=0, removed=2)
    assert [r["run_id"] for r in table_rows(migrated_engine, quarantine)] == ["old-0"]


def test_scopes_are_separate_by_object_and_by_source(migrated_engine: Engine) -> None:
    line_problem = Rejection("a.jsonl:3", "line", "{", "not valid JSON")
    with migrated_engine.begin() as conn:
        record_quarantine(conn, "run-1", "Lead", REJECTIONS[:1])
        record_quarantine(conn, "run-1", "Contact", [Rejection("003A", "Email", "x@", "not a valid email address")])
        record_quarantine(conn, "run-1", "engagement_event", [line_problem], source="a.jsonl")
        record_quarantine(conn, "run-1", "engagement_event", [Rejection("ev-9", "email", "", "missing email")],
                          source="b.jsonl")
        # b.jsonl read again, now clean; Contact built again, now clean: only their own rows go.
        assert record_quarantine(conn, "run-2", "engagement_event", [], source="b.jsonl").removed == 1
        assert record_quarantine(conn, "run-2", "Contact", []).removed == 1

    assert _stored(migrated_engine) == [
        ("run-1", "Lead", None, "00Q000000000001AAA", "Email", "not-an-email"),
        ("run-1", "engagement_event", "a.jsonl", "a.jsonl:3", "line", "{"),
    ]


def test_large_batches_are_written_and_cleared_in_several_statements(migrated_engine: Engine) -> None:
    many = [Rejection(f"00Q{n:015d}", "Email", f"bad-{n}", "not a valid email address") for n in range(12_001)]
    with migrated_engine.begin() as conn:
        assert record_quarantine(conn, "run-1", "Lead", many).added == 12_001
        assert record_quarantine(conn, "run-2", "Lead", many[:1]) == QuarantineUpdate(failing=1, added=0,
                                                                                       removed=12_000)

    assert [r["record_id"] for r in table_rows(migrated_engine, quarantine)] == ["00Q000000000000000"]


def test_nul_characters_are_spelled_out_so_the_row_is_stored_and_matched_again(migrated_engine: Engine) -> None:
    nul = Rejection("drop.jsonl:4\x00", "line", '{"a": "\x00"}', "not valid JSON: bad \x00")
    with migrated_engine.begin() as conn:
        assert record_quarantine(conn, "run-1", "engagement_event", [nul], source="drop.jsonl").added == 1
        assert record_quarantine(conn, "run-2", "engagement_event", [nul], source="drop.jsonl").added == 0

    [row] = table_rows(migrated_engine, quarantine)
    assert (row["record_id"], row["value"], row["reason"]) == (
        "drop.jsonl:4\\x00", '{"a": "\\x00"}', "not valid JSON: bad \\x00")
