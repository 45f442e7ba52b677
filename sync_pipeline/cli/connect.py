"""`sync-pipeline connect check`: log in as a sync would and say what it found, before the first run.

It reads the same environment as a run (SALESFORCE_AUTH and the mode's variables, SALESFORCE_DOMAIN,
SALESFORCE_EMULATOR_URL, SYNC_SETTINGS) and prints the login mode, the API version, the org, the user, the org's
daily API usage and whether the settings' mapped fields and list sources exist in the org. Exit code 0 when all is
well, 1 when the login, the settings or the org's fields are not.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceError

from sync_pipeline.defs.resources import DEFAULT_SETTINGS_PATH
from sync_pipeline.salesforce.connect import SalesforceConnection, SalesforceResource
from sync_pipeline.salesforce.errors import SalesforceDisconnected
from sync_pipeline.settings import SettingsError, load_settings
from sync_pipeline.settings.login import AuthMode, password_login_warning
from sync_pipeline.steps.connect import check_org


def connect_check_command() -> int:
    """Log in with the configured mode and print what a run would see; the exit code."""
    settings_path = Path(os.environ.get("SYNC_SETTINGS", DEFAULT_SETTINGS_PATH))
    try:
        settings = load_settings(settings_path)
        connection = SalesforceResource.from_environment().connect(settings.salesforce.api_version)
    except (SalesforceDisconnected, SettingsError) as error:
        print(f"not connected: {error}", file=sys.stderr)
        return 1
    for line in _identity_lines(connection):
        print(line)
    if connection.auth_mode is AuthMode.PASSWORD:
        print(f"warning: {password_login_warning()}")
    try:
        checked = check_org(connection, settings)
    except (SalesforceError, requests.RequestException) as error:
        print(f"settings:  could not be checked against the org's fields ({type(error).__name__})", file=sys.stderr)
        return 1
    if checked.problems:
        print(f"settings:  {settings_path} does not match the org's fields:", file=sys.stderr)
        for problem in checked.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"settings:  {settings_path}: every mapped field and list column exists in the org")
    for line in checked.missing_sources:
        print(f"warning: {line}")
    return 0


def _identity_lines(connection: SalesforceConnection) -> list[str]:
    """Who logged in where, how, and how much of the org's daily allocation is used."""
    org = f"{connection.org_name} ({connection.org_id})" + (", a sandbox" if connection.is_sandbox else "")
    return [f"connected: org {org} at {connection.instance_host}",
            f"login:     {connection.auth_mode.value} at API {connection.api_version}",
            f"user:      {_user(connection)}",
            f"API usage: {_usage(connection)}"]


def _user(connection: SalesforceConnection) -> str:
    """The user the session belongs to, as the org's OpenID userinfo names it."""
    try:
        info: Any = connection.client.oauth2("userinfo")
    except (SalesforceError, requests.RequestException) as error:
        return f"(not read: userinfo answered {type(error).__name__})"
    if not isinstance(info, dict):
        return "(not read: userinfo gave no JSON)"
    return f"{info.get('preferred_username') or info.get('email')} ({info.get('user_id')})"


def _usage(connection: SalesforceConnection) -> str:
    """Daily API requests used of the org's allocation, from /limits."""
    try:
        limits: Any = connection.client.limits()
    except (SalesforceError, requests.RequestException) as error:
        return f"(not read: limits answered {type(error).__name__})"
    daily = limits.get("DailyApiRequests", {}) if isinstance(limits, dict) else {}
    maximum, remaining = daily.get("Max"), daily.get("Remaining")
    if not isinstance(maximum, int) or not isinstance(remaining, int) or maximum <= 0:
        return "(not reported by the org)"
    used = maximum - remaining
    return f"{used:,} of {maximum:,} daily API requests used ({used / maximum:.1%})"
