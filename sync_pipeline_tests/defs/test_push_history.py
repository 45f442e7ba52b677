"""The whole job with scoring and push against the emulator, across histories: a faulty org, a push killed midway, a
converted Lead whose Contact is deleted (SQLite). Kept apart from test_push_job so the two files share the workers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from simple_salesforce import Salesforce, format_soql

from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.rules.activities import activity_key
from sync_pipeline_tests.defs.helpers import query_rows as _rows
from sync_pipeline_tests.defs.test_push_job import _run
from sync_pipeline_tests.defs.test_push_job import org as org  # noqa: F401  (the emulator fixture)


def test_a_faulty_org_converges_to_the_state_of_a_clean_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """5xx answers, reset connections, locked rows, an expired session and a validation rule: re-running until the
    job succeeds, then once more after the transient faults and locks are gone, leaves Salesforce as a clean run
    does, except for the records the validation rule refuses, which are in push_results and are not sent again. The
    session also expires once mid-push."""
    import sync_pipeline.salesforce.push as push_module
    import sync_pipeline.steps.push as push_defs

    monkeypatch.setattr(push_module, "_pause", lambda seconds: None)
    folder = tmp_path / "events"
    folder.mkdir()
    monkeypatch.setenv("ENGAGEMENT_EVENTS_DIR", str(folder))
    states = []
    refused: set[str] = set()
    for faulty in (False, True):
        url = f"sqlite:///{tmp_path / f'marketing-{faulty}.db'}"
        for old in folder.iterdir():
            old.unlink()
        with running_emulator(seed=9, scale=300, events_path=folder / "seed.jsonl") as org, \
                dg.instance_for_test() as instance:
            sf = org.salesforce()
            locked = [r["Id"] for r in sf.query("SELECT Id FROM Lead WHERE IsConverted = false AND IsDeleted = false "
                                                "ORDER BY Id LIMIT 3")["records"]]
            if faulty:
                # The org's validation rule refuses every save of a record with an address at example.net.
                org.admin("POST", "faults", {"error_rate": 0.05, "reset_rate": 0.02, "lock_ids": locked,
                                             "reject_email_domain": "example.net"})
                # The session expires once, after the push logged in and before its first write.
                real_push, expired = push_defs.push_records, []

                def expiring_push(*args, expired=expired, real_push=real_push, org=org, **kwargs):
                    if not expired:
                        expired.append(org.admin("POST", "faults", {"expire_sessions": True}))
                    return real_push(*args, **kwargs)

                monkeypatch.setattr(push_defs, "push_records", expiring_push)
                for _ in range(8):
                    if _run(org, url, instance, expect_success=None).success:
                        break
                assert expired  # the session did expire under a push, which logged in again and went on
                rejected = _rows(url, "SELECT DISTINCT crm_id FROM push_results "
                                      "WHERE error_code = 'UNABLE_TO_LOCK_ROW'")
                assert {row[0] for row in rejected} & set(locked)
                org.admin("POST", "faults", {"error_rate": 0.0, "reset_rate": 0.0, "lock_ids": []})
                refused = {row[0] for row in _rows(
                    url, "SELECT DISTINCT crm_id FROM push_results "
                         "WHERE error_code = 'FIELD_CUSTOM_VALIDATION_EXCEPTION'")}
                at_domain = {r["Id"] for r in [
                    *sf.query_all("SELECT Id FROM Lead WHERE Email LIKE '%@example.net'")["records"],
                    *sf.query_all("SELECT Id FROM Contact WHERE Email LIKE '%@example.net'")["records"]]}
                assert refused and refused <= at_domain
                results_before = _rows(url, "SELECT COUNT(*) FROM push_results")[0][0]
            _run(org, url, instance)
            if faulty:  # the refused values are not sent again: the answer would be the same
                assert _rows(url, "SELECT COUNT(*) FROM push_results WHERE id > :n AND error_code = "
                                  "'FIELD_CUSTOM_VALIDATION_EXCEPTION'", n=results_before)[0][0] == 0
            leads = sf.query_all("SELECT Id, Behavior_Score__c, HasOptedOutOfEmail FROM Lead")["records"]
            contacts = sf.query_all("SELECT Id, Behavior_Score__c, HasOptedOutOfEmail FROM Contact")["records"]
            tasks = sf.query_all("SELECT Marketing_Activity_Key__c FROM Task")["records"]
            states.append(({r["Id"]: (r["Behavior_Score__c"], r["HasOptedOutOfEmail"]) for r in [*leads, *contacts]},
                           sorted(t["Marketing_Activity_Key__c"] for t in tasks)))
    clean, faulty_state = states
    assert {k: v for k, v in clean[0].items() if k not in refused} == {
        k: v for k, v in faulty_state[0].items() if k not in refused}
    assert clean[1] == faulty_state[1]
    assert any(clean[0][k] != faulty_state[0][k] for k in refused)  # the refused records kept their old values

def test_a_push_killed_midway_leaves_no_duplicate_task_and_no_lost_opt_out(org: RunningEmulator,
                                                                            monkeypatch: pytest.MonkeyPatch,
                                                                            tmp_path: Path) -> None:
    import sync_pipeline.steps.push as push_defs

    url = f"sqlite:///{tmp_path / 'marketing.db'}"
    sf = org.salesforce()
    leads_before = sf.query("SELECT COUNT() FROM Lead")["totalSize"]
    lead = sf.query("SELECT Id, Email FROM Lead WHERE IsConverted = false AND HasOptedOutOfEmail = false "
                    "AND Email LIKE '%@example.com' ORDER BY Id LIMIT 1")["records"][0]
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    (tmp_path / "events" / "unsubscribe.jsonl").write_text(json.dumps(
        {"event_id": "k-unsub-1", "event_type": "unsubscribe", "email": lead["Email"], "occurred_at": when}) + "\n")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed after the Tasks were sent, before they were recorded")

    monkeypatch.setattr(push_defs, "remember_activities", killed)
    with dg.instance_for_test() as instance:
        _run(org, url, instance, expect_success=False)  # the step dies; Dagster records the run as failed
        tasks_sent = sf.query("SELECT COUNT() FROM Task")["totalSize"]
        assert tasks_sent > 0
        monkeypatch.undo()
        _run(org, url, instance)
    keys = sf.query_all("SELECT Marketing_Activity_Key__c FROM Task")["records"]
    assert len(keys) == len({k["Marketing_Activity_Key__c"] for k in keys}) == tasks_sent  # no duplicate
    assert sf.Lead.get(lead["Id"])["HasOptedOutOfEmail"] is True  # the opt-out arrived
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == leads_before  # no list creates records


def _lead_alone_under_its_email(sf: Salesforce) -> dict:
    """A live, unconverted Lead at example.com, not opted out, whose email no other Lead shares."""
    leads = sf.query_all("SELECT Id, Email, IsConverted, HasOptedOutOfEmail FROM Lead WHERE Email != null "
                         "ORDER BY Id")["records"]
    counts: dict[str, int] = {}
    for record in leads:
        counts[record["Email"].lower()] = counts.get(record["Email"].lower(), 0) + 1
    return next(r for r in leads if not r["IsConverted"] and not r["HasOptedOutOfEmail"]
                and r["Email"].endswith("@example.com") and counts[r["Email"].lower()] == 1)


def test_a_converted_lead_adds_no_ledger_rows_and_once_its_contact_is_deleted_the_person_gets_nothing(
        org: RunningEmulator, sqlite_url: str, tmp_path: Path) -> None:
    sf = org.salesforce()
    lead = _lead_alone_under_its_email(sf)
    contact_id = org.admin("POST", "convert_lead", {"lead_id": lead["Id"]})["contact_id"]
    sf.Contact.update(contact_id, {"HasOptedOutOfEmail": True})  # the person opts out on the Contact

    def ledger() -> list[tuple]:
        return _rows(sqlite_url, "SELECT contact_key, crm_id, system, old_value, new_value FROM consent_ledger "
                                 "ORDER BY id")

    with dg.instance_for_test() as instance:
        _run(org, sqlite_url, instance)
        key = _rows(sqlite_url, "SELECT contact_key FROM contact_links WHERE crm_id = :i", i=lead["Id"])[0][0]
        assert _rows(sqlite_url, "SELECT crm_type, crm_id, is_active, opted_out FROM all_contacts "
                                 "WHERE contact_key = :k", k=key) == [("Contact", contact_id, 1, 1)]
        first = ledger()
        assert [row for row in first if row[0] == key] == [(key, contact_id, "salesforce", None, 1)]  # once
        assert sf.Contact.get(contact_id)["HasOptedOutOfEmail"] is True

        _run(org, sqlite_url, instance)  # nothing changed (our own push moved SystemModstamps): nothing recorded
        assert ledger() == first

        # The Contact is deleted in Salesforce, and the person opens an email: only the converted Lead is left.
        sf.Contact.delete(contact_id)
        opened = {"event_id": "t-open-gone", "event_type": "email_open", "email": lead["Email"],
                  "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="seconds"),
                  "email_name": "Spring news"}
        (tmp_path / "events" / "opened.jsonl").write_text(json.dumps(opened) + "\n")
        result = _run(org, sqlite_url, instance)
        assert _rows(sqlite_url, "SELECT crm_type, crm_id, is_active FROM all_contacts WHERE contact_key = :k",
                     k=key) == [("Lead", lead["Id"], 0)]  # kept as inactive history
        sent = _rows(sqlite_url, "SELECT crm_id, record_key, error_code FROM push_results WHERE run_id = :r",
                     r=result.run_id)
        assert [row for row in sent if row[0] in (lead["Id"], contact_id) or row[1] == activity_key("t-open-gone")
                or row[2] == "CANNOT_UPDATE_CONVERTED_LEAD"] == []  # no Task, score or field planned for them
        assert sf.query(format_soql("SELECT COUNT() FROM Task WHERE Marketing_Activity_Key__c = {}",
                                    activity_key("t-open-gone")))["totalSize"] == 0
        assert ledger() == first  # still opted out: no transition
