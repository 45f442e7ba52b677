"""Saved reports through the Reports (Analytics) REST API: find by name, run, read the detail rows.

The synchronous API returns at most 2,000 detail rows and says so with ``allData: false``; callers get that flag as
``truncated`` and must report it rather than treat the rows as complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simple_salesforce import Salesforce, format_soql

SYNC_ROW_CAP = 2000


class ReportNotFound(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"saved report {name!r} does not exist in the org (or the integration user cannot see it): "
            "check the report name in the settings, or share the report's folder with the integration user"
        )


@dataclass
class ReportResult:
    """Detail rows of one run of a tabular report; each row maps column name → raw value."""

    report_id: str
    name: str
    columns: list[str]
    labels: dict[str, str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False
    total_rows: int | None = None  # the report's record count, when Salesforce gives it (RowCount)


def find_report_id(client: Salesforce, name: str) -> str:
    """The Id of the saved report with this name (one SOQL call)."""
    found = client.query(format_soql("SELECT Id FROM Report WHERE Name = {} LIMIT 1", name))["records"]
    if not found:
        raise ReportNotFound(name)
    return str(found[0]["Id"])


def run_report(client: Salesforce, report_id: str) -> ReportResult:
    """Run a report synchronously with its detail rows (one API call)."""
    payload = client.restful(f"analytics/reports/{report_id}", params={"includeDetails": "true"})
    if not isinstance(payload, dict):
        raise ValueError(f"the Reports API returned no report run for {report_id}")
    return parse_report_run(payload)


def _cell_value(cell: dict[str, Any]) -> Any:
    value = cell.get("value")
    if isinstance(value, dict) and "amount" in value:  # currency cells carry {"amount": .., "currency": ..}
        return value["amount"]
    return value


def parse_report_run(payload: dict[str, Any]) -> ReportResult:
    """Turn a tabular report run (factMap ``T!T``) into rows keyed by column name."""
    metadata = payload["reportMetadata"]
    columns: list[str] = list(metadata.get("detailColumns") or [])
    info = (payload.get("reportExtendedMetadata") or {}).get("detailColumnInfo") or {}
    labels = {column: str(info.get(column, {}).get("label", column)) for column in columns}
    fact = (payload.get("factMap") or {}).get("T!T") or {}
    rows = [
        {column: _cell_value(cell) for column, cell in zip(columns, row.get("dataCells", []), strict=False)}
        for row in fact.get("rows") or []
    ]
    aggregates = fact.get("aggregates") or []
    names = list(metadata.get("aggregates") or [])
    position = names.index("RowCount") if "RowCount" in names else None
    total = aggregates[position].get("value") if position is not None and position < len(aggregates) else None
    return ReportResult(
        total_rows=int(total) if isinstance(total, (int, float)) else None,
        report_id=str(metadata.get("id", "")),
        name=str(metadata.get("name", "")),
        columns=columns,
        labels=labels,
        rows=rows,
        truncated=not bool(payload.get("allData", True)),
    )
