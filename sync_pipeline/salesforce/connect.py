"""The Salesforce connection: one login per run through simple-salesforce, with API-usage accounting.

The login code path is always the production one (SOAP login with username, password + security token, domain
``login``/``test``/My Domain). When ``SALESFORCE_EMULATOR_URL`` is set, the same client talks to the local emulator
through a transport adapter (see :mod:`sync_pipeline.salesforce.transport`); nothing else in the project knows.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import requests
from pydantic import Field, PrivateAttr
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from sync_pipeline.salesforce.errors import SalesforceDisconnected, login_refused
from sync_pipeline.salesforce.transport import emulator_session, read_retry

DEFAULT_API_VERSION = "62.0"
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
    _describes: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def describe(self, object_name: str) -> dict[str, Any]:
        """The object's describe metadata, asked once per connection (one API call the first time)."""
        if object_name not in self._describes:
            self._describes[object_name] = self.client.restful(f"sobjects/{object_name}/describe") or {}
        return self._describes[object_name]


class SalesforceResource(dg.ConfigurableResource):
    """Connects to the Salesforce org (or the local emulator when ``SALESFORCE_EMULATOR_URL`` is set).

    Secrets come from the environment through ``dagster.EnvVar`` and never appear in logs, metadata or errors.
    """

    username: str = Field(description="Salesforce username (env SALESFORCE_USERNAME).")
    password: str = Field(description="Salesforce password (env SALESFORCE_PASSWORD).")
    security_token: str = Field(
        default="", description="Security token appended to the password at login (env SALESFORCE_SECURITY_TOKEN)."
    )
    domain: str = Field(
        default="", description="'login' (default), 'test' for sandboxes, or a My Domain (env SALESFORCE_DOMAIN)."
    )
    emulator_url: str = Field(
        default="", description="Route all traffic to this local emulator (env SALESFORCE_EMULATOR_URL)."
    )
    api_version: str = Field(default=DEFAULT_API_VERSION, description="Salesforce API version.")

    _connection: SalesforceConnection | None = PrivateAttr(default=None)

    def connect(self) -> SalesforceConnection:
        """Log in once (cached on this resource instance) and read the org's identity."""
        if self._connection is None:
            self._connection = open_connection(
                username=self.username,
                password=self.password,
                security_token=self.security_token,
                domain=self.domain or os.environ.get("SALESFORCE_DOMAIN", "") or "login",
                emulator_url=self.emulator_url or os.environ.get("SALESFORCE_EMULATOR_URL", ""),
                api_version=self.api_version,
            )
        return self._connection


def production_session() -> requests.Session:
    """A session that retries idempotent reads on transient faults (5xx, resets) with backoff."""
    session = requests.Session()
    session.mount("https://", HTTPAdapter(max_retries=read_retry()))
    return session


def open_connection(
    *,
    username: str,
    password: str,
    security_token: str,
    domain: str = "login",
    emulator_url: str = "",
    api_version: str = DEFAULT_API_VERSION,
) -> SalesforceConnection:
    """Log in with the SOAP username/password flow and identify the org.

    Raises :class:`SalesforceDisconnected` with a reason a person can act on; secrets are never part of it.
    """
    usage = ApiUsage()
    client = _login(_counted_session(emulator_url, usage), username=username, password=password,
                    security_token=security_token, domain=domain, emulator_url=emulator_url, api_version=api_version)
    org = _organization(client)
    return SalesforceConnection(
        client=client,
        usage=usage,
        org_id=str(org["Id"]),
        org_name=str(org.get("Name") or ""),
        is_sandbox=bool(org.get("IsSandbox")),
        instance_host=str(client.sf_instance),
    )


def _login(session: requests.Session, *, username: str, password: str, security_token: str, domain: str,
           emulator_url: str, api_version: str) -> Salesforce:
    """The SOAP login; a refusal or an unreachable server becomes a SalesforceDisconnected without the secrets."""
    try:
        return Salesforce(
            username=username,
            password=password,
            security_token=security_token,
            domain=domain,
            version=api_version,
            session=session,
        )
    except SalesforceAuthenticationFailed as exc:
        raise login_refused(exc) from None
    except requests.RequestException as exc:
        where = emulator_url or f"{domain}.salesforce.com"
        raise SalesforceDisconnected(
            f"Salesforce cannot be reached at {where} ({type(exc).__name__})",
            code="UNREACHABLE",
            fix="check the network or SALESFORCE_EMULATOR_URL",
        ) from None


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
