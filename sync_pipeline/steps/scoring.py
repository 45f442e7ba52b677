"""The scoring steps: engagement events from the drop folder (:func:`ingest_events`), and the maintenance step that
scores every person and sets the lead score (:func:`maintain_scores`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.rules.events import read_event_lines
from sync_pipeline.rules.scoring import behavioral_scores, maintenance
from sync_pipeline.settings import SyncSettings
from sync_pipeline.steps.changes import StepInputs, Unchanged, step_inputs
from sync_pipeline.store.audience import changed_people, people_with_emails
from sync_pipeline.store.engagement import (
    changed_event_emails,
    pending_files,
    read_events,
    read_scores,
    remember_file,
    store_events,
    write_scores,
)
from sync_pipeline.store.quarantine import record_quarantine
from sync_pipeline.store.versions import ALL_CONTACTS, ENGAGEMENT_EVENTS

MAINTENANCE_STEP = "lead_score_maintenance"
PREVIEW_EVENTS = 5
EVENT_PREVIEW_COLUMNS = ["event_id", "event_type", "email", "occurred_at"]


@dataclass
class EventsResult:
    folder: Path
    files_read: int = 0
    new_events: int = 0
    quarantined: int = 0
    duplicates: int = 0
    first_events: list[pd.DataFrame] = field(default_factory=list)  # for the preview

    @property
    def preview(self) -> pd.DataFrame:
        if not self.first_events:
            return pd.DataFrame(columns=EVENT_PREVIEW_COLUMNS)
        return pd.concat(self.first_events, ignore_index=True).head(PREVIEW_EVENTS)

    def as_metadata(self) -> dict[str, Any]:
        return {"table": "engagement_events", "folder": str(self.folder), "files_read": self.files_read,
                "new_events": self.new_events, "rows_written": self.new_events,
                "records_quarantined": self.quarantined, "malformed_events_quarantined": self.quarantined,
                "duplicates_in_files": self.duplicates}


def ingest_events(engine: Engine, folder: Path, run_id: str) -> EventsResult:
    """Every new or changed ``*.jsonl`` file of ``folder``, each in its own transaction."""
    result = EventsResult(folder)
    with engine.connect() as conn:
        pending = pending_files(conn, folder)
    for file in pending:
        with file.path.open("rb") as handle:  # bytes: each line is decoded on its own, so one bad byte costs a line
            batch = read_event_lines(handle, file.path.name)
        with engine.begin() as conn:
            result.new_events += store_events(conn, batch.events)
            # The file's quarantine becomes this read's: a line completed since the last read leaves no row behind.
            record_quarantine(conn, run_id, "engagement_event", batch.rejections, source=file.path.name)
            remember_file(conn, file, events=len(batch.events), rejected=len(batch.rejections))
        result.quarantined += len(batch.rejections)
        result.duplicates += batch.duplicates
        result.files_read += 1
        if sum(len(f) for f in result.first_events) < PREVIEW_EVENTS:
            result.first_events.append(batch.events.head(PREVIEW_EVENTS))
    return result


@dataclass(frozen=True)
class MaintenanceResult:
    maintained: pd.DataFrame  # contact_key, email, behavioral_score, lead_score, lead_score_changed
    rows_written: int
    events_scored: int
    everyone: bool = True  # every person scored (else the people changed or with new events since the last run)

    @property
    def top(self) -> pd.DataFrame:
        return self.maintained.sort_values(["behavioral_score", "contact_key"], ascending=[False, True])

    def as_metadata(self) -> dict[str, Any]:
        scores = self.maintained["behavioral_score"]
        return {"table": "all_contacts", "scored": "everyone" if self.everyone else "people changed or with new events",
                "keys_examined": len(self.maintained), "people_with_score": int((scores > 0).sum()),
                "lead_scores_changed": int(self.maintained["lead_score_changed"].sum()),
                "rows_written": self.rows_written, "events_scored": self.events_scored,
                "top_score": float(scores.max() or 0)}


def scoring_day(now: datetime) -> datetime:
    """Scores decay by the day: they are computed as of the start of the current UTC day, so every run of one day
    gives the same scores (a run with nothing new changes none) and a new day decays them once."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def maintain_scores(engine: Engine, settings: SyncSettings, run_id: str) -> MaintenanceResult | Unchanged:
    """Each person's behavioral score, and the maintenance step: the lead score follows it. Nothing to do while no
    event or person changed on the same day."""
    day = scoring_day(datetime.now(UTC))
    inputs, unchanged = step_inputs(engine, MAINTENANCE_STEP, [ENGAGEMENT_EVENTS, ALL_CONTACTS], settings,
                                    day=day.date())
    if unchanged:
        return unchanged
    with engine.connect() as conn:
        keys = people_to_score(conn, inputs)
        people = read_scores(conn, keys)
        events = read_events(conn, None if keys is None else [str(e) for e in people["email"].dropna()])
    rules = {str(kind): points for kind, points in settings.scoring.rules.items()}
    scores = behavioral_scores(events, people[["contact_key", "email"]], rules, settings.scoring.half_life_days, day)
    maintained = maintenance(people, scores)
    with engine.begin() as conn:
        written = write_scores(conn, maintained.merge(scores[["contact_key", "last_activity_at"]], on="contact_key",
                                                      how="left"))
        inputs.own_write(conn, ALL_CONTACTS)  # the scores it wrote are not news to it
        inputs.done(conn, run_id)
    return MaintenanceResult(maintained, written, len(events), keys is None)


def people_to_score(conn: sa.Connection, inputs: StepInputs) -> list[str] | None:
    """The people whose score may differ since the last complete run of the same day: their row changed (a rebuilt
    row carries Salesforce's lead score again) or they have new events. None: a new day (every score decays), or
    the step never ran with these settings."""
    events_since, people_since = inputs.since(ENGAGEMENT_EVENTS), inputs.since(ALL_CONTACTS)
    if events_since is None or people_since is None or (inputs.previous or {}).get("day") != inputs.values["day"]:
        return None
    emails = changed_event_emails(conn, events_since)
    return sorted(changed_people(conn, people_since) | people_with_emails(conn, sorted(emails)))
