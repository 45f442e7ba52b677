"""The reports follow any run that updated their inputs, and a check fails when one is older than its inputs.

No Salesforce here: the inputs' and reports' materializations are reported to a test instance, as any run would
record them, and Dagster evaluates the automation conditions and runs the checks against that instance."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from sync_pipeline.defs.report_freshness import REPORT_FRESH, report_freshness_checks, report_freshness_job_and_schedule
from sync_pipeline.defs.reporting import reporting_assets
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ("hot_prospects", "funnel", "roi")


@pytest.fixture
def defs(tmp_path: Path) -> dg.Definitions:
    data = yaml.safe_load((ROOT / "data" / "sync.yaml").read_text())
    data["funnel"]["stale_after_minutes"] = 0  # any input newer than its report is too late
    settings_path = tmp_path / "sync.yaml"
    settings_path.write_text(yaml.safe_dump(data))
    reports = reporting_assets(load_settings(settings_path))
    checks = report_freshness_checks(reports)
    job, _ = report_freshness_job_and_schedule(checks)
    return dg.Definitions(assets=reports, asset_checks=[checks], jobs=[job], resources={
        "sync_settings": SyncSettingsResource(path=str(settings_path)),
        "marketing_db": MarketingDatabase(url=f"sqlite:///{tmp_path / 'marketing.db'}")})


def _materialize(instance: dg.DagsterInstance, *keys: str) -> None:
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(key))


def _inputs(defs: dg.Definitions) -> list[str]:
    graph = defs.resolve_asset_graph()
    return sorted({dep.to_user_string() for report in REPORTS
                   for dep in graph.get(dg.AssetKey(report)).parent_keys})


def _freshness(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict[str, tuple[bool, str]]:
    result = defs.resolve_job_def("report_freshness").execute_in_process(instance=instance)
    return {e.asset_key.to_user_string(): (e.passed, e.description or "")
            for e in result.get_asset_check_evaluations() if e.check_name == REPORT_FRESH}


def test_a_report_older_than_its_inputs_fails_its_check(defs: dg.Definitions) -> None:
    with dg.instance_for_test() as instance:
        _materialize(instance, *_inputs(defs), *REPORTS)
        assert {name: passed for name, (passed, _) in _freshness(defs, instance).items()} == dict.fromkeys(
            REPORTS, True)
        _materialize(instance, "sf_opportunity")  # a sync updated an input of the funnel and ROI, not of the rest
        verdicts = _freshness(defs, instance)
        assert {name: passed for name, (passed, _) in verdicts.items()} == {
            "hot_prospects": True, "funnel": False, "roi": False}
        assert verdicts["funnel"][1].startswith("funnel is 0 min older than its newest input sf_opportunity (more "
                                                "than the 0 min allowed)")
        _materialize(instance, "funnel")  # rebuilt: fresh again
        assert _freshness(defs, instance)["funnel"][0] is True


def test_an_updated_input_requests_the_reports_that_read_it(defs: dg.Definitions) -> None:
    with dg.instance_for_test() as instance:
        _materialize(instance, *_inputs(defs), *REPORTS)
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        _materialize(instance, "sf_campaign")  # e.g. the pull of a list job
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        assert {report: second.get_num_requested(dg.AssetKey(report)) for report in REPORTS} == {
            "hot_prospects": 0, "funnel": 1, "roi": 1}  # hot prospects do not read campaigns
        _materialize(instance, "funnel", "roi")
        third = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=second.cursor)
        assert third.total_requested == 0
