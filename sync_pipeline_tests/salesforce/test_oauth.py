"""The OAuth 2.0 logins (JWT bearer, client credentials) and the legacy password login, against the emulator over
real HTTP: each mode connects at its API version, each refusal is a clear state naming the fix, no secret leaks."""

from __future__ import annotations

import logging
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import replace

import pytest

from sync_pipeline.emulator.oauth import ClientApp, generate_key_pair
from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.salesforce.auth import LoginCredentials
from sync_pipeline.salesforce.connect import SalesforceResource, open_connection
from sync_pipeline.salesforce.errors import SalesforceDisconnected
from sync_pipeline.settings import SettingsError
from sync_pipeline.settings.login import AuthMode

CONSUMER_SECRET = "Secret-Of-The-App-0123456789"


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    private_key, public_key = generate_key_pair()
    app = ClientApp("3MVG9TestConsumerKey", CONSUMER_SECRET, public_key)
    with running_emulator(seed=41, scale=20, client_app=app) as running:
        running.private_key = private_key
        yield running


@pytest.fixture(autouse=True)
def no_faults(emulator: RunningEmulator) -> Iterator[None]:
    yield
    emulator.admin("POST", "faults", {"oauth_fault": None, "soap_login_disabled": False})


def _secrets(emulator: RunningEmulator) -> list[str]:
    return [emulator.private_key, CONSUMER_SECRET, emulator.password, emulator.security_token,
            *(token for token in emulator.state.sessions)]


def _logins(emulator: RunningEmulator) -> int:
    return int(emulator.admin("GET", "stats")["logins"])


@pytest.mark.parametrize(("mode", "version"), [(AuthMode.JWT, "65.0"), (AuthMode.CLIENT_CREDENTIALS, "65.0"),
                                               (AuthMode.PASSWORD, "64.0")])
def test_each_mode_logs_in_at_its_default_version(emulator: RunningEmulator, mode: AuthMode, version: str) -> None:
    logins = _logins(emulator)
    connection = open_connection(emulator.login(mode), emulator_url=emulator.url)
    assert (connection.auth_mode, connection.api_version) == (mode, version)
    assert connection.client.base_url.endswith(f"/services/data/v{version}/")
    assert connection.org_id == emulator.state.org.org_id and connection.usage.calls == 1
    assert _logins(emulator) == logins + 1
    assert connection.client.query("SELECT COUNT() FROM Lead")["totalSize"] == 20


