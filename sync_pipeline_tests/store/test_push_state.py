"""The push's own records on SQLite and PostgreSQL: results with their kind, pushed values, refusals held and released,
keys refused since a time, and the lead score copied into a list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.salesforce.push import RecordOutcome
from sync_pipeline.store.audience import copy_lead_scores, read_list, write_list
from sync_pipeline.store.push_state import (
    lead_keys_done,
    pending_edits,
    read_pushed_state,
    read_refusals,
    record_edit,
    record_results,
    refused_keys,
    remember_pushed,
    remember_refusals,
    settle_edits,
)
from sync_pipeline.store.tables import all_contacts, marketing_edits, push_results
from sync_pipeline.store.upsert import bulk_upsert

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TASK_KEY = "ev-" + "a" * 32  # 35 characters: longer than a Salesforce Id


def _cells(*rows: tuple[str, str, object]) -> pd.DataFrame:
    return pd.DataFrame([(crm_id, field, value, None) for crm_id, field, value in rows],
                        columns=["crm_id", "field", "value", "salesforce_stamp"])


def _held(*rows: tuple[str, str, object, str]) -> pd.DataFrame:
    return pd.DataFrame([(crm_id, field, value, code, None) for crm_id, field, value, code in rows],
                        columns=["crm_id", "field", "value", "error_code", "record_stamp"])


def test_results_carry_the_kind_of_each_outcome(migrated_engine: Engine) -> None:
    outcomes = [RecordOutcome("00Q1", True, attempts=1),
                RecordOutcome("00Q2", False, error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION", answered=True, attempts=1),
                RecordOutcome("00Q3", False, error_code="SERVER_UNAVAILABLE", attempts=3),
                RecordOutcome("00Q4", False, error_code="NOT_ATTEMPTED_API_BUDGET")]
    with migrated_engine.begin() as conn:
        assert record_results(conn, "run-1", "Lead", "update", outcomes, NOW) == 4
    with migrated_engine.connect() as conn:
        rows = conn.execute(sa.select(push_results.c.record_key, push_results.c.outcome, push_results.c.success)
                            .order_by(push_results.c.record_key)).all()
    assert [tuple(r) for r in rows] == [("00Q1", "pushed", True), ("00Q2", "refused", False),
                                        ("00Q3", "unsent", False), ("00Q4", "deferred", False)]


def test_pushed_values_keep_their_types_and_only_accepted_records_count(migrated_engine: Engine) -> None:
    cells = _cells(("00Q1", "Behavior_Score__c", 42), ("00Q1", "HasOptedOutOfEmail", True),
                   ("00Q2", "Behavior_Score__c", 7))
    with migrated_engine.begin() as conn:
        assert remember_pushed(conn, cells, {"00Q1"}, NOW) == 2
    with migrated_engine.connect() as conn:
        state = read_pushed_state(conn)
    assert sorted(zip(state["crm_id"], state["field"], state["value"], strict=True)) == [
        ("00Q1", "Behavior_Score__c", 42), ("00Q1", "HasOptedOutOfEmail", True)]


def test_refusals_are_held_then_released_when_salesforce_accepts(migrated_engine: Engine) -> None:
    cells = _cells(("00Q1", "Behavior_Score__c", 42), (TASK_KEY, "Marketing_Activity_Key__c", "00Q9"))
    with migrated_engine.begin() as conn:
        held = remember_refusals(conn, cells, set(), _held(
            ("00Q1", "Behavior_Score__c", 42, "FIELD_CUSTOM_VALIDATION_EXCEPTION"),
            (TASK_KEY, "Marketing_Activity_Key__c", "00Q9", "ENTITY_IS_DELETED")), NOW)
    assert held == 2
    with migrated_engine.connect() as conn:
        refusals = read_refusals(conn)
        assert refused_keys(conn, "Marketing_Activity_Key__c", NOW - timedelta(hours=24)) == {TASK_KEY: "00Q9"}
        assert refused_keys(conn, "Marketing_Activity_Key__c", NOW) == {}  # refused before that time: not held
    assert set(refusals["crm_id"]) == {"00Q1", TASK_KEY} and set(refusals["refused_at"]) == {pd.Timestamp(NOW)}
    with migrated_engine.begin() as conn:  # the next push: Salesforce accepts 00Q1's score
        remember_refusals(conn, cells.iloc[:1], {"00Q1"}, _held(), NOW + timedelta(hours=1))
    with migrated_engine.connect() as conn:
        assert read_refusals(conn)["crm_id"].tolist() == [TASK_KEY]


def test_new_lead_keys_done_are_the_created_and_the_recently_refused(migrated_engine: Engine) -> None:
    field = "Marketing_Id__c"
    with migrated_engine.begin() as conn:
        remember_pushed(conn, _cells(("mkcreated00000000", field, "a@example.com")), {"mkcreated00000000"}, NOW)
        remember_refusals(conn, _cells(), set(), _held(("mkrefused00000000", field, "b@example.com", "DUPLICATES")),
                          NOW - timedelta(hours=30))
        remember_refusals(conn, _cells(), set(), _held(("mkrefusednow0000", field, "c@example.com", "DUPLICATES")),
                          NOW - timedelta(hours=1))
    with migrated_engine.connect() as conn:
        assert lead_keys_done(conn, field, NOW - timedelta(hours=24)) == {"mkcreated00000000", "mkrefusednow0000"}


def test_the_lead_score_is_copied_into_a_list_column_where_it_differs(migrated_engine: Engine) -> None:
    person = {"email": "x@example.com", "crm_type": "Lead", "opted_out": False, "hard_bounced": False,
              "is_active": True, "updated_at": NOW}
    with migrated_engine.begin() as conn:
        bulk_upsert(conn, all_contacts, [{**person, "contact_key": "K1", "crm_id": "00Q1", "lead_score": 12.0},
                                         {**person, "contact_key": "K2", "crm_id": "00Q2", "lead_score": None},
                                         {**person, "contact_key": "K3", "crm_id": "00Q3", "lead_score": 5.0}],
                    ["contact_key"])
        read_list(conn, "Leads", ["behavior_score__c"])  # adds the list's column
        write_list(conn, pd.DataFrame([
            {"list_name": "Leads", "crm_id": f"00Q{i}", "contact_key": f"K{i}", "crm_type": "Lead",
             "is_active": True, "added_at": NOW, "updated_at": NOW, "behavior_score__c": value}
            for i, value in ((1, "3"), (2, "9"), (3, "5"))]))
        assert copy_lead_scores(conn, "Leads", ["behavior_score__c"]) == 1  # K2 has no score, K3 holds it already
        assert copy_lead_scores(conn, "Leads", ["behavior_score__c"]) == 0
        rows = conn.execute(sa.text("SELECT crm_id, behavior_score__c FROM list_members ORDER BY crm_id")).all()
    assert [tuple(r) for r in rows] == [("00Q1", "12"), ("00Q2", "9"), ("00Q3", "5")]


def test_edits_are_pending_until_settled_with_their_reason(migrated_engine: Engine) -> None:
    person = {"contact_key": "K1", "email": "x@example.com", "crm_type": "Lead", "crm_id": "00Q1", "first_name": "Ann",
              "opted_out": False, "hard_bounced": False, "is_active": True, "updated_at": NOW}
    with migrated_engine.begin() as conn:
        bulk_upsert(conn, all_contacts, [person], ["contact_key"])
        first = record_edit(conn, "K1", "first_name", "Anna", NOW, source="test")
        second = record_edit(conn, "K1", "last_name", "Lee", NOW + timedelta(minutes=1), source="test")
    with migrated_engine.connect() as conn:
        pending = pending_edits(conn)
    assert pending["edit_id"].tolist() == [first, second]
    assert pending["value"].tolist() == ["Anna", "Lee"] and pending["old_value"].tolist() == ["Ann", None]
    with migrated_engine.begin() as conn:
        assert settle_edits(conn, {first: ("pushed", ""), second: ("not_pushable", "last_name is pull-only")},
                            NOW + timedelta(hours=1)) == 2
    with migrated_engine.connect() as conn:
        assert pending_edits(conn).empty
        rows = conn.execute(sa.select(marketing_edits.c.edit_id, marketing_edits.c.status, marketing_edits.c.reason)
                            .order_by(marketing_edits.c.edit_id)).all()
    assert [tuple(r) for r in rows] == [(first, "pushed", None), (second, "not_pushable", "last_name is pull-only")]
