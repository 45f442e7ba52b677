"""The whole job with scoring and push, against the emulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml

from sync_pipeline.defs.audience import all_contacts, list_asset, sales_users
from sync_pipeline.defs.pull import MIRROR_ASSETS
from sync_pipeline.defs.push import activity_tasks, new_leads, salesforce_push
from sync_pipeline.defs.reporting import reporting_assets
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.defs.salesforce import salesforce_connection
from sync_pipeline.defs.scoring import engagement_events, lead_score_maintenance
from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.rules.new_leads import new_person_key
from sync_pipeline.rules.push_plan import PLACEHOLDER
from sync_pipeline.salesforce.connect import SalesforceResource
from sync_pipeline.settings import load_settings
from sync_pipeline.store.push_state import record_edit
from sync_pipeline_tests.defs.helpers import query_rows as _rows

ROOT = Path(__file__).resolve().parents[2]
WRITE_ENDPOINTS = ("composite/sobjects:PATCH", "composite/sobjects:POST", "jobs/ingest", "sobjects:PATCH")


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulator]:
    folder = tmp_path / "events"
    folder.mkdir()
    monkeypatch.setenv("ENGAGEMENT_EVENTS_DIR", str(folder))
    monkeypatch.setenv("EXPORTS_DIR", str(tmp_path / "exports"))
    with running_emulator(seed=9, scale=400, events_path=folder / "seed.jsonl") as emulator:
        yield emulator


def _run(org: RunningEmulator, url: str, instance: dg.DagsterInstance, *, expect_success: bool | None = True,
         settings_path: Path = ROOT / "data" / "sync.yaml", reporting: bool = False) -> dg.ExecuteInJobResult:
    settings = load_settings(settings_path)
    lists = [list_asset(item) for item in settings.lists if not item.source.report]
    assets = [salesforce_connection, *MIRROR_ASSETS, all_contacts, sales_users, *lists, engagement_events,
              lead_score_maintenance, salesforce_push, activity_tasks,
              new_leads, *(reporting_assets(settings) if reporting else [])]
    resources = {
        "salesforce": SalesforceResource(username=org.username, password=org.password,
                                         security_token=org.security_token, emulator_url=org.url),
        "marketing_db": MarketingDatabase(url=url),
        "sync_settings": SyncSettingsResource(path=str(settings_path)),
    }
    time.sleep(1.05)  # pull windows end at the last whole second before a run
    result = dg.materialize(assets, resources=resources, instance=instance, raise_on_error=False)
    failures = [e.event_specific_data.error.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert expect_success is None or result.success == expect_success, failures
    return result


def _writes(org: RunningEmulator) -> int:
    stats = org.admin("GET", "stats")["by_endpoint"]
    return sum(count for name, count in stats.items() if name.startswith(WRITE_ENDPOINTS))


def test_scores_and_tasks_reach_salesforce_once(org: RunningEmulator, database_url: str, tmp_path: Path) -> None:
    sf = org.salesforce()
    # A form from someone Salesforce does not hold: no list of the demo settings says add_new, so no Lead is made.
    form = {"event_id": "t-form-2", "event_type": "form_submit", "email": "stranger@newco.example.com",
            "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")}
    (tmp_path / "events" / "forms.jsonl").write_text(json.dumps(form) + "\n")
    with dg.instance_for_test() as instance:
        _run(org, database_url, instance)
        assert sf.query("SELECT COUNT() FROM Lead WHERE Email = 'stranger@newco.example.com'")["totalSize"] == 0
        assert _rows(database_url, "SELECT COUNT(*) FROM push_results WHERE operation = 'create'")[0][0] == 0
        links = _rows(database_url, "SELECT l.crm_id, c.lead_score FROM contact_links l JOIN all_contacts c "
                                    "ON c.contact_key = l.contact_key")
        scores = {r["Id"]: r["Behavior_Score__c"] for r in [
            *sf.query_all("SELECT Id, Behavior_Score__c FROM Lead WHERE IsConverted = false")["records"],
            *sf.query_all("SELECT Id, Behavior_Score__c FROM Contact")["records"]]}
        checked = [(crm_id, lead) for crm_id, lead in links if crm_id in scores]
        assert checked and all(scores[crm_id] == lead for crm_id, lead in checked)
        tasks = sf.query("SELECT COUNT() FROM Task")["totalSize"]
        pushed = _rows(database_url, "SELECT COUNT(*) FROM pushed_activities")[0][0]
        assert tasks == pushed > 0
        writes = _writes(org)
        _run(org, database_url, instance, reporting=True)
        assert _writes(org) == writes  # nothing changed: no write call at all
        assert sf.query("SELECT COUNT() FROM Task")["totalSize"] == tasks
        # The analyst outputs, on this backend too: tables and their Parquet files agree.
        for table in ("hot_prospects", "funnel", "roi"):
            rows = _rows(database_url, f"SELECT COUNT(*) FROM {table}")[0][0]
            assert rows > 0 and pq.read_metadata(Path(os.environ["EXPORTS_DIR"]) / f"{table}.parquet").num_rows == rows
        # The audience: active and emailable, after this run's consent write-back (the funnel runs after the push).
        active = _rows(database_url, "SELECT COUNT(*) FROM all_contacts WHERE is_active = :t AND opted_out = :f "
                                     "AND hard_bounced = :f", t=True, f=False)[0][0]
        assert _rows(database_url, "SELECT people FROM funnel WHERE dimension = 'overall' AND stage = 'in_audience'"
                     ) == [(active,)]


def test_opt_out_is_never_undone_by_a_sync(org: RunningEmulator, sqlite_url: str) -> None:
    sf = org.salesforce()
    with dg.instance_for_test() as instance:
        _run(org, sqlite_url, instance)
        contact = sf.query("SELECT Id, Email FROM Contact WHERE HasOptedOutOfEmail = false AND Email != null "
                           "ORDER BY Id LIMIT 1")["records"][0]
        key = _rows(sqlite_url, "SELECT contact_key FROM contact_links WHERE crm_id = :i", i=contact["Id"])[0][0]
        sf.Contact.update(contact["Id"], {"HasOptedOutOfEmail": True})  # opted out in Salesforce
        _run(org, sqlite_url, instance)
        assert _rows(sqlite_url, "SELECT opted_out FROM all_contacts WHERE contact_key = :k", k=key)[0][0]
        sf.Contact.update(contact["Id"], {"HasOptedOutOfEmail": False})  # un-ticked in Salesforce
        _run(org, sqlite_url, instance)
        assert sf.Contact.get(contact["Id"])["HasOptedOutOfEmail"] is True  # ticked again, not re-subscribed
        assert _rows(sqlite_url, "SELECT opted_out FROM all_contacts WHERE contact_key = :k", k=key)[0][0]
        ledger = _rows(sqlite_url, "SELECT system, new_value, evidence FROM consent_ledger WHERE contact_key = :k",
                       k=key)
        assert ledger and all(bool(new) for _, new, _ in ledger) and all(evidence for *_, evidence in ledger)


def test_unsubscribe_and_bounce_events_reach_salesforce(org: RunningEmulator, sqlite_url: str,
                                                        tmp_path: Path) -> None:
    sf = org.salesforce()
    lead = sf.query("SELECT Id, Email FROM Lead WHERE IsConverted = false AND HasOptedOutOfEmail = false "
                    "AND EmailBouncedReason = null AND Email LIKE '%@example.com' ORDER BY Id LIMIT 1")["records"][0]
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    events = [{"event_id": "t-unsub-1", "event_type": "unsubscribe", "email": lead["Email"], "occurred_at": when},
              {"event_id": "t-bounce-1", "event_type": "hard_bounce", "email": lead["Email"], "occurred_at": when,
               "reason": "550 5.1.1 mailbox does not exist"}]
    (tmp_path / "events" / "late.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    with dg.instance_for_test() as instance:
        _run(org, sqlite_url, instance)
    record = sf.Lead.get(lead["Id"])
    assert record["HasOptedOutOfEmail"] is True
    assert record["EmailBouncedReason"] == "550 5.1.1 mailbox does not exist" and record["EmailBouncedDate"]


def test_push_runs_after_maintenance_and_not_at_all_when_it_fails(org: RunningEmulator, sqlite_url: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import sync_pipeline.steps.scoring as scoring

    with dg.instance_for_test() as instance:
        result = _run(org, sqlite_url, instance)
        order = [(e.step_key, e.event_type_value) for e in result.all_events
                 if e.event_type_value in ("STEP_START", "STEP_SUCCESS")]
        assert order.index(("lead_score_maintenance", "STEP_SUCCESS")) < order.index(("salesforce_push", "STEP_START"))

        def broken(*args, **kwargs):
            raise RuntimeError("scoring rules cannot be applied")

        monkeypatch.setattr(scoring, "behavioral_scores", broken)
        writes = _writes(org)
        failed = _run(org, sqlite_url, instance, expect_success=False)
        steps = {e.step_key for e in failed.all_events if e.event_type_value == "STEP_START"}
        assert "lead_score_maintenance" in steps and "salesforce_push" not in steps
        assert _writes(org) == writes  # nothing was pushed with a stale score


def test_marketing_changes_sensor_requests_a_push_once_per_change(org: RunningEmulator, sqlite_url: str) -> None:
    from sync_pipeline.defs.sensors import marketing_changes_sensor

    with dg.instance_for_test() as instance:
        resources = {"marketing_db": MarketingDatabase(url=sqlite_url)}
        empty = dg.build_sensor_context(instance=instance, resources=resources)
        assert isinstance(marketing_changes_sensor(empty), dg.SkipReason)  # nothing ingested yet
        _run(org, sqlite_url, instance)
        first = marketing_changes_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert len(first.run_requests) == 1 and first.cursor
        again = marketing_changes_sensor(dg.build_sensor_context(instance=instance, resources=resources,
                                                                 cursor=first.cursor))
        assert isinstance(again, dg.SkipReason)
        crm_id = _rows(sqlite_url, "SELECT crm_id FROM all_contacts ORDER BY crm_id LIMIT 1")[0][0]
        # A field edit is a change too, even one dated long ago (an import keeping its original time).
        _edit(sqlite_url, crm_id, "first_name", "Edited", datetime(2020, 1, 1, tzinfo=UTC))
        edited = marketing_changes_sensor(dg.build_sensor_context(instance=instance, resources=resources,
                                                                  cursor=first.cursor))
        assert len(edited.run_requests) == 1 and edited.cursor != first.cursor
        settled = marketing_changes_sensor(dg.build_sensor_context(instance=instance, resources=resources,
                                                                   cursor=edited.cursor))
        assert isinstance(settled, dg.SkipReason)



def _settings_file(tmp_path: Path) -> Path:
    """The demo settings, with the Leads list creating new Leads and pushing Phone (allowed on a pull field)."""
    data = yaml.safe_load((ROOT / "data" / "sync.yaml").read_text())
    data["contact_mapping"]["phone"]["allow_push"] = True
    leads = data["lists"][0]
    leads["push"] = {"add_new": True, "update_fields": [*leads["push"]["update_fields"], "Phone"]}
    path = tmp_path / "sync.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _edit(url: str, crm_id: str, column: str, value: object, at: datetime) -> int:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        key = conn.execute(sa.text("SELECT contact_key FROM contact_links WHERE crm_id = :i"), {"i": crm_id}).scalar()
        edit_id = record_edit(conn, key, column, value, at, source="test")
    engine.dispose()
    return edit_id


def test_marketing_edits_follow_directions_and_the_conflict_rule_and_lists_create_leads(
        org: RunningEmulator, database_url: str, tmp_path: Path) -> None:
    sf = org.salesforce()
    settings_path = _settings_file(tmp_path)
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    form = {"event_id": "t-form-1", "event_type": "form_submit", "email": "first.contact@newco.example.com",
            "occurred_at": when, "form": "Demo request"}
    (tmp_path / "events" / "forms.jsonl").write_text(json.dumps(form) + "\n")
    with dg.instance_for_test() as instance:
        _run(org, database_url, instance, settings_path=settings_path)
        created = sf.query("SELECT Id, LastName, Company, Marketing_Id__c FROM Lead "
                           "WHERE Email = 'first.contact@newco.example.com'")["records"]
        assert [(r["LastName"], r["Company"], r["Marketing_Id__c"]) for r in created] == [
            (PLACEHOLDER, PLACEHOLDER, new_person_key("first.contact@newco.example.com"))]

        leads = [r["Id"] for r in sf.query(
            "SELECT Id FROM Lead WHERE IsConverted = false AND Email LIKE '%@example.com' ORDER BY Id LIMIT 4")[
            "records"]]
        plain, pull_only, conflict_lost, conflict_won = leads
        before = sf.Lead.get(pull_only)
        edits = {
            "first_name": _edit(database_url, plain, "first_name", "Edited", datetime.now(UTC)),  # two_way
            "phone": _edit(database_url, plain, "phone", "+1 555 0100", datetime.now(UTC)),  # allow_push, listed
            "company": _edit(database_url, pull_only, "company", "Not Sent Inc", datetime.now(UTC)),  # pull
            # Title changed on both sides: earlier here than in Salesforce (Salesforce wins), and later (we win).
            "title_lost": _edit(database_url, conflict_lost, "title", "Marketing Title", datetime.now(UTC)),
        }
        time.sleep(1.1)
        sf.Lead.update(conflict_lost, {"Title": "Sales Title"})
        sf.Lead.update(conflict_won, {"Title": "Sales Title"})
        time.sleep(1.1)
        # The edit was made before Salesforce's change became known here: its old value is the seed's title.
        edits["title_won"] = _edit(database_url, conflict_won, "title", "Marketing Title", datetime.now(UTC))
        _run(org, database_url, instance, settings_path=settings_path)

        assert sf.Lead.get(plain)["FirstName"] == "Edited" and sf.Lead.get(plain)["Phone"] == "+1 555 0100"
        assert sf.Lead.get(pull_only)["Company"] == before["Company"]
        assert sf.Lead.get(conflict_lost)["Title"] == "Sales Title"
        assert sf.Lead.get(conflict_won)["Title"] == "Marketing Title"
        statuses = dict(_rows(database_url, "SELECT edit_id, status FROM marketing_edits"))
        assert {name: statuses[edit_id] for name, edit_id in edits.items()} == {
            "first_name": "pushed", "phone": "pushed", "company": "not_pushable", "title_lost": "salesforce_won",
            "title_won": "pushed"}
        conflicts = _rows(database_url, "SELECT crm_id, field, marketing_value, salesforce_value, winner "
                                        "FROM push_conflicts ORDER BY crm_id")
        assert sorted(conflicts) == sorted([
            (conflict_lost, "Title", '"Marketing Title"', '"Sales Title"', "salesforce"),
            (conflict_won, "Title", '"Marketing Title"', '"Sales Title"', "marketing")])

        writes = _writes(org)
        _run(org, database_url, instance, settings_path=settings_path)
        assert _writes(org) == writes  # every edit settled, the new Lead pulled: nothing more to send
        assert sf.query("SELECT COUNT() FROM Lead WHERE Email = 'first.contact@newco.example.com'")["totalSize"] == 1
