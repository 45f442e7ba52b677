"""Reading records page by page, as Arrow tables of text in the mirror format (see ``records.mirror``).

Two paths give the same pages: REST ``queryAll`` (2,000 records a call, no job overhead: small change sets) and
Bulk API 2.0 (hundreds of thousands of records a call: full pulls and big change sets). Memory stays bounded: one
page is held at a time, plus the next one being fetched in the background while the caller writes (see
:func:`prefetched`), so download and database writes overlap.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import pyarrow as pa
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.bulk2 import Operation
from simple_salesforce.exceptions import SalesforceExpiredSession

T = TypeVar("T")

BULK_PAGE_RECORDS = 200_000
BULK_FIRST_POLL_SECONDS = 0.5  # the client sleeps this long before asking whether the job is done


def count(client: Salesforce, soql: str, *, include_deleted: bool = True) -> int:
    """The rows a ``SELECT COUNT() ...`` matches (one API call). ``query``, not ``query_all``: it recounts."""
    return int(client.query(soql, include_deleted=include_deleted)["totalSize"])


def names_in_org(client: Salesforce, object_name: str, names: list[str]) -> set[str]:
    """Which of ``names`` the org has as ``Name`` of a live ``object_name`` record (one call; nothing asked, none)."""
    if not names:
        return set()
    soql = format_soql(f"SELECT Name FROM {object_name} WHERE Name IN {{names}}", names=names)
    return {str(row["Name"]) for row in client.query_all(soql)["records"]}


def rest_pages(client: Salesforce, soql: str, fields: list[str], *, include_deleted: bool = True
               ) -> Iterator[pa.Table]:
    """REST query/queryAll pages (nextRecordsUrl paging), each as an Arrow table of text columns ``fields``."""
    result = client.query(soql, include_deleted=include_deleted)
    while True:
        yield _records_table(result["records"], fields)
        if result.get("done", True):
            return
        result = client.query_more(result["nextRecordsUrl"], identifier_is_url=True, include_deleted=include_deleted)


def bulk_pages(client: Salesforce, object_name: str, soql: str, *, include_deleted: bool = True,
               page_records: int = BULK_PAGE_RECORDS) -> Iterator[str]:
    """Bulk API 2.0 query(All) result pages, each a complete CSV text with its header row, as Salesforce sent it
    (PostgreSQL copies it as it is; :func:`parse_bulk_csv` reads it elsewhere).

    The job's steps are simple-salesforce's own (create, wait, results by locator). Its Bulk handlers keep the
    session id they were made with, so a session that expires mid-job is renewed here, once per failure, by the
    client's own login flow, and the same step is asked again: the page at the same locator, none read twice."""
    operation = Operation.query_all if include_deleted else Operation.query
    job = _renewing(client, lambda: _bulk_client(client, object_name).create_job(operation, soql))
    job_id = str(job["id"])
    _renewing(client, lambda: _bulk_client(client, object_name).wait_for_job(job_id, True, BULK_FIRST_POLL_SECONDS))
    locator = ""
    while True:
        page = _renewing(client, partial(_query_results, client, object_name, job_id, locator, page_records))
        yield page["records"]
        locator = page["locator"]
        if not locator:
            return


def _bulk_client(client: Salesforce, object_name: str) -> Any:
    """simple-salesforce's Bulk 2.0 client of ``object_name``, with the session id the client holds now."""
    return getattr(client.bulk2, object_name)._client


def _query_results(client: Salesforce, object_name: str, job_id: str, locator: str, page_records: int
                   ) -> dict[str, Any]:
    return dict(_bulk_client(client, object_name).get_query_results(job_id, locator, page_records))


def _renewing(client: Salesforce, call: Callable[[], T]) -> T:
    """``call()``; when Salesforce answers INVALID_SESSION_ID, log in again (the client's own flow) and call once
    more. A 401 means Salesforce did not act on the call, so asking again is safe."""
    try:
        return call()
    except SalesforceExpiredSession:
        client._refresh_session()
        return call()


def _records_table(records: list[dict[str, Any]], fields: list[str]) -> pa.Table:
    columns: dict[str, list[str | None]] = {field: [] for field in fields}
    for record in records:
        for field in fields:
            columns[field].append(_text(_lookup(record, field)))
    return pa.table({field: pa.array(values, pa.string()) for field, values in columns.items()})


def _lookup(record: dict[str, Any], path: str) -> Any:
    """``Account.Name`` in a REST record: the nested parent object, or None when there is no parent."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    return value


def _text(value: Any) -> str | None:
    """A REST JSON value in the text form Bulk CSV gives it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        if len(value) == 28 and value[10] == "T" and value.endswith("+0000"):
            return value[:23] + "Z"  # REST datetimes say +0000 where Bulk says Z
        return value
    return str(value)


_DONE = object()


def prefetched(pages: Iterator[Any], depth: int = 1) -> Iterator[Any]:
    """Fetch the next page in a background thread while the caller handles the current one.

    ``depth`` bounds how many pages wait in memory. An error while fetching is raised in the caller, in order.
    """
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                if stop.is_set():
                    return
                slots.put(page)
        except BaseException as error:  # handed to the consumer, which re-raises it
            slots.put(error)
            return
        slots.put(_DONE)

    thread = threading.Thread(target=produce, name="salesforce-page-fetch", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                slots.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
