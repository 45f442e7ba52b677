"""Audience assets: All Contacts, the marketing lists and the sales users (the work is in ``steps.audience``)."""

import dagster as dg

from sync_pipeline.defs.metadata import checks_report, markdown_preview, records_preview, replayed_checks
from sync_pipeline.defs.names import list_asset_name, report_asset_name
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.salesforce.connect import SalesforceResource
from sync_pipeline.settings import SyncSettings
from sync_pipeline.settings.model import ListSettings
from sync_pipeline.steps.audience import (
    AUDIENCE_STEP,
    QUARANTINE_WARN_SHARE,
    Unchanged,
    build_audience,
    sync_sales_users,
)
from sync_pipeline.steps.changes import report_checks
from sync_pipeline.steps.lists import ListSourceError, sync_list

__all__ = ["all_contacts", "list_asset", "list_asset_name", "list_assets", "sales_users"]

AUDIENCE_GROUP = "audience"
SALES_USER_PREVIEW = ("user_id", "name", "email", "username", "title", "department", "is_active")


@dg.asset(
    group_name=AUDIENCE_GROUP,
    kinds={"sql"},
    deps=["sf_lead", "sf_contact"],
    check_specs=[dg.AssetCheckSpec(
        "quarantine_share", asset="all_contacts",
        description="The share of pulled Leads and Contacts with a value quarantined stays under 5%; above it, look "
                    "at the quarantine table: a field's values may no longer fit the marketing database.")],
    description=(
        "All Contacts: one row per person (contact_key), merged from Salesforce Leads and Contacts by the documented "
        "rules (stable keys, conversion keeps the person, duplicates by email merged under a stable primary record, "
        "inactive when no live record Salesforce lets us write is left). Values that fail validation go to the "
        "quarantine table with the reason; the rest continue."
    ),
)
def all_contacts(context: dg.AssetExecutionContext, salesforce: SalesforceResource, marketing_db: MarketingDatabase,
                 sync_settings: SyncSettingsResource) -> dg.MaterializeResult:
    """Grain: one row per person; source: the sf_lead and sf_contact mirrors and the stored contact links."""
    engine = marketing_db.engine()
    settings = sync_settings.load()
    result = build_audience(engine, salesforce.connect(settings.salesforce.api_version), settings, context.run.run_id)
    if isinstance(result, Unchanged):
        return dg.MaterializeResult(metadata=result.as_metadata(),
                                    check_results=replayed_checks("all_contacts", result, ["quarantine_share"]))
    share = result.quarantined_share
    check = dg.AssetCheckResult(
        check_name="quarantine_share",
        passed=share <= QUARANTINE_WARN_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"records_quarantined": result.counts["quarantined_records"], "records": result.records,
                  "share": round(share, 4), "threshold": QUARANTINE_WARN_SHARE},
        description=f"{share:.1%} of the pulled Leads and Contacts have a value quarantined (warns above 5%)",
    )
    report_checks(engine, AUDIENCE_STEP, checks_report([check]))
    return dg.MaterializeResult(
        metadata={**result.as_metadata(), "preview": dg.MetadataValue.md(markdown_preview(result.people))},
        check_results=[check])


@dg.asset(
    group_name=AUDIENCE_GROUP,
    kinds={"sql"},
    deps=["sf_user"],
    description="Sales users: the org's Users (active and inactive), for owner mapping; refreshed every sync.",
)
def sales_users(context: dg.AssetExecutionContext, marketing_db: MarketingDatabase,
                sync_settings: SyncSettingsResource) -> dg.MaterializeResult:
    """Grain: one row per Salesforce User; source: the sf_user mirror."""
    result = sync_sales_users(marketing_db.engine(), sync_settings.load(), context.run.run_id)
    if isinstance(result, Unchanged):
        return dg.MaterializeResult(metadata=result.as_metadata())
    return dg.MaterializeResult(metadata={**result.as_metadata(),
                                          "preview": dg.MetadataValue.md(records_preview(result.rows,
                                                                                         SALES_USER_PREVIEW))})


def list_asset(list_settings: ListSettings) -> dg.AssetsDefinition:
    source = list_settings.source
    # After the maintenance step: the list copies the maintained lead score into its score columns.
    deps = ["all_contacts", "lead_score_maintenance", "sf_lead", "sf_contact"]
    if source.campaign:
        deps += ["sf_campaign", "sf_campaign_member"]
    if source.report:
        deps.append(report_asset_name(source.report))

    @dg.asset(
        name=list_asset_name(list_settings.name),
        group_name=AUDIENCE_GROUP,
        kinds={"sql"},
        deps=deps,
        description=(f"Marketing list \"{list_settings.name}\" (table list_members) from {source.kind} "
                     f"{source.name!r}: pull options add_new={list_settings.pull.add_new}, "
                     f"update_fields={list(list_settings.pull.update_fields)}, "
                     f"remove_missing={list_settings.pull.remove_missing}."),
    )
    def marketing_list(context: dg.AssetExecutionContext, marketing_db: MarketingDatabase,
                       sync_settings: SyncSettingsResource) -> dg.MaterializeResult:
        """Grain: one row per list member (list_name, crm_id); source: mirrors, campaign members or report rows."""
        settings = sync_settings.load()
        current = settings.list_named(list_settings.name) or list_settings
        try:
            result = sync_list(marketing_db.engine(), settings, current, context.run.run_id)
        except ListSourceError as error:
            raise dg.Failure(description=str(error)) from None
        if isinstance(result, Unchanged):
            return dg.MaterializeResult(metadata={"list": current.name, **result.as_metadata()})
        preview = markdown_preview(result.upserts.drop(columns=["list_name"], errors="ignore"))
        return dg.MaterializeResult(metadata={**result.as_metadata(), "preview": dg.MetadataValue.md(preview)})

    return marketing_list


def list_assets(settings: SyncSettings | None) -> list[dg.AssetsDefinition]:
    return [list_asset(item) for item in (settings.lists if settings else ())]
