"""What each asset's materialization tells an operator, and what the asset checks flag, over one run of the graph.

One emulator, one SQLite database, one run of every asset (the demo settings, with the Leads list creating new
Leads), against an org whose validation rule refuses every address at example.net: the push and the new Lead at
that domain are refused, so ``push_rejections`` warns. The rules of the checks are also tested on their own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from sync_pipeline.defs.audience import all_contacts, list_asset, sales_users
from sync_pipeline.defs.metadata import (
    API_BUDGET,
    LIST_SOURCES,
    ORG_USAGE_WARN_SHARE,
    PUSH_DELIVERED,
    PUSH_REJECTIONS,
    REPORT_COMPLETE,
    api_budget_check,
    api_budget_passed,
    markdown_preview,
    push_counts,
    push_rejections_check,
    report_complete_check,
)
from sync_pipeline.defs.pull import MIRROR_ASSETS
from sync_pipeline.defs.push import activity_tasks, new_leads, salesforce_push
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.defs.salesforce import salesforce_connection
from sync_pipeline.defs.saved_reports import report_asset
from sync_pipeline.defs.scoring import engagement_events, lead_score_maintenance
from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.salesforce.connect import ApiUsage, SalesforceResource
from sync_pipeline.salesforce.push import RecordOutcome
from sync_pipeline.settings import load_settings
from sync_pipeline_tests.defs.helpers import query_rows

ROOT = Path(__file__).resolve().parents[2]
REFUSED_DOMAIN = "example.net"
NEW_LEAD_EMAIL = f"new.person@{REFUSED_DOMAIN}"
VALIDATION = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
PUSH_ASSETS = ("salesforce_push", "activity_tasks", "new_leads")
GROUPS = {"salesforce", "audience", "scoring", "push", "reporting"}


@dataclass
class Run:
    org: RunningEmulator
    url: str
    result: dg.ExecuteInJobResult
    assets: list[dg.AssetsDefinition]
    resources: dict[str, object]
    instance: dg.DagsterInstance

    def metadata(self, asset: str) -> dict[str, object]:
        return {k: v.value for k, v in self.result.asset_materializations_for_node(asset)[0].metadata.items()}

    def checks(self) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
        return {(e.asset_key.to_user_string(), e.check_name): e for e in self.result.get_asset_check_evaluations()}


def _settings_file(folder: Path) -> Path:
    """The demo settings, with the SFDC Master Leads list creating Leads for new people (add_new)."""
    data = yaml.safe_load((ROOT / "data" / "sync.yaml").read_text())
    data["lists"][0]["push"]["add_new"] = True
    path = folder / "sync.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _assets(settings_path: Path) -> list[dg.AssetsDefinition]:
    settings = load_settings(settings_path)
    lists = [list_asset(item) for item in settings.lists]
    reports = sorted({item.source.report for item in settings.lists if item.source.report})
    return [salesforce_connection, *MIRROR_ASSETS, *(report_asset(name) for name in reports), all_contacts,
            sales_users, *lists, engagement_events,
            lead_score_maintenance, salesforce_push, activity_tasks,
            new_leads]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("metadata")
    events = folder / "events"
    events.mkdir()
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    (events / "forms.jsonl").write_text(json.dumps({"event_id": "m-form-1", "event_type": "form_submit",
                                                    "email": NEW_LEAD_EMAIL, "occurred_at": when}) + "\n")
    settings_path = _settings_file(folder)
    url = f"sqlite:///{folder / 'marketing.db'}"
    with pytest.MonkeyPatch.context() as patch, \
            running_emulator(seed=9, scale=400, events_path=events / "seed.jsonl") as org, \
            dg.instance_for_test() as instance:
        patch.setenv("ENGAGEMENT_EVENTS_DIR", str(events))
        org.admin("POST", "faults", {"reject_email_domain": REFUSED_DOMAIN})  # the org's validation rule
        resources = {
            "salesforce": SalesforceResource(username=org.username, password=org.password,
                                             security_token=org.security_token, emulator_url=org.url),
            "marketing_db": MarketingDatabase(url=url),
            "sync_settings": SyncSettingsResource(path=str(settings_path)),
        }
        assets = _assets(settings_path)
        time.sleep(1.05)  # pull windows end at the last whole second before a run
        result = dg.materialize(assets, resources=resources, instance=instance, raise_on_error=False)
        failures = [e.event_specific_data.error.message for e in result.all_events
                    if e.event_type_value == "STEP_FAILURE"]
        assert result.success, failures  # refused records and warnings do not fail the run
        yield Run(org, url, result, assets, resources, instance)


def _preview_shape(markdown: str) -> tuple[int, int]:
    """(data rows, columns) of a Markdown table."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(lines) >= 2 and set(lines[1]) <= set("|-"), markdown
    return len(lines) - 2, lines[1].count("---")