def test_the_mode_follows_the_credentials_when_salesforce_auth_is_unset(emulator: RunningEmulator,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SALESFORCE_AUTH", raising=False)
    jwt = emulator.env(AuthMode.JWT)
    resource = SalesforceResource(username=jwt["SALESFORCE_USERNAME"], consumer_key=jwt["SALESFORCE_CONSUMER_KEY"],
                                  private_key=jwt["SALESFORCE_PRIVATE_KEY"], password="left-over-password",
                                  emulator_url=emulator.url)
    assert resource.credentials().mode is AuthMode.JWT  # a key pair wins over a password
    cc = emulator.env(AuthMode.CLIENT_CREDENTIALS)
    resource = SalesforceResource(consumer_key=cc["SALESFORCE_CONSUMER_KEY"], domain=cc["SALESFORCE_DOMAIN"],
                                  consumer_secret=cc["SALESFORCE_CONSUMER_SECRET"], emulator_url=emulator.url)
    assert resource.credentials().mode is AuthMode.CLIENT_CREDENTIALS
    assert resource.connect().auth_mode is AuthMode.CLIENT_CREDENTIALS
    assert SalesforceResource(username="u", password="p").credentials().mode is AuthMode.PASSWORD


def test_jwt_with_a_my_domain_keeps_the_login_audience(emulator: RunningEmulator) -> None:
    """SALESFORCE_DOMAIN may be the My Domain: the token request goes there, the assertion's audience stays
    https://login.salesforce.com (the emulator refuses any other audience for a production org)."""
    credentials = replace(emulator.login(AuthMode.JWT), domain="acmeorg41.my")
    assert credentials.client_arguments()["domain"] == "login"
    assert credentials.client_arguments()["instance_url"] == "acmeorg41.my"
    assert open_connection(credentials, emulator_url=emulator.url).org_id == emulator.state.org.org_id


def test_a_sandbox_logs_in_with_the_test_audience() -> None:
    with running_emulator(seed=42, scale=10, sandbox=True) as sandbox:
        connection = open_connection(sandbox.login(AuthMode.JWT), emulator_url=sandbox.url)
        assert connection.is_sandbox and sandbox.login(AuthMode.JWT).domain == "test"
        with pytest.raises(SalesforceDisconnected) as refused:
            open_connection(replace(sandbox.login(AuthMode.JWT), domain="login"), emulator_url=sandbox.url)
        assert "the JWT audience is not this org's login server" in str(refused.value)
        assert "test for a sandbox" in str(refused.value)


OTHER_KEY, _ = generate_key_pair()


@pytest.mark.parametrize(("mode", "change", "fault", "code", "reason", "fix"), [
    (AuthMode.JWT, {"consumer_key": "3MVG9NotThisApp"}, None, "invalid_client_id",
     "the org knows no app with this consumer key", "check SALESFORCE_CONSUMER_KEY"),
    (AuthMode.JWT, {"private_key": OTHER_KEY}, None, "invalid_grant",
     "the JWT assertion was refused (signature, consumer key or user)", "SALESFORCE_PRIVATE_KEY_FILE"),
    (AuthMode.JWT, {"username": "someone.else@acme.example.com"}, None, "invalid_grant",
     "Salesforce refused the login (authentication failure)", "check SALESFORCE_USERNAME"),
    (AuthMode.JWT, {}, "unapproved", "invalid_grant", "the integration user is not pre-authorized for the app",
     "'Admin approved users are pre-authorized'"),
    (AuthMode.JWT, {}, "ip_restricted", "invalid_grant", "the app's IP restrictions refused this machine",
     "trusted IP ranges"),
    (AuthMode.JWT, {}, "flow_disabled", "unsupported_grant_type", "the app does not allow this OAuth flow",
     "enable the JWT bearer flow"),
    (AuthMode.CLIENT_CREDENTIALS, {"consumer_secret": "not-the-secret"}, None, "invalid_client",
     "the consumer secret was refused", "check SALESFORCE_CONSUMER_SECRET"),
    (AuthMode.CLIENT_CREDENTIALS, {}, "no_run_as_user", "invalid_grant",
     "the app has no run-as user for the client credentials flow", "choose a Run As user"),
    (AuthMode.JWT, {"private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"}, None,
     "PRIVATE_KEY", "the private key cannot sign the JWT assertion", "SALESFORCE_PRIVATE_KEY_FILE"),
], ids=["unknown-app", "wrong-key", "unknown-user", "unapproved", "ip-restricted", "flow-disabled", "wrong-secret",
        "no-run-as-user", "unreadable-key"])
def test_oauth_refusals_are_clear_and_hold_no_secret(emulator: RunningEmulator, caplog: pytest.LogCaptureFixture,
                                                     mode: AuthMode, change: dict[str, str], fault: str | None,
                                                     code: str, reason: str, fix: str) -> None:
    emulator.admin("POST", "faults", {"oauth_fault": fault})
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SalesforceDisconnected) as error, warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        open_connection(replace(emulator.login(mode), **change), emulator_url=emulator.url)
    text = str(error.value)
    assert error.value.code == code
    assert text.startswith(f"disconnected: {reason}") and " — " in text and fix in text.split(" — ", 1)[1]
    rendered = ("".join(traceback.format_exception(error.value)) + repr(error.value) + caplog.text
                + "".join(str(w.message) for w in warned))
    for secret in [*_secrets(emulator), OTHER_KEY, "not-the-secret"]:
        assert secret not in rendered
    assert error.value.__cause__ is None and error.value.__suppress_context__


