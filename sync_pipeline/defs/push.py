"""Push assets: scores, consent, bounces and allowed field changes to Salesforce; engagement activities as Tasks;
new Leads where a list asks. The work is in ``steps.push``; these report it."""

from collections.abc import Callable, Iterator
from functools import partial

import dagster as dg

from sync_pipeline.defs.metadata import (
    API_BUDGET,
    API_BUDGET_DESCRIPTION,
    PUSH_DELIVERED,
    PUSH_DELIVERED_DESCRIPTION,
    PUSH_REJECTIONS,
    PUSH_REJECTIONS_DESCRIPTION,
    api_budget_check,
    markdown_preview,
    push_counts,
    push_delivered_check,
    push_rejections_check,
)
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.salesforce.connect import SalesforceResource
from sync_pipeline.steps.changes import Unchanged
from sync_pipeline.steps.push import PUSH_RESULTS, PushResult, create_leads, push_changes, push_tasks

PUSH_GROUP = "push"


def _outcome_specs(asset: str) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(PUSH_REJECTIONS, asset=asset, description=PUSH_REJECTIONS_DESCRIPTION),
            dg.AssetCheckSpec(PUSH_DELIVERED, asset=asset, description=PUSH_DELIVERED_DESCRIPTION)]


def _reported(asset: str, context: dg.AssetExecutionContext, result: PushResult,
              *checks: dg.AssetCheckResult) -> Iterator[dg.MaterializeResult]:
    """Yield the materialization with its checks (what went through is kept and shown), then fail the step if
    records stayed unsent: a push that could not reach Salesforce never ends as a success. Refusals only warn."""
    for reason in result.stopped_reasons:
        context.log.warning("%s stopped: %s", asset, reason)
    causes = result.unsent_causes()
    outcomes = result.outcomes
    yield dg.MaterializeResult(
        metadata={**result.as_metadata(), "preview": dg.MetadataValue.md(markdown_preview(result.preview))},
        check_results=[push_rejections_check(asset, outcomes, run_id=context.run.run_id, operation=result.operation),
                       push_delivered_check(asset, causes, result.unsent), *checks])
    if causes:
        raise dg.Failure(description=f"{asset}: {result.unsent:,} record(s) did not reach Salesforce: "
                                     + "; ".join(causes),
                         metadata={"records_unsent": result.unsent, **push_counts(outcomes)})


def _step(step: Callable[..., PushResult | Unchanged], context: dg.AssetExecutionContext,
          salesforce: SalesforceResource, marketing_db: MarketingDatabase,
          sync_settings: SyncSettingsResource) -> PushResult | Unchanged:
    settings = sync_settings.load()
    return step(marketing_db.engine(), partial(salesforce.connect, settings.salesforce.api_version), settings,
                context.run.run_id)


def _idle(asset: str, unchanged: Unchanged, *checks: dg.AssetCheckResult) -> Iterator[dg.MaterializeResult]:
    """Nothing to push: no call was made, so nothing was refused or left unsent in this run."""
    said = f"nothing to push: no input changed since run {unchanged.since_run}"
    yield dg.MaterializeResult(metadata={"table": PUSH_RESULTS, "rows": 0, "records_sent": 0, "api_calls": 0,
                                         **unchanged.as_metadata()}, check_results=[
        dg.AssetCheckResult(asset_key=asset, check_name=PUSH_REJECTIONS, passed=True, description=said,
                            severity=dg.AssetCheckSeverity.WARN),
        push_delivered_check(asset, [], 0), *checks])


@dg.asset(
    group_name=PUSH_GROUP,
    kinds={"salesforce"},
    deps=["lead_score_maintenance", "engagement_events", "sf_lead", "sf_contact"],
    check_specs=[*_outcome_specs("salesforce_push"),
                 dg.AssetCheckSpec(API_BUDGET, asset="salesforce_push", description=API_BUDGET_DESCRIPTION)],
    description=("Pushes to Salesforce what changed on the marketing side since the last successful push: lead "
                 "scores, opt-outs (never undone by a sync; every change in consent_ledger), hard bounces and the "
                 "fields the settings allow. Nothing changed means no API call. Per-record outcomes in "
                 "push_results. Runs after the maintenance step, so a stale score is never pushed."),
)
def salesforce_push(context: dg.AssetExecutionContext, salesforce: SalesforceResource,
                    marketing_db: MarketingDatabase, sync_settings: SyncSettingsResource
                    ) -> Iterator[dg.MaterializeResult]:
    """Grain: one Salesforce record per changed (record, field); source: all_contacts, events, pushed_state."""
    result = _step(push_changes, context, salesforce, marketing_db, sync_settings)
    settings = sync_settings.load()
    usage = (result.usage if isinstance(result, PushResult) else None) or salesforce.connect(
        settings.salesforce.api_version).usage
    if isinstance(result, Unchanged):
        yield from _idle("salesforce_push", result, api_budget_check(
            "salesforce_push", usage, api_calls=0, max_share_per_run=settings.salesforce.max_api_share_per_run))
        return
    budget = api_budget_check("salesforce_push", usage, api_calls=result.api_calls,
                              stopped_reasons=result.stopped_reasons,
                              max_share_per_run=settings.salesforce.max_api_share_per_run)
    yield from _reported("salesforce_push", context, result, budget)


@dg.asset(
    group_name=PUSH_GROUP,
    kinds={"salesforce"},
    deps=["engagement_events", "all_contacts", "salesforce_push"],
    check_specs=_outcome_specs("activity_tasks"),
    description=("Engagement activities written to Salesforce as completed Tasks on the Lead or Contact (the types "
                 "the settings enable; only the first click per email). Each Task carries a stable key "
                 "(Marketing_Activity_Key__c) and is upserted on it, so a retry never makes a second Task."),
)
def activity_tasks(context: dg.AssetExecutionContext, salesforce: SalesforceResource,
                   marketing_db: MarketingDatabase, sync_settings: SyncSettingsResource
                   ) -> Iterator[dg.MaterializeResult]:
    """Grain: one Task per engagement event; source: engagement_events, all_contacts."""
    result = _step(push_tasks, context, salesforce, marketing_db, sync_settings)
    yield from _idle("activity_tasks", result) if isinstance(result, Unchanged) else _reported(
        "activity_tasks", context, result)


@dg.asset(
    group_name=PUSH_GROUP,
    kinds={"salesforce"},
    deps=["engagement_events", "all_contacts", "sf_lead", "sf_contact"],
    check_specs=_outcome_specs("new_leads"),
    description=("New Leads in Salesforce for people who submitted a form and whom Salesforce does not hold, only "
                 "when a list's push options say add_new (never for someone deleted in Salesforce). Each Lead is "
                 "upserted on Marketing_Id__c, a stable key per person, so a retry never makes a second Lead; "
                 "the next pull brings it into All Contacts and the list."),
)
def new_leads(context: dg.AssetExecutionContext, salesforce: SalesforceResource, marketing_db: MarketingDatabase,
              sync_settings: SyncSettingsResource) -> Iterator[dg.MaterializeResult]:
    """Grain: one Lead per new person; source: form_submit events, all_contacts, contact_links, the mirrors."""
    result = _step(create_leads, context, salesforce, marketing_db, sync_settings)
    yield from _idle("new_leads", result) if isinstance(result, Unchanged) else _reported("new_leads", context, result)
