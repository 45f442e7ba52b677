"""Salesforce-side assets: the connection state of the org."""

import dagster as dg

from sync_pipeline.defs.metadata import (
    API_BUDGET,
    API_BUDGET_CONNECTION_DESCRIPTION,
    LIST_SOURCES,
    LIST_SOURCES_DESCRIPTION,
    api_budget_check,
    list_sources_check,
    table_preview,
)
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.rules.org_binding import OrgSwitchError
from sync_pipeline.salesforce.connect import SalesforceResource
from sync_pipeline.salesforce.errors import SalesforceDisconnected
from sync_pipeline.settings import SettingsError
from sync_pipeline.settings.login import AuthMode, password_login_warning
from sync_pipeline.steps.connect import bind_org, check_org

ORG_STATE_COLUMNS = ("org_id", "org_name", "is_sandbox", "instance_host", "first_connected_at", "last_connected_at")


@dg.asset(
    group_name="salesforce",
    kinds={"salesforce"},
    check_specs=[dg.AssetCheckSpec(API_BUDGET, asset="salesforce_connection",
                                   description=API_BUDGET_CONNECTION_DESCRIPTION),
                 dg.AssetCheckSpec(LIST_SOURCES, asset="salesforce_connection", description=LIST_SOURCES_DESCRIPTION)],
    description=(
        "Logs in to the Salesforce org, checks it is the org this marketing database belongs to (table org_state), "
        "and checks the sync settings against the org's fields. Shows connected or disconnected with the reason, "
        "the org id, the API calls used and how much of the org's daily API allocation is gone."
    ),
)
def salesforce_connection(
    context: dg.AssetExecutionContext,
    salesforce: SalesforceResource,
    marketing_db: MarketingDatabase,
    sync_settings: SyncSettingsResource,
) -> dg.MaterializeResult:
    """One row of state per run: grain = the org; source = login + Organization + describe of Lead/Contact/Account."""
    try:
        settings = sync_settings.load()
        connection = salesforce.connect(settings.salesforce.api_version)
        bind_org(marketing_db.engine(), connection)
    except (SalesforceDisconnected, OrgSwitchError, SettingsError) as exc:
        raise dg.Failure(description=str(exc), metadata={"connected": False, "reason": str(exc)}) from None
    checked = check_org(connection, settings)
    if checked.problems:
        message = "the sync settings do not match the org's fields:\n- " + "\n- ".join(checked.problems)
        raise dg.Failure(description=message, metadata={"connected": True, "settings_problems": len(checked.problems)})
    for line in checked.missing_sources:  # only these lists fail, later: a warning now
        context.log.warning(line)
    if connection.auth_mode is AuthMode.PASSWORD:
        context.log.warning(password_login_warning())
    context.log.info("connected to org %s (%s) by the %s login at API %s", connection.org_id, connection.org_name,
                     connection.auth_mode.value, connection.api_version)
    preview = table_preview(marketing_db.engine(), "org_state", ORG_STATE_COLUMNS, order_by="id")
    return dg.MaterializeResult(
        metadata={
            "table": "org_state",
            "rows": 1,
            "connected": True,
            "org_id": connection.org_id,
            "org_name": connection.org_name,
            "sandbox": connection.is_sandbox,
            "instance": connection.instance_host,
            "login": connection.auth_mode.value,
            "api_version": connection.api_version,
            **connection.usage.as_metadata(),
            "preview": preview,
        },
        check_results=[api_budget_check("salesforce_connection", connection.usage, api_calls=connection.usage.calls,
                                        max_share_per_run=settings.salesforce.max_api_share_per_run),
                       list_sources_check("salesforce_connection", checked.missing_sources)],
    )
