"""The saved-report step: one report's detail rows through the Reports API, into ``report_rows``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from sync_pipeline.salesforce.connect import SalesforceConnection
from sync_pipeline.salesforce.reports import ReportNotFound, ReportResult, find_report_id, run_report
from sync_pipeline.store.saved_reports import write_report

_RECORD_ID = re.compile(r"^(00Q|003)[A-Za-z0-9]{15}$")


def record_id_of(row: dict[str, object]) -> str | None:
    """The Lead or Contact a report row is about: its first cell holding a Lead or Contact Id."""
    return next((str(v) for v in row.values() if isinstance(v, str) and _RECORD_ID.match(v)), None)


@dataclass(frozen=True)
class ReportPull:
    report_name: str
    report: ReportResult
    crm_ids: list[str | None]
    api_calls: int

    def as_metadata(self) -> dict[str, Any]:
        rows = len(self.report.rows)
        return {"table": "report_rows", "report": self.report_name, "rows": rows, "records_pulled": rows,
                "total_rows": self.report.total_rows, "truncated": self.report.truncated,
                "rows_with_lead_or_contact": sum(1 for i in self.crm_ids if i), "api_calls": self.api_calls}


def pull_report(engine: Engine, connection: SalesforceConnection, report_name: str) -> ReportPull:
    """Run the report and replace its stored rows. Raises :class:`ReportNotFound` when the org has no such report."""
    client, calls_before = connection.client, connection.usage.calls
    result = run_report(client, find_report_id(client, report_name))
    crm_ids = [record_id_of(row) for row in result.rows]
    with engine.begin() as conn:
        write_report(conn, report_name, result.report_id, result.rows, crm_ids, total_rows=result.total_rows,
                     truncated=result.truncated, pulled_at=datetime.now(UTC))
    return ReportPull(report_name, result, crm_ids, connection.usage.calls - calls_before)


__all__ = ["ReportNotFound", "ReportPull", "pull_report", "record_id_of"]