@pytest.mark.parametrize(("values", "names"), [
    ({"auth": "jwt", "username": "u@x.com"}, "SALESFORCE_CONSUMER_KEY and SALESFORCE_PRIVATE_KEY_FILE (or "
                                             "SALESFORCE_PRIVATE_KEY)"),
    ({"auth": "client_credentials", "consumer_key": "k", "domain": "acme.my"}, "SALESFORCE_CONSUMER_SECRET"),
    ({"auth": "password", "username": "u@x.com"}, "SALESFORCE_PASSWORD"),
])
def test_a_missing_variable_is_named_before_any_call(emulator: RunningEmulator, values: dict[str, str],
                                                     names: str) -> None:
    logins = _logins(emulator)
    with pytest.raises(SalesforceDisconnected) as error:
        SalesforceResource(emulator_url=emulator.url, **values).connect()
    assert error.value.code == "MISSING_CREDENTIALS"
    assert f"the {values['auth']} login needs {names} — set {names}" in str(error.value)
    assert _logins(emulator) == logins


def test_local_refusals_name_the_fix(tmp_path) -> None:
    with pytest.raises(SalesforceDisconnected) as my_domain:
        LoginCredentials.choose(auth="client_credentials", consumer_key="k", consumer_secret="s", domain="login")
    assert my_domain.value.code == "MY_DOMAIN_REQUIRED" and "set SALESFORCE_DOMAIN to the My Domain" in str(
        my_domain.value)
    with pytest.raises(SalesforceDisconnected) as no_file:
        LoginCredentials.choose(auth="jwt", consumer_key="k", username="u", private_key_file=str(tmp_path / "k.pem"))
    assert no_file.value.code == "PRIVATE_KEY" and "does not exist" in str(no_file.value)
    with pytest.raises(SalesforceDisconnected) as unknown:
        LoginCredentials.choose(auth="saml", username="u", password="p")
    assert str(unknown.value) == ("disconnected: SALESFORCE_AUTH='saml' is not a login mode — set it to one of jwt, "
                                  "client_credentials, password, or leave it unset to choose by the credentials "
                                  "given")
    assert "secret" not in repr(LoginCredentials.choose(auth="client_credentials", consumer_key="k",
                                                        consumer_secret="secret", domain="acme.my"))


def test_a_key_file_logs_in(emulator: RunningEmulator, tmp_path) -> None:
    key_file = tmp_path / "app.key"
    key_file.write_text(emulator.private_key)
    credentials = replace(emulator.login(AuthMode.JWT), private_key="", private_key_file=str(key_file))
    assert open_connection(credentials, emulator_url=emulator.url).auth_mode is AuthMode.JWT


def test_the_password_login_at_65_is_refused_before_any_call(emulator: RunningEmulator) -> None:
    logins = _logins(emulator)
    resource = SalesforceResource(username=emulator.username, password=emulator.password,
                                  security_token=emulator.security_token, emulator_url=emulator.url)
    with pytest.raises(SettingsError) as refused:
        resource.connect("65.0")
    text = str(refused.value)
    assert 'salesforce.api_version: "65.0" cannot be used with the password login' in text
    assert "SALESFORCE_AUTH=jwt" in text and 'pin api_version: "64.0"' in text and "June 2027" in text
    assert _logins(emulator) == logins
    assert resource.connect("64.0").api_version == "64.0"


def test_soap_login_refusals_say_to_move_to_oauth(emulator: RunningEmulator) -> None:
    """Salesforce answers SOAP login() at 65.0 and later, and in orgs where it is disabled, with INVALID_OPERATION."""
    with pytest.raises(SalesforceDisconnected) as at_65:
        open_connection(emulator.login(AuthMode.PASSWORD), emulator_url=emulator.url, api_version="65.0")
    assert str(at_65.value).startswith("disconnected: Salesforce refused the SOAP login(): The SOAP Login operation "
                                       "is not available in the API version specified (65.0)")
    assert "SALESFORCE_AUTH=jwt" in str(at_65.value)
    emulator.admin("POST", "faults", {"soap_login_disabled": True})
    with pytest.raises(SalesforceDisconnected) as disabled:
        open_connection(emulator.login(AuthMode.PASSWORD), emulator_url=emulator.url)
    assert "SOAP API login() is disabled by default in this org" in str(disabled.value)
    assert open_connection(emulator.login(AuthMode.JWT), emulator_url=emulator.url).org_id  # OAuth is unaffected