def test_every_materialization_tells_the_table_the_rows_and_a_preview(run: Run) -> None:
    materialized = {e.asset_key.to_user_string(): e.event_specific_data.materialization
                    for e in run.result.get_asset_materialization_events()}
    assert set(materialized) == {key.to_user_string() for a in run.assets for key in a.keys}
    for name, materialization in materialized.items():
        metadata = materialization.metadata
        assert isinstance(metadata.get("table"), dg.TextMetadataValue) and metadata["table"].value, name
        assert "rows" in metadata or "rows_written" in metadata, name
        preview = metadata.get("preview")
        assert isinstance(preview, dg.MarkdownMetadataValue), name
        rows, columns = _preview_shape(preview.value)
        assert rows <= 5 and 1 <= columns <= 8, (name, preview.value)
    assert run.metadata("salesforce_connection")["table"] == "org_state"
    assert _preview_shape(run.metadata("salesforce_connection")["preview"])[0] == 1
    assert _preview_shape(run.metadata("all_contacts")["preview"])[0] == 5


def test_pulls_tell_the_mode_the_records_and_the_api_calls(run: Run) -> None:
    for mirror in MIRROR_ASSETS:
        name = mirror.key.to_user_string()
        metadata = run.metadata(name)
        assert metadata["mode"] == "full" and metadata["table"] == name, name  # a first pull is a full one
        assert metadata["api_calls"] >= 1 and metadata["records_pulled"] >= metadata["rows_written"] >= 0, name
    lead = run.metadata("sf_lead")
    assert lead["records_pulled"] > 0 and _preview_shape(lead["preview"])[0] == 5
    report = run.metadata("report_prospects_in_active_opportunities")
    assert report["records_pulled"] == report["rows"] > 0 and report["api_calls"] >= 2
    # The describes of Lead, Contact and Account were asked once, by the connection: All Contacts reuses them.
    assert run.metadata("salesforce_connection")["api_calls_by_kind"]["sobjects"] == 3
    assert run.metadata("all_contacts")["api_calls"] == 0
    people = run.metadata("all_contacts")
    rows = query_rows(run.url, "SELECT COUNT(*), COUNT(DISTINCT record_id) FROM quarantine "
                               "WHERE object_name IN ('Lead', 'Contact')")[0]
    assert (people["quarantined_values"], people["records_quarantined"]) == rows
    assert run.metadata("engagement_events")["records_quarantined"] == 0


def test_pushes_tell_what_was_pushed_and_refused(run: Run) -> None:
    for name in PUSH_ASSETS:
        metadata = run.metadata(name)
        assert metadata["table"] == "push_results", name
        for key in ("records_pushed", "records_rejected", "api_calls", "rows"):
            assert isinstance(metadata[key], int), (name, key)
    push = run.metadata("salesforce_push")
    stored = query_rows(run.url, "SELECT success, COUNT(*) FROM push_results WHERE run_id = :r "
                                 "AND operation = 'update' GROUP BY success", r=run.result.run_id)
    assert dict((bool(s), n) for s, n in stored) == {True: push["records_pushed"], False: push["records_rejected"]}
    assert push["records_pushed"] > 0 and push["records_rejected"] > 0 and push["api_calls"] >= 2
    assert {"crm_id", "field", "value"} <= set(push["preview"].splitlines()[0].replace(" ", "").split("|"))
    tasks = run.metadata("activity_tasks")
    assert tasks["records_pushed"] == tasks["tasks_planned"] > 0 and tasks["records_rejected"] == 0
    leads = run.metadata("new_leads")
    assert leads["records_rejected"] == 1 and NEW_LEAD_EMAIL in leads["preview"]


