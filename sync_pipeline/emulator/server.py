"""The Salesforce emulator's HTTP server: the wire protocol of salesforce-api.md as simple-salesforce uses it.

A plain ASGI application (served by uvicorn on 127.0.0.1) so that faults can act at the connection level.
Requests are handled one at a time on the event loop: the org is a single in-memory database and Salesforce's own
per-record semantics do not need parallelism here.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import random
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qs, unquote, unquote_plus, urlsplit
from xml.etree import ElementTree

from sync_pipeline.emulator import composite, ids
from sync_pipeline.emulator.faults import LOGIN_FAULTS, OAUTH_FAULTS, SOAP_LOGIN_DISABLED, Faults, FaultSpecError
from sync_pipeline.emulator.oauth import JWT_BEARER, ClientApp, TokenRefused, client_credentials
from sync_pipeline.emulator.org import (
    Org,
    SaveError,
    SaveResult,
    aggregate_records,
    csv_expression,
    now_storage,
    rows_as_records,
    storage_to_api_datetime,
)
from sync_pipeline.emulator.reports import ReportDefinition, describe_report, run_report
from sync_pipeline.emulator.schema import OBJECTS, object_spec
from sync_pipeline.emulator.soql import (
    CompiledQuery,
    SoqlError,
    column_metadata,
    compile_query,
    datetime_to_storage,
)

MIN_VERSION, MAX_VERSION = 31.0, 68.0
HTTP_PROTOCOL = "h11"  # keeps response header names as written (httptools lowers them); as fast here for Bulk pages
FIRST_VERSION_WITHOUT_SOAP_LOGIN = 65.0
DEFAULT_PAGE_SIZE = 2000
CURSOR_IDLE_SECONDS = 15 * 60
MAX_OPEN_CURSORS = 50
COLLECTION_LIMIT = 200


class HttpError(Exception):
    """Answer with `status` and Salesforce's array envelope."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: Any = [SaveError(code, message, fields or []).as_rest()]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(payload).encode(), headers=headers or {})


@dataclass
class Session:
    user_id: str
    issued: float
    expired: bool = False


@dataclass
class Cursor:
    id: int
    compiled: CompiledQuery
    version: str
    total: int
    page_size: int
    returned: int = 0
    last_used: float = field(default_factory=time.monotonic)


@dataclass
class QueryJob:
    id: str
    operation: str
    object_name: str
    compiled: CompiledQuery
    cursor_id: int
    total: int
    created: str
    version: str
    state: str = "UploadComplete"
    polled: bool = False

    def as_json(self, user_id: str) -> dict[str, Any]:
        return {
            "id": self.id, "operation": self.operation, "object": self.object_name, "createdById": user_id,
            "createdDate": storage_to_api_datetime(self.created),
            "systemModstamp": storage_to_api_datetime(self.created), "state": self.state,
            "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(self.version),
            "jobType": "V2Query", "lineEnding": "LF", "columnDelimiter": "COMMA",
            "numberRecordsProcessed": self.total if self.state == "JobComplete" else 0, "retries": 0,
            "totalProcessingTime": 0, "isPkChunkingSupported": True,
        }


@dataclass
class IngestJob:
    id: str
    operation: str
    object_name: str
    external_id_field: str | None
    delimiter: str
    line_ending: str
    created: str
    version: str
    state: str = "Open"
    data: bytearray = field(default_factory=bytearray)
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    error_message: str | None = None
    modstamp: str = ""

    def as_json(self, user_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "operation": self.operation, "object": self.object_name, "createdById": user_id,
            "createdDate": storage_to_api_datetime(self.created),
            "systemModstamp": storage_to_api_datetime(self.modstamp or self.created), "state": self.state,
            "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(self.version),
            "jobType": "V2Ingest", "contentUrl": f"services/data/v{self.version}/jobs/ingest/{self.id}/batches",
            "lineEnding": self.line_ending, "columnDelimiter": self.delimiter,
            "numberRecordsProcessed": len(self.successful) + len(self.failed),
            "numberRecordsFailed": len(self.failed), "retries": 0, "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0, "apexProcessingTime": 0,
        }
        if self.external_id_field:
            out["externalIdFieldName"] = self.external_id_field
        if self.error_message:
            out["errorMessage"] = self.error_message
        return out


_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}


