"""The login mode and the API version it allows (pure rules of settings.login)."""

from __future__ import annotations

import pytest

from sync_pipeline.settings import SettingsError
from sync_pipeline.settings.login import (
    AuthMode,
    AuthModeError,
    choose_auth_mode,
    login_api_version,
    password_login_warning,
)
from sync_pipeline_tests.settings.helpers import valid_data


@pytest.mark.parametrize(("explicit", "key", "private", "secret", "mode"), [
    ("", True, True, True, AuthMode.JWT),  # a key pair wins
    ("", True, False, True, AuthMode.CLIENT_CREDENTIALS),
    ("", False, True, True, AuthMode.PASSWORD),  # no consumer key: no OAuth mode is possible
    ("", True, False, False, AuthMode.PASSWORD),
    ("password", True, True, True, AuthMode.PASSWORD),  # SALESFORCE_AUTH decides when set
    ("Client-Credentials", False, False, False, AuthMode.CLIENT_CREDENTIALS),
    (" JWT ", False, False, False, AuthMode.JWT),
])
def test_the_mode(explicit: str, key: bool, private: bool, secret: bool, mode: AuthMode) -> None:
    assert choose_auth_mode(explicit, consumer_key=key, private_key=private, consumer_secret=secret) is mode


def test_an_unknown_mode_names_the_choices() -> None:
    with pytest.raises(AuthModeError) as error:
        choose_auth_mode("oauth", consumer_key=True, private_key=True, consumer_secret=False)
    assert error.value.fix.startswith("set it to one of jwt, client_credentials, password")


@pytest.mark.parametrize(("mode", "configured", "version"), [
    (AuthMode.JWT, None, "65.0"), (AuthMode.CLIENT_CREDENTIALS, None, "65.0"), (AuthMode.PASSWORD, None, "64.0"),
    (AuthMode.JWT, "62.0", "62.0"), (AuthMode.JWT, "68.0", "68.0"), (AuthMode.PASSWORD, "64.0", "64.0"),
])
def test_the_version(mode: AuthMode, configured: str | None, version: str) -> None:
    assert login_api_version(mode, configured) == version


@pytest.mark.parametrize("configured", ["65.0", "66.0"])
def test_the_password_login_refuses_a_version_without_soap_login(configured: str) -> None:
    with pytest.raises(SettingsError) as refused:
        login_api_version(AuthMode.PASSWORD, configured, source="data/sync.yaml")
    assert refused.value.problems == [
        f'salesforce.api_version: "{configured}" cannot be used with the password login: Salesforce serves SOAP '
        "login() only up to API 64.0 and retires it in Summer '27 (June 2027) — move to OAuth (SALESFORCE_AUTH=jwt "
        "with an External Client App; see the README's 'Running against a real org'), or pin api_version: \"64.0\" "
        "until then"]
    assert "data/sync.yaml" in str(refused.value)


def test_the_settings_leave_the_version_to_the_mode() -> None:
    from sync_pipeline.settings import parse_settings

    data = valid_data()
    del data["salesforce"]["api_version"]
    assert parse_settings(data).salesforce.api_version is None
    assert "Summer '27" in password_login_warning() and "SALESFORCE_AUTH=jwt" in password_login_warning()
