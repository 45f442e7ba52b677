"""The Salesforce connection: one login per run through simple-salesforce, with API-usage accounting.

The login code path is always the production one (OAuth 2.0 JWT bearer or client credentials, or the legacy SOAP
login with username, password + security token; domain ``login``/``test``/My Domain; see ``salesforce.auth``).
When ``SALESFORCE_EMULATOR_URL`` is set, the same client talks to the local emulator
through a transport adapter (see :mod:`sync_pipeline.salesforce.transport`); nothing else in the project knows.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import requests
from jwt.exceptions import PyJWTError
from pydantic import Field, PrivateAttr
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from sync_pipeline.salesforce.auth import LoginCredentials
from sync_pipeline.salesforce.errors import SalesforceDisconnected, login_refused
from sync_pipeline.salesforce.transport import emulator_session, read_retry
from sync_pipeline.settings.login import AuthMode, login_api_version

# Paths that are logins, not API calls: Salesforce does not count them against the daily allocation.
_LOGIN_PATHS = ("/services/Soap/u/", "/services/oauth2/token")
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")



@dataclass
class ApiUsage:
    """API calls made through one connection, and the org's allocation as Salesforce last reported it."""

    calls: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    org_used: int | None = None
    org_limit: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, response: requests.Response) -> None:
        path = urlsplit(response.url).path
        if any(marker in path for marker in _LOGIN_PATHS):
            return
        with self._lock:
            self.calls += 1
            kind = _call_kind(path)
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
            match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
            if match:
                self.org_used, self.org_limit = int(match.group(1)), int(match.group(2))

    def as_metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {"api_calls": self.calls, "api_calls_by_kind": dict(sorted(self.by_kind.items()))}
        if self.org_limit:
            out["org_api_usage"] = f"{self.org_used}/{self.org_limit}"
        return out


def _call_kind(path: str) -> str:
    """A short label for an API path: query, sobjects, composite, jobs/query, jobs/ingest, analytics, limits..."""
    parts = [p for p in path.split("/") if p]
    # /services/data/vXX.X/<kind>/...
    if len(parts) >= 4 and parts[0] == "services" and parts[1] == "data":
        kind = parts[3]
        if kind == "jobs" and len(parts) >= 5:
            return f"jobs/{parts[4]}"
        return "query" if kind == "queryAll" else kind
    return parts[1] if len(parts) > 1 else "other"


@dataclass
class SalesforceConnection:
    """A logged-in client plus what the run needs to know about the org and its API usage."""

    client: Salesforce
    usage: ApiUsage
    org_id: str
    org_name: str
    is_sandbox: bool
    instance_host: str
    auth_mode: AuthMode
    api_version: str
    _describes: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def describe(self, object_name: str) -> dict[str, Any]:
        """The object's describe metadata, asked once per connection (one API call the first time)."""
        if object_name not in self._describes:
            self._describes[object_name] = self.client.restful(f"sobjects/{object_name}/describe") or {}
        return self._describes[object_name]


# The credentials of the three login modes: resource field → environment variable. SALESFORCE_AUTH,
# SALESFORCE_DOMAIN and SALESFORCE_EMULATOR_URL hold no secret and are read when a run connects.
CREDENTIAL_VARIABLES = {
    "username": "SALESFORCE_USERNAME",
    "password": "SALESFORCE_PASSWORD",
    "security_token": "SALESFORCE_SECURITY_TOKEN",
    "consumer_key": "SALESFORCE_CONSUMER_KEY",
    "consumer_secret": "SALESFORCE_CONSUMER_SECRET",
    "private_key": "SALESFORCE_PRIVATE_KEY",
    "private_key_file": "SALESFORCE_PRIVATE_KEY_FILE",
}


