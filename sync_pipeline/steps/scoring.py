"""The scoring steps: engagement events from the drop folder (:func:`ingest_events`), and the maintenance step that
scores every person and sets the lead score (:func:`maintain_scores`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.rules.events import read_event_lines
from sync_pipeline.rules.scoring import behavioral_scores, maintenance, score_writes
from sync_pipeline.settings import SyncSettings
from sync_pipeline.steps.changes import StepInputs, Unchanged, step_inputs, whole_pass_cheaper
from sync_pipeline.store.audience import changed_people, people_count, people_with_emails
from sync_pipeline.store.engagement import (
    changed_event_emails,
    decaying_people,
    drop_files,
    finish_scores,
    page_events,
    pending_files,
    read_events,
    read_scores,
    remember_file,
    score_page,
    store_events,
    write_scores,
)
from sync_pipeline.store.quarantine import record_quarantine
from sync_pipeline.store.upsert import chunks
from sync_pipeline.store.versions import ALL_CONTACTS, ENGAGEMENT_EVENTS, next_version

MAINTENANCE_STEP = "lead_score_maintenance"
PREVIEW_EVENTS = 5
PREVIEW_ROWS = 10  # the highest scores shown in the maintenance step's preview
TOP_COLUMNS = ("contact_key", "email", "behavioral_score", "lead_score", "lead_score_changed")
SCORE_CHUNK = 50_000  # people scored at a time: a run holds one chunk and its events in memory
EVENT_PREVIEW_COLUMNS = ["event_id", "event_type", "email", "occurred_at"]


@dataclass
class EventsResult:
    folder: Path
    folder_exists: bool = True
    files_in_folder: int = 0  # *.jsonl files there now, read before or not
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

    def folder_problem(self) -> str | None:
        """Why no event can arrive (a missing folder, or one without any event file), or None."""
        if not self.folder_exists:
            return (f"the events folder {self.folder} does not exist, so no engagement event can be read and every "
                    "score stays as it is — create it, or set ENGAGEMENT_EVENTS_DIR to the drop folder")
        if self.files_in_folder == 0:
            return (f"the events folder {self.folder} holds no *.jsonl event file: no engagement event has arrived "
                    "— check that the marketing side writes its event files there (ENGAGEMENT_EVENTS_DIR)")
        return None

    def as_metadata(self) -> dict[str, Any]:
        return {"table": "engagement_events", "folder": str(self.folder), "folder_exists": self.folder_exists,
                "files_in_folder": self.files_in_folder, "files_read": self.files_read,
                "new_events": self.new_events, "rows_written": self.new_events,
                "records_quarantined": self.quarantined, "malformed_events_quarantined": self.quarantined,
                "duplicates_in_files": self.duplicates}


def ingest_events(engine: Engine, folder: Path, run_id: str) -> EventsResult:
    """Every new or changed ``*.jsonl`` file of ``folder``, each in its own transaction."""
    result = EventsResult(folder, folder.is_dir(), len(drop_files(folder)))
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


@dataclass
class MaintenanceResult:
    """What one maintenance run did, chunk by chunk: the counts, and the highest scores for the preview."""

    everyone: bool = True  # every person scored (else the people changed, with new events, or decaying)
    keys_examined: int = 0
    people_with_score: int = 0
    lead_scores_changed: int = 0
    rows_written: int = 0
    people_changed: int = 0  # of the rows written, those stamped as changed people (rule 7 of the scoring rules)
    events_scored: int = 0
    chunks: int = 0
    top: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(TOP_COLUMNS)))

    def add(self, maintained: pd.DataFrame, events: int, written: int) -> None:
        self.chunks += 1
        self.keys_examined += len(maintained)
        self.people_with_score += int((maintained["behavioral_score"] > 0).sum())
        self.lead_scores_changed += int(maintained["lead_score_changed"].sum())
        self.rows_written += written
        self.events_scored += events
        shown = maintained[list(TOP_COLUMNS)]
        self.top = pd.concat([frame for frame in (self.top, shown) if not frame.empty] or [shown]).sort_values(
            ["behavioral_score", "contact_key"], ascending=[False, True]).head(PREVIEW_ROWS)

    def as_metadata(self) -> dict[str, Any]:
        top_score = float(self.top["behavioral_score"].max()) if len(self.top) else 0.0
        return {"table": "all_contacts",
                "scored": "everyone" if self.everyone else "people changed, with new events or decaying",
                "keys_examined": self.keys_examined, "people_with_score": self.people_with_score,
                "lead_scores_changed": self.lead_scores_changed, "rows_written": self.rows_written,
                "people_changed": self.people_changed, "events_scored": self.events_scored, "chunks": self.chunks,
                "top_score": top_score}


def scoring_day(now: datetime) -> datetime:
    """Scores decay by the day: they are computed as of the start of the current UTC day, so every run of one day
    gives the same scores (a run with nothing new changes none) and a new day decays them once."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def maintain_scores(engine: Engine, settings: SyncSettings, run_id: str) -> MaintenanceResult | Unchanged:
    """Each person's behavioral score, and the maintenance step: the lead score follows it. Nothing to do while no
    event or person changed on the same day; a new day re-scores only the people decay can move. People are
    scored SCORE_CHUNK at a time, in one transaction (killed midway, the next run scores them all again)."""
    day = scoring_day(datetime.now(UTC))
    inputs, unchanged = step_inputs(engine, MAINTENANCE_STEP, [ENGAGEMENT_EVENTS, ALL_CONTACTS], settings,
                                    day=day.date())
    if unchanged:
        return unchanged
    rules = {str(kind): points for kind, points in settings.scoring.rules.items()}
    with engine.begin() as conn:
        keys = people_to_score(conn, inputs)
        result = MaintenanceResult(everyone=keys is None)
        stamp = next_version(conn, ALL_CONTACTS)  # one stamp for every chunk: the run is one change
        for people, events in _chunks(conn, keys):
            scores = behavioral_scores(events, people[["contact_key", "email"]], rules,
                                       settings.scoring.half_life_days, day)
            maintained = maintenance(people, scores)
            writes = score_writes(people, maintained, scores)
            result.add(maintained, len(events), write_scores(conn, writes.changed, writes.decimals_only, stamp))
        result.people_changed = finish_scores(conn, stamp, result.rows_written)
        inputs.own_write(conn, ALL_CONTACTS)  # the scores it wrote are not news to it
        inputs.done(conn, run_id)
    return result


