"""Push assets: scores, consent, bounces and allowed field changes to Salesforce; engagement activities as Tasks."""

from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

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
    records_preview,
)
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.salesforce.connect import SalesforceResource
from sync_pipeline.salesforce.push import PushOutcome, RecordOutcome, push_records, unsent_summary
from sync_pipeline.store.audience import read_people
from sync_pipeline.store.engagement import read_events
from sync_pipeline.store.push_state import (
    append_ledger,
    pushed_activity_keys,
    known_and_deleted_emails,
    lead_keys_done,
    read_push_inputs,
    record_conflicts,
    refused_keys,
    record_results,
    remember_activities,
    remember_pushed,
    remember_refusals,
    settle_edits,
)
from sync_pipeline.store.tables import all_contacts as all_contacts_table
from sync_pipeline.store.upsert import bulk_update
from sync_pipeline.rules.activities import KEY_FIELD, activity_key, plan_tasks
from sync_pipeline.rules.push_inputs import OBJECTS
from sync_pipeline.rules.new_leads import LEAD_KEY_FIELD, NEW_PERSON_EVENT, plan_new_leads
from sync_pipeline.rules.push_plan import REFUSAL_RETRY_AFTER, consent_fields, refused_values
from sync_pipeline.rules.push_round import CONSENT_COLUMNS, plan_round

PUSH_GROUP = "push"
PUSH_RESULTS = "push_results"  # one row per record sent, with Salesforce's answer


def _outcome_specs(asset: str) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(PUSH_REJECTIONS, asset=asset, description=PUSH_REJECTIONS_DESCRIPTION),
            dg.AssetCheckSpec(PUSH_DELIVERED, asset=asset, description=PUSH_DELIVERED_DESCRIPTION)]


def _held_after(outcome: PushOutcome, sent: pd.DataFrame, apart: frozenset[str] = frozenset()) -> pd.DataFrame:
    """The values to hold back after this push's refusals (``push_plan.refused_values``)."""
    return refused_values(sent, {o.key: (o.error_code or "", o.error_fields) for o in outcome.outcomes if o.refused},
                          apart)


def _delivered(asset: str, metadata: dict[str, object], pushes: Sequence[PushOutcome],
               outcomes: list[RecordOutcome], checks: list[dg.AssetCheckResult]) -> Iterator[dg.MaterializeResult]:
    """Yield the materialization with ``checks`` (what went through is kept and shown), then fail the step if
    records stayed unsent: a push that could not reach Salesforce never ends as a success. Refusals only warn."""
    causes = [cause for push in pushes for cause in unsent_summary(push.outcomes, push.object_name)]
    unsent = sum(push.count("unsent") for push in pushes)
    yield dg.MaterializeResult(metadata=metadata, check_results=[
        *checks, push_delivered_check(asset, causes, unsent)])
    if causes:
        raise dg.Failure(description=f"{asset}: {unsent:,} record(s) did not reach Salesforce: " + "; ".join(causes),
                         metadata={"records_unsent": unsent, **push_counts(outcomes)})


