"""Raw mirror assets: one per pulled Salesforce object (``sf_lead``, ``sf_contact``...)."""

from datetime import UTC, datetime

import dagster as dg

from sync_pipeline.defs.metadata import table_preview
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.records.mirror import mirror_table
from sync_pipeline.salesforce.connect import SalesforceResource
from sync_pipeline.salesforce.errors import SalesforceLimitReached
from sync_pipeline.settings import PULLED_OBJECTS, pulled_fields
from sync_pipeline.steps.pull import PullOptions, pull_object, select_fields
from sync_pipeline.store.mirrors import column_for

MIRROR_GROUP = "salesforce"  # pulled from Salesforce, like the connection and the saved reports
FULL_SYNC_TAG = "sync_pipeline/full_sync"  # a run with this tag set to "true" pulls every object in full


def run_started_at(context: dg.AssetExecutionContext) -> datetime:
    """The run's start, the same for every asset of the run: every object's pull window ends there."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    started = record.start_time if record is not None else None
    return datetime.fromtimestamp(started, UTC) if started else datetime.now(UTC)


def _mirror_asset(object_name: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=mirror_table(object_name),
        group_name=MIRROR_GROUP,
        kinds={"salesforce", "sql"},
        deps=["salesforce_connection"],
        description=(
            f"Raw mirror of Salesforce {object_name} records (one row per record, deleted ones kept with "
            "is_deleted), pulled incrementally by SystemModstamp; a full pull when there is no cursor, every "
            "full_sync_every_days, and when the pulled fields change. REST below bulk_threshold changed records, "
            "Bulk API 2.0 above it."
        ),
    )
    def mirror(context: dg.AssetExecutionContext, salesforce: SalesforceResource, marketing_db: MarketingDatabase,
               sync_settings: SyncSettingsResource) -> dg.MaterializeResult:
        """Grain: one row per Salesforce record; source: queryAll / Bulk 2.0 queryAll, getDeleted."""
        settings = sync_settings.load()
        connection = salesforce.connect(settings.salesforce.api_version)
        fields = pulled_fields(settings, object_name)
        calls_before = connection.usage.calls
        try:
            result = pull_object(
                connection.client, marketing_db.engine(), object_name, fields,
                run_started_at=run_started_at(context),
                options=PullOptions(settings.salesforce.full_sync_every_days, settings.salesforce.lookback_minutes,
                                    settings.salesforce.bulk_threshold,
                                    force_full=context.run.tags.get(FULL_SYNC_TAG) == "true"))
        except SalesforceLimitReached as error:
            raise dg.Failure(description=str(error), metadata={"stopped": "REQUEST_LIMIT_EXCEEDED"}) from None
        api_calls = connection.usage.calls - calls_before
        context.log.info("%s: %s pull, %s changed records, %s written", object_name, result.plan.mode.value,
                         result.changed, result.rows_written)
        # The first rows of the mirror by Id (its key: cheap at any size), the pulled fields first.
        preview = table_preview(marketing_db.engine(), mirror_table(object_name),
                                [column_for(f) for f in select_fields(fields)], order_by="id")
        return dg.MaterializeResult(metadata={
            "table": mirror_table(object_name), **result.as_metadata(),
            "records_pulled": result.changed, "api_calls": api_calls, "preview": preview,
        })

    return mirror


MIRROR_ASSETS = [_mirror_asset(name) for name in PULLED_OBJECTS]
