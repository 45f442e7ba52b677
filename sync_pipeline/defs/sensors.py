"""Sensors: re-score when new engagement event files arrive; push marketing-side changes soon after they happen."""

import hashlib

import dagster as dg

from sync_pipeline.defs.resources import MarketingDatabase
from sync_pipeline.defs.schedules import SALESFORCE_RUN_TAG, SCORE_AND_PUSH
from sync_pipeline.defs.scoring import events_folder
from sync_pipeline.store.engagement import latest_ingested_at, pending_files
from sync_pipeline.store.push_state import latest_pending_edit_id
from sync_pipeline.store.types import as_utc

scoring_job = dg.define_asset_job(
    "scoring",
    selection=dg.AssetSelection.assets("engagement_events", "lead_score_maintenance"),
    description="Read new engagement event files and recompute every person's behavioral and lead score.",
)


@dg.sensor(
    job=scoring_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Starts the scoring job when new or grown *.jsonl files appear in the engagement events folder.",
)
def new_engagement_events_sensor(context: dg.SensorEvaluationContext,
                                 marketing_db: MarketingDatabase) -> dg.SensorResult | dg.SkipReason:
    with marketing_db.engine().connect() as conn:
        pending = pending_files(conn, events_folder())
    if not pending:
        return dg.SkipReason(f"no new event files in {events_folder()}")
    fingerprint = "|".join(f"{f.path}:{f.size}:{f.modified_at}" for f in pending)
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=hashlib.sha256(fingerprint.encode()).hexdigest())])


push_job = dg.define_asset_job(
    "push_changes",
    selection=dg.AssetSelection.assets(*SCORE_AND_PUSH),
    tags=SALESFORCE_RUN_TAG,
    description="Read new engagement events, recompute the scores (maintenance), and push what changed to "
                "Salesforce: scores, opt-outs, bounces, allowed field edits, activity Tasks and the new Leads "
                "lists ask for.",
)

# Events that change what Salesforce must hold right away, rather than at the next list sync.
URGENT_EVENTS = ("unsubscribe", "hard_bounce", "form_submit")


@dg.sensor(
    job=push_job,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Pushes marketing-side changes soon after they happen: when new unsubscribe, hard-bounce or "
                "form-submit events have been ingested, or field edits recorded, since the last push it started.",
)
def marketing_changes_sensor(context: dg.SensorEvaluationContext,
                             marketing_db: MarketingDatabase) -> dg.SensorResult | dg.SkipReason:
    # The cursor is "<latest urgent event's ingestion time>|<highest edit id>": both are set by this database, so
    # an edit dated in the past (an import keeping its original time) or a skewed clock cannot hide a change.
    with marketing_db.engine().connect() as conn:
        latest_event = latest_ingested_at(conn, URGENT_EVENTS)
        latest_edit = latest_pending_edit_id(conn)
    if latest_event is None and latest_edit is None:
        return dg.SkipReason("no unsubscribe, bounce or form events ingested and no field edits recorded yet")
    seen_event, _, seen_edit = (context.cursor or "|").partition("|")
    event_stamp = as_utc(latest_event).isoformat() if latest_event is not None else seen_event
    edit_id = max(int(seen_edit or 0), latest_edit or 0)
    new_events = latest_event is not None and event_stamp > seen_event
    new_edits = latest_edit is not None and latest_edit > int(seen_edit or 0)
    if not (new_events or new_edits):
        return dg.SkipReason("no new marketing-side changes since the last push")
    cursor = f"{event_stamp}|{edit_id}"
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"changes-{cursor}")], cursor=cursor)