class Emulator:
    """The state behind the server: the org, logins, cursors, Bulk jobs, reports, faults and counters."""

    def __init__(self, org: Org, *, seed: int, username: str, password: str, security_token: str,
                 reports: list[ReportDefinition] | None = None, page_size: int = DEFAULT_PAGE_SIZE,
                 faults: dict[str, Any] | None = None, instance_host: str | None = None,
                 client_app: ClientApp | None = None) -> None:
        self.org = org
        self.client_app = client_app or ClientApp()
        self.refresh_tokens: set[str] = set()
        self.username = username
        self.password = password
        self.security_token = security_token
        self.reports = {r.id: r for r in (reports or [])}
        self.page_size = page_size
        self.faults = Faults()
        self.faults.update(faults or {})
        self._apply_record_faults()
        self.random = random.Random(seed)
        self.sessions: dict[str, Session] = {}
        self.cursors: dict[int, Cursor] = {}
        self.query_jobs: dict[str, QueryJob] = {}
        self.ingest_jobs: dict[str, IngestJob] = {}
        self.report_instances: dict[str, dict[str, Any]] = {}  # instance id → its finished run, attributes first
        self.next_cursor = 1
        self.job_sequence = 0
        self.api_used = 0
        self.stats: Counter[str] = Counter()
        self.logins = 0
        slug = re.sub(r"[^a-z0-9]+", "", org.org_name.lower())[:20] or "org"
        self.instance_host = instance_host or (
            f"{slug}--uat.sandbox.my.salesforce.com" if org.is_sandbox else f"{slug}.my.salesforce.com")

    # --- faults ----------------------------------------------------------------------------------------------------

    def set_faults(self, changes: dict[str, Any]) -> dict[str, Any]:
        self.faults.update(changes)
        if changes.get("expire_sessions"):
            for session in self.sessions.values():
                session.expired = True
            self.faults.expire_sessions = False  # new logins get working sessions again
        self._apply_record_faults()
        return self.faults.as_dict()

    def _apply_record_faults(self) -> None:
        self.org.lock_ids = set(self.faults.lock_ids)
        self.org.reject_email_domain = self.faults.reject_email_domain

    # --- dispatch --------------------------------------------------------------------------------------------------

    def limit_header(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.faults.daily_api_limit}"}

    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Reply | str:
        """One request → a Reply, or the string "reset" to drop the connection."""
        # Salesforce accepts repeated slashes (a client that stored an instance URL ending in "/" sends "//services").
        path = re.sub(r"/{2,}", "/", path)
        path = re.sub(r"/+$", "", path) or "/"
        open_reply = self._without_session(method, path, headers, body)
        if open_reply is not None:
            return open_reply
        try:
            session_user = self._authenticate(headers)
        except HttpError as error:
            return json_reply(error.body, error.status)
        refusal = self._refusal()
        if refusal is not None:
            return refusal
        try:
            reply = self._api(method, path, query, headers, body, session_user)
        except HttpError as error:
            reply = json_reply(error.body, error.status)
        except SoqlError as error:
            reply = json_reply([{"message": error.message, "errorCode": error.code}], 400)
        reply.headers.update(self.limit_header())
        return reply

    def _without_session(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply | None:
        """The resources that need no session (admin, logins, the list of versions); None for the others."""
        if path.startswith("/__emulator__/"):
            return self._admin(method, path, body)
        if path.startswith("/services/Soap/u/"):
            return self._soap_login(path, headers, body)
        if path == "/services/oauth2/token":
            return self._oauth_token(body, headers)
        if path == "/services/data":
            return json_reply([{"label": release_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                               for v in range(int(MIN_VERSION), int(MAX_VERSION) + 1)])
        return None

    def _refusal(self) -> Reply | str | None:
        """A random fault or the daily limit refusing an authenticated call; None when the call goes ahead (and
        counts against the limit)."""
        draw = self.random.random()
        if draw < self.faults.reset_rate:
            return "reset"
        if draw < self.faults.reset_rate + self.faults.error_rate:
            return json_reply([{"errorCode": "SERVER_UNAVAILABLE",
                                "message": "Server temporarily unavailable, please try again"}], 503)
        if self.api_used >= self.faults.daily_api_limit:
            return json_reply([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                              403, self.limit_header())
        self.api_used += 1
        return None

    def _api(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, user: str) -> Reply:
        """An authenticated call: the OpenID userinfo, or a REST resource of a supported API version."""
        if path.startswith("/services/oauth2/"):
            self.stats["oauth2"] += 1
            return self._userinfo(user)
        if path.startswith("/id/"):
            self.stats["identity"] += 1
            return self._identity(path, user)
        match = re.match(r"^/services/data/v(\d+\.\d)(/.*)?$", path)
        if not match or not MIN_VERSION <= float(match.group(1)) <= MAX_VERSION:
            self.stats["not_found"] += 1
            raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")
        version, rest = match.group(1), match.group(2) or "/"
        return self._data(method, version, rest, parse_qs(query, keep_blank_values=True), headers, body, user)

    def _authenticate(self, headers: dict[str, str]) -> str:
        auth = headers.get("authorization", "")
        if not auth.lower().startswith(("bearer ", "oauth ")):
            raise HttpError(401, "INVALID_AUTH_HEADER", "INVALID_HEADER_TYPE")
        token = auth.split(" ", 1)[1].strip()
        session = self.sessions.get(token)
        if session is None or session.expired:
            raise HttpError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return session.user_id

    def _data(self, method: str, version: str, rest: str, params: dict[str, list[str]], headers: dict[str, str],
              body: bytes, user: str) -> Reply:
        parts = [unquote(p) for p in rest.strip("/").split("/") if p]
        head = parts[0] if parts else ""
        self.stats[_stat_name(parts, method)] += 1
        if head in ("", "limits") and method == "GET":
            return self._version_resources(version, parts, params)
        if head in ("query", "queryAll"):
            return self._query(version, head == "queryAll", parts[1:], params, headers)
        if head == "sobjects":
            return self._sobjects(method, version, parts[1:], params, body)
        if head == "composite":
            return self._composite_resources(method, version, parts[1:], params, body, user)
        if head == "jobs" and len(parts) >= 2 and parts[1] == "query":
            return self._query_jobs(method, version, parts[2:], params, body, user)
        if head == "jobs" and len(parts) >= 2 and parts[1] == "ingest":
            return self._ingest_jobs(method, version, parts[2:], headers, body, user)
        if head == "analytics" and len(parts) >= 2 and parts[1] == "reports":
            return self._reports(method, version, parts[2:], params, body, user)
        raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")

    def _version_resources(self, version: str, parts: list[str], params: dict[str, list[str]]) -> Reply:
        """The version's root (its resources), ``limits`` and ``limits/recordCount``."""
        if not parts:
            return json_reply({name: f"/services/data/v{version}/{name}" for name in VERSION_RESOURCES})
        if parts == ["limits"]:
            return self._limits()
        if parts == ["limits", "recordCount"]:
            return self._record_counts(params)
        raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")

    def _composite_resources(self, method: str, version: str, parts: list[str], params: dict[str, list[str]],
                             body: bytes, user: str) -> Reply:
        """``composite``, ``composite/batch`` and the sObject Collections under ``composite/sobjects``."""
        if method == "POST" and parts in ([], ["batch"]):
            return self._composite(parts == ["batch"], body, user)
        if parts and parts[0] == "sobjects":
            return self._collections(method, version, parts[1:], params, body)
        raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")

    # --- login -----------------------------------------------------------------------------------------------------

    def _new_session(self) -> str:
        token = f"{self.org.org_id[:15]}!AQ0AQ{secrets.token_urlsafe(72)}"
        self.sessions[token] = Session(self.org.integration_user_id, time.time())
        self.logins += 1
        return token

    def _check_credentials(self, username: str, password: str) -> str | None:
        """The login fault code, or None when the credentials are right."""
        if self.faults.login_fault:
            return self.faults.login_fault
        if username.lower() != self.username.lower():
            return "INVALID_LOGIN"
        if password == self.password + self.security_token:
            return None
        if password == self.password:
            return "LOGIN_MUST_USE_SECURITY_TOKEN"
        return "INVALID_LOGIN"

    def _soap_login(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        version = path.split("/")[4] if len(path.split("/")) > 4 else "59.0"
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            return _soap_fault("INVALID_LOGIN", "Invalid request: the login envelope is not XML")
        values = {element.tag.rsplit("}", 1)[-1]: (element.text or "") for element in root.iter()}
        if "logout" in values:
            return self._soap_logout(values.get("sessionId", ""))
        if _version_number(version) >= FIRST_VERSION_WITHOUT_SOAP_LOGIN:
            return _soap_fault("INVALID_OPERATION", f"The SOAP Login operation is not available in the API version "
                               f"specified ({version}). Refer to the documentation for supported versions.")
        if self.faults.soap_login_disabled:
            return _soap_fault("INVALID_OPERATION", SOAP_LOGIN_DISABLED)
        fault = self._check_credentials(values.get("username", ""), values.get("password", ""))
        host = headers.get("x-emulator-original-host", "").lower()
        if not fault and (host.startswith("test.") and not self.org.is_sandbox
                          or host.startswith("login.") and self.org.is_sandbox):
            fault = "INVALID_LOGIN"  # a production user does not exist on test.salesforce.com, and vice versa
        if fault:
            return _soap_fault(fault, LOGIN_FAULTS[fault])
        self.stats["login"] += 1
        token = self._new_session()
        org15 = self.org.org_id[:15]
        server = f"https://{self.instance_host}/services/Soap/u/{version}/{org15}"
        user_id = self.org.integration_user_id
        result = (
            f"<metadataServerUrl>https://{self.instance_host}/services/Soap/m/{version}/{org15}</metadataServerUrl>"
            f"<passwordExpired>false</passwordExpired><sandbox>{str(self.org.is_sandbox).lower()}</sandbox>"
            f"<serverUrl>{server}</serverUrl><sessionId>{token}</sessionId><userId>{user_id}</userId>"
            f"<userInfo><organizationId>{self.org.org_id}</organizationId>"
            f"<organizationName>{_xml_escape(self.org.org_name)}</organizationName>"
            "<sessionSecondsValid>7200</sessionSecondsValid>"
            f"<userEmail>{_xml_escape(self.username)}</userEmail><userName>{_xml_escape(self.username)}</userName>"
            f"<userId>{user_id}</userId><userTimeZone>America/Los_Angeles</userTimeZone><userType>Standard</userType>"
            "</userInfo>")
        xml = _soap_envelope('xmlns="urn:partner.soap.sforce.com"',
                             f"<loginResponse><result>{result}</result></loginResponse>")
        return Reply(200, xml.encode(), "text/xml;charset=UTF-8")

    def _soap_logout(self, session_id: str) -> Reply:
        """SOAP ``logout()``: the session of the SessionHeader ends (any later call with it answers 401)."""
        session = self.sessions.get(session_id)
        if session is None or session.expired:
            return _soap_fault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")
        session.expired = True
        xml = _soap_envelope('xmlns="urn:partner.soap.sforce.com"', "<logoutResponse/>")
        return Reply(200, xml.encode(), "text/xml;charset=UTF-8")

    def _oauth_token(self, body: bytes, headers: dict[str, str]) -> Reply:
        """The token endpoint (see ``emulator.oauth``): a token, or Salesforce's JSON refusal."""
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        host = (headers.get("x-emulator-original-host") or headers.get("host") or "login.salesforce.com").lower()
        try:
            self._grant(form, headers.get("authorization", ""), host)
        except TokenRefused as refusal:
            return json_reply(refusal.as_json(), 400)
        self.stats["login"] += 1
        token = self._new_session()
        login_host = host  # the identity URL leads back to where the token was asked (the emulator itself)
        return json_reply({"access_token": token, "instance_url": f"https://{self.instance_host}",
                           "id": f"https://{login_host}/id/{self.org.org_id}/{self.org.integration_user_id}",
                           "token_type": "Bearer", "issued_at": str(int(time.time() * 1000)),
                           "signature": base64.b64encode(secrets.token_bytes(32)).decode(), "scope": "api"})

    def _grant(self, form: dict[str, str], authorization: str, host: str) -> None:
        """Raise TokenRefused unless the grant logs in the integration user."""
        grant = form.get("grant_type", "")
        if grant not in ("password", JWT_BEARER, "client_credentials", "refresh_token"):
            raise TokenRefused("unsupported_grant_type", "grant type not supported")
        if self.faults.oauth_fault:
            raise TokenRefused(*OAUTH_FAULTS[self.faults.oauth_fault])
        if grant == JWT_BEARER:
            username = self.client_app.jwt_subject(form.get("assertion", ""), sandbox=self.org.is_sandbox)
            if username.lower() != self.username.lower():
                raise TokenRefused("invalid_grant", "authentication failure")
        elif grant == "client_credentials":
            self.client_app.check_client(*client_credentials(form, authorization))
            if host.split(".", 1)[0] in ("login", "test"):
                raise TokenRefused("invalid_grant", "request not supported on this domain")
        elif grant == "refresh_token":
            key, secret = client_credentials(form, authorization)
            self.client_app.check_client(key, secret or None)
            if form.get("refresh_token", "") not in self.refresh_tokens:
                raise TokenRefused("invalid_grant", "expired access/refresh token")
        else:
            self.client_app.check_client(form.get("client_id", ""), form.get("client_secret", ""))
            if self._check_credentials(form.get("username", ""), form.get("password", "")):
                raise TokenRefused("invalid_grant", "authentication failure")

    def issue_refresh_token(self) -> str:
        """A refresh token of the integration user, as if it had authorized the app in a browser."""
        token = f"5Aep861{secrets.token_urlsafe(60)}"
        self.refresh_tokens.add(token)
        return token

    def _identity(self, path: str, user: str) -> Reply:
        """The identity URL of a token: ``/id/<org id>/<user id>``, for the user the token belongs to."""
        parts = [p for p in path.split("/") if p]
        if len(parts) != 3 or ids.normalize(parts[1]) != self.org.org_id or ids.normalize(parts[2]) != user:
            raise HttpError(403, "Bad_Id", "Bad_Id")
        return json_reply({"id": f"https://login.salesforce.com/id/{self.org.org_id}/{user}", "asserted_user": True,
                           "user_id": user, "organization_id": self.org.org_id, "username": self.username,
                           "nick_name": self.username.split("@")[0], "display_name": "Integration User",
                           "email": self.username, "active": True, "user_type": "STANDARD", "language": "en_US",
                           "locale": "en_US", "utcOffset": -28800000, "is_app_installed": True,
                           "urls": {"rest": f"https://{self.instance_host}/services/data/v{{version}}/",
                                    "query": f"https://{self.instance_host}/services/data/v{{version}}/query/",
                                    "sobjects": f"https://{self.instance_host}/services/data/v{{version}}/sobjects/",
                                    "profile": f"https://{self.instance_host}/{user}"}})

    def _userinfo(self, user: str) -> Reply:
        return json_reply({"sub": f"https://login.salesforce.com/id/{self.org.org_id}/{user}", "user_id": user,
                           "organization_id": self.org.org_id, "preferred_username": self.username,
                           "email": self.username, "name": "Integration User", "zoneinfo": "America/Los_Angeles"})

    # --- query -----------------------------------------------------------------------------------------------------

    def _query(self, version: str, include_deleted: bool, locator: list[str], params: dict[str, list[str]],
               headers: dict[str, str]) -> Reply:
        self._evict_cursors()
        if locator:
            return self._query_more(locator[0], version)
        soql = params.get("q", [""])[0]
        compiled = compile_query(soql)
        if params.get("columns", ["false"])[0].lower() == "true":  # the columns' metadata, no rows
            return json_reply(column_metadata(compiled))
        if compiled.aggregate:
            if compiled.query.count_only:
                total = self.org.count(compiled, include_deleted)
                return json_reply({"totalSize": total, "done": True, "records": []})
            records = aggregate_records(compiled, self.org.aggregate_rows(compiled, include_deleted))
            return json_reply({"totalSize": len(records), "done": True, "records": records})
        page_size = self.page_size
        match = re.search(r"batchSize=(\d+)", headers.get("sforce-query-options", ""))
        if match:
            page_size = min(max(int(match.group(1)), 200), 2000) if self.page_size >= 200 else self.page_size
        cursor = Cursor(self.next_cursor, compiled, version, 0, page_size)
        self.next_cursor += 1
        cursor.total = self.org.open_cursor(cursor.id, compiled, include_deleted)
        self.cursors[cursor.id] = cursor
        return self._page_reply(cursor)

    def _query_more(self, locator: str, version: str) -> Reply:
        match = re.match(r"^01g5e(\d{10})-(\d+)$", locator)
        cursor = self.cursors.get(int(match.group(1))) if match else None
        if cursor is None or match is None or int(match.group(2)) != cursor.returned:
            raise HttpError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor.version = version
        return self._page_reply(cursor)

    def _page_reply(self, cursor: Cursor) -> Reply:
        rows = self.org.page(cursor.id, cursor.compiled, cursor.returned, cursor.page_size).fetchall()
        cursor.returned += len(rows)
        cursor.last_used = time.monotonic()
        records = list(rows_as_records(cursor.compiled, rows, cursor.version))
        payload: dict[str, Any] = {"totalSize": cursor.total, "done": cursor.returned >= cursor.total}
        if payload["done"]:
            self._close_cursor(cursor.id)
        else:
            locator = f"01g5e{cursor.id:010d}-{cursor.returned}"
            payload["nextRecordsUrl"] = f"/services/data/v{cursor.version}/query/{locator}"
        payload["records"] = records
        return json_reply(payload)

    def _close_cursor(self, cursor_id: int) -> None:
        self.cursors.pop(cursor_id, None)
        self.org.close_cursor(cursor_id)

    def _evict_cursors(self) -> None:
        now = time.monotonic()
        idle = [c.id for c in self.cursors.values() if now - c.last_used > CURSOR_IDLE_SECONDS]
        oldest = sorted(self.cursors.values(), key=lambda c: c.last_used)
        idle += [c.id for c in oldest[: max(0, len(oldest) - MAX_OPEN_CURSORS)]]
        for cursor_id in set(idle):
            self._close_cursor(cursor_id)

    # --- sObject resources -----------------------------------------------------------------------------------------

    def _spec(self, name: str) -> Any:
        spec = object_spec(name)
        if spec is None:
            raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")
        return spec

    def _sobjects(self, method: str, version: str, parts: list[str], params: dict[str, list[str]],
                  body: bytes) -> Reply:
        if not parts:
            return json_reply({"encoding": "UTF-8", "maxBatchSize": 200,
                               "sobjects": [spec.sobject_entry(version) for spec in OBJECTS.values()]})
        spec = self._spec(parts[0])
        if len(parts) == 1:
            if method == "POST":
                result = self.org.save(spec, _json_body(body))
                return _single_write_reply(result, created=True)
            return json_reply({"objectDescribe": spec.sobject_entry(version), "recentItems": []})
        if parts[1] == "describe" and len(parts) == 2:
            return json_reply(spec.describe(version))
        if parts[1] in ("updated", "deleted") and len(parts) == 2:
            return self._replication(spec.name, parts[1], params)
        if len(parts) == 2:
            return self._record(method, version, spec, parts[1], params, body)
        if len(parts) == 3:
            return self._external_id(method, version, spec, parts[1], unquote_plus(parts[2]), params, body)
        raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")

    def _record(self, method: str, version: str, spec: Any, record_id: str, params: dict[str, list[str]],
                body: bytes) -> Reply:
        if method == "GET":
            normalized = ids.normalize(record_id)
            if normalized is None:
                raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")
            row = self.org.find(spec.name, normalized)
            if row is None:
                raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")
            if row["IsDeleted"]:
                raise HttpError(404, "ENTITY_IS_DELETED", "entity is deleted")
            fields = [f for f in params.get("fields", [""])[0].split(",") if f.strip()]
            unknown = [f for f in fields if spec.field(f.strip()) is None]
            if unknown:
                raise HttpError(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {spec.name}")
            return json_reply(self.org.get_record(spec, normalized, version, [f.strip() for f in fields] or None))
        if method == "PATCH":
            return _single_write_reply(self.org.save(spec, _json_body(body), record_id=record_id))
        if method == "DELETE":
            return _single_write_reply(self.org.delete(spec, record_id))
        raise HttpError(405, "METHOD_NOT_ALLOWED",
                        f"HTTP Method '{method}' not allowed. Allowed are GET,HEAD,PATCH,DELETE")

    def _external_id(self, method: str, version: str, spec: Any, field_name: str, value: str,
                     params: dict[str, list[str]], body: bytes) -> Reply:
        key = spec.field(field_name)
        if key is None or not (key.external_id or key.name == "Id"):
            raise HttpError(404, "NOT_FOUND",
                            f"Provided external ID field does not exist or is not accessible: {field_name}")
        if method == "GET":
            matches = [r[0] for r in self.org.db.execute(
                f'SELECT Id FROM "{spec.name}" WHERE "{key.name}" = ? AND IsDeleted = 0', (value,))]
            if not matches:
                raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")
            if len(matches) > 1:
                return json_reply([f"/services/data/v{version}/sobjects/{spec.name}/{m}" for m in matches], 300)
            return json_reply(self.org.get_record(spec, matches[0], version))
        if method != "PATCH":
            raise HttpError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH")
        result = self.org.upsert(spec, key.name, value, _json_body(body))
        if isinstance(result, list):
            return json_reply([f"/services/data/v{version}/sobjects/{spec.name}/{m}" for m in result], 300)
        if not result.success:
            return json_reply([e.as_rest() for e in result.errors], result.status if result.status >= 400 else 400)
        return json_reply({"id": result.id, "success": True, "errors": [], "created": result.created},
                          201 if result.created else 200)

    def _replication(self, object_name: str, kind: str, params: dict[str, list[str]]) -> Reply:
        start = _replication_time(params, "start")
        end = _replication_time(params, "end")
        now = datetime.now(UTC)
        window = timedelta(days=30 if kind == "updated" else 15)
        if start < now - window - timedelta(minutes=1):
            raise HttpError(400, "INVALID_REPLICATION_DATE", "startDate cannot be more than "
                            f"{window.days} days ago")
        if end <= start:
            raise HttpError(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
        end = min(end, now).replace(second=0, microsecond=0)
        start = start.replace(second=0, microsecond=0)
        lo, hi = datetime_to_storage(start), datetime_to_storage(end)
        covered = storage_to_api_datetime(datetime_to_storage(end))
        if kind == "updated":
            found = self.org.updated_ids(object_name, lo, hi)
            if len(found) > 600_000:
                raise HttpError(400, "EXCEEDED_ID_LIMIT", "too many ids: narrow the date range")
            return json_reply({"ids": found, "latestDateCovered": covered})
        deleted = self.org.deleted_ids(object_name, lo, hi)
        earliest = storage_to_api_datetime(datetime_to_storage((now - window).replace(second=0, microsecond=0)))
        return json_reply({"deletedRecords": [{"id": i, "deletedDate": storage_to_api_datetime(d)} for i, d in deleted],
                           "earliestDateAvailable": earliest, "latestDateCovered": covered})

    # --- sObject Collections ---------------------------------------------------------------------------------------

    def _collections(self, method: str, version: str, parts: list[str], params: dict[str, list[str]],
                     body: bytes) -> Reply:
        if method == "DELETE":
            return self._collection_delete(params)
        if method in ("GET",) or (method == "POST" and len(parts) == 1):
            return self._collection_retrieve(method, version, parts, params, body)
        return self._collection_write(method, parts, body)

    def _collection_delete(self, params: dict[str, list[str]]) -> Reply:
        ids_param = [i for i in params.get("ids", [""])[0].split(",") if i]
        all_or_none = params.get("allOrNone", ["false"])[0].lower() == "true"
        _check_count(len(ids_param))
        return self._run_collection([partial(self._delete_any, i) for i in ids_param], all_or_none, upsert=False)

    def _collection_retrieve(self, method: str, version: str, parts: list[str], params: dict[str, list[str]],
                             body: bytes) -> Reply:
        """Records by id (GET with ids in the URL, or POST with them in the body): null for each one not found."""
        spec = self._spec(parts[0]) if parts else None
        if spec is None:
            raise HttpError(400, "INVALID_TYPE", "sObject type is required")
        if method == "GET":
            wanted = [i for i in params.get("ids", [""])[0].split(",") if i]
            fields = [f for f in params.get("fields", [""])[0].split(",") if f]
        else:
            payload = _json_body(body)
            wanted, fields = payload.get("ids", []), payload.get("fields", [])
        _check_count(len(wanted))
        return json_reply([self._live_record(spec, record_id, version, fields or None) for record_id in wanted])

    def _live_record(self, spec: Any, record_id: str, version: str, fields: list[str] | None) -> dict[str, Any] | None:
        normalized = ids.normalize(record_id)
        row = self.org.find(spec.name, normalized) if normalized else None
        if normalized is None or row is None or row["IsDeleted"]:
            return None
        return self.org.get_record(spec, normalized, version, fields)

    def _collection_write(self, method: str, parts: list[str], body: bytes) -> Reply:
        """Create (POST), update (PATCH) or upsert by an external id (PATCH Object/Field) up to 200 records."""
        payload = _json_body(body)
        records = payload.get("records")
        if not isinstance(records, list):
            raise HttpError(400, "JSON_PARSER_ERROR", "The request body must be an object with a records array")
        _check_count(len(records))
        all_or_none = bool(payload.get("allOrNone", False))
        operations = self._collection_operations(method, parts, records)
        return self._run_collection(operations, all_or_none, upsert=method == "PATCH" and len(parts) == 2)

    def _collection_operations(self, method: str, parts: list[str], records: list[Any]
                               ) -> list[Callable[[], SaveResult]]:
        if method == "PATCH" and len(parts) == 2:
            spec = self._spec(parts[0])
            key = spec.field(parts[1])
            if key is None or not key.external_id:
                raise HttpError(404, "NOT_FOUND",
                                f"Provided external ID field does not exist or is not accessible: {parts[1]}")
            return [partial(self._upsert_one, spec, key.name, r) for r in records]
        if method == "POST" and not parts:
            return [partial(self._create_one, r) for r in records]
        if method == "PATCH" and not parts:
            return [partial(self._update_one, r) for r in records]
        raise HttpError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed here")

    def _record_type(self, record: Any) -> Any:
        if not isinstance(record, dict):
            raise HttpError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
        name = (record.get("attributes") or {}).get("type")
        if not name:
            raise HttpError(400, "INVALID_TYPE", "No SObject Type defined in the attributes of a record")
        spec = object_spec(name)
        if spec is None:
            raise HttpError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")
        return spec

    def _create_one(self, record: dict[str, Any]) -> SaveResult:
        spec = self._record_type(record)
        values = {k: v for k, v in record.items() if k != "attributes"}
        if any(k.lower() == "id" for k in values):
            return SaveResult(None, errors=[SaveError("INVALID_FIELD_FOR_INSERT_UPDATE",
                                                      "cannot specify Id in an insert call", ["Id"])])
        return self.org.save(spec, values)

    def _update_one(self, record: dict[str, Any]) -> SaveResult:
        spec = self._record_type(record)
        values = {k: v for k, v in record.items() if k != "attributes"}
        record_id = next((values.pop(k) for k in list(values) if k.lower() == "id"), None)
        if not record_id:
            return SaveResult(None, errors=[SaveError("MISSING_ARGUMENT", "Id not specified in an update call", [])])
        result = self.org.save(spec, values, record_id=str(record_id))
        if result.errors and result.errors[0].code == "NOT_FOUND":
            result.errors = [SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])]
        return result

    def _upsert_one(self, spec: Any, key: str, record: dict[str, Any]) -> SaveResult:
        values = {k: v for k, v in record.items() if k != "attributes"}
        value = next((v for k, v in values.items() if k.lower() == key.lower()), None)
        if value in (None, ""):
            return SaveResult(None, errors=[SaveError("MISSING_ARGUMENT", f"{key} not specified", [key])])
        result = self.org.upsert(spec, key, str(value), values)
        if isinstance(result, list):
            return SaveResult(None, errors=[SaveError(
                "DUPLICATE_EXTERNAL_ID", f"{key}: more than one record found for external id field: {result}", [key])])
        return result

    def _delete_any(self, record_id: str) -> SaveResult:
        normalized = ids.normalize(record_id)
        name = self.org.object_of(normalized) if normalized else None
        if name is None:
            return SaveResult(record_id, errors=[SaveError("MALFORMED_ID", f"malformed id {record_id}", [])])
        result = self.org.delete(OBJECTS[name], normalized or record_id)
        if result.errors and result.errors[0].code == "NOT_FOUND":
            result.errors = [SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])]
        return result

    def _run_collection(self, operations: list[Callable[[], SaveResult]], all_or_none: bool, upsert: bool) -> Reply:
        results: list[SaveResult] = []
        with self.org.savepoint() as savepoint:
            for operation in operations:
                results.append(operation())
            failed = any(not r.success for r in results)
            if all_or_none and failed:
                savepoint.rollback()
        out = []
        for result in results:
            if all_or_none and failed and result.success:
                errors = [SaveError("ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                    "Record rolled back because not all records were valid and the request was "
                                    "using AllOrNone header", [])]
                entry: dict[str, Any] = {"id": None if result.created else result.id, "success": False,
                                         "errors": [e.as_result() for e in errors]}
            elif result.success:
                entry = {"id": result.id, "success": True, "errors": []}
            else:
                entry = {"success": False, "errors": [e.as_result() for e in result.errors]}
                if result.id and not result.created:
                    entry = {"id": result.id, **entry}
            if upsert:
                entry["created"] = bool(result.created and result.success and not (all_or_none and failed))
            out.append(entry)
        return json_reply(out)

    # --- Bulk API 2.0 query ----------------------------------------------------------------------------------------

    def _new_job_id(self) -> str:
        self.job_sequence += 1
        return ids.make_id("750", self.job_sequence)

    def _query_jobs(self, method: str, version: str, parts: list[str], params: dict[str, list[str]], body: bytes,
                    user: str) -> Reply:
        if not parts:
            if method == "POST":
                return self._create_query_job(version, _json_body(body), user)
            return json_reply({"done": True, "records": [j.as_json(user) for j in self.query_jobs.values()],
                               "nextRecordsUrl": None})
        job = self.query_jobs.get(ids.normalize(parts[0]) or "")
        if job is None:
            raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")
        if len(parts) == 1:
            return self._query_job(method, job, body, user)
        if len(parts) == 2 and parts[1] == "results" and method == "GET":
            return self._query_results(job, params)
        raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")

    def _query_job(self, method: str, job: QueryJob, body: bytes, user: str) -> Reply:
        """A query job's info (GET), its abort (PATCH), or its deletion (DELETE)."""
        if method == "GET":
            if job.state == "UploadComplete":
                job.state = "JobComplete"  # finished by the first poll: the local org answers at once
            return json_reply(job.as_json(user))
        if method == "PATCH":
            state = _json_body(body).get("state")
            if state != "Aborted" or job.state in ("JobComplete", "Failed", "Aborted"):
                raise HttpError(400, "INVALIDJOBSTATE", f"Cannot change the state of a {job.state} job to {state}")
            job.state = "Aborted"
            return json_reply(job.as_json(user))
        if method == "DELETE":
            self.org.close_cursor(job.cursor_id)
            del self.query_jobs[job.id]
            return Reply(204)
        raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")

    def _create_query_job(self, version: str, payload: dict[str, Any], user: str) -> Reply:
        operation = payload.get("operation")
        if operation not in ("query", "queryAll"):
            raise HttpError(400, "INVALIDJOB", f"Invalid operation: {operation}")
        compiled = compile_query(str(payload.get("query", "")))
        query = compiled.query
        if compiled.aggregate or query.group_by or query.offset:
            raise HttpError(400, "API_ERROR",
                            "Bulk API 2.0 query does not support aggregate functions, GROUP BY or OFFSET")
        job = QueryJob(self._new_job_id(), operation, compiled.object.name, compiled, self.next_cursor, 0,
                       now_storage(), version)
        self.next_cursor += 1
        job.total = self.org.open_cursor(job.cursor_id, compiled, operation == "queryAll")
        self.query_jobs[job.id] = job
        return json_reply(job.as_json(user))

    def _query_results(self, job: QueryJob, params: dict[str, list[str]]) -> Reply:
        if job.state != "JobComplete":
            raise HttpError(400, "INVALIDJOBSTATE", f"Job {job.id} is not complete: {job.state}")
        locator = params.get("locator", [""])[0]
        try:
            start = int(base64.b64decode(locator + "==").decode()) if locator and locator != "null" else 0
        except ValueError:
            raise HttpError(400, "INVALID_LOCATOR", f"Invalid locator: {locator}") from None
        size = int(params.get("maxRecords", ["0"])[0] or 0) or job.total or 1
        compiled = job.compiled
        select = [csv_expression(column.spec, compiled.select_sql[column.index]) for column in compiled.columns]
        rows = self.org.page(job.cursor_id, compiled, start, size, select)
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow([column.key for column in compiled.columns])
        count = 0
        while True:
            chunk = rows.fetchmany(10_000)
            if not chunk:
                break
            writer.writerows(chunk)
            count += len(chunk)
        end = start + count
        next_locator = base64.b64encode(str(end).encode()).decode().rstrip("=") if end < job.total else "null"
        return Reply(200, buffer.getvalue().encode(), "text/csv",
                     {"Sforce-NumberOfRecords": str(count), "Sforce-Locator": next_locator})

    # --- Bulk API 2.0 ingest ---------------------------------------------------------------------------------------

    def _ingest_jobs(self, method: str, version: str, parts: list[str], headers: dict[str, str], body: bytes,
                     user: str) -> Reply:
        if not parts:
            if method == "POST":
                return self._create_ingest_job(version, _json_body(body), user)
            return json_reply({"done": True, "records": [j.as_json(user) for j in self.ingest_jobs.values()],
                               "nextRecordsUrl": None})
        job = self.ingest_jobs.get(ids.normalize(parts[0]) or "")
        if job is None:
            raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")
        if len(parts) == 1:
            return self._ingest_job(method, job, body, user)
        if len(parts) == 2 and parts[1] == "batches" and method == "PUT":
            return self._upload_batch(job, body)
        if len(parts) == 2 and method == "GET" and parts[1] in ("successfulResults", "failedResults",
                                                                 "unprocessedrecords"):
            return self._ingest_results(job, parts[1])
        raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")

    def _ingest_job(self, method: str, job: IngestJob, body: bytes, user: str) -> Reply:
        """An ingest job's info (GET), a change of its state (PATCH), or its deletion (DELETE)."""
        if method == "GET":
            return json_reply(job.as_json(user))
        if method == "PATCH":
            return self._change_ingest_state(job, _json_body(body).get("state"), user)
        if method == "DELETE":
            if job.state not in ("UploadComplete", "JobComplete", "Aborted", "Failed"):
                raise HttpError(400, "INVALIDJOBSTATE", "Only closed jobs can be deleted")
            del self.ingest_jobs[job.id]
            return Reply(204)
        raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")

    def _upload_batch(self, job: IngestJob, body: bytes) -> Reply:
        if job.state != "Open":
            raise HttpError(400, "INVALIDJOBSTATE", f"Job {job.id} is not open for uploads: {job.state}")
        job.data.extend(body)
        return Reply(201)

    def _create_ingest_job(self, version: str, payload: dict[str, Any], user: str) -> Reply:
        operation = payload.get("operation")
        if operation not in ("insert", "update", "upsert", "delete", "hardDelete"):
            raise HttpError(400, "INVALIDJOB", f"Invalid operation: {operation}")
        spec = object_spec(str(payload.get("object", "")))
        if spec is None:
            raise HttpError(400, "INVALIDJOB", f"Object type not found: {payload.get('object')}")
        external = payload.get("externalIdFieldName")
        if operation == "upsert":
            key = spec.field(str(external or ""))
            if key is None or not (key.external_id or key.name == "Id"):
                raise HttpError(400, "INVALIDJOB", f"The externalIdFieldName is not valid: {external}")
            external = key.name
        delimiter = payload.get("columnDelimiter", "COMMA")
        if delimiter not in _DELIMITERS or payload.get("contentType", "CSV") != "CSV":
            raise HttpError(400, "INVALIDJOB", "Only CSV with a known columnDelimiter is supported")
        job = IngestJob(self._new_job_id(), operation, spec.name, external if operation == "upsert" else None,
                        delimiter, payload.get("lineEnding", "LF"), now_storage(), version)
        self.ingest_jobs[job.id] = job
        return json_reply(job.as_json(user))

    def _change_ingest_state(self, job: IngestJob, state: Any, user: str) -> Reply:
        if state == "UploadComplete" and job.state == "Open":
            job.state = "UploadComplete"
            reply = json_reply(job.as_json(user))
            self._process_ingest(job)
            return reply
        if state == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
            job.state = "Aborted"
            return json_reply(job.as_json(user))
        raise HttpError(400, "INVALIDJOBSTATE", f"Cannot change the state of a {job.state} job to {state}")

    def _process_ingest(self, job: IngestJob) -> None:
        spec = OBJECTS[job.object_name]
        text = job.data.decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text), delimiter=_DELIMITERS[job.delimiter])
        rows = list(reader)
        job.modstamp = now_storage()
        if not rows:
            job.state, job.error_message = "Failed", "InvalidBatch : Empty batch"
            return
        job.header = rows[0]
        unknown = [h for h in job.header if spec.field(h) is None]
        if unknown:
            job.state, job.error_message = "Failed", f"InvalidBatch : Field name not found : {unknown[0]}"
            job.unprocessed = rows[1:]
            return
        if job.operation in ("delete", "hardDelete") and [h.lower() for h in job.header] != ["id"]:
            job.state, job.error_message = "Failed", "InvalidBatch : The Id column is the only one allowed for delete"
            job.unprocessed = rows[1:]
            return
        for row in rows[1:]:
            if not any(cell for cell in row):
                continue
            values = dict(zip(job.header, row, strict=False))
            result = self._ingest_one(job, spec, values)
            if result.success:
                job.successful.append([result.id or "", "true" if result.created else "false", *row])
            else:
                job.failed.append([result.id or "", " ".join(e.as_bulk() for e in result.errors), *row])
        job.state = "JobComplete"

    def _ingest_one(self, job: IngestJob, spec: Any, values: dict[str, str]) -> SaveResult:
        record_id = next((v for k, v in values.items() if k.lower() == "id"), "")
        others = {k: v for k, v in values.items() if k.lower() != "id"}
        if job.operation == "insert":
            return self.org.save(spec, others, from_csv=True)
        if job.operation == "update":
            if not record_id:
                return SaveResult(None, errors=[SaveError("MISSING_ARGUMENT", "Id not specified in an update call")])
            result = self.org.save(spec, others, record_id=record_id, from_csv=True)
        elif job.operation == "upsert":
            key = job.external_id_field or "Id"
            value = next((v for k, v in values.items() if k.lower() == key.lower()), "")
            if not value:
                return SaveResult(None, errors=[SaveError("MISSING_ARGUMENT", f"{key} not specified", [key])])
            upserted = self.org.upsert(spec, key, value, others, from_csv=True)
            if isinstance(upserted, list):
                return SaveResult(None, errors=[SaveError(
                    "DUPLICATE_EXTERNAL_ID", f"{key}: more than one record found for external id field: {upserted}")])
            result = upserted
        else:
            result = self.org.delete(spec, record_id)
            if result.success and job.operation == "hardDelete":
                self.org.hard_delete(spec.name, result.id or "")
        if result.errors and result.errors[0].code == "NOT_FOUND":
            result.errors = [SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")]
        return result

    def _ingest_results(self, job: IngestJob, kind: str) -> Reply:
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
        if kind == "successfulResults":
            writer.writerow(["sf__Id", "sf__Created", *job.header])
            writer.writerows(job.successful)
        elif kind == "failedResults":
            writer.writerow(["sf__Id", "sf__Error", *job.header])
            writer.writerows(job.failed)
        else:
            if job.header:
                writer.writerow(job.header)
            rows = job.unprocessed
            if job.state == "Aborted" and not rows and job.data:
                rows = list(csv.reader(io.StringIO(job.data.decode("utf-8-sig")),
                                       delimiter=_DELIMITERS[job.delimiter]))
            writer.writerows(rows)
        return Reply(200, buffer.getvalue().encode(), "text/csv")

    # --- Reports, limits, admin ------------------------------------------------------------------------------------

    def _reports(self, method: str, version: str, parts: list[str], params: dict[str, list[str]],
                 body: bytes, user: str) -> Reply:
        base = f"/services/data/v{version}/analytics/reports"
        if not parts:
            return json_reply([{"id": r.id, "name": r.name, "url": f"{base}/{r.id}",
                                "describeUrl": f"{base}/{r.id}/describe", "instancesUrl": f"{base}/{r.id}/instances"}
                               for r in self.reports.values()])
        report = self.reports.get(ids.normalize(parts[0]) or "")
        if report is None:
            raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")
        if len(parts) == 2 and parts[1] == "describe":
            return json_reply(describe_report(report, version))
        if len(parts) >= 2 and parts[1] == "instances":
            return self._report_instances(method, version, report, parts[2:], params, body, user)
        if len(parts) == 1:
            include = params.get("includeDetails", ["false"])[0].lower() == "true"
            filters: list[dict[str, Any]] = []
            if method == "POST":
                payload = _json_body(body)
                filters = (payload.get("reportMetadata") or {}).get("reportFilters") or []
                include = include or method == "POST" and params.get("includeDetails", ["true"])[0] == "true"
            try:
                return json_reply(run_report(self.org, report, version, include_details=include, filters=filters))
            except ValueError as error:
                raise HttpError(400, "BAD_REQUEST", str(error)) from None
        raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")

    def _report_instances(self, method: str, version: str, report: ReportDefinition, parts: list[str],
                          params: dict[str, list[str]], body: bytes, user: str) -> Reply:
        """Asynchronous runs: POST starts one (it runs at once, as of the request), GET lists them or reads one."""
        base = f"/services/data/v{version}/analytics/reports/{report.id}/instances"
        if method == "POST" and not parts:
            payload = _json_body(body) if body else {}
            filters = (payload.get("reportMetadata") or {}).get("reportFilters") or []
            details = params.get("includeDetails", ["false"])[0].lower() == "true"
            try:
                result = run_report(self.org, report, version, include_details=details, filters=filters)
            except ValueError as error:
                raise HttpError(400, "BAD_REQUEST", str(error)) from None
            self.job_sequence += 1
            instance_id = ids.make_id("0LG", self.job_sequence)
            now = storage_to_api_datetime(now_storage())
            attributes = {"id": instance_id, "reportId": report.id, "reportName": report.name, "status": "Success",
                          "ownerId": user, "requestDate": now, "completionDate": now, "type": "ReportInstance"}
            self.report_instances[instance_id] = {**result, "attributes": attributes}
            return json_reply({"id": instance_id, "status": "New", "requestDate": now, "completionDate": None,
                               "hasDetailRows": details, "ownerId": user, "url": f"{base}/{instance_id}"})
        if method == "GET" and not parts:
            return json_reply([{**{k: v for k, v in run["attributes"].items() if k != "type"},
                                "url": f"{base}/{iid}", "hasDetailRows": bool(run.get("hasDetailRows"))}
                               for iid, run in self.report_instances.items()
                               if run["attributes"]["reportId"] == report.id])
        run = self.report_instances.get(ids.normalize(parts[0]) or "") if len(parts) == 1 else None
        if method == "GET" and run is not None and run["attributes"]["reportId"] == report.id:
            return json_reply(run)
        raise HttpError(404, "NOT_FOUND", "The requested resource does not exist")

    def _composite(self, is_batch: bool, body: bytes, user: str) -> Reply:
        """``/composite`` or ``/composite/batch`` (see ``emulator.composite``): one API call for all subrequests."""
        run = partial(self._subrequest, user=user)
        try:
            payload = _json_body(body)
            answer = composite.batch(payload, run) if is_batch else composite.composite(payload, run,
                                                                                         self.org.savepoint)
        except composite.CompositeError as error:
            raise HttpError(400, error.code, str(error)) from None
        return json_reply(answer)

    def _subrequest(self, method: str, url: str, body: bytes, *, user: str) -> composite.Answer:
        """One subrequest through the same dispatch as a call of its own (already counted: no second count)."""
        parts = urlsplit(url)
        path = re.sub(r"/+$", "", re.sub(r"/{2,}", "/", parts.path)) or "/"
        try:
            reply = self._api(method, path, parts.query, {}, body, user)
        except HttpError as error:
            reply = json_reply(error.body, error.status)
        except SoqlError as error:
            reply = json_reply([{"message": error.message, "errorCode": error.code}], 400)
        parsed: Any = None
        if reply.body:
            parsed = json.loads(reply.body) if "json" in reply.content_type else reply.body.decode()
        return composite.Answer(reply.status, parsed, dict(reply.headers))

    def _record_counts(self, params: dict[str, list[str]]) -> Reply:
        """``limits/recordCount?sObjects=Lead,Contact``: the live records per object (every object when not asked)."""
        asked = [name.strip() for value in params.get("sObjects", []) for name in value.split(",") if name.strip()]
        specs = [spec for spec in map(object_spec, asked) if spec is not None] if asked else list(OBJECTS.values())
        counts = [{"count": self.org.count(compile_query(f"SELECT COUNT() FROM {spec.name}"), False),
                   "name": spec.name} for spec in specs]
        return json_reply({"sObjects": counts})

    def _limits(self) -> Reply:
        limit = self.faults.daily_api_limit
        return json_reply({
            "DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - self.api_used)},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - len(self.query_jobs)},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "ConcurrentSyncReportRuns": {"Max": 20, "Remaining": 20},
            "HourlySyncReportRuns": {"Max": 500, "Remaining": 500},
            "DataStorageMB": {"Max": 1024, "Remaining": 1024}, "FileStorageMB": {"Max": 1024, "Remaining": 1024},
        })

    def _admin(self, method: str, path: str, body: bytes) -> Reply:
        name = path.rsplit("/", 1)[-1]
        try:
            if name == "stats" and method == "GET":
                return json_reply({"api_calls": self.api_used, "by_endpoint": dict(sorted(self.stats.items())),
                                   "logins": self.logins})
            if name == "faults" and method == "POST":
                return json_reply(self.set_faults(_json_body(body)))
            if name == "faults" and method == "GET":
                return json_reply(self.faults.as_dict())
            if name == "refresh_token" and method == "POST":
                return json_reply({"refresh_token": self.issue_refresh_token()})
            if name == "convert_lead" and method == "POST":
                lead_id = _json_body(body).get("lead_id")
                return json_reply(self.org.convert_lead(str(lead_id)))
        except FaultSpecError as error:
            return json_reply({"error": str(error)}, 400)
        except (KeyError, ValueError) as error:
            return json_reply({"error": str(error).strip("'\"")}, 400)
        except HttpError as error:
            return json_reply(error.body, error.status)
        return json_reply({"error": f"unknown admin endpoint {method} {path}"}, 404)


def _stat_name(parts: list[str], method: str) -> str:
    """A short endpoint name for the stats: query, queryMore, sobjects, describe, composite, jobs/query..."""
    if not parts:
        return "versions"
    head = parts[0]
    if head in ("query", "queryAll"):
        return f"{head}More" if len(parts) > 1 else head
    if head == "sobjects":
        if len(parts) >= 3 and parts[2] == "describe":
            return "describe"
        if len(parts) >= 3 and parts[2] in ("updated", "deleted"):
            return parts[2]
        return "describeGlobal" if len(parts) == 1 else f"sobjects:{method}"
    if head == "composite":
        return f"composite/sobjects:{method}" if len(parts) > 1 and parts[1] == "sobjects" else "/".join(parts[:2])
    if head == "jobs" and len(parts) >= 2:
        return f"jobs/{parts[1]}" + ("/results" if parts[-1] == "results" else "")
    return head


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except json.JSONDecodeError as error:
        raise HttpError(400, "JSON_PARSER_ERROR",
                        f"Unexpected character: {error.msg} at [line:{error.lineno}, column:{error.colno}]") from None


def _single_write_reply(result: SaveResult, created: bool = False) -> Reply:
    if not result.success:
        return json_reply([e.as_rest() for e in result.errors], result.status if result.status >= 400 else 400)
    if created:
        return json_reply({"id": result.id, "success": True, "errors": []}, 201)
    return Reply(204)


def _check_count(count: int) -> None:
    if count > COLLECTION_LIMIT:
        raise HttpError(400, "EXCEEDED_ID_LIMIT",
                        "record limit reached. cannot submit more than 200 records into this call")


def _replication_time(params: dict[str, list[str]], name: str) -> datetime:
    raw = params.get(name, [""])[0]
    try:
        text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", raw.replace("Z", "+00:00"))
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            raise ValueError
        return moment.astimezone(UTC)
    except ValueError:
        raise HttpError(400, "INVALID_REPLICATION_DATE",
                        f"{name} must be an ISO 8601 date and time with a time zone, not '{raw}'") from None


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _soap_envelope(namespace: str, body: str) -> str:
    """A SOAP response: ``body`` in an envelope that also declares ``namespace`` (the default or the ``sf`` one)."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" {namespace} '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{body}</soapenv:Body>'
            "</soapenv:Envelope>")


# The resources a version's root lists: those this emulator serves.
VERSION_RESOURCES = ("sobjects", "query", "queryAll", "limits", "analytics", "jobs", "composite")


def release_label(version: int) -> str:
    """Salesforce's release name of an API version: 59 is Winter '24, then Spring, Summer, Winter, one a version."""
    steps = version - 59
    season = ("Winter", "Spring", "Summer")[steps % 3]
    return f"{season} '{24 + steps // 3:02d}"


def _version_number(version: str) -> float:
    try:
        return float(version)
    except ValueError:
        return 0.0


def _soap_fault(code: str, message: str) -> Reply:
    fault = (f"<soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: {_xml_escape(message)}</faultstring>"
             f'<detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>'
             f"<sf:exceptionMessage>{_xml_escape(message)}</sf:exceptionMessage></sf:LoginFault></detail>"
             "</soapenv:Fault>")
    xml = _soap_envelope('xmlns:sf="urn:fault.partner.soap.sforce.com"', fault)
    return Reply(500, xml.encode(), "text/xml;charset=UTF-8")


class EmulatorApp:
    """The ASGI application around an :class:`Emulator`."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = bytearray()
        while True:
            message = await receive()
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        emulator = self.emulator
        if emulator.faults.latency_ms and not scope["path"].startswith("/__emulator__"):
            await asyncio.sleep(emulator.faults.latency_ms / 1000)
        with emulator.org.lock:
            reply = emulator.handle(scope["method"], scope["path"], scope.get("query_string", b"").decode(),
                                    headers, bytes(body))
        if reply == "reset":
            # Declare a body, send part of it, and end: the client sees the connection break mid-response.
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"Content-Type", b"application/json"), (b"Content-Length", b"4096")]})
            await send({"type": "http.response.body", "body": b"[", "more_body": True})
            raise ConnectionResetError("emulated connection reset")
        assert isinstance(reply, Reply)
        # Header names as Salesforce writes them (Title-Case): some clients read them case-sensitively. uvicorn keeps
        # the case with its h11 protocol (HTTP_PROTOCOL), not with httptools.
        response_headers = [(b"Content-Type", reply.content_type.encode())]
        response_headers += [(k.encode(), v.encode()) for k, v in reply.headers.items()]
        if reply.status != 204:
            response_headers.append((b"Content-Length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": response_headers})
        await send({"type": "http.response.body", "body": reply.body if reply.status != 204 else b""})
