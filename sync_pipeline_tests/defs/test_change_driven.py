"""The whole job against the emulator (SQLite): a run after nothing changed does nothing after the pull, and a change
wakes exactly the steps that read it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.rules.export_schemas import ROI_SCHEMA
from sync_pipeline.rules.push_round import PushRound, plan_round
from sync_pipeline.rules.scoring import behavioral_scores, maintenance
from sync_pipeline.settings import load_settings
from sync_pipeline.steps.push import read_push_inputs
from sync_pipeline.steps.scoring import scoring_day
from sync_pipeline.store.engagement import read_events, read_scores
from sync_pipeline.store.engine import make_engine
from sync_pipeline_tests.defs.helpers import query_rows as _rows
from sync_pipeline_tests.defs.test_push_job import ROOT, WRITE_ENDPOINTS, _run

DERIVED = ("all_contacts", "sales_users", "list_sfdc_master_leads", "list_sfdc_master_contacts",
           "list_spring_webinar_attendees", "lead_score_maintenance", "salesforce_push", "activity_tasks",
           "hot_prospects", "funnel", "roi")


@pytest.fixture
def small_org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulator]:
    folder = tmp_path / "events"
    folder.mkdir()
    monkeypatch.setenv("ENGAGEMENT_EVENTS_DIR", str(folder))
    monkeypatch.setenv("EXPORTS_DIR", str(tmp_path / "exports"))
    with running_emulator(seed=11, scale=200, events_path=folder / "seed.jsonl") as emulator:
        yield emulator


def _settings(tmp_path: Path) -> Path:
    """The demo settings without the lookback: the next pull re-reads nothing it already has."""
    data = yaml.safe_load((ROOT / "data" / "sync.yaml").read_text())
    data["salesforce"]["lookback_minutes"] = 0
    path = tmp_path / "sync.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    return {k: v.value for k, v in result.asset_materializations_for_node(asset)[0].metadata.items()}


def _writes(org: RunningEmulator) -> int:
    stats = org.admin("GET", "stats")["by_endpoint"]
    return sum(count for name, count in stats.items() if name.startswith(WRITE_ENDPOINTS))


def test_an_idle_run_does_nothing_after_the_pull_and_a_change_wakes_its_readers(
        small_org: RunningEmulator, sqlite_url: str, tmp_path: Path) -> None:
    org, url, settings = small_org, sqlite_url, _settings(tmp_path)
    with dg.instance_for_test() as instance:
        _run(org, url, instance, settings_path=settings, reporting=True)  # the first sync: everything
        _run(org, url, instance, settings_path=settings, reporting=True)  # pulls the push's own writes back
        versions = _rows(url, "SELECT dataset, version FROM data_versions ORDER BY dataset")
        writes, calls = _writes(org), org.admin("GET", "stats")["api_calls"]
        idle = _run(org, url, instance, settings_path=settings, reporting=True)
        for asset in DERIVED:
            metadata = _metadata(idle, asset)
            assert metadata["unchanged"] is True, asset
            assert (metadata["keys_examined"], metadata["rows_written"]) == (0, 0), asset
        assert _rows(url, "SELECT dataset, version FROM data_versions ORDER BY dataset") == versions
        assert _writes(org) == writes  # no write call
        # The calls of an idle run: the org and its describes (4), the lists' campaign and report (2) and one COUNT()
        # per object (8).
        assert org.admin("GET", "stats")["api_calls"] - calls == 14
        assert _metadata(idle, "funnel")["headline"]  # the outputs' figures are still shown
        (tmp_path / "exports" / "roi.parquet").unlink()  # someone removed an export: it is written again
        rebuilt = _run(org, url, instance, settings_path=settings, reporting=True)
        assert "unchanged" not in _metadata(rebuilt, "roi") and (tmp_path / "exports" / "roi.parquet").exists()
        roi_metadata = _metadata(rebuilt, "roi")  # Dagster's own table metadata, so the catalog shows the columns
        assert [c.name for c in roi_metadata["dagster/column_schema"].columns] == ROI_SCHEMA.names
        assert all(c.description for c in roi_metadata["dagster/column_schema"].columns)
        assert roi_metadata["dagster/row_count"] == roi_metadata["rows"] > 0
        figures = roi_metadata["key_figures"]  # the chart's numbers as a table on the materialization
        best = _rows(url, "SELECT segment, won_amount_even_split FROM roi WHERE dimension = 'campaign' "
                          "ORDER BY won_amount_even_split DESC, segment LIMIT 1")[0]
        assert (figures.records[0].data["segment"], figures.records[0].data["won_amount_even_split"]) == best
        assert [c.name for c in figures.schema.columns][:2] == ["segment", "opportunities_influenced"]
        assert _metadata(rebuilt, "funnel")["unchanged"] is True

        # An unsubscribe arrives: the events, scores and the push wake; the opt-out reaches Salesforce.
        sf = org.salesforce()
        lead = sf.query("SELECT Id, Email FROM Lead WHERE IsConverted = false AND HasOptedOutOfEmail = false "
                        "AND Email LIKE '%@example.com' ORDER BY Id LIMIT 1")["records"][0]
        when = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="seconds")
        (Path(str(tmp_path)) / "events" / "late.jsonl").write_text(json.dumps(
            {"event_id": "cd-unsub-1", "event_type": "unsubscribe", "email": lead["Email"], "occurred_at": when}))
        versions_before_consent = dict(_rows(url, "SELECT dataset, version FROM data_versions"))
        woken = _run(org, url, instance, settings_path=settings, reporting=True)
        assert _metadata(woken, "all_contacts")["unchanged"] is True  # no Salesforce record changed
        assert "unchanged" not in _metadata(woken, "lead_score_maintenance")
        assert "unchanged" not in _metadata(woken, "salesforce_push")
        assert sf.Lead.get(lead["Id"])["HasOptedOutOfEmail"] is True
        # The lists read no record (none changed in Salesforce) and copy the score of the one person rescored.
        listed = _metadata(woken, "list_sfdc_master_leads")
        assert (listed["build"], listed["keys_examined"], listed["people_rescored"]) == ("changed records", 0, 1)
        # The Tasks step reads the events of that one email only (the new event and the person's earlier ones).
        tasks = _metadata(woken, "activity_tasks")
        assert tasks["planned"] == "emails with new events or a changed person"
        assert tasks["keys_examined"] == _rows(url, "SELECT COUNT(*) FROM engagement_events WHERE email = :e",
                                               e=lead["Email"].strip().lower())[0][0]
        scored = _metadata(woken, "lead_score_maintenance")
        assert (scored["scored"], scored["keys_examined"]) == ("people changed, with new events or decaying", 1)
        assert _scores_as_stored(url) == _scores_from_scratch(url, settings)  # scoring everyone gives the same
        push = _metadata(woken, "salesforce_push")
        assert push["planned"] == "people changed since the last complete push"
        assert push["keys_examined"] == 1 + _held_people(url)  # the person who unsubscribed, and those with held values
        assert push["records_planned"] >= 1
        # Planned over everyone, the round finds nothing more to send: the changed people were all it needed.
        assert _full_plan(url, settings).plan.updates.empty
        # The push wrote the opt-out back to All Contacts after the lists and the maintenance step had read it: that
        # write moves consent's version, not All Contacts', so it wakes none of them in the next run.
        assert push["consent_written"] == 1
        now = dict(_rows(url, "SELECT dataset, version FROM data_versions"))
        assert now["consent"] > versions_before_consent.get("consent", 0)
        consumed = {step: json.loads(inputs) for step, inputs in _rows(url, "SELECT step, inputs FROM step_watermarks")}
        readers = [step for step in consumed if step.startswith("list:")] + ["lead_score_maintenance", "funnel", "roi"]
        assert {step: consumed[step]["all_contacts"] for step in readers} == dict.fromkeys(readers, now["all_contacts"])
        assert consumed["hot_prospects"]["consent"] == now["consent"]  # it reads consent, after the push

        # One Lead retitled in Salesforce: its person is built again, and the Leads list plans that record only.
        other = sf.query("SELECT Id FROM Lead WHERE IsConverted = false AND Id != '{}' ORDER BY Id LIMIT 1"
                         .format(lead["Id"]))["records"][0]
        _run(org, url, instance, settings_path=settings, reporting=True)  # pulls back the opt-out pushed above
        sf.Lead.update(other["Id"], {"Title": "Head of Retitling"})
        retitled = _run(org, url, instance, settings_path=settings, reporting=True)
        listed = _metadata(retitled, "list_sfdc_master_leads")
        assert (listed["build"], listed["keys_examined"], listed["keys_changed"]) == ("changed records", 1, 1)
        assert _rows(url, "SELECT title FROM list_members WHERE list_name = 'SFDC Master Leads' AND crm_id = :i",
                     i=other["Id"]) == [("Head of Retitling",)]
        assert _metadata(retitled, "list_sfdc_master_contacts")["keys_examined"] == 0


def _scores_as_stored(url: str) -> dict[str, tuple[float, float]]:
    return {key: (round(float(b or 0), 9), float(lead or 0))
            for key, b, lead in _rows(url, "SELECT contact_key, behavioral_score, lead_score FROM all_contacts")}


def _scores_from_scratch(url: str, settings: Path) -> dict[str, tuple[float, float]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            events, people = read_events(conn), read_scores(conn)
    finally:
        engine.dispose()
    scoring = load_settings(settings).scoring
    scores = behavioral_scores(events, people[["contact_key", "email"]], dict(scoring.rules), scoring.half_life_days,
                               scoring_day(datetime.now(UTC)))
    maintained = maintenance(people, scores)
    return {str(row.contact_key): (round(float(row.behavioral_score), 9), float(row.lead_score))
            for row in maintained.itertuples()}


def _held_people(url: str) -> int:
    return len(_rows(url, "SELECT DISTINCT l.contact_key FROM push_refusals r JOIN contact_links l "
                          "ON l.crm_id = r.crm_id"))


def _full_plan(url: str, settings: Path) -> PushRound:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            inputs = read_push_inputs(conn)
    finally:
        engine.dispose()
    return plan_round(load_settings(settings), inputs, datetime.now(UTC))
