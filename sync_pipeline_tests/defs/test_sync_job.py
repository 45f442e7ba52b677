"""The main job against the emulator, on SQLite and PostgreSQL: the audience, the lists and what a re-sync changes."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from sync_pipeline.defs.audience import all_contacts, list_asset, sales_users
from sync_pipeline.defs.pull import MIRROR_ASSETS
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.defs.salesforce import salesforce_connection
from sync_pipeline.defs.saved_reports import report_asset
from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.salesforce.connect import SalesforceResource
from sync_pipeline.settings import load_settings
from sync_pipeline_tests.defs.helpers import query_rows as _rows

ROOT = Path(__file__).resolve().parents[2]
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(seed=9, scale=600) as emulator:
        yield emulator


def _settings_file(tmp_path: Path, edit=None) -> Path:
    data = yaml.safe_load((ROOT / "data" / "sync.yaml").read_text())
    if edit:
        edit(data)
    path = tmp_path / "sync.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _run(emu: RunningEmulator, url: str, settings_path: Path, instance: dg.DagsterInstance) -> dg.ExecuteInJobResult:
    settings = load_settings(settings_path)
    reports = sorted({item.source.report for item in settings.lists if item.source.report})
    assets = [salesforce_connection, *MIRROR_ASSETS, *(report_asset(name) for name in reports), all_contacts,
              sales_users, *(list_asset(item) for item in settings.lists)]
    resources = {
        "salesforce": SalesforceResource(username=emu.username, password=emu.password,
                                         security_token=emu.security_token, emulator_url=emu.url),
        "marketing_db": MarketingDatabase(url=url),
        "sync_settings": SyncSettingsResource(path=str(settings_path)),
    }
    time.sleep(1.05)  # pull windows end at the last whole second before a run
    result = dg.materialize(assets, resources=resources, instance=instance, raise_on_error=False)
    failures = [e.event_specific_data.error.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert result.success, failures
    return result


def _metadata(result: dg.ExecuteInJobResult, node: str) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(node)[0].metadata.items()}


def test_job_builds_audience_lists_and_reports(emu: RunningEmulator, database_url: str, tmp_path: Path) -> None:
    settings_path = _settings_file(tmp_path)
    sf = emu.salesforce()
    with dg.instance_for_test() as instance:
        first = _run(emu, database_url, settings_path, instance)
        leads = sf.query_all("SELECT Id, Email, IsConverted, ConvertedContactId, IsDeleted FROM Lead",
                             include_deleted=True)["records"]
        contacts = sf.query_all("SELECT Id, Email FROM Contact", include_deleted=True)["records"]
        bad = {r["Id"] for r in [*leads, *contacts] if r["Email"] and not EMAIL.match(r["Email"].strip())}
        assert bad, "the seed holds invalid emails"
        quarantined = {row[0] for row in _rows(database_url, "SELECT record_id FROM quarantine WHERE field = 'Email'")}
        assert quarantined == bad
        linked = {row[0] for row in _rows(database_url, "SELECT crm_id FROM contact_links")}
        assert linked == {r["Id"] for r in [*leads, *contacts]} - bad  # nothing lost silently
        keys = dict(_rows(database_url, "SELECT crm_id, contact_key FROM contact_links"))
        converted = [r for r in leads if r["IsConverted"] and r["Id"] not in bad and r["ConvertedContactId"] not in bad]
        assert converted and all(keys[r["Id"]] == keys[r["ConvertedContactId"]] for r in converted)
        live_leads = {r["Id"] for r in leads if not r["IsConverted"] and not r["IsDeleted"]} - bad
        master = {row[0] for row in _rows(database_url, "SELECT crm_id FROM list_members WHERE list_name = :n "
                                                        "AND is_active = :t", n="SFDC Master Leads", t=True)}
        assert master == live_leads
        webinar = sf.query_all("SELECT LeadId, ContactId, Lead.IsConverted FROM CampaignMember "
                               "WHERE Campaign.Name = 'Spring Product Webinar'")["records"]
        expected = {(m["ContactId"] if m["ContactId"] else m["LeadId"]) for m in webinar
                    if not (m["LeadId"] and m["Lead"]["IsConverted"])} - bad
        attendees = {row[0] for row in _rows(database_url, "SELECT crm_id FROM list_members WHERE list_name = :n",
                                             n="Spring Webinar Attendees")}
        assert attendees == expected
        report = sf.query("SELECT COUNT() FROM OpportunityContactRole WHERE Opportunity.IsClosed = false")
        assert _metadata(first, "report_prospects_in_active_opportunities")["rows"] == report["totalSize"]
        assert _metadata(first, "sales_users")["rows"] == 8

        again = _run(emu, database_url, settings_path, instance)
        assert _metadata(again, "sf_lead")["rows_written"] == 0 and _metadata(again, "sf_lead")["api_calls"] == 1
        assert _metadata(again, "list_sfdc_master_leads")["rows_written"] == 0
        # Nothing changed in Salesforce: All Contacts had nothing to do, the bad values stay stored once (by the
        # first run), and the check says again what it said then.
        people, people_before = _metadata(again, "all_contacts"), _metadata(first, "all_contacts")
        assert people["unchanged"] is True and people["unchanged_since_run"] == first.run_id
        assert (people["keys_examined"], people["rows_written"]) == (0, 0)
        stored = _rows(database_url, "SELECT record_id, run_id FROM quarantine WHERE field = 'Email'")
        assert sorted(record_id for record_id, _ in stored) == sorted(bad)
        assert {run_id for _, run_id in stored} == {first.run_id}
        total = _rows(database_url, "SELECT COUNT(*) FROM quarantine")[0][0]
        assert people_before["quarantined_values"] == people_before["newly_quarantined_values"] == total
        assert people_before["records_quarantined"] >= len(bad)
        [check] = [e for e in again.get_asset_check_evaluations() if e.check_name == "quarantine_share"]
        [first_check] = [e for e in first.get_asset_check_evaluations() if e.check_name == "quarantine_share"]
        assert check.passed == first_check.passed and first_check.description in check.description


def test_resync_honours_pull_options_deletes_and_conversions(emu: RunningEmulator, database_url: str,
                                                             tmp_path: Path) -> None:
    settings_path = _settings_file(tmp_path)
    sf = emu.salesforce()
    with dg.instance_for_test() as instance:
        _run(emu, database_url, settings_path, instance)
        leads = [r["Id"] for r in sf.query("SELECT Id FROM Lead WHERE IsConverted = false AND Email LIKE "
                                           "'%@example.com' ORDER BY Id LIMIT 3")["records"]]
        changed, deleted, converting = leads
        engine = sa.create_engine(database_url)
        with engine.begin() as conn:  # a marketing-side value of a column the list does not update from Salesforce
            conn.execute(sa.text("UPDATE list_members SET leadsource = 'Marketing value' WHERE crm_id = :i"),
                         {"i": changed})
        engine.dispose()
        sf.Lead.update(changed, {"FirstName": "Renamed", "LeadSource": "Web"})
        sf.Lead.delete(deleted)
        converted = emu.admin("POST", "convert_lead", {"lead_id": converting})
        key_before = dict(_rows(database_url, "SELECT crm_id, contact_key FROM contact_links"))[converting]
        _run(emu, database_url, settings_path, instance)
        row = _rows(database_url, "SELECT firstname, leadsource, is_active FROM list_members WHERE crm_id = :i "
                                  "AND list_name = 'SFDC Master Leads'", i=changed)[0]
        assert row[0] == "Renamed" and row[1] == "Marketing value" and bool(row[2])
        gone = _rows(database_url, "SELECT is_active, removed_at FROM list_members WHERE crm_id = :i", i=deleted)[0]
        assert not gone[0] and gone[1] is not None
        person = _rows(database_url, "SELECT is_active FROM all_contacts WHERE contact_key = :k", k=deleted)
        assert person and not person[0][0]
        keys = dict(_rows(database_url, "SELECT crm_id, contact_key FROM contact_links"))
        assert keys[converted["contact_id"]] == key_before
        crm = _rows(database_url, "SELECT crm_type, crm_id FROM all_contacts WHERE contact_key = :k", k=key_before)[0]
        assert crm == ("Contact", converted["contact_id"])
        contact_list = _rows(database_url, "SELECT contact_key FROM list_members WHERE crm_id = :i "
                                           "AND list_name = 'SFDC Master Contacts'", i=converted["contact_id"])
        assert contact_list == [(key_before,)]


def test_a_column_added_to_a_list_fills_on_the_next_sync(emu: RunningEmulator, sqlite_url: str,
                                                         tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        _run(emu, sqlite_url, _settings_file(tmp_path), instance)

        def add_rating(data: dict) -> None:
            data["lists"][0]["columns"].append("Rating")

        result = _run(emu, sqlite_url, _settings_file(tmp_path, add_rating), instance)
        assert _metadata(result, "sf_lead")["mode"] == "full"  # the pulled fields changed
        ratings = _rows(sqlite_url, "SELECT COUNT(*) FROM list_members WHERE list_name = 'SFDC Master Leads' "
                                      "AND rating IS NOT NULL")[0][0]
        expected = emu.salesforce().query("SELECT COUNT() FROM Lead WHERE IsConverted = false AND Rating != null")
        assert 0 < ratings <= expected["totalSize"]


def test_truncated_report_is_flagged_not_silent(tmp_path: Path) -> None:
    with running_emulator(seed=7, scale="demo") as emulator, dg.instance_for_test() as instance:
        resources = {
            "salesforce": SalesforceResource(username=emulator.username, password=emulator.password,
                                             security_token=emulator.security_token, emulator_url=emulator.url),
            "marketing_db": MarketingDatabase(url=f"sqlite:///{tmp_path / 'marketing.db'}"),
            "sync_settings": SyncSettingsResource(path=str(ROOT / "data" / "sync.yaml")),
        }
        result = dg.materialize([report_asset("All Open Leads")], resources=resources, instance=instance)
        metadata = _metadata(result, "report_all_open_leads")
        open_leads = emulator.salesforce().query(
            "SELECT COUNT() FROM Lead WHERE IsConverted = false AND Status != 'Closed - Not Converted'")["totalSize"]
        assert metadata["truncated"] is True and metadata["rows"] == 2000 and metadata["total_rows"] == open_leads
        warnings = [e for e in instance.all_logs(result.run_id) if e.level == 30 and "truncated" in e.user_message]
        assert warnings and "2,000" in warnings[0].user_message
        stored = _rows(f"sqlite:///{tmp_path / 'marketing.db'}",
                       "SELECT rows, total_rows, truncated FROM report_pulls WHERE report_name = 'All Open Leads'")
        assert stored == [(2000, open_leads, 1)]


def test_events_are_ingested_once_and_scores_maintained(sqlite_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from sync_pipeline.defs.scoring import engagement_events, lead_score_maintenance
    from sync_pipeline.defs.sensors import new_engagement_events_sensor

    folder = tmp_path / "events"
    monkeypatch.setenv("ENGAGEMENT_EVENTS_DIR", str(folder))
    (folder).mkdir()
    with running_emulator(seed=9, scale=600, events_path=folder / "seed.jsonl") as emulator, \
            dg.instance_for_test() as instance:
        (folder / "bad.jsonl").write_text('{"event_id": "x1", "event_type": "email_open"}\nnot json\n')
        settings_path = _settings_file(tmp_path)
        resources = {
            "salesforce": SalesforceResource(username=emulator.username, password=emulator.password,
                                             security_token=emulator.security_token, emulator_url=emulator.url),
            "marketing_db": MarketingDatabase(url=sqlite_url),
            "sync_settings": SyncSettingsResource(path=str(settings_path)),
        }
        sensor_context = dg.build_sensor_context(instance=instance,
                                                 resources={"marketing_db": resources["marketing_db"]})
        assert len(new_engagement_events_sensor(sensor_context).run_requests) == 1
        assets = [salesforce_connection, *MIRROR_ASSETS, all_contacts, engagement_events, lead_score_maintenance]
        first = dg.materialize(assets, resources=resources, instance=instance)
        events = _metadata(first, "engagement_events")
        assert events["new_events"] == emulator.summary["events"]
        assert events["malformed_events_quarantined"] == 3  # two problems on one line, one bad line
        maintained = _metadata(first, "lead_score_maintenance")
        assert maintained["people_with_score"] > 0
        rows = _rows(sqlite_url, "SELECT behavioral_score, lead_score FROM all_contacts WHERE behavioral_score > 0")
        assert rows and all(lead == int(behavioral + 0.5) for behavioral, lead in rows)
        assert isinstance(new_engagement_events_sensor(sensor_context), dg.SkipReason)
        again = dg.materialize([engagement_events], resources=resources, instance=instance)
        assert _metadata(again, "engagement_events")["files_read"] == 0
        assert _rows(sqlite_url, "SELECT COUNT(*) FROM engagement_events")[0][0] == emulator.summary["events"]
