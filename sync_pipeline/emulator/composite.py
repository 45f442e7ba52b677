"""The Composite resources: ``/composite`` (subrequests in order, with references and allOrNone) and
``/composite/batch`` (independent subrequests, haltOnError). Each is one API call, however many subrequests it holds.

A subrequest runs through the emulator's own dispatch (``run``), so it validates and counts records exactly as the
same call made alone would, and its answer becomes the subrequest's body and status.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

MAX_SUBREQUESTS = 25
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)\.([^}]+)\}")
ROLLED_BACK = {"errorCode": "PROCESSING_HALTED",
               "message": "The transaction was rolled back since another operation in the same transaction failed."}
BATCH_HALTED = {"errorCode": "BATCH_PROCESSING_HALTED", "message": "Batch processing halted per request"}


@dataclass(frozen=True)
class Answer:
    """A subrequest's answer: its status, JSON body (None when empty) and headers."""

    status: int
    body: Any
    headers: dict[str, str]


class Savepoint(Protocol):
    def rollback(self) -> None: ...


# run(method, url, body) -> Answer; savepoint() -> a context manager whose rollback() undoes the writes inside.
Run = Callable[[str, str, bytes], Answer]


class CompositeError(ValueError):
    """A request the Composite resources refuse as a whole (HTTP 400): its errorCode and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _list(payload: Any, key: str) -> list[dict[str, Any]]:
    items = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
        raise CompositeError("JSON_PARSER_ERROR", f"{key} must be a non-empty array of subrequests")
    if len(items) > MAX_SUBREQUESTS:
        raise CompositeError("LIMIT_EXCEEDED", f"Exceeded max limit of subrequests allowed: {MAX_SUBREQUESTS}")
    return items


def composite(payload: Any, run: Run, savepoint: Callable[[], AbstractContextManager[Savepoint]]) -> dict[str, Any]:
    """``POST /composite``: subrequests in order; ``@{ref.path}`` in a url or body reads an earlier answer."""
    requests = _list(payload, "compositeRequest")
    all_or_none = bool(payload.get("allOrNone", False))
    answers: list[dict[str, Any]] = []
    bodies: dict[str, Any] = {}
    with savepoint() as transaction:
        failed = False
        for request in requests:
            reference = str(request.get("referenceId", ""))
            if failed and all_or_none:
                answers.append(_answer(reference, Answer(400, [ROLLED_BACK], {})))
                continue
            answer = _run_one(request, bodies, run)
            answers.append(_answer(reference, answer))
            if answer.status < 400:
                bodies[reference] = answer.body
            failed = failed or answer.status >= 400
        if failed and all_or_none:
            transaction.rollback()
            answers = [entry if entry["httpStatusCode"] >= 400 else {**entry, "body": [ROLLED_BACK],
                                                                      "httpHeaders": {}, "httpStatusCode": 400}
                       for entry in answers]
    return {"compositeResponse": answers}


def batch(payload: Any, run: Run) -> dict[str, Any]:
    """``POST /composite/batch``: independent subrequests; with haltOnError, those after an error are not run."""
    requests = _list(payload, "batchRequests")
    halt = bool(payload.get("haltOnError", False))
    results: list[dict[str, Any]] = []
    halted = False
    for request in requests:
        if halted:
            results.append({"statusCode": 412, "result": [BATCH_HALTED]})
            continue
        url = str(request.get("url", ""))
        if not url.startswith("/"):
            url = f"/services/data/{url}"  # batch urls are relative to /services/data
        rich = request.get("richInput")
        answer = run(str(request.get("method", "GET")).upper(), url,
                     json.dumps(rich).encode() if rich is not None else b"")
        results.append({"statusCode": answer.status, "result": answer.body})
        halted = halt and answer.status >= 400
    return {"hasErrors": any(result["statusCode"] >= 400 for result in results), "results": results}


def _run_one(request: dict[str, Any], bodies: dict[str, Any], run: Run) -> Answer:
    """One composite subrequest, its references resolved; an unresolvable one answers PROCESSING_HALTED."""
    try:
        url = _resolve(str(request.get("url", "")), bodies)
        body = request.get("body")
        data = _resolve(json.dumps(body), bodies).encode() if body is not None else b""
    except LookupError as missing:
        return Answer(400, [{"errorCode": "PROCESSING_HALTED",
                             "message": f"Invalid reference specified. No value for {missing.args[0]} found"}], {})
    return run(str(request.get("method", "GET")).upper(), url, data)


def _resolve(text: str, bodies: dict[str, Any]) -> str:
    return _REFERENCE.sub(lambda match: str(_lookup(bodies, match.group(1), match.group(2))), text)


def _lookup(bodies: dict[str, Any], reference: str, path: str) -> Any:
    """``records[0].Id`` in the answer of ``reference``; LookupError names what is missing."""
    if reference not in bodies:
        raise LookupError(f"{reference}.{path}")
    value = bodies[reference]
    for name, index in _steps(path):
        try:
            value = value[name] if name else value
            value = value[index] if index is not None else value
        except (KeyError, IndexError, TypeError):
            raise LookupError(f"{reference}.{path}") from None
    return value


def _steps(path: str) -> Iterator[tuple[str, int | None]]:
    for part in path.split("."):
        match = re.fullmatch(r"([^\[\]]*)(?:\[(\d+)\])?", part)
        if match is None:
            raise LookupError(path)
        yield match.group(1), int(match.group(2)) if match.group(2) is not None else None


def _answer(reference: str, answer: Answer) -> dict[str, Any]:
    return {"body": answer.body, "httpHeaders": answer.headers, "httpStatusCode": answer.status,
            "referenceId": reference}
