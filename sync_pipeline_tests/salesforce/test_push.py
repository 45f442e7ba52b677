"""Pushing records to the emulator over real HTTP: paths, per-record outcomes, retries, faults and the API budget."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import requests

import sync_pipeline.salesforce.push as push_module
from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.rules.activities import ACTIVITY_TYPES, KEY_FIELD, plan_tasks
from sync_pipeline.salesforce.connect import ApiUsage, SalesforceConnection, open_connection
from sync_pipeline.salesforce.push import (
    DISCONNECTED,
    LOCKED,
    NOT_ATTEMPTED_API_BUDGET,
    NOT_ATTEMPTED_REQUEST_LIMIT,
    OUTCOME_UNKNOWN,
    PushOutcome,
    push_records,
    unsent_summary,
)
from sync_pipeline.settings.login import AuthMode

SCALE = 600  # Leads: enough for 450 live ones
FAULT_SEED = 7  # the emulator draws its random faults from the org seed: this one fails early requests


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(seed=5, scale=SCALE) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(push_module, "_pause", lambda seconds: None)


def _connect(emu: RunningEmulator, mode: AuthMode = AuthMode.JWT) -> SalesforceConnection:
    return open_connection(emu.login(mode), emulator_url=emu.url)


def _live_leads(emu: RunningEmulator, count: int) -> list[str]:
    rows = emu.salesforce().query_all(
        f"SELECT Id FROM Lead WHERE IsConverted = false ORDER BY Id LIMIT {count}")["records"]
    assert len(rows) == count
    return [row["Id"] for row in rows]


def _scores(emu: RunningEmulator) -> dict[str, float | None]:
    rows = emu.salesforce().query_all("SELECT Id, Behavior_Score__c FROM Lead")["records"]
    return {row["Id"]: row["Behavior_Score__c"] for row in rows}


def _score_updates(ids: list[str]) -> list[dict[str, Any]]:
    return [{"Id": lead_id, "Behavior_Score__c": float(index % 97 + 1)} for index, lead_id in enumerate(ids)]


def _endpoint_calls(emu: RunningEmulator) -> dict[str, int]:
    return emu.admin("GET", "stats")["by_endpoint"]


def _push(conn: SalesforceConnection, records: list[dict[str, Any]], object_name: str = "Lead",
          **options: Any) -> PushOutcome:
    return push_records(conn.client, conn.usage, object_name, records, **options)


def test_450_score_updates_take_three_collections_calls(emu: RunningEmulator) -> None:
    conn = _connect(emu)
    ids = _live_leads(emu, 450)
    records = _score_updates(ids)
    before = _endpoint_calls(emu)
    outcome = _push(conn, records)
    after = _endpoint_calls(emu)
    assert after["composite/sobjects:PATCH"] - before.get("composite/sobjects:PATCH", 0) == 3
    assert outcome.api_calls == 3 and not outcome.used_bulk and outcome.stopped_reason is None
    assert (outcome.sent, outcome.succeeded, outcome.failed, outcome.retried, outcome.not_attempted) == (
        450, 450, 0, 0, 0)
    assert [o.key for o in outcome.outcomes] == ids
    assert all(o.success and o.sf_id == o.key and o.attempts == 1 and not o.created for o in outcome.outcomes)
    scores = _scores(emu)
    assert all(scores[r["Id"]] == r["Behavior_Score__c"] for r in records)


@pytest.mark.parametrize("mode", list(AuthMode))
def test_an_expired_session_mid_push_relogs_once_and_loses_nothing(emu: RunningEmulator, mode: AuthMode) -> None:
    """Renewed by the flow the connection logged in with: a new JWT assertion, a new client-credentials token, or a
    SOAP login."""
    conn = _connect(emu, mode)
    ids = _live_leads(emu, 450)
    records = _score_updates(ids)
    logins = emu.admin("GET", "stats")["logins"]
    emu.admin("POST", "faults", {"expire_sessions": True})  # the session the push holds is no longer valid
    outcome = _push(conn, records)
    assert outcome.succeeded == 450 and outcome.failed == 0
    assert emu.admin("GET", "stats")["logins"] == logins + 1  # one re-login, then the same session for the rest
    scores = _scores(emu)
    assert all(scores[r["Id"]] == r["Behavior_Score__c"] for r in records)


@pytest.mark.parametrize("mode", list(AuthMode))
def test_an_expired_session_under_a_bulk_job_relogs_once_and_loses_nothing(emu: RunningEmulator,
                                                                            mode: AuthMode) -> None:
    """The Bulk ingest path renews the session like the Collections path (simple-salesforce's Bulk 2.0 helpers do
    not), so a Task upsert above the threshold survives an expiry."""
    conn = _connect(emu, mode)
    ids = _live_leads(emu, 30)
    events = pd.DataFrame([{"event_id": f"evt-{i}", "event_type": "email_open", "email": f"p{i}@example.com",
                            "occurred_at": "2024-03-01T10:00:00Z", "campaign": None, "email_name": "Promo",
                            "url": None, "form": None} for i in range(30)])
    links = pd.DataFrame({"email": [f"p{i}@example.com" for i in range(30)], "crm_id": ids, "crm_type": "Lead"})
    tasks = plan_tasks(events, links, ACTIVITY_TYPES, set()).to_dict("records")
    logins = emu.admin("GET", "stats")["logins"]
    emu.admin("POST", "faults", {"expire_sessions": True})
    outcome = _push(conn, tasks, "Task", operation="upsert", external_id_field=KEY_FIELD, bulk_threshold=20)
    assert outcome.used_bulk and outcome.succeeded == 30 and outcome.count("unsent") == 0
    assert emu.admin("GET", "stats")["logins"] == logins + 1
    assert emu.salesforce().query("SELECT COUNT() FROM Task")["totalSize"] == 30


@pytest.mark.parametrize("bulk_threshold", [10_000, 20], ids=["collections", "bulk"])
@pytest.mark.parametrize(("mode", "fault", "reason", "fix_names"), [
    (AuthMode.PASSWORD, {"login_fault": "INVALID_OPERATION_WITH_EXPIRED_PASSWORD"}, "the password has expired",
     "SALESFORCE_PASSWORD"),
    (AuthMode.JWT, {"oauth_fault": "inactive_user"},
     "the integration user is inactive or frozen (invalid_grant: inactive user)", "Setup > Users"),
], ids=["password-expired", "jwt-user-frozen"])
def test_a_login_refused_mid_run_stops_the_push_as_disconnected(emu: RunningEmulator, bulk_threshold: int,
                                                                mode: AuthMode, fault: dict[str, str], reason: str,
                                                                fix_names: str) -> None:
    conn = _connect(emu, mode)
    records = _score_updates(_live_leads(emu, 30))
    emu.admin("POST", "faults", {"expire_sessions": True, **fault})
    outcome = _push(conn, records, bulk_threshold=bulk_threshold)
    assert outcome.succeeded == 0 and outcome.count("unsent") == 30 and outcome.count("refused") == 0
    assert {o.error_code for o in outcome.outcomes} == {DISCONNECTED}
    assert (outcome.stopped_reason or "").startswith(f"disconnected: {reason} — ")
    assert unsent_summary(outcome.outcomes, "Lead") == [outcome.stopped_reason]
    assert fix_names in (outcome.stopped_reason or "")
    for secret in (emu.password, emu.private_key, emu.state.client_app.consumer_secret):
        assert secret not in str(outcome)


def test_server_errors_on_every_try_leave_the_records_unsent_with_the_cause(emu: RunningEmulator) -> None:
    conn = _connect(emu)
    records = _score_updates(_live_leads(emu, 250))
    emu.admin("POST", "faults", {"error_rate": 1.0})
    outcome = _push(conn, records)
    emu.admin("POST", "faults", {"error_rate": 0.0})
    assert outcome.succeeded == 0 and outcome.count("unsent") == 250 and outcome.count("refused") == 0
    assert all(o.attempts == 3 for o in outcome.outcomes)  # each call tried three times
    assert unsent_summary(outcome.outcomes, "Lead") == [
        "Salesforce answered HTTP 503 (SERVER_UNAVAILABLE: Server temporarily unavailable, please try again) on 250 "
        "Lead writes; they go with the next run"]


def test_nothing_to_push_makes_no_call(emu: RunningEmulator) -> None:
    conn = _connect(emu)
    outcome = _push(conn, [])
    assert outcome.api_calls == 0 and outcome.outcomes == []


def test_bulk_path_above_the_threshold_with_per_record_outcomes(emu: RunningEmulator) -> None:
    conn = _connect(emu)
    ids = _live_leads(emu, 30)
    records = _score_updates(ids)
    records[7]["Email"] = "not-an-email"
    outcome = _push(conn, records, bulk_threshold=20)
    assert outcome.used_bulk and outcome.stopped_reason is None
    assert 7 <= outcome.api_calls <= 9  # one ingest job: create, upload, close, poll(s), read, two result files
    assert _endpoint_calls(emu).get("composite/sobjects:PATCH", 0) == 0
    assert (outcome.succeeded, outcome.failed) == (29, 1)
    bad = outcome.outcomes[7]
    assert bad.key == ids[7] and bad.error_code == "INVALID_EMAIL_ADDRESS" and "not-an-email" in bad.error_message
    assert bad.attempts == 1
    scores = _scores(emu)
    assert all(scores[r["Id"]] == r["Behavior_Score__c"] for i, r in enumerate(records) if i != 7)


def test_a_bulk_push_larger_than_one_upload_goes_as_several_jobs(emu: RunningEmulator,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    conn = _connect(emu)
    ids = _live_leads(emu, 30)
    records = [{**r, "Title": 'VP "Growth", EMEA'} for r in _score_updates(ids)]  # cells the CSV must quote
    monkeypatch.setattr(push_module, "BULK_UPLOAD_BYTES", 1_000)  # at most 19 of these rows an upload
    outcome = _push(conn, records, bulk_threshold=20)
    jobs = emu.salesforce().restful("jobs/ingest")["records"]
    assert [(job["object"], job["operation"], job["state"]) for job in jobs] == [("Lead", "update", "JobComplete")] * 2
    assert (outcome.succeeded, outcome.failed) == (30, 0)
    assert all(_scores(emu)[r["Id"]] == r["Behavior_Score__c"] for r in records)


def test_upload_parts_keep_each_csv_under_the_limit() -> None:
    rows = [{"Id": f"00Q{i:015d}", "Title": '"quoted", and long ' * (i % 7), "Score": str(i)} for i in range(500)]
    limit = push_module.BULK_UPLOAD_BYTES = 4_000
    try:
        parts = push_module._upload_parts(rows)
    finally:
        push_module.BULK_UPLOAD_BYTES = 90 * 1024 * 1024
    assert parts[0][0] == 0 and parts[-1][1] == len(rows)
    assert all(end == start for (_, end), (start, _) in zip(parts, parts[1:], strict=False))  # consecutive, complete
    for start, end in parts:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writerows(rows[start:end])
        assert len(buffer.getvalue().encode("utf-8")) <= limit


def test_bulk_insert_matches_results_to_records_by_their_values(emu: RunningEmulator) -> None:
    conn = _connect(emu)
    records = [{"LastName": f"Bulk{i}", "Company": "Acme", "Email": f"bulk{i}@example.com", "Title": None}
               for i in range(5)]
    records[2]["LastName"] = None  # required
    outcome = _push(conn, records, operation="insert", bulk_threshold=1)
    assert [o.key for o in outcome.outcomes] == ["0", "1", "2", "3", "4"]
    assert outcome.outcomes[2].error_code == "REQUIRED_FIELD_MISSING"
    created = {o.sf_id: i for i, o in enumerate(outcome.outcomes) if o.success}
    assert len(created) == 4 and all(outcome.outcomes[i].created for i in created.values())
    rows = emu.salesforce().query_all("SELECT Id, Email FROM Lead WHERE Company = 'Acme' AND LastName LIKE 'Bulk%'")
    assert {r["Id"]: r["Email"] for r in rows["records"]} == {
        sf_id: f"bulk{i}@example.com" for sf_id, i in created.items()}


def test_validation_errors_are_recorded_not_retried_and_the_rest_succeed(emu: RunningEmulator) -> None:
    conn = _connect(emu)
    ids = _live_leads(emu, 10)
    converted = emu.admin("POST", "convert_lead", {"lead_id": ids[3]})
    assert converted
    emu.admin("POST", "faults", {"reject_email_domain": "blocked.test"})
    records = _score_updates(ids)
    records[0]["Email"] = "broken@"
    records[1]["LastName"] = "L" * 81
    records[2]["Email"] = "someone@blocked.test"
    deleted = ids[4]
    emu.salesforce().Lead.delete(deleted)
    outcome = _push(conn, records)
    codes = {o.key: o.error_code for o in outcome.outcomes if not o.success}
    assert codes == {ids[0]: "INVALID_EMAIL_ADDRESS", ids[1]: "STRING_TOO_LONG",
                     ids[2]: "FIELD_CUSTOM_VALIDATION_EXCEPTION", ids[3]: "CANNOT_UPDATE_CONVERTED_LEAD",
                     deleted: "ENTITY_IS_DELETED"}
    assert {o.key for o in outcome.outcomes if o.refused} == set(codes)  # answered for the record: not retried
    assert "blocked.test" in outcome.outcomes[2].error_message
    assert "max length=80" in outcome.outcomes[1].error_message
    assert outcome.api_calls == 1 and outcome.retried == 0
    assert all(o.attempts == 1 for o in outcome.outcomes)
    assert (outcome.succeeded, outcome.failed) == (5, 5)
    scores = _scores(emu)
    assert all(scores[r["Id"]] == r["Behavior_Score__c"] for r in records[5:])


def test_locked_records_are_retried_then_recorded_and_go_through_once_unlocked(emu: RunningEmulator) -> None:
    conn = _connect(emu)
    ids = _live_leads(emu, 10)
    locked = [ids[2], ids[6]]
    emu.admin("POST", "faults", {"lock_ids": locked})
    records = _score_updates(ids)
    outcome = _push(conn, records)
    failed = {o.key: (o.error_code, o.attempts) for o in outcome.outcomes if not o.success}
    assert failed == {locked[0]: (LOCKED, 3), locked[1]: (LOCKED, 3)}
    assert not any(o.refused for o in outcome.outcomes)  # a locked row may go through next time
    # the first call; the two locked records together after 0.2 s; then in halves (one call each) after 0.5 s
    assert outcome.api_calls == 4
    assert outcome.retried == 2 and outcome.succeeded == 8
    emu.admin("POST", "faults", {"lock_ids": []})
    again = _push(conn, [r for r in records if r["Id"] in locked])
    assert again.succeeded == 2 and again.api_calls == 1
    scores = _scores(emu)
    assert all(scores[r["Id"]] == r["Behavior_Score__c"] for r in records)


def test_a_lock_released_between_attempts_lets_the_record_through(emu: RunningEmulator,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    conn = _connect(emu)
    ids = _live_leads(emu, 5)
    emu.admin("POST", "faults", {"lock_ids": [ids[1]]})
    monkeypatch.setattr(push_module, "_pause", lambda seconds: emu.admin("POST", "faults", {"lock_ids": []}))
    outcome = _push(conn, _score_updates(ids))
    assert outcome.succeeded == 5 and outcome.outcomes[1].attempts == 2 and outcome.retried == 1


def _converge(emu: RunningEmulator, object_name: str, records: list[dict[str, Any]], faults: dict[str, Any],
              **options: Any) -> list[PushOutcome]:
    """Push, then push what did not go through again (as the next runs would), until everything did."""
    conn = _connect(emu)
    emu.admin("POST", "faults", faults)
    runs: list[PushOutcome] = []
    pending = records
    while pending and len(runs) < 6:
        outcome = _push(conn, pending, object_name, **options)
        runs.append(outcome)
        pending = [record for record, o in zip(pending, outcome.outcomes, strict=True) if not o.success]
    emu.admin("POST", "faults", {"error_rate": 0.0, "reset_rate": 0.0})
    assert not pending, [run.failures_by_code() for run in runs]
    return runs


def test_transient_faults_converge_to_the_state_of_a_clean_run() -> None:
    with (running_emulator(seed=FAULT_SEED, scale=SCALE) as clean,
          running_emulator(seed=FAULT_SEED, scale=SCALE) as faulty):
        ids = _live_leads(clean, 450)
        records = _score_updates(ids)
        clean_runs = _converge(clean, "Lead", records, {})
        faulty_runs = _converge(faulty, "Lead", records, {"error_rate": 0.25, "reset_rate": 0.15})
        assert len(clean_runs) == 1 and clean_runs[0].succeeded == 450
        assert sum(run.retried for run in faulty_runs) > 0  # calls were repeated after 503s and resets
        assert all(o.error_code in (None, "SERVER_UNAVAILABLE", "CONNECTION_ERROR")
                   for run in faulty_runs for o in run.outcomes)
        assert _scores(faulty) == _scores(clean)


def test_tasks_upserted_under_faults_and_twice_are_one_task_each() -> None:
    count = 250  # two Collections calls
    with running_emulator(seed=FAULT_SEED, scale=SCALE) as emu:
        sf = emu.salesforce()
        leads = _live_leads(emu, count)
        events = pd.DataFrame([{"event_id": f"evt-{i}", "event_type": "email_open", "email": f"p{i}@example.com",
                                "occurred_at": "2024-03-01T10:00:00Z", "campaign": "Spring",
                                "email_name": "Promo", "url": None, "form": None} for i in range(count)])
        links = pd.DataFrame({"email": [f"p{i}@example.com" for i in range(count)], "crm_id": leads,
                              "crm_type": "Lead"})
        tasks = plan_tasks(events, links, ACTIVITY_TYPES, set()).to_dict("records")
        runs = _converge(emu, "Task", tasks, {"error_rate": 0.25, "reset_rate": 0.15}, operation="upsert",
                         external_id_field=KEY_FIELD)
        assert sum(run.retried for run in runs) > 0  # calls were repeated after 503s and resets
        assert sum(o.created for run in runs for o in run.outcomes if o.success) == count
        conn = _connect(emu)
        again = _push(conn, tasks, "Task", operation="insert", external_id_field=KEY_FIELD)  # sent as an upsert
        assert again.operation == "upsert" and again.succeeded == count
        assert not any(o.created for o in again.outcomes)
        rows = sf.query_all("SELECT Id, WhoId, Subject, Status, Marketing_Activity_Key__c FROM Task")["records"]
        assert len(rows) == count
        assert {r["Marketing_Activity_Key__c"]: r["WhoId"] for r in rows} == {t[KEY_FIELD]: t["WhoId"] for t in tasks}
        assert {r["Subject"] for r in rows} == {"Email opened: Promo"} and {r["Status"] for r in rows} == {"Completed"}


def test_request_limit_exceeded_stops_at_once(emu: RunningEmulator) -> None:
    conn = _connect(emu)
    ids = _live_leads(emu, 450)
    used = emu.admin("GET", "stats")["api_calls"]
    emu.admin("POST", "faults", {"daily_api_limit": used + 1})
    outcome = _push(conn, _score_updates(ids))
    assert "REQUEST_LIMIT_EXCEEDED" in (outcome.stopped_reason or "")
    assert outcome.api_calls == 2  # the first chunk, then the refused call: never retried
    assert outcome.succeeded == 200 and outcome.not_attempted == 250 and outcome.failed == 0
    assert {o.error_code for o in outcome.outcomes[200:]} == {NOT_ATTEMPTED_REQUEST_LIMIT}
    assert outcome.as_metadata()["not_attempted"] == 250


def test_the_call_budget_stops_cleanly_before_it_is_passed(emu: RunningEmulator) -> None:
    conn = _connect(emu)
    ids = _live_leads(emu, 450)
    outcome = _push(conn, _score_updates(ids), max_api_calls=2)
    assert outcome.api_calls == 2 and outcome.succeeded == 400 and outcome.not_attempted == 50
    assert {o.error_code for o in outcome.outcomes[400:]} == {NOT_ATTEMPTED_API_BUDGET}
    assert all(o.attempts == 0 for o in outcome.outcomes[400:])
    assert "budget" in (outcome.stopped_reason or "")
    bulk = _push(conn, _score_updates(ids), bulk_threshold=10, max_api_calls=5)  # a job takes about 7 calls
    assert bulk.api_calls == 0 and bulk.not_attempted == 450


def test_the_org_share_stops_before_the_daily_allocation_passes_it(emu: RunningEmulator) -> None:
    conn = _connect(emu)
    ids = _live_leads(emu, 450)
    used = emu.admin("GET", "stats")["api_calls"]
    emu.admin("POST", "faults", {"daily_api_limit": 10 * (used + 2)})
    outcome = _push(conn, _score_updates(ids), max_org_share=0.1)
    assert outcome.api_calls == 2 and outcome.succeeded == 400 and outcome.not_attempted == 50
    assert conn.usage.org_used <= 0.1 * conn.usage.org_limit
    assert "10%" in (outcome.stopped_reason or "")


def test_the_run_share_stops_before_this_runs_calls_pass_it(emu: RunningEmulator) -> None:
    conn = _connect(emu)
    ids = _live_leads(emu, 450)
    emu.admin("POST", "faults", {"daily_api_limit": 1000})
    before = conn.usage.calls
    outcome = _push(conn, _score_updates(ids), max_run_share=(before + 2) / 1000)  # two more calls in this run
    assert outcome.api_calls == 2 and outcome.succeeded == 400 and outcome.not_attempted == 50
    assert "of the org's daily allocation of 1000" in (outcome.stopped_reason or "")
    assert {o.error_code for o in outcome.outcomes if not o.success} == {"NOT_ATTEMPTED_API_BUDGET"}


class _FlakyClient:
    """A client whose Collections call fails with a connection reset the first time."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def restful(self, path: str, method: str = "GET", json: Any = None, **kwargs: Any) -> Any:
        self.calls.append(method)
        if len(self.calls) == 1:
            raise requests.exceptions.ConnectionError("connection reset by peer")
        return [{"id": f"00Q5e00000000{i:02d}AAA", "success": True, "errors": [], "created": False}
                for i, _ in enumerate(json["records"])]


