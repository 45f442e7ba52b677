"""The Dagster layer: definitions load and validate, the run queue limit, and materializations on both storages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.defs.salesforce import salesforce_connection
from sync_pipeline.emulator.app import Credentials
from sync_pipeline.emulator.testing import running_emulator
from sync_pipeline.salesforce.connect import SalesforceResource

ROOT = Path(__file__).resolve().parents[2]
SECRET_PASSWORD = "Very-Secret-Password-42"
SECRET_TOKEN = "SecretTokenValue0042"


def test_definitions_load_and_validate(tmp_path: Path) -> None:
    from sync_pipeline.definitions import defs

    job = defs.resolve_job_def("salesforce_sync")
    assert job.tags["sync_pipeline/salesforce"] == "sync"
    assert dg.AssetKey("salesforce_connection") in {k for k in defs.resolve_asset_graph().get_all_asset_keys()}
    result = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-m",
                             "sync_pipeline.definitions"], cwd=ROOT, capture_output=True, text=True, timeout=180,
                            env={**os.environ, "DAGSTER_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_instance_allows_one_salesforce_sync_at_a_time() -> None:
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    assert {"key": "sync_pipeline/salesforce", "value": "sync", "limit": 1} in coordinator["config"][
        "tag_concurrency_limits"]
    postgres = yaml.safe_load((ROOT / "dagster.postgres.yaml").read_text())
    assert postgres["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"


def _resources(emulator, tmp_path: Path) -> dict:
    return {
        "salesforce": SalesforceResource(username=emulator.username, password=SECRET_PASSWORD,
                                         security_token=SECRET_TOKEN, emulator_url=emulator.url),
        "marketing_db": MarketingDatabase(url=f"sqlite:///{tmp_path / 'marketing.db'}"),
        "sync_settings": SyncSettingsResource(path=str(ROOT / "data" / "sync.yaml")),
    }


def _all_event_text(instance: dg.DagsterInstance) -> str:
    """Every event of every run, as the UI and the logs would show it."""
    texts = []
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id):
            texts.append(repr(entry))
    return "\n".join(texts)


def _materialize(instance: dg.DagsterInstance, resources: dict) -> dg.ExecuteInJobResult:
    return dg.materialize([salesforce_connection], resources=resources, instance=instance, raise_on_error=False)


def test_connection_asset_reports_state_without_secrets(tmp_path: Path) -> None:
    credentials = Credentials("dagster@acme.example.com", SECRET_PASSWORD, SECRET_TOKEN)
    with running_emulator(seed=31, scale=30, credentials=credentials) as emulator, \
            dg.instance_for_test() as instance:
        result = _materialize(instance, _resources(emulator, tmp_path))
        assert result.success
        metadata = result.asset_materializations_for_node("salesforce_connection")[0].metadata
        assert metadata["connected"].value is True
        assert metadata["org_id"].value == emulator.state.org.org_id
        assert metadata["api_calls"].value >= 4  # Organization query and three describes
        emulator.admin("POST", "faults", {"login_fault": "INVALID_OPERATION_WITH_EXPIRED_PASSWORD"})
        failed = _materialize(instance, _resources(emulator, tmp_path))
        assert not failed.success
        failure = failed.failure_data_for_node("salesforce_connection")
        assert ("disconnected: the password has expired — set a new password for the integration user and update "
                "SALESFORCE_PASSWORD") in str(failure.error.message)
        text = _all_event_text(instance)
        assert SECRET_PASSWORD not in text and SECRET_TOKEN not in text


def test_connection_asset_refuses_another_org(tmp_path: Path) -> None:
    credentials = Credentials("dagster@acme.example.com", SECRET_PASSWORD, SECRET_TOKEN)
    with dg.instance_for_test() as instance:
        with running_emulator(seed=32, scale=30, credentials=credentials) as first:
            assert _materialize(instance, _resources(first, tmp_path)).success
        with running_emulator(seed=33, scale=30, credentials=credentials) as second:
            refused = _materialize(instance, _resources(second, tmp_path))
        assert not refused.success
        message = str(refused.failure_data_for_node("salesforce_connection").error.message)
        assert "switching organizations" in message


@pytest.mark.postgres
def test_materialization_on_postgres_storage(tmp_path: Path, postgres_database) -> None:
    url = postgres_database()
    credentials = Credentials("dagster@acme.example.com", SECRET_PASSWORD, SECRET_TOKEN)
    overrides = {"storage": {"postgres": {"postgres_url": url}}}
    with running_emulator(seed=34, scale=30, credentials=credentials) as emulator, \
            dg.instance_for_test(overrides=overrides) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = _materialize(instance, _resources(emulator, tmp_path))
        assert result.success
        latest = instance.get_latest_materialization_event(dg.AssetKey("salesforce_connection"))
        assert latest is not None and latest.asset_materialization.metadata["org_id"].value == \
            emulator.state.org.org_id
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT COUNT(*) FROM runs")).scalar()
        events = conn.execute(sa.text("SELECT COUNT(*) FROM event_logs WHERE asset_key IS NOT NULL")).scalar()
    engine.dispose()
    assert runs == 1 and events >= 1


def test_list_schedules_and_the_full_sync_schedule() -> None:
    from sync_pipeline.definitions import defs

    settings = yaml.safe_load((ROOT / "data" / "sync.yaml").read_text())
    scheduled = {item["name"]: item["schedule"] for item in settings["lists"] if item.get("schedule")}
    assert scheduled  # the demo settings schedule some lists
    for list_name, cron in scheduled.items():
        slug = list_name.lower().replace(" ", "_")
        schedule = defs.get_schedule_def(f"list_{slug}_sync_schedule")
        assert schedule.cron_schedule == cron and schedule.job_name == f"list_{slug}_sync"
        job = defs.resolve_job_def(schedule.job_name)
        assert job.tags["sync_pipeline/salesforce"] == "sync"
        selected = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
        assert {f"list_{slug}", "all_contacts", "sf_lead", "sf_contact", "salesforce_connection"} <= selected
    full = defs.get_schedule_def("full_sync_schedule")
    request = full.evaluate_tick(dg.build_schedule_context()).run_requests[0]
    assert request.tags["sync_pipeline/full_sync"] == "true" and request.tags["sync_pipeline/salesforce"] == "sync"
    assert full.cron_schedule == settings.get("full_sync_schedule", "0 2 * * 0")
