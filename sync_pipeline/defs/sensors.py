"""Sensors: start ingestion and re-scoring when new engagement event files arrive."""

import hashlib

import dagster as dg

from sync_pipeline.defs.resources import MarketingDatabase
from sync_pipeline.defs.scoring import events_folder
from sync_pipeline.store.engagement import pending_files

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