def test_an_insert_whose_outcome_is_unknown_is_not_sent_again() -> None:
    client = _FlakyClient()
    outcome = push_records(client, ApiUsage(), "Lead", [{"LastName": "A", "Company": "C"}], operation="insert")
    assert client.calls == ["POST"]
    assert outcome.outcomes[0].error_code == OUTCOME_UNKNOWN and outcome.failed == 1


def test_an_update_after_a_connection_reset_is_sent_again() -> None:
    client = _FlakyClient()
    outcome = push_records(client, ApiUsage(), "Lead", [{"Id": "00Q5e0000000001EAA", "Title": "T"}])
    assert client.calls == ["PATCH", "PATCH"]
    assert outcome.succeeded == 1 and outcome.outcomes[0].attempts == 2 and outcome.retried == 1


def test_records_without_their_key_are_refused_before_any_call() -> None:
    client = _FlakyClient()
    with pytest.raises(ValueError, match="record 0 has no Id"):
        push_records(client, ApiUsage(), "Lead", [{"Title": "T"}])
    with pytest.raises(ValueError, match="external_id_field"):
        push_records(client, ApiUsage(), "Task", [{"Subject": "S"}], operation="upsert")
    assert client.calls == []


def test_bulk_push_of_records_that_carry_attributes() -> None:
    """Records of a push plan carry ``attributes`` (for Collections); the Bulk path must not send it as a column."""
    with running_emulator(seed=5, scale=300) as emu:
        connection = open_connection(emu.login(), emulator_url=emu.url)
        ids = [r["Id"] for r in connection.client.query("SELECT Id FROM Lead WHERE IsConverted = false LIMIT 20")[
            "records"]]
        records = [{"attributes": {"type": "Lead"}, "Id": i, "Behavior_Score__c": 77} for i in ids]
        outcome = push_module.push_records(connection.client, connection.usage, "Lead", records, bulk_threshold=1)
        assert outcome.used_bulk and outcome.succeeded == 20
        assert connection.client.query("SELECT COUNT() FROM Lead WHERE Behavior_Score__c = 77")["totalSize"] >= 20


