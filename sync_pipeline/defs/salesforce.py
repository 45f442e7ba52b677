"""Salesforce-side assets: the connection state of the org."""

import dagster as dg

from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.org_binding import bind_org
from sync_pipeline.salesforce.connect import SalesforceResource
from sync_pipeline.salesforce.errors import SalesforceDisconnected
from sync_pipeline.settings import SettingsError, check_against_describe
from sync_pipeline.sync.org_binding import OrgSwitchError

# Objects whose describe the settings are checked against when the run connects.
CHECKED_OBJECTS = ("Lead", "Contact", "Account")


@dg.asset(
    group_name="salesforce",
    kinds={"salesforce"},
    description=(
        "Logs in to the Salesforce org, checks it is the org this marketing database belongs to, and checks the "
        "sync settings against the org's fields. Shows connected or disconnected with the reason, the org id and "
        "the API calls used."
    ),
)
def salesforce_connection(
    context: dg.AssetExecutionContext,
    salesforce: SalesforceResource,
    marketing_db: MarketingDatabase,
    sync_settings: SyncSettingsResource,
) -> dg.MaterializeResult:
    """One row of state per run: grain = the org; source = SOAP login + Organization + describe of Lead/Contact/Account."""
    try:
        settings = sync_settings.load()
        connection = salesforce.connect()
        bind_org(marketing_db.engine(), connection)
    except (SalesforceDisconnected, OrgSwitchError, SettingsError) as exc:
        raise dg.Failure(description=str(exc), metadata={"connected": False, "reason": str(exc)}) from None
    describes = {name: connection.client.restful(f"sobjects/{name}/describe") for name in CHECKED_OBJECTS}
    problems = check_against_describe(settings, describes)
    if problems:
        message = "the sync settings do not match the org's fields:\n- " + "\n- ".join(problems)
        raise dg.Failure(description=message, metadata={"connected": True, "settings_problems": len(problems)})
    context.log.info("connected to org %s (%s)", connection.org_id, connection.org_name)
    return dg.MaterializeResult(
        metadata={
            "connected": True,
            "org_id": connection.org_id,
            "org_name": connection.org_name,
            "sandbox": connection.is_sandbox,
            "instance": connection.instance_host,
            **connection.usage.as_metadata(),
        }
    )
