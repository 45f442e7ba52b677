"""Sending records to Salesforce and recording the outcome of each one.

:func:`push_records` writes a list of records of one object (update by Id, upsert by an external id, or insert) and
returns a :class:`PushOutcome` with one :class:`RecordOutcome` per input record, in input order. The rules (each is
a test):

1. **Path.** Below ``bulk_threshold`` records: sObject Collections, 200 records a call, ``allOrNone`` false (one
   record's failure never holds back the others). At or above it: Bulk API 2.0 ingest jobs (about 7 calls each:
   create, upload, close, poll, read, successful and failed results), whose result CSVs give the outcome per record;
   one job per 90 MB of CSV, under Salesforce's 100 MB upload limit.
2. **Per-record failures** carry Salesforce's error code and message (``REQUIRED_FIELD_MISSING``,
   ``INVALID_EMAIL_ADDRESS``, ``STRING_TOO_LONG``, ``FIELD_CUSTOM_VALIDATION_EXCEPTION``, ``DUPLICATE_VALUE``,
   ``CANNOT_UPDATE_CONVERTED_LEAD``, ``ENTITY_IS_DELETED``, ``INVALID_CROSS_REFERENCE_KEY``...). Such failures are
   recorded and not retried: sending the same values again gives the same answer (``RecordOutcome.refused``; the
   push plan sends such a value again only once it changed).
3. **Locked rows** (``UNABLE_TO_LOCK_ROW``) are sent again: a second attempt after 0.2 s, a third after 0.5 s in
   chunks half as large (lock contention comes from records sharing a parent in one transaction). A record still
   locked after three attempts is left failed with code ``UNABLE_TO_LOCK_ROW``, for the next run to send again.
4. **Transient failures of a call** (HTTP 500/502/503/504, connection reset or timeout) are retried by the call: up
   to 3 tries, 0.2 s then 0.5 s apart. Updates and upserts are idempotent (sending the same values twice gives the
   same state), so any call of theirs may be repeated. An insert is not: ``operation="insert"`` with an
   ``external_id_field`` is sent as an upsert by that field, so it may be repeated too; an insert without one is
   repeated only after an HTTP 503 (Salesforce answered that it did not process the call), never after a
   connection failure, whose outcome is unknown: those records are recorded as ``OUTCOME_UNKNOWN``, to be checked
   before they are sent again. A call still failing after its tries leaves its records failed with the HTTP error
   code (``SERVER_UNAVAILABLE``...) or ``CONNECTION_ERROR``; the next run sends them again.
5. **Expired sessions.** A call answered ``INVALID_SESSION_ID`` (HTTP 401) logs in again by the connection's own
   flow and is sent once more, on every path (Collections and Bulk). When that login is refused (the password
   expired, the user was frozen...), the push stops: the records not yet answered are returned with
   ``DISCONNECTED`` and ``stopped_reason`` is the ``disconnected: <reason> — <fix>`` message.
6. **API budget.** Before every call: when it would take the calls of this push past ``max_api_calls``, the calls
   made through this connection past ``max_run_share`` of the org's daily allocation (``usage.org_limit``, from the
   ``Sforce-Limit-Info`` header of the last response), or the org's whole usage (``usage.org_used``) past
   ``max_org_share`` of that allocation, the push stops cleanly: records never sent are returned with
   ``NOT_ATTEMPTED_API_BUDGET`` and ``stopped_reason`` says why. ``REQUEST_LIMIT_EXCEEDED`` from Salesforce stops
   the push at once without a retry (retrying only burns more of a used-up allocation): records not yet answered
   are returned with ``NOT_ATTEMPTED_REQUEST_LIMIT_EXCEEDED``. A record already answered keeps that answer.
7. **Keys.** A record's outcome key is its ``Id`` (update), its external id value (upsert) or its index in
   ``records`` as text (insert).
8. **Kinds.** Every outcome is one of :data:`OUTCOME_KINDS` (:attr:`RecordOutcome.kind`): ``pushed`` (accepted),
   ``refused`` (Salesforce answered for the record with an error: its values need a fix), ``locked`` (still locked
   after three tries), ``deferred`` (not sent because this run's API budget was spent) or ``unsent`` (never reached
   Salesforce, or no answer came: the connection, the login, a server error or the org's daily limit). Unsent
   records are an operational failure the caller must report as one (:func:`unsent_summary`); refused ones are a
   data problem to warn about. Both, like locked and deferred ones, go again with a later run.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceOperationError,
    SalesforceRefusedRequest,
)

from sync_pipeline.salesforce.connect import ApiUsage
from sync_pipeline.salesforce.errors import error_code, error_message, login_refused

COLLECTION_SIZE = 200
BULK_POLL_SECONDS = 0.5
BULK_JOB_CALLS = 7  # create, upload, close, poll, read, successful results, failed results
# Salesforce takes at most 100 MB in one ingest job's upload; a margin for the header and the client's line ends.
BULK_UPLOAD_BYTES = 90 * 1024 * 1024
LOCK_RETRY_DELAYS = (0.2, 0.5)
TRANSIENT_RETRY_DELAYS = (0.2, 0.5)
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})

LOCKED = "UNABLE_TO_LOCK_ROW"
NOT_ATTEMPTED_API_BUDGET = "NOT_ATTEMPTED_API_BUDGET"
NOT_ATTEMPTED_REQUEST_LIMIT = "NOT_ATTEMPTED_REQUEST_LIMIT_EXCEEDED"
NOT_ATTEMPTED = frozenset({NOT_ATTEMPTED_API_BUDGET, NOT_ATTEMPTED_REQUEST_LIMIT})
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
CONNECTION_ERROR = "CONNECTION_ERROR"
NO_RESULT = "NO_RESULT"
DISCONNECTED = "DISCONNECTED"
OPERATIONS = ("update", "upsert", "insert")

PUSHED, REFUSED, LOCKED_KIND, DEFERRED, UNSENT = "pushed", "refused", "locked", "deferred", "unsent"
OUTCOME_KINDS = (PUSHED, REFUSED, LOCKED_KIND, DEFERRED, UNSENT)

T = TypeVar("T")


@dataclass(frozen=True)
class RecordOutcome:
    """What happened to one record: ``key`` is its Id, external id value or index (see the module docstring)."""

    key: str
    success: bool
    created: bool = False
    sf_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0
    answered: bool = False  # Salesforce answered for this record itself (not a failed call, not unsent)
    error_fields: tuple[str, ...] = ()  # the fields Salesforce's error names (Collections only; Bulk names none)

    @property
    def attempted(self) -> bool:
        return self.error_code not in NOT_ATTEMPTED

    @property
    def refused(self) -> bool:
        """Salesforce refused the record's values (validation, duplicate, converted Lead...): sending the same
        values again gives the same answer. A locked row is not refused: it may go through next time."""
        return self.kind == REFUSED

    @property
    def kind(self) -> str:
        """pushed, refused, locked, deferred or unsent (rule 8 of the module docstring)."""
        if self.success:
            return PUSHED
        if self.answered:
            return LOCKED_KIND if self.error_code == LOCKED else REFUSED
        return DEFERRED if self.error_code == NOT_ATTEMPTED_API_BUDGET else UNSENT


@dataclass(frozen=True)
class PushOutcome:
    """The outcome of one :func:`push_records`: one entry per input record, in input order, and the counts."""

    object_name: str
    operation: str
    outcomes: list[RecordOutcome]
    api_calls: int
    used_bulk: bool
    stopped_reason: str | None = None
    sent: int = field(init=False)
    succeeded: int = field(init=False)
    failed: int = field(init=False)
    retried: int = field(init=False)
    not_attempted: int = field(init=False)

    def __post_init__(self) -> None:
        counts = {
            "sent": sum(1 for o in self.outcomes if o.attempts > 0),
            "succeeded": sum(1 for o in self.outcomes if o.success),
            "failed": sum(1 for o in self.outcomes if not o.success and o.attempted),
            "retried": sum(1 for o in self.outcomes if o.attempts > 1),
            "not_attempted": sum(1 for o in self.outcomes if not o.attempted),
        }
        for name, value in counts.items():
            object.__setattr__(self, name, value)

    def count(self, kind: str) -> int:
        return sum(1 for o in self.outcomes if o.kind == kind)

    def failures_by_code(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for outcome in self.outcomes:
            if not outcome.success and outcome.error_code:
                out[outcome.error_code] = out.get(outcome.error_code, 0) + 1
        return dict(sorted(out.items()))

    def as_metadata(self) -> dict[str, Any]:
        return {"object": self.object_name, "operation": self.operation, "api": "bulk" if self.used_bulk else "rest",
                "records": len(self.outcomes), "sent": self.sent, "succeeded": self.succeeded,
                "failed": self.failed, "retried": self.retried, "not_attempted": self.not_attempted,
                **{kind: self.count(kind) for kind in OUTCOME_KINDS if kind != PUSHED},
                "api_calls": self.api_calls, "failures_by_code": self.failures_by_code(),
                "stopped_reason": self.stopped_reason or ""}


class _Stop(Exception):
    """The push stops: nothing more is sent."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _CallFailed(Exception):
    """A call failed as a whole: every record in it gets this error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def push_records(client: Salesforce, usage: ApiUsage, object_name: str, records: list[dict[str, Any]], *,
                 operation: str = "update", external_id_field: str | None = None, bulk_threshold: int = 10_000,
                 max_api_calls: int | None = None, max_org_share: float | None = None,
                 max_run_share: float | None = None) -> PushOutcome:
    """Write ``records`` of ``object_name`` and return the outcome of each one (rules in the module docstring).

    ``operation`` is ``update`` (each record has ``Id``), ``upsert`` (each record has ``external_id_field``) or
    ``insert``. ``max_api_calls`` bounds the calls of this push; ``max_run_share`` (0-1) the calls made through
    ``usage``'s connection, as a share of the org's daily allocation; ``max_org_share`` (0-1) the org's daily usage.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, not {operation!r}")
    if operation == "upsert" and not external_id_field:
        raise ValueError("an upsert needs external_id_field")
    if operation == "insert" and external_id_field:
        operation = "upsert"  # repeatable: a retried call updates what the first one created
    pusher = _Pusher(client, usage, object_name, records, operation, external_id_field,
                     max_api_calls=max_api_calls, max_org_share=max_org_share, max_run_share=max_run_share)
    used_bulk = len(records) >= bulk_threshold
    stop: _Stop | None = None
    try:
        pusher.send(list(range(len(records))), COLLECTION_SIZE, bulk=used_bulk)
        chunk = COLLECTION_SIZE
        for delay in LOCK_RETRY_DELAYS:
            locked = pusher.locked()
            if not locked:
                break
            _pause(delay)
            pusher.send(locked, chunk, bulk=len(locked) >= bulk_threshold)
            chunk = max(1, min(chunk, len(locked)) // 2)
    except _Stop as stopped:
        stop = stopped
    return PushOutcome(object_name, operation, pusher.finish(stop), usage.calls - pusher.calls_before, used_bulk,
                       stop.reason if stop else None)


class _Pusher:
    def __init__(self, client: Salesforce, usage: ApiUsage, object_name: str, records: list[dict[str, Any]],
                 operation: str, external_id_field: str | None, *, max_api_calls: int | None,
                 max_org_share: float | None, max_run_share: float | None) -> None:
        self.client = client
        self.usage = usage
        self.object_name = object_name
        self.records = records
        self.operation = operation
        self.external_id_field = external_id_field
        self.max_api_calls = max_api_calls
        self.max_org_share = max_org_share
        self.max_run_share = max_run_share
        self.calls_before = usage.calls
        self.keys = [self._key(index, record) for index, record in enumerate(records)]
        self.results: list[RecordOutcome | None] = [None] * len(records)
        self.attempts = [0] * len(records)

    def _key(self, index: int, record: dict[str, Any]) -> str:
        if self.operation == "update":
            if not record.get("Id"):
                raise ValueError(f"record {index} has no Id to update")
            return str(record["Id"])
        if self.operation == "upsert":
            value = record.get(self.external_id_field or "")
            if value is None or value == "":
                raise ValueError(f"record {index} has no {self.external_id_field} to upsert by")
            return str(value)
        return str(index)

    # --- sending ---------------------------------------------------------------------------------------------------

    def send(self, indices: list[int], chunk: int, *, bulk: bool) -> None:
        if bulk:
            rows = [self._csv_record(i) for i in indices]
            for start, end in _upload_parts(rows):
                self._bulk(indices[start:end], rows[start:end])
            return
        for start in range(0, len(indices), chunk):
            self._collection(indices[start : start + chunk])

    def locked(self) -> list[int]:
        return [i for i, result in enumerate(self.results) if result is not None and result.error_code == LOCKED]

    def _collection(self, indices: list[int]) -> None:
        payload = {"allOrNone": False, "records": [self._json_record(i) for i in indices]}
        if self.operation == "upsert":
            path, method = f"composite/sobjects/{self.object_name}/{self.external_id_field}", "PATCH"
        else:
            path, method = "composite/sobjects", "PATCH" if self.operation == "update" else "POST"
        try:
            answers = self._call(indices, lambda: self.client.restful(path, method=method, json=payload), 1)
        except _CallFailed as failure:
            self._fail(indices, failure)
            return
        answers = answers or []
        for position, index in enumerate(indices):
            answer = answers[position] if position < len(answers) else None
            if answer is None:
                self._set(index, False, error_code=NO_RESULT, error_message="Salesforce returned no result for it")
            elif answer.get("success"):
                self._set(index, True, created=bool(answer.get("created", self.operation == "insert")),
                          sf_id=answer.get("id"))
            else:
                error = (answer.get("errors") or [{}])[0]
                self._set(index, False, sf_id=answer.get("id"), error_code=error.get("statusCode") or "UNKNOWN",
                          error_message="; ".join(e.get("message", "") for e in answer.get("errors") or []),
                          answered=True,
                          error_fields=tuple(f for e in answer.get("errors") or [] for f in e.get("fields") or []))

    def _bulk(self, indices: list[int], rows: list[dict[str, str]]) -> None:
        def run() -> list[tuple[str, str]]:
            handler = getattr(self.client.bulk2, self.object_name)  # per try: it carries the session id
            if self.operation == "upsert":
                jobs = handler.upsert(records=rows, external_id_field=self.external_id_field,
                                      wait=BULK_POLL_SECONDS)
            else:
                jobs = getattr(handler, self.operation)(records=rows, wait=BULK_POLL_SECONDS)
            return [(handler.get_successful_records(job["job_id"]), handler.get_failed_records(job["job_id"]))
                    for job in jobs]

        try:
            texts = self._call(indices, run, BULK_JOB_CALLS)
        except _CallFailed as failure:
            self._fail(indices, failure)
            return
        self._bulk_results(indices, rows, texts)

    def _bulk_results(self, indices: list[int], rows: list[dict[str, str]], texts: list[tuple[str, str]]) -> None:
        """Match each result row to the record it echoes (by its uploaded cells), then set the outcomes."""
        waiting: dict[tuple[tuple[str, str], ...], list[int]] = {}
        for index, row in zip(indices, rows, strict=True):
            waiting.setdefault(_row_key(row), []).append(index)
        for successful, failed in texts:
            for row in csv.DictReader(io.StringIO(successful)):
                taken = _take(waiting, row, ("sf__Id", "sf__Created"))
                if taken is not None:
                    self._set(taken, True, created=row.get("sf__Created", "").lower() == "true",
                              sf_id=row.get("sf__Id") or None)
            for row in csv.DictReader(io.StringIO(failed)):
                taken = _take(waiting, row, ("sf__Id", "sf__Error"))
                if taken is not None:
                    code, message = _bulk_error(row.get("sf__Error") or "")
                    self._set(taken, False, sf_id=row.get("sf__Id") or None, error_code=code, error_message=message,
                              answered=True)
        for index in (i for left in waiting.values() for i in left):
            self._set(index, False, error_code=NO_RESULT, error_message="the Bulk job returned no result for it")

    def _call(self, indices: list[int], send: Callable[[], T], calls: int) -> T:
        """One call with its transient retries; raises _Stop (stop everything) or _CallFailed (this call failed)."""
        renewed = False
        attempt = 0
        while True:
            self._check_budget(calls)
            try:
                result = send()
            except SalesforceExpiredSession as error:
                self._count(indices)
                self._after_expiry(error, renewed, calls)
                renewed = True
                continue  # a 401 means Salesforce did not process the call: sending it again is safe
            except (SalesforceError, SalesforceOperationError, requests.RequestException) as error:
                self._count(indices)
                self._after_failure(error, attempt)  # raises unless the call may be tried again
            else:
                self._count(indices)
                return result
            _pause(TRANSIENT_RETRY_DELAYS[attempt])
            attempt += 1

    def _after_expiry(self, error: SalesforceExpiredSession, renewed: bool, calls: int) -> None:
        """Log in again once per failure; a session that expires again at once, or a Bulk insert job that may have
        run before the 401, fails the call."""
        if renewed:  # a fresh session expired at once: do not loop on logins
            raise _CallFailed(error_code(error) or "INVALID_SESSION_ID", error_message(error)) from None
        self._renew_session()
        if self.operation == "insert" and calls > 1:
            raise _CallFailed(OUTCOME_UNKNOWN, "the session expired during a Bulk insert job: its records may or may "
                              "not have been applied") from None

    def _after_failure(self, error: Exception, attempt: int) -> None:
        """Raise what a failed call means (rule 4): _Stop, _CallFailed, or nothing when it may be tried again."""
        idempotent = self.operation != "insert"
        last = attempt == len(TRANSIENT_RETRY_DELAYS)
        if isinstance(error, SalesforceAuthenticationFailed):  # the client's own re-login was refused
            raise _disconnected(error) from None
        if isinstance(error, SalesforceRefusedRequest):
            code = error_code(error)
            if code == "REQUEST_LIMIT_EXCEEDED":
                raise _Stop(NOT_ATTEMPTED_REQUEST_LIMIT,
                            "REQUEST_LIMIT_EXCEEDED: Salesforce refused the call because the org's daily API request "
                            "limit is reached; the push stopped without retrying, the records not sent go with the "
                            "next run") from None
            raise _CallFailed(code or f"HTTP_{error.status}", error_message(error)) from None
        if isinstance(error, SalesforceError):
            transient = error.status in TRANSIENT_STATUSES and (idempotent or error.status == 503)
            if not transient or last:
                code = error_code(error) or f"HTTP_{error.status}"
                raise _CallFailed(code, f"HTTP {error.status} ({code}: {error_message(error)})") from None
            return
        if isinstance(error, SalesforceOperationError):  # a Bulk job that failed as a whole
            raise _CallFailed("BULK_JOB_FAILED", str(error)) from None
        if not idempotent:
            raise _CallFailed(OUTCOME_UNKNOWN, f"the connection failed ({type(error).__name__}) after the insert was "
                              "sent: it may or may not have been applied") from None
        if last:
            raise _CallFailed(CONNECTION_ERROR, f"{type(error).__name__} after retries") from None

    def _renew_session(self) -> None:
        """Log in again by the flow the client was built with (simple-salesforce keeps it); a refusal stops."""
        try:
            self.client._refresh_session()  # the client's own re-login, the one its REST calls use
        except SalesforceAuthenticationFailed as error:
            raise _disconnected(error) from None
        except RuntimeError:  # a client built from a bare session id cannot log in again
            raise _Stop(DISCONNECTED, "disconnected: the session expired and this connection cannot log in again "
                                      "— connect with credentials, not a session id") from None

    def _check_budget(self, calls: int) -> None:
        used = self.usage.calls - self.calls_before
        if self.max_api_calls is not None and used + calls > self.max_api_calls:
            raise _Stop(NOT_ATTEMPTED_API_BUDGET,
                        f"API budget: stopped after {used} API calls, before passing the budget of "
                        f"{self.max_api_calls} calls for this push")
        org_used, org_limit = self.usage.org_used, self.usage.org_limit
        if self.max_run_share is not None and org_limit and self.usage.calls + calls > self.max_run_share * org_limit:
            raise _Stop(NOT_ATTEMPTED_API_BUDGET,
                        f"API budget: {self.usage.calls} API calls made in this run; stopped before passing "
                        f"{self.max_run_share:.0%} of the org's daily allocation of {org_limit} "
                        f"({int(self.max_run_share * org_limit)} calls; max_api_share_per_run in the settings)")
        if (self.max_org_share is not None and org_used is not None and org_limit
                and org_used + calls > self.max_org_share * org_limit):
                raise _Stop(NOT_ATTEMPTED_API_BUDGET,
                            f"API budget: the org has used {org_used} of its {org_limit} daily API calls; stopped "
                            f"before passing {self.max_org_share:.0%} of the allocation")

    # --- records and results ---------------------------------------------------------------------------------------

    def _json_record(self, index: int) -> dict[str, Any]:
        return {"attributes": {"type": self.object_name},
                **{name: _json_value(value) for name, value in self.records[index].items() if name != "attributes"}}

    def _csv_record(self, index: int) -> dict[str, str]:
        """The record as Bulk CSV cells: no value is ``#N/A`` (set to null, as in a Collections call)."""
        return {name: _csv_value(value) for name, value in self.records[index].items() if name != "attributes"}

    def _count(self, indices: list[int]) -> None:
        for index in indices:
            self.attempts[index] += 1

    def _set(self, index: int, success: bool, **details: Any) -> None:
        self.results[index] = RecordOutcome(self.keys[index], success, attempts=self.attempts[index], **details)

    def _fail(self, indices: list[int], failure: _CallFailed) -> None:
        for index in indices:
            self._set(index, False, error_code=failure.code, error_message=failure.message)

    def finish(self, stop: _Stop | None) -> list[RecordOutcome]:
        out = []
        for index, result in enumerate(self.results):
            if result is None:
                code = stop.code if stop else NO_RESULT
                result = RecordOutcome(self.keys[index], False, error_code=code,
                                       error_message=stop.reason if stop else "not sent",
                                       attempts=self.attempts[index])
            elif result.attempts != self.attempts[index]:
                result = RecordOutcome(result.key, result.success, result.created, result.sf_id, result.error_code,
                                       result.error_message, self.attempts[index], result.answered,
                                       result.error_fields)
            out.append(result)
        return out


def outcome_counts(outcomes: Iterable[RecordOutcome]) -> dict[str, int]:
    """Records sent, and per kind. ``records_rejected`` (the key every push asset shares) is what Salesforce
    answered with an error for the record itself: refused plus still locked."""
    items = list(outcomes)
    kinds = {kind: sum(1 for o in items if o.kind == kind) for kind in OUTCOME_KINDS}
    return {
        "records_sent": sum(1 for o in items if o.attempts > 0),
        "records_pushed": kinds[PUSHED],
        "records_rejected": kinds[REFUSED] + kinds[LOCKED_KIND],
        "records_refused": kinds[REFUSED],
        "records_locked": kinds[LOCKED_KIND],
        "records_unsent": kinds[UNSENT],
        "records_deferred": kinds[DEFERRED],
    }


def _disconnected(error: SalesforceAuthenticationFailed) -> _Stop:
    return _Stop(DISCONNECTED, str(login_refused(error)) + "; the records not sent go with the next run")


def unsent_summary(outcomes: list[RecordOutcome], object_name: str) -> list[str]:
    """One sentence per cause of this object's unsent records, for the operator: ``[]`` when none is unsent.

    The message of a stop (disconnected, the org's daily limit) is said once; other causes (a server error, a
    connection failure) say how many writes they hit."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.kind == UNSENT:
            cause = _unsent_cause(outcome, object_name)
            counts[cause] = counts.get(cause, 0) + 1
    return [cause.replace("{n}", f"{count:,}") for cause, count in counts.items()]


def _unsent_cause(outcome: RecordOutcome, object_name: str) -> str:
    code, message = outcome.error_code or NO_RESULT, outcome.error_message or "no answer"
    if code in (DISCONNECTED, NOT_ATTEMPTED_REQUEST_LIMIT):
        return message
    if code == OUTCOME_UNKNOWN:
        return (f"{{n}} {object_name} inserts may or may not have been applied ({message}): check Salesforce "
                "before they are sent again")
    if code == CONNECTION_ERROR:
        return (f"the connection to Salesforce failed on {{n}} {object_name} writes ({message}); they go with the "
                "next run")
    return f"Salesforce answered {message} on {{n}} {object_name} writes; they go with the next run"


def _pause(seconds: float) -> None:
    time.sleep(seconds)


def _bulk_error(text: str) -> tuple[str, str]:
    """``CODE:message:field1,field2 --`` (several errors are separated by spaces) → (first code, message)."""
    code, _, rest = text.partition(":")
    rest = rest.strip()
    if rest.endswith("--"):
        rest = rest[:-2].rstrip()
        rest = rest.rsplit(":", 1)[0] if ":" in rest else rest
    return (code.strip() or "UNKNOWN"), rest


def _row_key(cells: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """A record by its uploaded cells, the way a result row echoes them (missing columns are empty cells)."""
    return tuple(sorted((name, value) for name, value in cells.items() if value != ""))


def _take(waiting: dict[tuple[tuple[str, str], ...], list[int]], row: dict[str, str],
          extra: tuple[str, str]) -> int | None:
    key = _row_key({name: value or "" for name, value in row.items() if name not in extra and name is not None})
    queue = waiting.get(key)
    if not queue:
        return None
    return queue.pop(0)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return _json_value(value.item())
    return value


def _csv_bytes(row: dict[str, str]) -> int:
    """At least the row's size in the uploaded CSV: each cell quoted with its quotes doubled, a delimiter after it
    (the client's own estimate leaves quotes and line ends out, and can pass the upload limit)."""
    return sum(len(value.encode("utf-8")) + value.count('"') + 3 for value in row.values())


def _upload_parts(rows: list[dict[str, str]]) -> list[tuple[int, int]]:
    """(start, end) of consecutive rows whose CSV stays under BULK_UPLOAD_BYTES: one ingest job each."""
    parts, start, size = [], 0, 0
    for index, row in enumerate(rows):
        row_size = _csv_bytes(row)
        if index > start and size + row_size > BULK_UPLOAD_BYTES:
            parts.append((start, index))
            start, size = index, 0
        size += row_size
    if start < len(rows):
        parts.append((start, len(rows)))
    return parts


def _csv_value(value: Any) -> str:
    value = _json_value(value)
    if value is None:
        return "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
