"""Failures an operator must see, through the whole job against the emulator over real HTTP (SQLite).

Faults are switched on through the emulator's admin endpoint while the job runs, right before a push step writes:
an expired session (the step logs in again and goes on), a password that expired mid-run and a server answering
503 (the step fails after keeping what went through, and names the cause), and a list whose campaign does not exist
(that list fails, the push of scores and opt-outs goes on).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

import sync_pipeline.salesforce.push as push_module
import sync_pipeline.steps.push as push_defs
from sync_pipeline.emulator.testing import RunningEmulator
from sync_pipeline_tests.defs.helpers import query_rows as _rows
from sync_pipeline_tests.defs.test_push_job import ROOT, _run
from sync_pipeline_tests.defs.test_push_job import org as org  # noqa: F401  (the emulator fixture)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(push_module, "_pause", lambda seconds: None)


@pytest.fixture
def before_each_push(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[str], None]]]:
    """Hooks called with the object name right before each push step sends records (faults are set there)."""
    hooks: list[Callable[[str], None]] = []
    real = push_defs.push_records

    def push_records(client: Any, usage: Any, object_name: str, records: list[dict[str, Any]], **options: Any):
        for hook in hooks:
            hook(object_name)
        return real(client, usage, object_name, records, **options)

    monkeypatch.setattr(push_defs, "push_records", push_records)
    yield hooks


def _unsubscribe(folder: Path, event_id: str, email: str) -> None:
    when = (datetime.now(UTC) - timedelta(minutes=30)).isoformat(timespec="seconds")
    (folder / f"{event_id}.jsonl").write_text(json.dumps(
        {"event_id": event_id, "event_type": "unsubscribe", "email": email, "occurred_at": when}) + "\n")


def _step_failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    return {e.step_key: e.event_specific_data.error.message for e in result.all_events
            if e.event_type_value == "STEP_FAILURE"}


def _checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], Any]:
    return {(e.event_specific_data.asset_key.to_user_string(), e.event_specific_data.check_name): e.event_specific_data
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def _bad_campaign_settings(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "data" / "sync.yaml").read_text())
    data["lists"].append({"name": "Autumn Gala Guests", "source": {"campaign": "Autumn Gala 2031"},
                          "columns": ["Email", "FirstName"],
                          "pull": {"add_new": True, "update_fields": [], "remove_missing": True},
                          "push": {"add_new": False, "update_fields": []}})
    path = tmp_path / "sync.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_write_failures_fail_the_run_with_their_cause_and_a_bad_list_blocks_no_push(
        org: RunningEmulator, sqlite_url: str, tmp_path: Path,  # noqa: F811
        before_each_push: list[Callable[[str], None]]) -> None:
    sf = org.salesforce()
    url, events = sqlite_url, tmp_path / "events"
    with dg.instance_for_test() as instance:
        # 1. The session expires before every push step's first write (the Task path included): each logs in
        #    again, and every Task and score arrives.
        logins = org.admin("GET", "stats")["logins"]
        before_each_push.append(lambda name: org.admin("POST", "faults", {"expire_sessions": True}))
        _run(org, url, instance)
        pushed_objects = {row[0] for row in _rows(url, "SELECT DISTINCT object_name FROM push_results")}
        assert {"Lead", "Contact", "Task"} <= pushed_objects
        assert org.admin("GET", "stats")["logins"] - logins >= 1 + len(pushed_objects)  # connect + one per push
        tasks = sf.query("SELECT COUNT() FROM Task")["totalSize"]
        assert tasks == _rows(url, "SELECT COUNT(*) FROM pushed_activities")[0][0] > 0
        assert _rows(url, "SELECT COUNT(*) FROM push_results WHERE success = :f", f=False) == [(0,)]
        before_each_push.clear()

        lead = sf.query("SELECT Id, Email FROM Lead WHERE IsConverted = false AND HasOptedOutOfEmail = false "
                        "AND Email LIKE '%@example.com' ORDER BY Id LIMIT 1")["records"][0]
        _unsubscribe(events, "op-unsub-1", lead["Email"])

        # 2. The password expires mid-run: the push cannot log in again. The step fails and says why; the opt-out is
        #    kept (ledger) and recorded as unsent, not as refused.
        def expire_password(name: str) -> None:
            org.admin("POST", "faults", {"expire_sessions": True,
                                         "login_fault": "INVALID_OPERATION_WITH_EXPIRED_PASSWORD"})

        before_each_push.append(expire_password)
        failed = _run(org, url, instance, expect_success=False)
        before_each_push.clear()
        org.admin("POST", "faults", {"login_fault": None})
        message = _step_failures(failed)["salesforce_push"]
        assert "did not reach Salesforce: disconnected: the password has expired — " in message
        assert "SALESFORCE_PASSWORD" in message and org.password not in message
        assert not _checks(failed)[("salesforce_push", "push_delivered")].passed
        outcomes = dict(_rows(url, "SELECT outcome, COUNT(*) FROM push_results WHERE crm_id = :i GROUP BY outcome",
                              i=lead["Id"]))
        assert outcomes.get("unsent") == 1 and "refused" not in outcomes
        assert _rows(url, "SELECT COUNT(*) FROM consent_ledger l JOIN contact_links c ON c.contact_key = l.contact_key"
                          " WHERE c.crm_id = :i AND l.new_value = :t", i=lead["Id"], t=True)[0][0] >= 1
        assert sf.Lead.get(lead["Id"])["HasOptedOutOfEmail"] is False

        # 3. Salesforce answers 503 to every write: the step fails, naming the answer and how many writes it hit.
        before_each_push.append(lambda name: org.admin("POST", "faults", {"error_rate": 1.0}))
        failed = _run(org, url, instance, expect_success=False)
        before_each_push.clear()
        org.admin("POST", "faults", {"error_rate": 0.0})
        message = _step_failures(failed)["salesforce_push"]
        assert "Salesforce answered HTTP 503 (SERVER_UNAVAILABLE: " in message
        assert "Lead writes; they go with the next run" in message

        # 4. A list names a campaign the org does not have: the connection warns with the key, that list fails
        #    alone, and the push sends the opt-out.
        result = _run(org, url, instance, expect_success=False, settings_path=_bad_campaign_settings(tmp_path))
        failures = _step_failures(result)
        assert list(failures) == ["list_autumn_gala_guests"]
        assert "Autumn Gala 2031" in failures["list_autumn_gala_guests"]
        sources = _checks(result)[("salesforce_connection", "list_sources")]
        assert not sources.passed
        assert sources.description.startswith('lists["Autumn Gala Guests"].source.campaign: no campaign named '
                                               "'Autumn Gala 2031' in the org — ")
        assert sf.Lead.get(lead["Id"])["HasOptedOutOfEmail"] is True
        assert _checks(result)[("salesforce_push", "push_delivered")].passed
