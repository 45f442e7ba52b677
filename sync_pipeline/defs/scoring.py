"""Scoring assets: engagement events from the drop folder, and the maintenance step that sets the lead score."""

import os
from pathlib import Path

import dagster as dg

from sync_pipeline.defs.metadata import markdown_preview
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.steps.changes import Unchanged
from sync_pipeline.steps.scoring import ingest_events, maintain_scores

SCORING_GROUP = "scoring"
DEFAULT_EVENTS_FOLDER = "data/events"


def events_folder() -> Path:
    """The drop folder of engagement event files (ENGAGEMENT_EVENTS_DIR, default data/events)."""
    return Path(os.environ.get("ENGAGEMENT_EVENTS_DIR", DEFAULT_EVENTS_FOLDER))


EVENTS_FOLDER = "events_folder"
EVENTS_FOLDER_DESCRIPTION = ("the events folder (ENGAGEMENT_EVENTS_DIR) exists and holds event files: a missing or "
                             "empty folder is not the same as a quiet day")


@dg.asset(
    group_name=SCORING_GROUP,
    kinds={"sql"},
    check_specs=[dg.AssetCheckSpec(EVENTS_FOLDER, asset="engagement_events", description=EVENTS_FOLDER_DESCRIPTION)],
    description=("Engagement events (email send, open, click, form submit, page visit, unsubscribe, hard bounce) "
                 "read from the drop folder's *.jsonl files, once each: a file read twice or an event seen twice "
                 "counts once. Malformed lines (not UTF-8, not JSON, bad values) go to the quarantine table with the "
                 "reason and the rest of the file goes on; a file read again replaces its quarantine rows."),
)
def engagement_events(context: dg.AssetExecutionContext, marketing_db: MarketingDatabase) -> dg.MaterializeResult:
    """Grain: one row per event (event_id); source: ENGAGEMENT_EVENTS_DIR (default data/events)."""
    result = ingest_events(marketing_db.engine(), events_folder(), context.run.run_id)
    problem = result.folder_problem()
    if problem:
        context.log.warning(problem)
    check = dg.AssetCheckResult(
        check_name=EVENTS_FOLDER, passed=problem is None,
        severity=dg.AssetCheckSeverity.ERROR if not result.folder_exists else dg.AssetCheckSeverity.WARN,
        description=problem or f"{result.files_in_folder} event file(s) in {result.folder}")
    return dg.MaterializeResult(metadata={**result.as_metadata(),
                                          "preview": dg.MetadataValue.md(markdown_preview(result.preview))},
                                check_results=[check])


@dg.asset(
    group_name=SCORING_GROUP,
    kinds={"sql"},
    deps=["engagement_events", "all_contacts"],
    description=("The maintenance step: each person's behavioral score from the scoring rules (points per event "
                 "type, halving every half_life_days), copied into the synced lead-score field of All Contacts. "
                 "It runs before every push and every list: the push assets depend on it, so a failed maintenance "
                 "stops the push, and each list copies the maintained score into its own score column."),
)
def lead_score_maintenance(context: dg.AssetExecutionContext, marketing_db: MarketingDatabase,
                           sync_settings: SyncSettingsResource) -> dg.MaterializeResult:
    """Grain: one row per person (all_contacts.behavioral_score, lead_score, last_activity_at)."""
    result = maintain_scores(marketing_db.engine(), sync_settings.load(), context.run.run_id)
    if isinstance(result, Unchanged):
        return dg.MaterializeResult(metadata=result.as_metadata())
    preview = markdown_preview(result.top.round({"behavioral_score": 2}))
    return dg.MaterializeResult(metadata={**result.as_metadata(), "preview": dg.MetadataValue.md(preview)})
