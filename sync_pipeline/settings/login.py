"""How the sync logs in to Salesforce, and the API version each way of logging in can use.

Three modes (``SALESFORCE_AUTH``): ``jwt`` (OAuth 2.0 JWT bearer: an External Client App's certificate and a
pre-authorized integration user), ``client_credentials`` (OAuth 2.0 client credentials: the app's consumer key and
secret, run as the app's integration user) and ``password`` (the legacy SOAP ``login()`` with username, password and
security token). Salesforce serves SOAP ``login()`` only up to API 64.0 and retires it for every version with the
Summer '27 release (June 2027).
"""

from __future__ import annotations

from enum import StrEnum

from sync_pipeline.settings.errors import SettingsError, problem


class AuthMode(StrEnum):
    JWT = "jwt"
    CLIENT_CREDENTIALS = "client_credentials"
    PASSWORD = "password"


OAUTH_API_VERSION = "65.0"  # the default of the OAuth modes: a current version
PASSWORD_API_VERSION = "64.0"  # the last version that serves SOAP login()
FIRST_VERSION_WITHOUT_SOAP_LOGIN = 65.0
SOAP_LOGIN_RETIREMENT = "Summer '27 (June 2027)"
AUTH_MODES = ", ".join(mode.value for mode in AuthMode)


class AuthModeError(ValueError):
    """``SALESFORCE_AUTH`` names no mode."""

    def __init__(self, explicit: str) -> None:
        self.reason = f"SALESFORCE_AUTH={explicit!r} is not a login mode"
        self.fix = f"set it to one of {AUTH_MODES}, or leave it unset to choose by the credentials given"
        super().__init__(f"{self.reason} — {self.fix}")


def choose_auth_mode(explicit: str, *, consumer_key: bool, private_key: bool, consumer_secret: bool) -> AuthMode:
    """The mode ``SALESFORCE_AUTH`` names; unset, the one the credentials given make possible.

    Unset: ``jwt`` when a consumer key and a private key are set, else ``client_credentials`` when a consumer key and
    secret are set, else ``password``."""
    text = explicit.strip().lower().replace("-", "_")
    if text:
        try:
            return AuthMode(text)
        except ValueError:
            raise AuthModeError(explicit) from None
    if consumer_key and private_key:
        return AuthMode.JWT
    if consumer_key and consumer_secret:
        return AuthMode.CLIENT_CREDENTIALS
    return AuthMode.PASSWORD


def login_api_version(mode: AuthMode, configured: str | None, *, source: str = "the settings file") -> str:
    """The API version a run uses: ``salesforce.api_version`` when set, else the mode's default.

    Raises :class:`SettingsError` for password mode at a version without SOAP ``login()``."""
    if configured is None:
        return PASSWORD_API_VERSION if mode is AuthMode.PASSWORD else OAUTH_API_VERSION
    if mode is AuthMode.PASSWORD and float(configured) >= FIRST_VERSION_WITHOUT_SOAP_LOGIN:
        raise SettingsError(source, [problem(
            "salesforce.api_version",
            f'"{configured}" cannot be used with the password login: Salesforce serves SOAP login() only up to API '
            f"{PASSWORD_API_VERSION} and retires it in {SOAP_LOGIN_RETIREMENT}",
            "move to OAuth (SALESFORCE_AUTH=jwt with an External Client App; see the README's 'Running against a "
            f'real org\'), or pin api_version: "{PASSWORD_API_VERSION}" until then')])
    return configured


def password_login_warning() -> str:
    """What a run logged in with a password says once."""
    return (f"logged in with the legacy password login (SOAP login()), which Salesforce retires in "
            f"{SOAP_LOGIN_RETIREMENT}: move to OAuth (SALESFORCE_AUTH=jwt; see the README's 'Running against a real "
            "org') before then")