def test_a_validation_rule_on_a_field_never_sent_holds_back_the_score_not_the_opt_out(emu: RunningEmulator) -> None:
    """The org refuses every save of a record at example.net (FIELD_CUSTOM_VALIDATION_EXCEPTION naming Email, which
    the push never sends): the score is held back, the opt-out goes alone, and once the rule is lifted it arrives."""
    from sync_pipeline.rules.push_plan import consent_fields, refused_values
    from sync_pipeline.settings import load_settings
    from sync_pipeline_tests.defs.test_push_job import ROOT

    conn = _connect(emu)
    lead_id = _live_leads(emu, 1)[0]
    emu.salesforce().Lead.update(lead_id, {"Email": "kim@example.net"})
    emu.admin("POST", "faults", {"reject_email_domain": "example.net"})
    sent = pd.DataFrame([(lead_id, "Lead", "Behavior_Score__c", 12, None), (lead_id, "Lead", "HasOptedOutOfEmail", True,
                                                                            None)],
                        columns=["crm_id", "crm_type", "field", "value", "salesforce_stamp"])
    outcome = _push(conn, [{"Id": lead_id, "Behavior_Score__c": 12, "HasOptedOutOfEmail": True}])
    refusal = outcome.outcomes[0]
    assert refusal.kind == "refused" and refusal.error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert refusal.error_fields == ("Email",)
    apart = consent_fields(load_settings(ROOT / "data" / "sync.yaml"))
    held = refused_values(sent, {refusal.key: (refusal.error_code, refusal.error_fields)}, apart)
    assert held["field"].tolist() == ["Behavior_Score__c"]  # the opt-out is not held: it goes alone next run
    emu.admin("POST", "faults", {"reject_email_domain": None})
    alone = _push(conn, [{"Id": lead_id, "HasOptedOutOfEmail": True}])
    assert alone.succeeded == 1 and emu.salesforce().Lead.get(lead_id)["HasOptedOutOfEmail"] is True