def _push_metadata(outcomes: list[RecordOutcome], *, rows: int, api_calls: int,
                   preview: dg.MetadataValue) -> dict[str, object]:
    """The keys every push asset carries: the table, its rows, the record counts, the API calls and a preview."""
    return {"table": PUSH_RESULTS, "rows": rows, **push_counts(outcomes), "api_calls": api_calls, "preview": preview}


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
    settings = sync_settings.load()
    engine = marketing_db.engine()
    now = datetime.now(UTC)
    with engine.connect() as conn:
        inputs = read_push_inputs(conn)
    push = plan_round(settings, inputs, now)
    plan = push.plan
    metadata: dict[str, object] = {"records_planned": len(plan.records), "fields_planned": len(plan.updates),
                                   "conflicts": len(plan.conflicts), "consent_changes": len(push.consent.ledger_entries),
                                   "marketing_edits": len(inputs.edits),
                                   "skipped_refused_before": plan.counts.get("skipped_refused", 0)}
    rows = 0
    outcomes: list[RecordOutcome] = []
    pushes: list[PushOutcome] = []
    stops: list[str | None] = []
    apart = consent_fields(settings)
    with engine.begin() as conn:  # consent and evidence first: an opt-out is kept even if the push then fails
        changed = push.people[CONSENT_COLUMNS]
        bulk_update(conn, all_contacts_table, changed.astype(object).where(changed.notna(), None).to_dict("records"),
                    ["contact_key"])
        append_ledger(conn, push.consent.ledger_entries)
        record_conflicts(conn, plan.conflicts)
    connection = salesforce.connect()
    calls_before = connection.usage.calls
    for object_name in OBJECTS:
        records = plan.records_for(object_name)
        if not records:
            continue
        outcome = push_records(connection.client, connection.usage, object_name, records, operation="update",
                               bulk_threshold=settings.salesforce.bulk_threshold,
                               max_run_share=settings.salesforce.max_api_share_per_run)
        succeeded = {o.key for o in outcome.outcomes if o.success}
        outcomes += outcome.outcomes
        pushes.append(outcome)
        stops.append(outcome.stopped_reason)
        with engine.begin() as conn:
            rows += record_results(conn, context.run.run_id, object_name, "update", outcome.outcomes, now)
            remember_pushed(conn, plan.updates, succeeded, now)
            remember_refusals(conn, plan.updates, succeeded, _held_after(outcome, plan.updates, apart), now)
        metadata[f"{object_name.lower()}_push"] = outcome.as_metadata()
        if outcome.stopped_reason:
            context.log.warning("push of %s stopped: %s", object_name, outcome.stopped_reason)
    statuses = push.settle(inputs.links, {o.key for o in outcomes if o.success},
                           {o.key for o in outcomes if o.refused})
    with engine.begin() as conn:
        settle_edits(conn, statuses, now)
    metadata["marketing_edits_settled"] = dict(sorted(Counter(status for status, _ in statuses.values()).items()))
    api_calls = connection.usage.calls - calls_before
    metadata.update(_push_metadata(outcomes, rows=rows, api_calls=api_calls, preview=dg.MetadataValue.md(
        markdown_preview(plan.updates[["crm_id", "crm_type", "field", "value"]]))))
    yield from _delivered("salesforce_push", metadata, pushes, outcomes, [
        push_rejections_check("salesforce_push", outcomes, run_id=context.run.run_id, operation="update"),
        api_budget_check("salesforce_push", connection.usage, api_calls=api_calls, stopped_reasons=stops,
                         max_share_per_run=settings.salesforce.max_api_share_per_run),
    ])


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
    settings = sync_settings.load()
    engine = marketing_db.engine()
    now = datetime.now(UTC)
    with engine.connect() as conn:
        events = read_events(conn)
        people = read_people(conn)
        done = pushed_activity_keys(conn)
        refused = refused_keys(conn, KEY_FIELD, now - REFUSAL_RETRY_AFTER)
    live = people[people["is_active"].astype(bool) & people["email"].notna()]
    links = live[["email", "crm_id", "crm_type"]]
    tasks = plan_tasks(events, links, list(settings.activities.push), done, refused)
    counts = dict(tasks.attrs.get("counts", {}))
    preview = dg.MetadataValue.md(markdown_preview(tasks))
    if tasks.empty:
        yield from _delivered("activity_tasks", {
            "tasks_planned": 0, **counts, **_push_metadata([], rows=0, api_calls=0, preview=preview)}, [], [],
            [push_rejections_check("activity_tasks", [], run_id=context.run.run_id, operation="upsert")])
        return
    connection = salesforce.connect()
    outcome = push_records(connection.client, connection.usage, "Task", tasks.to_dict("records"), operation="upsert",
                           external_id_field=KEY_FIELD, bulk_threshold=settings.salesforce.bulk_threshold,
                           max_run_share=settings.salesforce.max_api_share_per_run)
    by_key = {activity_key(event_id): event_id for event_id in events["event_id"]}
    # A refused Task is held by its WhoId: the same Task for the same record gets the same answer.
    sent = pd.DataFrame({"crm_id": tasks[KEY_FIELD], "field": KEY_FIELD, "value": tasks["WhoId"],
                         "salesforce_stamp": None})
    accepted = {o.key for o in outcome.outcomes if o.success}
    with engine.begin() as conn:
        rows = record_results(conn, context.run.run_id, "Task", "upsert", outcome.outcomes, now)
        remember_activities(conn, [{"activity_key": o.key, "event_id": by_key.get(o.key, o.key), "task_id": o.sf_id,
                                    "pushed_at": now} for o in outcome.outcomes if o.success])
        remember_refusals(conn, sent, accepted, _held_after(outcome, sent), now)
    if outcome.stopped_reason:
        context.log.warning("pushing activity Tasks stopped: %s", outcome.stopped_reason)
    yield from _delivered("activity_tasks", {
        "tasks_planned": len(tasks), **counts, **outcome.as_metadata(),
        **_push_metadata(outcome.outcomes, rows=rows, api_calls=outcome.api_calls, preview=preview)},
        [outcome], outcome.outcomes,
        [push_rejections_check("activity_tasks", outcome.outcomes, run_id=context.run.run_id, operation="upsert")])


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
    settings = sync_settings.load()
    asking = [item for item in settings.lists if item.push.add_new]

    def nothing_sent(metadata: dict[str, object]) -> Iterator[dg.MaterializeResult]:
        preview = dg.MetadataValue.md(markdown_preview(pd.DataFrame(columns=[LEAD_KEY_FIELD, "Email"])))
        yield from _delivered("new_leads", {**metadata, **_push_metadata([], rows=0, api_calls=0, preview=preview)},
                              [], [],
            [push_rejections_check("new_leads", [], run_id=context.run.run_id, operation="create")])

    if not asking:
        yield from nothing_sent({"lists_asking": 0, "leads_planned": 0})
        return
    engine = marketing_db.engine()
    now = datetime.now(UTC)
    with engine.connect() as conn:
        events = read_events(conn)
        submits = events[events["event_type"] == NEW_PERSON_EVENT]
        # The mirrors' emails are read only when someone submitted a form: nobody new otherwise.
        known, deleted = known_and_deleted_emails(conn) if len(submits) else ([], [])
        done = lead_keys_done(conn, LEAD_KEY_FIELD, now - REFUSAL_RETRY_AFTER)
    records = plan_new_leads(settings.lists, submits, known, deleted, done)
    metadata: dict[str, object] = {"lists_asking": len(asking), "leads_planned": len(records)}
    if not records:
        yield from nothing_sent(metadata)
        return
    connection = salesforce.connect()
    outcome = push_records(connection.client, connection.usage, "Lead", records, operation="upsert",
                           external_id_field=LEAD_KEY_FIELD, bulk_threshold=settings.salesforce.bulk_threshold,
                           max_run_share=settings.salesforce.max_api_share_per_run)
    succeeded = {o.key for o in outcome.outcomes if o.success}
    keys = pd.DataFrame({"crm_id": [r[LEAD_KEY_FIELD] for r in records], "crm_type": "Lead", "field": LEAD_KEY_FIELD,
                         "value": [r["Email"] for r in records], "salesforce_stamp": None})
    with engine.begin() as conn:
        rows = record_results(conn, context.run.run_id, "Lead", "create", outcome.outcomes, now)
        remember_pushed(conn, keys, succeeded, now)
        remember_refusals(conn, keys, succeeded, _held_after(outcome, keys), now)  # not sent again for a day
    if outcome.stopped_reason:
        context.log.warning("creating Leads stopped: %s", outcome.stopped_reason)
    preview = dg.MetadataValue.md(records_preview(records))
    yield from _delivered("new_leads", {
        **metadata, **outcome.as_metadata(),
        **_push_metadata(outcome.outcomes, rows=rows, api_calls=outcome.api_calls, preview=preview)},
        [outcome], outcome.outcomes,
        [push_rejections_check("new_leads", outcome.outcomes, run_id=context.run.run_id, operation="create")])
