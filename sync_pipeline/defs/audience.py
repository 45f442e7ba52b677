"""Audience assets: All Contacts, the marketing lists and the sales users."""

import re
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from sync_pipeline.defs.metadata import markdown_preview, records_preview
from sync_pipeline.defs.reports import report_asset_name
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.salesforce.connect import SalesforceResource
from sync_pipeline.settings import SyncSettings
from sync_pipeline.settings.model import ListSettings
from sync_pipeline.store.audience import (
    read_links,
    read_list,
    read_mirror,
    read_report_rows,
    write_all_contacts,
    write_list,
)
from sync_pipeline.store.quarantine import add_to_quarantine
from sync_pipeline.store.tables import sales_users as sales_users_table
from sync_pipeline.store.upsert import bulk_upsert
from sync_pipeline.sync.contacts import STANDARD_COLUMNS, build_all_contacts, column_sources
from sync_pipeline.sync.lists import ListSourceError, plan_list_sync, row_columns, source_members

__all__ = ["all_contacts", "list_asset", "list_asset_name", "list_assets", "markdown_preview", "sales_users"]

AUDIENCE_GROUP = "audience"
QUARANTINE_WARN_SHARE = 0.05  # the check warns when more than this share of records is quarantined
DESCRIBED_OBJECTS = ("Lead", "Contact", "Account")
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
    settings = sync_settings.load()
    engine = marketing_db.engine()
    with engine.connect() as conn:
        leads, contacts = read_mirror(conn, "Lead"), read_mirror(conn, "Contact")
        known = read_links(conn)
    # Field lengths, restricted picklists and required fields come from the org's own metadata (3 API calls).
    connection = salesforce.connect()
    calls_before = connection.usage.calls
    describes = {name: connection.client.restful(f"sobjects/{name}/describe") for name in DESCRIBED_OBJECTS}
    api_calls = connection.usage.calls - calls_before
    build = build_all_contacts(leads, contacts, settings, known, describes)
    custom = {s.column: s.marketing_type for s in column_sources(settings) if s.column not in STANDARD_COLUMNS}
    with engine.begin() as conn:
        written = write_all_contacts(conn, build.all_contacts, build.links, custom)
        for object_name, rejections in build.rejections_by_object.items():
            add_to_quarantine(conn, context.run.run_id, object_name, rejections)
    records = build.counts["leads"] + build.counts["contacts"]
    share = build.counts["quarantined_records"] / records if records else 0.0
    return dg.MaterializeResult(
        metadata={"table": "all_contacts", "rows_written": written, **build.counts,
                  "records_quarantined": int(build.counts["quarantined_records"]),
                  "quarantined_values": len(build.rejections), "quarantined_share": round(share, 4),
                  "api_calls": api_calls, "preview": dg.MetadataValue.md(markdown_preview(build.all_contacts))},
        check_results=[dg.AssetCheckResult(
            check_name="quarantine_share",
            passed=share <= QUARANTINE_WARN_SHARE,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"quarantined_records": build.counts["quarantined_records"], "records": records,
                      "share": round(share, 4), "threshold": QUARANTINE_WARN_SHARE},
            description="warns when more than 5% of the pulled Leads and Contacts are quarantined",
        )],
    )


@dg.asset(
    group_name=AUDIENCE_GROUP,
    kinds={"sql"},
    deps=["sf_user"],
    description="Sales users: the org's Users (active and inactive), for owner mapping; refreshed every sync.",
)
def sales_users(marketing_db: MarketingDatabase) -> dg.MaterializeResult:
    """Grain: one row per Salesforce User; source: the sf_user mirror."""
    engine = marketing_db.engine()
    with engine.connect() as conn:
        users = read_mirror(conn, "User")
    rows = [
        {"user_id": row.id, "name": row.name, "email": row.email, "username": row.username, "title": row.title,
         "department": row.department, "is_active": row.isactive == "true" and not row.is_deleted,
         "updated_at": datetime.now(UTC)}
        for row in users.itertuples()
    ]
    with engine.begin() as conn:
        written = bulk_upsert(conn, sales_users_table, rows, ["user_id"])
    return dg.MaterializeResult(metadata={"table": "sales_users", "rows": written,
                                          "active": sum(1 for r in rows if r["is_active"]),
                                          "preview": dg.MetadataValue.md(records_preview(rows, SALES_USER_PREVIEW))})


def list_asset_name(list_name: str) -> str:
    return "list_" + re.sub(r"[^a-z0-9]+", "_", list_name.lower()).strip("_")


def list_asset(list_settings: ListSettings) -> dg.AssetsDefinition:
    source = list_settings.source
    deps = ["all_contacts", "sf_lead", "sf_contact"]
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
        current_settings = settings.list_named(list_settings.name) or list_settings
        engine = marketing_db.engine()
        with engine.begin() as conn:  # begin: reading the list adds its new columns to list_members
            frames = {name: read_mirror(conn, name) for name in ("Lead", "Contact", "Campaign", "CampaignMember")}
            report_rows = (read_report_rows(conn, current_settings.source.report) if current_settings.source.report
                           else pd.DataFrame({"crm_id": []}))
            links = read_links(conn)
            keys = dict(zip(links["crm_id"], links["contact_key"], strict=True))
            current = read_list(conn, current_settings.name, row_columns(current_settings))
        try:
            members = source_members(current_settings, leads=frames["Lead"], contacts=frames["Contact"],
                                     campaign_members=frames["CampaignMember"], campaigns=frames["Campaign"],
                                     report_rows=report_rows)
        except ListSourceError as error:
            raise dg.Failure(description=str(error)) from None
        plan = plan_list_sync(current_settings, current, members, keys, datetime.now(UTC))
        with engine.begin() as conn:
            written = write_list(conn, plan.upserts)
        return dg.MaterializeResult(metadata={
            "table": "list_members", "list": current_settings.name, "members_in_source": len(members),
            "rows_written": written, "added": plan.added, "updated": plan.updated, "removed": plan.removed,
            "unchanged": plan.unchanged, "skipped_new": plan.skipped_new, "missing_key": plan.missing_key,
            "preview": dg.MetadataValue.md(markdown_preview(plan.upserts.drop(columns=["list_name"],
                                                                               errors="ignore"))),
        })

    return marketing_list


def list_assets(settings: SyncSettings | None) -> list[dg.AssetsDefinition]:
    return [list_asset(item) for item in (settings.lists if settings else ())]
