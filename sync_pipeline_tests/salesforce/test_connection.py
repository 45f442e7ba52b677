"""The Salesforce connection against the emulator: login faults, API accounting, org binding, no secrets leaked."""

from __future__ import annotations

import logging
import traceback

import pytest
import sqlalchemy as sa

from sync_pipeline.emulator.app import Credentials
from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.rules.org_binding import OrgSwitchError
from sync_pipeline.salesforce.auth import LoginCredentials
from sync_pipeline.salesforce.connect import SalesforceConnection, SalesforceResource, open_connection
from sync_pipeline.salesforce.errors import SalesforceDisconnected
from sync_pipeline.settings.login import AuthMode
from sync_pipeline.steps.connect import bind_org
from sync_pipeline.store.engine import make_engine
from sync_pipeline.store.migrate import upgrade_to_head
from sync_pipeline.store.sync_state import read_org_state, reset_org

SECRET_PASSWORD = "S3cret-Pa55word!"
SECRET_TOKEN = "TOKENabc123XYZ987"


@pytest.fixture(scope="module")
def emulator() -> RunningEmulator:
    with running_emulator(seed=21, scale=50, credentials=Credentials(
            "sync@acme.example.com", SECRET_PASSWORD, SECRET_TOKEN)) as running:
        yield running


def _connect(emulator: RunningEmulator, **overrides: str) -> SalesforceConnection:
    """The legacy password login (its own faults are this module's subject; the OAuth logins are test_oauth's)."""
    values = {"username": emulator.username, "password": SECRET_PASSWORD, "security_token": SECRET_TOKEN,
              "domain": "login", **overrides}
    return open_connection(LoginCredentials(AuthMode.PASSWORD, **values), emulator_url=emulator.url)


def test_connects_and_counts_api_calls(emulator: RunningEmulator) -> None:
    connection = _connect(emulator)
    assert connection.org_id == emulator.state.org.org_id
    assert connection.org_name == "Acme Org 21" and connection.is_sandbox is False
    assert connection.usage.calls == 1  # the Organization query; the login is not an API call
    connection.client.query("SELECT COUNT() FROM Lead")
    assert connection.usage.calls == 2 and connection.usage.by_kind == {"query": 2}
    assert (connection.usage.org_used, connection.usage.org_limit) == (emulator.state.api_used, 100_000)
    assert connection.usage.as_metadata()["org_api_usage"] == f"{emulator.state.api_used}/100000"


def test_resource_reads_domain_and_emulator_url_from_environment(emulator: RunningEmulator,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESFORCE_EMULATOR_URL", emulator.url)
    monkeypatch.setenv("SALESFORCE_DOMAIN", "login")
    resource = SalesforceResource(username=emulator.username, password=SECRET_PASSWORD, security_token=SECRET_TOKEN)
    assert resource.connect().org_id == emulator.state.org.org_id
    monkeypatch.setenv("SALESFORCE_DOMAIN", "test")  # this org is not a sandbox: its users cannot log in there
    with pytest.raises(SalesforceDisconnected):
        SalesforceResource(username=emulator.username, password=SECRET_PASSWORD,
                           security_token=SECRET_TOKEN).connect()


@pytest.mark.parametrize(
    ("overrides", "fault", "reason", "fix"),
    [
        ({"password": "wrong-password"}, None, "invalid username, password or security token",
         "check SALESFORCE_USERNAME, SALESFORCE_PASSWORD and SALESFORCE_SECURITY_TOKEN"),
        ({"security_token": ""}, None, "the security token is missing or wrong", "update SALESFORCE_SECURITY_TOKEN"),
        ({}, "INVALID_OPERATION_WITH_EXPIRED_PASSWORD", "the password has expired",
         "set a new password for the integration user and update SALESFORCE_PASSWORD"),
        ({}, "PASSWORD_LOCKOUT", "the user is locked out", "unlock the integration user in Setup > Users"),
    ],
)
def test_login_faults_are_clear_and_hold_no_secret(emulator: RunningEmulator, caplog: pytest.LogCaptureFixture,
                                                   overrides: dict[str, str], fault: str | None, reason: str,
                                                   fix: str) -> None:
    emulator.admin("POST", "faults", {"login_fault": fault})
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(SalesforceDisconnected) as error:
            _connect(emulator, **overrides)
    finally:
        emulator.admin("POST", "faults", {"login_fault": None})
    text = str(error.value)
    assert text.startswith("disconnected: ") and reason in text and f"— {fix}" in text
    rendered = "".join(traceback.format_exception(error.value)) + repr(error.value) + caplog.text
    for secret in (SECRET_PASSWORD, SECRET_TOKEN, "wrong-password", SECRET_PASSWORD + SECRET_TOKEN):
        assert secret not in rendered
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_unreachable_salesforce_is_a_clear_state() -> None:
    with pytest.raises(SalesforceDisconnected) as error:
        open_connection(LoginCredentials(AuthMode.PASSWORD, username="u", password=SECRET_PASSWORD,
                                         security_token=SECRET_TOKEN), emulator_url="http://127.0.0.1:9")
    assert error.value.code == "UNREACHABLE" and SECRET_PASSWORD not in str(error.value)


def test_org_binding_refuses_another_org_until_reset(emulator: RunningEmulator, tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'marketing.db'}")
    upgrade_to_head(engine)
    first = _connect(emulator)
    bind_org(engine, first)
    bind_org(engine, _connect(emulator))  # the same org again is fine
    with running_emulator(seed=22, scale=20, credentials=Credentials(
            emulator.username, SECRET_PASSWORD, SECRET_TOKEN)) as other:
        second = _connect(other)
        assert second.org_id != first.org_id
        with pytest.raises(OrgSwitchError) as refused:
            bind_org(engine, second)
        assert "switching organizations" in str(refused.value)
        assert first.org_id in str(refused.value) and second.org_id in str(refused.value)
        with engine.connect() as conn:
            assert read_org_state(conn).org_id == first.org_id  # nothing of the other org was written
        with engine.begin() as conn:
            reset_org(conn)
        bind_org(engine, second)
    with engine.connect() as conn:
        assert read_org_state(conn).org_id == second.org_id
        assert conn.execute(sa.text("SELECT COUNT(*) FROM sync_state")).scalar() == 0
