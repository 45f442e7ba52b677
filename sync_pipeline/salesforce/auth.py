"""The credentials of a login and the simple-salesforce client each mode builds.

simple-salesforce does the flows itself (the SOAP ``login()``, the OAuth 2.0 JWT bearer assertion and the client
credentials token request) and keeps how it logged in, so a session that expires mid-run is renewed by the same
flow (``Salesforce._refresh_session``). What this module adds: choosing the mode, saying which variable is missing,
and the domain rules simple-salesforce leaves to the caller (the JWT audience is ``login`` or ``test`` even when the
token endpoint is a My Domain; client credentials needs a My Domain).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync_pipeline.salesforce.errors import SalesforceDisconnected
from sync_pipeline.settings.login import AuthMode, AuthModeError, choose_auth_mode

LOGIN_DOMAINS = ("login", "test")


@dataclass(frozen=True, repr=False)
class LoginCredentials:
    """What one login needs. Never printed: ``repr`` shows the mode, the user and the domain only."""

    mode: AuthMode
    username: str = ""
    password: str = ""
    security_token: str = ""
    consumer_key: str = ""
    consumer_secret: str = ""
    private_key: str = ""  # PEM text
    private_key_file: str = ""
    domain: str = "login"

    def __repr__(self) -> str:
        return f"LoginCredentials(mode={self.mode.value}, username={self.username!r}, domain={self.domain!r})"

    @classmethod
    def choose(cls, *, auth: str = "", username: str = "", password: str = "", security_token: str = "",
               consumer_key: str = "", consumer_secret: str = "", private_key: str = "", private_key_file: str = "",
               domain: str = "") -> LoginCredentials:
        """The credentials of the mode ``auth`` names (or the one the values given make possible), checked.

        Raises :class:`SalesforceDisconnected` naming the variables to set."""
        try:
            mode = choose_auth_mode(auth, consumer_key=bool(consumer_key),
                                    private_key=bool(private_key or private_key_file),
                                    consumer_secret=bool(consumer_secret))
        except AuthModeError as error:
            raise SalesforceDisconnected(error.reason, code="AUTH_MODE", fix=error.fix) from None
        credentials = cls(mode, username.strip(), password, security_token, consumer_key.strip(), consumer_secret,
                          private_key, private_key_file.strip(), _domain(domain))
        credentials.check()
        return credentials

    def check(self) -> None:
        """Raise :class:`SalesforceDisconnected` when the mode lacks a value or cannot work with the domain."""
        missing = [name for name, value in self._required() if not value]
        if missing:
            raise SalesforceDisconnected(
                f"the {self.mode.value} login needs {_names(missing)}", code="MISSING_CREDENTIALS",
                fix=f"set {_names(missing)} (see the README's 'Running against a real org'), or choose another mode "
                    "with SALESFORCE_AUTH")
        if self.mode is AuthMode.CLIENT_CREDENTIALS and self.domain in LOGIN_DOMAINS:
            raise SalesforceDisconnected(
                f"the client credentials login needs the org's My Domain, not {self.domain}.salesforce.com",
                code="MY_DOMAIN_REQUIRED",
                fix="set SALESFORCE_DOMAIN to the My Domain (e.g. yourco.my, or yourco--uat.sandbox.my)")
        if self.mode is AuthMode.JWT and self.private_key_file and not self.private_key:
            path = Path(self.private_key_file)
            if not path.is_file():
                raise SalesforceDisconnected(f"the private key file {path} does not exist", code="PRIVATE_KEY",
                                             fix="point SALESFORCE_PRIVATE_KEY_FILE at the PEM private key of the "
                                                 "certificate uploaded to the External Client App")

    def _required(self) -> list[tuple[str, str]]:
        if self.mode is AuthMode.JWT:
            return [("SALESFORCE_CONSUMER_KEY", self.consumer_key), ("SALESFORCE_USERNAME", self.username),
                    ("SALESFORCE_PRIVATE_KEY_FILE (or SALESFORCE_PRIVATE_KEY)",
                     self.private_key or self.private_key_file)]
        if self.mode is AuthMode.CLIENT_CREDENTIALS:
            return [("SALESFORCE_CONSUMER_KEY", self.consumer_key),
                    ("SALESFORCE_CONSUMER_SECRET", self.consumer_secret)]
        return [("SALESFORCE_USERNAME", self.username), ("SALESFORCE_PASSWORD", self.password)]

    def client_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``simple_salesforce.Salesforce`` that log in by this mode."""
        if self.mode is AuthMode.JWT:
            arguments: dict[str, Any] = {"username": self.username, "consumer_key": self.consumer_key}
            if self.private_key:
                arguments["privatekey"] = self.private_key
            else:
                arguments["privatekey_file"] = self.private_key_file
            if self.domain in LOGIN_DOMAINS:
                arguments["domain"] = self.domain
            else:
                # The assertion's audience must be login.salesforce.com or test.salesforce.com; the token request
                # may still go to the My Domain.
                arguments["domain"] = "test" if ".sandbox." in f".{self.domain}." else "login"
                arguments["instance_url"] = self.domain
            return arguments
        if self.mode is AuthMode.CLIENT_CREDENTIALS:
            return {"consumer_key": self.consumer_key, "consumer_secret": self.consumer_secret, "domain": self.domain}
        return {"username": self.username, "password": self.password, "security_token": self.security_token,
                "domain": self.domain}


def _domain(value: str) -> str:
    """``login`` by default; a My Domain given as a URL or host keeps only the part before ``.salesforce.com``."""
    text = value.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    return text.removesuffix(".salesforce.com") or "login"


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
