"""Scoring assets: engagement events from the drop folder, and the maintenance step that sets the lead score."""

import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from sync_pipeline.defs.metadata import PREVIEW_ROWS, markdown_preview
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.store.engagement import pending_files, read_events, remember_file, store_events, write_scores
from sync_pipeline.store.quarantine import record_quarantine
from sync_pipeline.store.tables import all_contacts as all_contacts_table
from sync_pipeline.rules.events import read_event_lines
from sync_pipeline.rules.scoring import behavioral_scores, maintenance

SCORING_GROUP = "scoring"
DEFAULT_EVENTS_FOLDER = "data/events"


def events_folder() -> Path:
    """The drop folder of engagement event files (ENGAGEMENT_EVENTS_DIR, default data/events)."""
    return Path(os.environ.get("ENGAGEMENT_EVENTS_DIR", DEFAULT_EVENTS_FOLDER))


@dg.asset(
    group_name=SCORING_GROUP,
    kinds={"sql"},
    description=("Engagement events (email send, open, click, form submit, page visit, unsubscribe, hard bounce) "
                 "read from the drop folder's *.jsonl files, once each: a file read twice or an event seen twice "
                 "counts once. Malformed lines (not UTF-8, not JSON, bad values) go to the quarantine table with the "
                 "reason and the rest of the file goes on; a file read again replaces its quarantine rows."),
)
def engagement_events(context: dg.AssetExecutionContext, marketing_db: MarketingDatabase) -> dg.MaterializeResult:
    """Grain: one row per event (event_id); source: ENGAGEMENT_EVENTS_DIR (default data/events)."""
    engine = marketing_db.engine()
    folder = events_folder()
    new = rejected = duplicates = 0
    files = 0
    first_rows: list[pd.DataFrame] = []  # the first events read, for the preview
    with engine.connect() as conn:
        pending = pending_files(conn, folder)
    for file in pending:
        with file.path.open("rb") as handle:  # bytes: each line is decoded on its own, so one bad byte costs a line
            batch = read_event_lines(handle, file.path.name)
        with engine.begin() as conn:
            new += store_events(conn, batch.events)
            # The file's quarantine becomes this read's: a line completed since the last read leaves no row behind.
            record_quarantine(conn, context.run.run_id, "engagement_event", batch.rejections, source=file.path.name)
            remember_file(conn, file, events=len(batch.events), rejected=len(batch.rejections))
        rejected += len(batch.rejections)
        duplicates += batch.duplicates
        files += 1
        if sum(len(f) for f in first_rows) < PREVIEW_ROWS:
            first_rows.append(batch.events.head(PREVIEW_ROWS))
    shown = (pd.concat(first_rows, ignore_index=True) if first_rows else pd.DataFrame(
        columns=["event_id", "event_type", "email", "occurred_at"]))
    return dg.MaterializeResult(metadata={
        "table": "engagement_events", "folder": str(folder), "files_read": files, "new_events": new,
        "rows_written": new, "records_quarantined": rejected, "malformed_events_quarantined": rejected,
        "duplicates_in_files": duplicates, "preview": dg.MetadataValue.md(markdown_preview(shown)),
    })


@dg.asset(
    group_name=SCORING_GROUP,
    kinds={"sql"},
    deps=["engagement_events", "all_contacts"],
    description=("The maintenance step: each person's behavioral score from the scoring rules (points per event "
                 "type, halving every half_life_days), copied into the synced lead-score field of All Contacts. "
                 "It runs before every push and every list: the push assets depend on it, so a failed maintenance "
                 "stops the push, and each list copies the maintained score into its own score column."),
)
def lead_score_maintenance(marketing_db: MarketingDatabase, sync_settings: SyncSettingsResource
                           ) -> dg.MaterializeResult:
    """Grain: one row per person (all_contacts.behavioral_score, lead_score, last_activity_at)."""
    settings = sync_settings.load()
    engine = marketing_db.engine()
    with engine.connect() as conn:
        events = read_events(conn)
        people = pd.read_sql(sa.select(all_contacts_table.c.contact_key, all_contacts_table.c.email,
                                       all_contacts_table.c.behavioral_score, all_contacts_table.c.lead_score),
                             conn)
    scores = behavioral_scores(events, people[["contact_key", "email"]], dict(settings.scoring.rules),
                               settings.scoring.half_life_days, datetime.now(UTC))
    maintained = maintenance(people, scores)
    with engine.begin() as conn:
        written = write_scores(conn, maintained.merge(scores[["contact_key", "last_activity_at"]], on="contact_key",
                                                      how="left"))
    scored = maintained[maintained["behavioral_score"] > 0]
    top = maintained.sort_values(["behavioral_score", "contact_key"], ascending=[False, True])
    return dg.MaterializeResult(metadata={
        "table": "all_contacts", "people": len(maintained), "people_with_score": len(scored),
        "lead_scores_changed": int(maintained["lead_score_changed"].sum()), "rows_written": written,
        "events_scored": len(events), "top_score": float(maintained["behavioral_score"].max() or 0),
        "preview": dg.MetadataValue.md(markdown_preview(top[["contact_key", "email", "behavioral_score",
                                                             "lead_score", "lead_score_changed"]].round(
                                                                 {"behavioral_score": 2}))),
    })