def _chunks(conn: sa.Connection, keys: list[str] | None) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """The people to score (everyone when ``keys`` is None), SCORE_CHUNK at a time, each with their events."""
    if keys is not None:
        for part in chunks(keys, SCORE_CHUNK):
            people = read_scores(conn, part)
            yield people, read_events(conn, [str(e) for e in people["email"].dropna()])
        return
    after = None
    while not (people := score_page(conn, after, SCORE_CHUNK)).empty:
        first, after = str(people["contact_key"].iloc[0]), str(people["contact_key"].iloc[-1])
        yield people, page_events(conn, first, after)


def people_to_score(conn: sa.Connection, inputs: StepInputs) -> list[str] | None:
    """The people whose score may differ since the last complete run: their row changed (a rebuilt row carries
    Salesforce's lead score again) or they have new events, and on a new day those decay can move (scoring rule 8).
    None: the step never ran with these settings, or so many changed that going over everyone costs less."""
    events_since, people_since = inputs.since(ENGAGEMENT_EVENTS), inputs.since(ALL_CONTACTS)
    scored_on = (inputs.previous or {}).get("day")
    if events_since is None or people_since is None or not isinstance(scored_on, str):
        return None
    emails = changed_event_emails(conn, events_since)
    keys = changed_people(conn, people_since) | people_with_emails(conn, sorted(emails))
    if scored_on != inputs.values["day"]:
        keys |= decaying_people(conn, datetime.combine(date.fromisoformat(scored_on), time(), UTC))
    if whole_pass_cheaper(len(keys), people_count(conn)):
        return None
    return sorted(keys)
