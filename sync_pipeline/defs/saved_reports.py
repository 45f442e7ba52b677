"""Saved-report assets: the detail rows of each Salesforce report the settings name."""

import dagster as dg

from sync_pipeline.defs.metadata import (
    REPORT_COMPLETE,
    REPORT_COMPLETE_DESCRIPTION,
    records_preview,
    report_complete_check,
)
from sync_pipeline.defs.names import report_asset_name
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.salesforce.connect import SalesforceResource
from sync_pipeline.steps.saved_reports import ReportNotFound, pull_report

REPORT_GROUP = "salesforce"  # pulled from Salesforce, like the connection and the mirrors


def report_asset(report_name: str) -> dg.AssetsDefinition:
    name = report_asset_name(report_name)

    @dg.asset(
        name=name,
        group_name=REPORT_GROUP,
        kinds={"salesforce", "sql"},
        deps=["salesforce_connection"],
        check_specs=[dg.AssetCheckSpec(REPORT_COMPLETE, asset=name, description=REPORT_COMPLETE_DESCRIPTION)],
        description=(f"The detail rows of the saved report \"{report_name}\" (table report_rows), through the "
                     "Reports API. Salesforce returns at most 2,000 rows per run: a truncated run is flagged in "
                     "metadata, in the run log and by the report_complete check, never silently."),
    )
    def report(context: dg.AssetExecutionContext, salesforce: SalesforceResource,
               marketing_db: MarketingDatabase, sync_settings: SyncSettingsResource) -> dg.MaterializeResult:
        """Grain: one row per report detail row; source: analytics/reports/{id}?includeDetails=true."""
        try:
            pulled = pull_report(marketing_db.engine(),
                                 salesforce.connect(sync_settings.load().salesforce.api_version), report_name)
        except ReportNotFound as error:
            raise dg.Failure(description=str(error)) from None
        result = pulled.report
        if result.truncated:
            context.log.warning(
                "report %r is truncated: Salesforce returned %s of %s rows (the synchronous Reports API stops at "
                "2,000). Narrow the report's filters, or split it, so every row arrives.", report_name,
                len(result.rows), result.total_rows)
        return dg.MaterializeResult(
            metadata={**pulled.as_metadata(),
                      "preview": dg.MetadataValue.md(records_preview(result.rows, result.columns))},
            check_results=[report_complete_check(name, report_name, rows=len(result.rows),
                                                 total_rows=result.total_rows, truncated=result.truncated)],
        )

    return report
