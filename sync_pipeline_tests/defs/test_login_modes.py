"""The main job logs in by each mode from the environment of the README, through dagster.EnvVar, and no secret of
any mode reaches the run's events, logs or metadata."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from sync_pipeline.defs.resources import default_resources
from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.settings.login import AuthMode

ROOT = Path(__file__).resolve().parents[2]
SALESFORCE_VARIABLES = ("SALESFORCE_AUTH", "SALESFORCE_USERNAME", "SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN",
                        "SALESFORCE_CONSUMER_KEY", "SALESFORCE_CONSUMER_SECRET", "SALESFORCE_PRIVATE_KEY",
                        "SALESFORCE_PRIVATE_KEY_FILE", "SALESFORCE_DOMAIN", "SALESFORCE_EMULATOR_URL")


@pytest.fixture(scope="module")
def org() -> Iterator[RunningEmulator]:
    with running_emulator(seed=61, scale=40) as emulator:
        yield emulator


def _definitions() -> dg.Definitions:
    """The main job with the resources ``definitions.py`` wires, built after the test set the environment."""
    from sync_pipeline.definitions import assets, salesforce_sync

    return dg.Definitions(assets=assets, jobs=[salesforce_sync], resources=default_resources(),
                          executor=dg.in_process_executor)


def _event_text(instance: dg.DagsterInstance, run_id: str) -> str:
    return "\n".join(repr(entry) for entry in instance.all_logs(run_id))


@pytest.mark.parametrize(("mode", "version"), [(AuthMode.JWT, "65.0"), (AuthMode.CLIENT_CREDENTIALS, "65.0"),
                                               (AuthMode.PASSWORD, "64.0")])
def test_the_main_job_runs_by_each_login_mode(org: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              mode: AuthMode, version: str) -> None:
    for name in SALESFORCE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in org.env(mode).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MARKETING_DB_URL", f"sqlite:///{tmp_path / 'marketing.db'}")
    monkeypatch.setenv("ENGAGEMENT_EVENTS_DIR", str(tmp_path / "events"))
    monkeypatch.setenv("EXPORTS_DIR", str(tmp_path / "exports"))
    logins = org.admin("GET", "stats")["logins"]
    with dg.instance_for_test() as instance:
        result = _definitions().resolve_job_def("salesforce_sync").execute_in_process(instance=instance,
                                                                                     raise_on_error=False)
        failures = [e.event_specific_data.error.message for e in result.all_events
                    if e.event_type_value == "STEP_FAILURE"]
        assert result.success, failures
        connection = {k: v.value for k, v in
                      result.asset_materializations_for_node("salesforce_connection")[0].metadata.items()}
        assert (connection["login"], connection["api_version"]) == (mode.value, version)
        built = result.asset_materializations_for_node("all_contacts")[0].metadata["people_built"].value
        assert built >= 40  # the org's 40 Leads (some merged by email, some converted) and 10 Contacts
        warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
        retirement = [w for w in warnings if "(SOAP login()), which Salesforce retires in Summer '27" in w]
        assert len(retirement) == (1 if mode is AuthMode.PASSWORD else 0)
        text = _event_text(instance, result.run_id)
    assert org.admin("GET", "stats")["logins"] == logins + 1  # one login for the whole run
    secrets = [org.private_key, org.state.client_app.consumer_secret, org.password, org.security_token,
               *org.state.sessions]
    for secret in secrets:
        assert secret not in text


def test_a_refused_login_and_a_refused_version_fail_the_run_with_the_fix(org: RunningEmulator, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Both stop the run at salesforce_connection, before any read, and no secret reaches the events."""
    for name in SALESFORCE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MARKETING_DB_URL", f"sqlite:///{tmp_path / 'marketing.db'}")
    failures = []
    with dg.instance_for_test() as instance:
        for mode, fault, settings in [(AuthMode.JWT, "unapproved", None), (AuthMode.PASSWORD, None, "65.0")]:
            for name, value in org.env(mode).items():
                monkeypatch.setenv(name, value)
            path = tmp_path / f"{mode.value}.yaml"
            data = yaml.safe_load((ROOT / "data" / "sync.yaml").read_text())
            if settings:
                data["salesforce"]["api_version"] = settings
            path.write_text(yaml.safe_dump(data))
            monkeypatch.setenv("SYNC_SETTINGS", str(path))
            org.admin("POST", "faults", {"oauth_fault": fault})
            try:
                result = _definitions().resolve_job_def("salesforce_sync").execute_in_process(
                    instance=instance, raise_on_error=False)
            finally:
                org.admin("POST", "faults", {"oauth_fault": None})
            assert not result.success
            failures.append(str(result.failure_data_for_node("salesforce_connection").error.message))
            assert not result.asset_materializations_for_node("sf_lead")  # nothing was read
            text = _event_text(instance, result.run_id)
            for secret in (org.private_key, org.password, org.security_token, *org.state.sessions):
                assert secret not in text
    assert "Failure: disconnected: the integration user is not pre-authorized for the app" in failures[0]
    assert "'Admin approved users are pre-authorized'" in failures[0]
    assert 'salesforce.api_version: "65.0" cannot be used with the password login' in failures[1]