def test_each_declared_check_is_evaluated_with_the_expected_outcome(run: Run) -> None:
    checks = run.checks()
    declared = {(spec.asset_key.to_user_string(), spec.name) for a in run.assets for spec in a.check_specs}
    assert set(checks) == declared
    assert {name for _, name in declared} == {PUSH_REJECTIONS, PUSH_DELIVERED, API_BUDGET, REPORT_COMPLETE,
                                              LIST_SOURCES, "quarantine_share", "events_folder"}
    # Only push_delivered fails a run (records that never reached Salesforce); the others warn.
    assert {key for key, e in checks.items() if e.severity != dg.AssetCheckSeverity.WARN} == {
        (asset, PUSH_DELIVERED) for asset in ("salesforce_push", "activity_tasks", "new_leads")}
    outcome = {key: e.passed for key, e in checks.items()}
    assert outcome[("engagement_events", "events_folder")] is True  # the run's drop folder holds event files
    assert all(outcome[(asset, PUSH_DELIVERED)] for asset in ("salesforce_push", "activity_tasks", "new_leads"))
    assert outcome[("salesforce_connection", LIST_SOURCES)] is True  # the campaign and report exist
    assert outcome[("salesforce_push", PUSH_REJECTIONS)] is False
    assert outcome[("new_leads", PUSH_REJECTIONS)] is False  # the new Lead at the refused domain
    assert outcome[("activity_tasks", PUSH_REJECTIONS)] is True  # a Task has no email for the rule to refuse
    assert outcome[("salesforce_connection", API_BUDGET)] is True
    assert outcome[("salesforce_push", API_BUDGET)] is True
    assert outcome[("report_prospects_in_active_opportunities", REPORT_COMPLETE)] is True
    share = checks[("all_contacts", "quarantine_share")].metadata["share"].value
    assert outcome[("all_contacts", "quarantine_share")] is (share <= 0.05)

    refused = {k: v.value for k, v in checks[("salesforce_push", PUSH_REJECTIONS)].metadata.items()}
    stored = query_rows(run.url, "SELECT COUNT(*) FROM push_results WHERE run_id = :r AND operation = 'update' "
                                 "AND error_code = :c", r=run.result.run_id, c=VALIDATION)[0][0]
    assert refused["rejected_by_code"] == {VALIDATION: stored} and stored == refused["records_rejected"] > 0
    assert refused["table"] == "push_results" and run.result.run_id in refused["query"]
    assert query_rows(run.url, refused["query"])  # the query finds the refused records
    lead = {k: v.value for k, v in checks[("new_leads", PUSH_REJECTIONS)].metadata.items()}
    assert lead["rejected_by_code"] == {VALIDATION: 1}
    budget = {k: v.value for k, v in checks[("salesforce_push", API_BUDGET)].metadata.items()}
    assert budget["org_limit"] == 100_000 and budget["org_used"] > 0 and budget["share"] < ORG_USAGE_WARN_SHARE
    assert budget["api_calls"] == run.metadata("salesforce_push")["api_calls"] and budget["stopped_reason"] == ""


def test_api_budget_warns_when_the_org_used_most_of_its_allocation(run: Run) -> None:
    used = run.org.admin("GET", "stats")["api_calls"]
    run.org.admin("POST", "faults", {"daily_api_limit": used + 10})  # about to run out: above 80% of the day's calls
    try:
        result = dg.materialize([salesforce_connection], resources=run.resources, instance=run.instance)
    finally:
        run.org.admin("POST", "faults", {"daily_api_limit": 100_000})
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == API_BUDGET)
    assert evaluation.passed is False
    assert evaluation.metadata["org_limit"].value == used + 10 and evaluation.metadata["share"].value >= 0.8


def test_no_metadata_holds_a_secret(run: Run) -> None:
    secrets = (run.org.password, run.org.security_token)
    texts = [repr(e.event_specific_data) for e in run.result.all_events]
    texts += [repr(entry) for entry in run.instance.all_logs(run.result.run_id)]
    text = "\n".join(texts)
    assert "preview" in text and not any(secret in text for secret in secrets)


# --- the rules, on their own ----------------------------------------------------------------------------------------


def _outcome(key: str, success: bool, code: str | None = None, *, answered: bool = True,
             attempts: int = 1) -> RecordOutcome:
    return RecordOutcome(key, success, error_code=code, answered=answered and not success, attempts=attempts)


