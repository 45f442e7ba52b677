"""Emulator figures for `make bench`: seed generation time and Bulk API 2.0 query throughput at a given scale.

The Bulk query is read through the real client (simple-salesforce) from a second thread of this process, so the
figure includes HTTP, CSV rendering and the client; it is the ceiling any pull benchmark can see from the emulator.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from simple_salesforce import Salesforce

from sync_pipeline.emulator.testing import running_emulator

BULK_COLUMNS = ("Id, Email, FirstName, LastName, Company, OwnerId, SystemModstamp, IsDeleted, Behavior_Score__c, "
                "HasOptedOutOfEmail")


def bulk_query_pages(client: Salesforce, object_name: str, soql: str, *, max_records: int, wait: float
                     ) -> Iterator[str]:
    """The CSV pages of a Bulk API 2.0 query through simple-salesforce; ``wait``: seconds before the first poll.

    The client's ``bulk2`` attribute is typed as any of its handlers, its pages as ``str | int`` and ``wait`` as an int:
    the handler is the Bulk 2.0 one, a page of records is its CSV text, and ``wait`` is a sleep, so a float.
    """
    handler = getattr(client.bulk2, object_name)
    for page in handler.query(soql, max_records=max_records, wait=wait):
        if not isinstance(page, str):
            raise TypeError(f"a Bulk API 2.0 result page is CSV text, not {page!r}")
        yield page


def run(scale: int, page_size: int = 250_000) -> dict[str, Any]:
    started = time.perf_counter()
    with running_emulator(seed=7, scale=scale) as emulator:
        ready = time.perf_counter() - started
        client = emulator.salesforce()
        begin = time.perf_counter()
        rows = 0
        megabytes = 0.0
        pages = 0
        for page in bulk_query_pages(client, "Lead", f"SELECT {BULK_COLUMNS} FROM Lead", max_records=page_size, wait=0):
            rows += page.count("\n") - 1
            megabytes += len(page) / 1e6
            pages += 1
        seconds = time.perf_counter() - begin
        return {"leads": scale, "counts": emulator.summary["counts"],
                "generation_seconds": emulator.summary["generation_seconds"], "ready_seconds": round(ready, 2),
                "bulk_rows": rows, "bulk_pages": pages, "bulk_megabytes": round(megabytes, 1),
                "bulk_seconds": round(seconds, 2), "bulk_rows_per_second": round(rows / seconds)}


def main(scale: int) -> int:
    figures = run(scale)
    print(f"emulator at {figures['leads']:,} Leads ({', '.join(f'{k} {v:,}' for k, v in figures['counts'].items())})")
    print(f"  seed generation: {figures['generation_seconds']} s (bar: under 60 s at 1,000,000 Leads)")
    print(f"  Bulk 2.0 query of live Leads through simple-salesforce: {figures['bulk_rows']:,} rows, "
          f"{figures['bulk_pages']} pages, {figures['bulk_megabytes']} MB in {figures['bulk_seconds']} s = "
          f"{figures['bulk_rows_per_second']:,} rows/s (bar: well over 50,000 rows/s)")
    return 0