class SalesforceResource(dg.ConfigurableResource):
    """Connects to the Salesforce org (or the local emulator when ``SALESFORCE_EMULATOR_URL`` is set).

    The login mode is ``auth`` (``SALESFORCE_AUTH``): ``jwt``, ``client_credentials`` or the legacy ``password``;
    unset, the credentials given choose it (see :func:`sync_pipeline.settings.login.choose_auth_mode`). Secrets come
    from the environment through ``dagster.EnvVar`` and never appear in logs, metadata or errors.
    """

    auth: str = Field(default="", description="jwt | client_credentials | password (env SALESFORCE_AUTH).")
    username: str = Field(default="", description="The integration user (env SALESFORCE_USERNAME): jwt, password.")
    password: str = Field(default="", description="Legacy password login (env SALESFORCE_PASSWORD).")
    security_token: str = Field(
        default="", description="Appended to the password at a password login (env SALESFORCE_SECURITY_TOKEN)."
    )
    consumer_key: str = Field(default="", description="The External Client App's consumer key "
                                                      "(env SALESFORCE_CONSUMER_KEY): jwt, client_credentials.")
    consumer_secret: str = Field(default="", description="The app's consumer secret "
                                                         "(env SALESFORCE_CONSUMER_SECRET): client_credentials.")
    private_key: str = Field(default="", description="PEM private key of the app's certificate "
                                                     "(env SALESFORCE_PRIVATE_KEY): jwt.")
    private_key_file: str = Field(default="", description="A file holding that PEM private key "
                                                          "(env SALESFORCE_PRIVATE_KEY_FILE): jwt.")
    domain: str = Field(
        default="", description="'login' (default), 'test' for sandboxes, or a My Domain (env SALESFORCE_DOMAIN)."
    )
    emulator_url: str = Field(
        default="", description="Route all traffic to this local emulator (env SALESFORCE_EMULATOR_URL)."
    )

    _connection: SalesforceConnection | None = PrivateAttr(default=None)

    @classmethod
    def from_environment(cls) -> SalesforceResource:
        """The resource of a command run outside Dagster, from the same variables a sync reads."""
        return cls(**{name: os.environ.get(variable, "") for name, variable in CREDENTIAL_VARIABLES.items()})

    def credentials(self) -> LoginCredentials:
        """The login these values (and SALESFORCE_AUTH / SALESFORCE_DOMAIN when not given) make; raises
        :class:`SalesforceDisconnected` naming what is missing."""
        return LoginCredentials.choose(
            auth=self.auth or os.environ.get("SALESFORCE_AUTH", ""), username=self.username, password=self.password,
            security_token=self.security_token, consumer_key=self.consumer_key,
            consumer_secret=self.consumer_secret, private_key=self.private_key,
            private_key_file=self.private_key_file, domain=self.domain or os.environ.get("SALESFORCE_DOMAIN", ""))

    def connect(self, api_version: str | None = None) -> SalesforceConnection:
        """Log in once (cached on this resource instance) and read the org's identity.

        ``api_version`` is the settings' ``salesforce.api_version`` (None: the login mode's default); a password
        login at 65.0 or later raises :class:`SettingsError` before any call."""
        if self._connection is None:
            credentials = self.credentials()
            self._connection = open_connection(
                credentials, emulator_url=self.emulator_url or os.environ.get("SALESFORCE_EMULATOR_URL", ""),
                api_version=login_api_version(credentials.mode, api_version))
        return self._connection


def production_session() -> requests.Session:
    """A session that retries idempotent reads on transient faults (5xx, resets) with backoff."""
    session = requests.Session()
    session.mount("https://", HTTPAdapter(max_retries=read_retry()))
    return session


def open_connection(credentials: LoginCredentials, *, emulator_url: str = "", api_version: str | None = None
                    ) -> SalesforceConnection:
    """Log in by the credentials' mode and identify the org.

    Raises :class:`SalesforceDisconnected` with a reason a person can act on; secrets are never part of it.
    """
    version = api_version or login_api_version(credentials.mode, None)
    usage = ApiUsage()
    client = _login(_counted_session(emulator_url, usage), credentials, emulator_url=emulator_url,
                    api_version=version)
    org = _organization(client)
    return SalesforceConnection(
        client=client,
        usage=usage,
        org_id=str(org["Id"]),
        org_name=str(org.get("Name") or ""),
        is_sandbox=bool(org.get("IsSandbox")),
        instance_host=str(client.sf_instance),
        auth_mode=credentials.mode,
        api_version=version,
    )


def _login(session: requests.Session, credentials: LoginCredentials, *, emulator_url: str,
           api_version: str) -> Salesforce:
    """simple-salesforce logs in by the mode's flow (and keeps it, to log in again when a session expires); a refusal
    or an unreachable server becomes a SalesforceDisconnected without the secrets."""
    try:
        with warnings.catch_warnings():
            # On "user hasn't approved this consumer" the client warns to self-authorize the app in a browser; an
            # integration user is pre-authorized instead, which the refusal's fix says.
            warnings.filterwarnings("ignore", message=r"(?s).*self-authorize", category=UserWarning)
            return Salesforce(version=api_version, session=session, **credentials.client_arguments())
    except SalesforceAuthenticationFailed as exc:
        raise login_refused(exc) from None
    except requests.RequestException as exc:
        where = emulator_url or f"{credentials.domain}.salesforce.com"
        raise SalesforceDisconnected(
            f"Salesforce cannot be reached at {where} ({type(exc).__name__})",
            code="UNREACHABLE",
            fix="check the network or SALESFORCE_EMULATOR_URL",
        ) from None
    except (OSError, ValueError, PyJWTError) as exc:  # the JWT could not be signed: the key file or its text
        raise SalesforceDisconnected(
            f"the private key cannot sign the JWT assertion ({type(exc).__name__})", code="PRIVATE_KEY",
            fix="set SALESFORCE_PRIVATE_KEY_FILE (or SALESFORCE_PRIVATE_KEY) to the PEM private key of the "
                "certificate uploaded to the External Client App") from None


def _counted_session(emulator_url: str, usage: ApiUsage) -> requests.Session:
    """The HTTP session of a connection, every response of which ``usage`` records."""
    # The same retries against the emulator as against Salesforce, so fault tests exercise the production behaviour.
    session = emulator_session(emulator_url, retry=read_retry()) if emulator_url else production_session()
    session.hooks["response"].append(lambda response, *args, **kwargs: usage.record(response))
    return session


def _organization(client: Salesforce) -> dict[str, Any]:
    """The org's Id, Name and IsSandbox (one API call); unreadable, the error names the permissions to grant."""
    try:
        return client.query("SELECT Id, Name, IsSandbox FROM Organization LIMIT 1")["records"][0]
    except SalesforceError as exc:
        raise SalesforceDisconnected(
            f"logged in but could not read the organization ({type(exc).__name__}, HTTP {exc.status})",
            code="ORG_UNREADABLE",
            fix="give the integration user the API Enabled and View Setup permissions",
        ) from None