def test_api_budget_rule() -> None:
    assert api_budget_passed(100, 1000)
    assert api_budget_passed(799, 1000)
    assert not api_budget_passed(800, 1000)  # 80% of the daily allocation
    assert not api_budget_passed(10, 1000, "API budget: stopped before passing 10% of the allocation")
    assert api_budget_passed(None, None)  # not reported: nothing to warn about
    usage = ApiUsage(calls=12, org_used=950, org_limit=1000)
    check = api_budget_check("salesforce_push", usage, api_calls=7, max_share_per_run=0.1, stopped_reasons=[None])
    assert not check.passed and check.metadata["share"].value == 0.95 and check.metadata["api_calls"].value == 7
    assert check.severity == dg.AssetCheckSeverity.WARN


def test_push_rejections_rule_counts_each_error_code() -> None:
    outcomes = [_outcome("a", True), _outcome("b", False, VALIDATION), _outcome("c", False, VALIDATION),
                _outcome("d", False, "DUPLICATE_VALUE"), _outcome("e", False, "UNABLE_TO_LOCK_ROW", attempts=3),
                _outcome("f", False, "SERVER_UNAVAILABLE", answered=False),
                _outcome("g", False, "NOT_ATTEMPTED_API_BUDGET", answered=False, attempts=0)]
    check = push_rejections_check("salesforce_push", outcomes, run_id="r1", operation="update")
    assert not check.passed
    assert check.metadata["rejected_by_code"].value == {VALIDATION: 2, "DUPLICATE_VALUE": 1, "UNABLE_TO_LOCK_ROW": 1}
    assert check.metadata["unsent_by_code"].value == {"SERVER_UNAVAILABLE": 1}
    assert check.metadata["deferred_by_code"].value == {"NOT_ATTEMPTED_API_BUDGET": 1}
    assert check.description == ("Salesforce refused 4 record(s): DUPLICATE_VALUE × 1, "
                                 "FIELD_CUSTOM_VALIDATION_EXCEPTION × 2, UNABLE_TO_LOCK_ROW × 1; 1 record(s) unsent "
                                 "(see push_delivered)")
    assert push_counts(outcomes) == {"records_sent": 6, "records_pushed": 1, "records_rejected": 4,
                                     "records_refused": 3, "records_locked": 1, "records_unsent": 1,
                                     "records_deferred": 1}
    assert push_rejections_check("new_leads", [_outcome("a", True)], run_id="r1", operation="create").passed
    assert push_rejections_check("new_leads", [], run_id="r1", operation="create").passed


def test_report_complete_rule() -> None:
    cut = report_complete_check("report_all_open_leads", "All Open Leads", rows=2000, total_rows=2711, truncated=True)
    assert not cut.passed and cut.severity == dg.AssetCheckSeverity.WARN and "2711" in cut.description
    assert report_complete_check("report_x", "X", rows=12, total_rows=12, truncated=False).passed


def test_markdown_preview_is_short_and_well_formed() -> None:
    frame = pd.DataFrame({f"c{i}": [f"v|{i}\nx" * 30] * 9 for i in range(12)})
    rows, columns = _preview_shape(markdown_preview(frame))
    assert (rows, columns) == (5, 8)
    assert all(len(cell) <= 62 for line in markdown_preview(frame).splitlines() for cell in line.split(" | "))
    assert "_no rows_" in markdown_preview(frame.iloc[:0])
    from sync_pipeline.defs.audience import markdown_preview as re_exported

    assert re_exported is markdown_preview


# --- descriptions and groups ----------------------------------------------------------------------------------------


def test_every_definition_says_what_it_does_and_every_asset_has_a_group() -> None:
    from sync_pipeline.definitions import defs

    for spec in defs.resolve_all_asset_specs():
        name = spec.key.to_user_string()
        assert (spec.description or "").strip(), name
        assert spec.group_name in GROUPS, (name, spec.group_name)
    jobs = [job for job in defs.resolve_all_job_defs() if not job.name.startswith("__")]
    assert jobs and all((job.description or "").strip() for job in jobs), [j.name for j in jobs if not j.description]
    assert all((s.description or "").strip() for s in defs.schedules)
    assert all((s.description or "").strip() for s in defs.sensors)
    graph = defs.resolve_asset_graph()
    for key in graph.asset_check_keys:
        assert (graph.get_check_spec(key).description or "").strip(), key
    groups = {spec.key.to_user_string(): spec.group_name for spec in defs.resolve_all_asset_specs()}
    assert groups["salesforce_connection"] == groups["sf_lead"] == "salesforce"
    assert all(groups[name] == "push" for name in PUSH_ASSETS)
