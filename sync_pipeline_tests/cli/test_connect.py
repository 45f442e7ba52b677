"""`sync-pipeline connect check`: what it prints for each login mode, and its exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sync_pipeline.cli.connect import connect_check_command
from sync_pipeline.cli.main import main
from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.settings.login import AuthMode

ROOT = Path(__file__).resolve().parents[2]
VARIABLES = ("SALESFORCE_AUTH", "SALESFORCE_USERNAME", "SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN",
             "SALESFORCE_CONSUMER_KEY", "SALESFORCE_CONSUMER_SECRET", "SALESFORCE_PRIVATE_KEY",
             "SALESFORCE_PRIVATE_KEY_FILE", "SALESFORCE_DOMAIN")


@pytest.fixture(scope="module")
def org() -> Iterator[RunningEmulator]:
    with running_emulator(seed=71, scale=30) as emulator:
        yield emulator


def _environment(monkeypatch: pytest.MonkeyPatch, org: RunningEmulator, mode: AuthMode, settings: Path) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in org.env(mode).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SYNC_SETTINGS", str(settings))


@pytest.mark.parametrize(("mode", "version"), [(AuthMode.JWT, "65.0"), (AuthMode.CLIENT_CREDENTIALS, "65.0"),
                                               (AuthMode.PASSWORD, "64.0")])
def test_prints_the_org_user_login_and_usage(org: RunningEmulator, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str], mode: AuthMode,
                                             version: str) -> None:
    _environment(monkeypatch, org, mode, ROOT / "data" / "sync.yaml")
    assert main(["connect", "check"]) == 0
    out = capsys.readouterr().out
    state = org.state
    assert f"connected: org {state.org.org_name} ({state.org.org_id}) at {state.instance_host}" in out
    assert f"login:     {mode.value} at API {version}" in out
    assert f"user:      {org.username} ({state.org.integration_user_id})" in out
    used = org.admin("GET", "stats")["api_calls"]
    assert "API usage: " in out and " of 100,000 daily API requests used" in out
    assert int(out.split("API usage: ")[1].split(" of ")[0].replace(",", "")) <= used
    assert "every mapped field and list column exists in the org" in out
    assert ("SOAP login()" in out) is (mode is AuthMode.PASSWORD)  # the retirement warning
    for secret in (org.private_key, state.client_app.consumer_secret, org.password, org.security_token):
        assert secret not in out


def test_a_refused_login_exits_one_with_the_reason(org: RunningEmulator, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _environment(monkeypatch, org, AuthMode.JWT, ROOT / "data" / "sync.yaml")
    org.admin("POST", "faults", {"oauth_fault": "unapproved"})
    try:
        assert connect_check_command() == 1
    finally:
        org.admin("POST", "faults", {"oauth_fault": None})
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("not connected: disconnected: the integration user is not pre-authorized")


def test_settings_the_org_does_not_have_exit_one(org: RunningEmulator, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "data" / "sync.yaml").read_text())
    data["contact_mapping"]["industry"] = {"lead": "Industry_Code__c", "type": "text", "custom": True}
    settings = tmp_path / "sync.yaml"
    settings.write_text(yaml.safe_dump(data))
    _environment(monkeypatch, org, AuthMode.JWT, settings)
    assert connect_check_command() == 1
    captured = capsys.readouterr()
    assert "login:     jwt at API 65.0" in captured.out  # it did connect
    assert "does not match the org's fields" in captured.err and "Industry_Code__c" in captured.err


def test_the_password_login_at_65_is_refused(org: RunningEmulator, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "data" / "sync.yaml").read_text())
    data["salesforce"]["api_version"] = "65.0"
    settings = tmp_path / "sync.yaml"
    settings.write_text(yaml.safe_dump(data))
    _environment(monkeypatch, org, AuthMode.PASSWORD, settings)
    assert connect_check_command() == 1
    err = capsys.readouterr().err
    assert 'salesforce.api_version: "65.0" cannot be used with the password login' in err
