"""Saved-report assets: the detail rows of each Salesforce report the settings name."""

import re
from datetime import UTC, datetime

import dagster as dg

from sync_pipeline.defs.resources import MarketingDatabase
from sync_pipeline.salesforce.connect import SalesforceResource
from sync_pipeline.salesforce.reports import ReportNotFound, find_report_id, run_report
from sync_pipeline.store.audience import write_report

REPORT_GROUP = "salesforce_reports"
_RECORD_ID = re.compile(r"^(00Q|003)[A-Za-z0-9]{15}$")


def report_asset_name(report_name: str) -> str:
    return "report_" + re.sub(r"[^a-z0-9]+", "_", report_name.lower()).strip("_")


def record_id_of(row: dict[str, object]) -> str | None:
    """The Lead or Contact a report row is about: its first cell holding a Lead or Contact Id."""
    return next((str(v) for v in row.values() if isinstance(v, str) and _RECORD_ID.match(v)), None)


def report_asset(report_name: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=report_asset_name(report_name),
        group_name=REPORT_GROUP,
        kinds={"salesforce", "sql"},
        deps=["salesforce_connection"],
        description=(f"The detail rows of the saved report \"{report_name}\" (table report_rows), through the "
                     "Reports API. Salesforce returns at most 2,000 rows per run: a truncated run is flagged in "
                     "metadata and in the run log, never silently."),
    )
    def report(context: dg.AssetExecutionContext, salesforce: SalesforceResource,
               marketing_db: MarketingDatabase) -> dg.MaterializeResult:
        """Grain: one row per report detail row; source: analytics/reports/{id}?includeDetails=true."""
        client = salesforce.connect().client
        try:
            result = run_report(client, find_report_id(client, report_name))
        except ReportNotFound as error:
            raise dg.Failure(description=str(error)) from None
        crm_ids = [record_id_of(row) for row in result.rows]
        with marketing_db.engine().begin() as conn:
            write_report(conn, report_name, result.report_id, result.rows, crm_ids, total_rows=result.total_rows,
                         truncated=result.truncated, pulled_at=datetime.now(UTC))
        if result.truncated:
            context.log.warning(
                "report %r is truncated: Salesforce returned %s of %s rows (the synchronous Reports API stops at "
                "2,000). Narrow the report's filters, or split it, so every row arrives.", report_name,
                len(result.rows), result.total_rows)
        return dg.MaterializeResult(metadata={
            "table": "report_rows", "report": report_name, "rows": len(result.rows),
            "total_rows": result.total_rows, "truncated": result.truncated,
            "rows_with_lead_or_contact": sum(1 for i in crm_ids if i),
            "preview": dg.MetadataValue.md(_preview(result.columns, result.rows[:5])),
        })

    return report


def _preview(columns: list[str], rows: list[dict[str, object]]) -> str:
    shown = columns[:6]
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    lines += ["| " + " | ".join("" if row.get(c) is None else str(row.get(c)) for c in shown) + " |" for row in rows]
    return "\n".join(lines)
