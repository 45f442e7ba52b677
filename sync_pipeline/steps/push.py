"""The push steps: scores, consent, bounces and allowed fields (:func:`push_changes`), activity Tasks
(:func:`push_tasks`) and new Leads (:func:`create_leads`).

Each reads what it needs from the marketing database, lets the rules plan, sends through ``salesforce.push`` and
records every outcome before it returns. The ordering rule of :func:`push_changes`: consent, bounce evidence and
conflicts are committed before the first write to Salesforce, so an opt-out is kept even when the push then fails;
each object's outcomes commit as soon as Salesforce answered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.rules.activities import KEY_FIELD, TASK_COLUMNS, activity_key, plan_tasks
from sync_pipeline.rules.new_leads import LEAD_KEY_FIELD, NEW_PERSON_EVENT, plan_new_leads
from sync_pipeline.rules.push_inputs import OBJECTS
from sync_pipeline.rules.push_plan import REFUSAL_RETRY_AFTER, consent_fields, refused_values
from sync_pipeline.rules.push_round import EditSettlement, PushInputs, consent_changes, plan_round
from sync_pipeline.salesforce.connect import ApiUsage, SalesforceConnection
from sync_pipeline.salesforce.push import (
    DEFERRED,
    LOCKED_KIND,
    UNSENT,
    PushOutcome,
    RecordOutcome,
    outcome_counts,
    push_records,
    unsent_summary,
)
from sync_pipeline.settings import SyncSettings
from sync_pipeline.steps.changes import StepInputs, Unchanged, step_inputs, whole_pass_cheaper
from sync_pipeline.store.audience import (
    KeyRange,
    changed_people,
    changed_record_ids,
    key_ranges,
    links_touching,
    people_count,
    read_links,
    read_mirror,
    read_people,
)
from sync_pipeline.store.engagement import changed_event_emails, read_events
from sync_pipeline.store.push_state import (
    append_ledger,
    known_and_deleted_emails,
    latest_due_refusal,
    lead_keys_done,
    pending_edits,
    pushed_activity_keys,
    read_ledger,
    read_pushed_state,
    read_refusals,
    record_conflicts,
    record_results,
    refused_keys,
    remember_activities,
    remember_pushed,
    remember_refusals,
    settle_edits,
    write_consent,
)
from sync_pipeline.store.tables import all_contacts, engagement_events
from sync_pipeline.store.versions import (
    ALL_CONTACTS,
    ENGAGEMENT_EVENTS,
    MARKETING_EDITS,
    SCORES,
    mirror_dataset,
)

PUSH_RESULTS = "push_results"  # one row per record sent, with Salesforce's answer
PUSH_PAGE = 50_000  # people per push round: the round's memory grows with the page, not with the org
TASK_PAGE = 50_000  # events (or changed emails) per page of Tasks planned
SEND_AT = 100_000  # records of one object sent together (a Bulk job each), gathered over the pages
PREVIEW_ROWS = 20
EVERYONE = KeyRange(None, None)  # the page without bounds
PUSH_STEP, TASKS_STEP, NEW_LEADS_STEP = "salesforce_push", "activity_tasks", "new_leads"
# What the push of scores, consent and fields reads: the people, their records in Salesforce, events and edits.
PUSH_INPUTS = [ALL_CONTACTS, SCORES, ENGAGEMENT_EVENTS, MARKETING_EDITS, *(mirror_dataset(o) for o in OBJECTS)]
KEYED_FIELDS = (KEY_FIELD, LEAD_KEY_FIELD)  # refusals of Tasks and new Leads, not of a record's field


@dataclass
class PushResult:
    """What one push step did: the outcome of each call of ``push_records``, and what it recorded."""

    operation: str  # update | upsert | create, as push_results has it
    preview: pd.DataFrame  # what was planned, for the materialization's preview
    details: dict[str, Any] = field(default_factory=dict)  # the step's own counts
    pushes: list[PushOutcome] = field(default_factory=list)
    rows: int = 0  # push_results rows written
    usage: ApiUsage | None = None  # the connection's usage (None: nothing was sent, no connection made)
    calls_before: int = 0

    @property
    def outcomes(self) -> list[RecordOutcome]:
        return [o for push in self.pushes for o in push.outcomes]

    @property
    def api_calls(self) -> int:
        return self.usage.calls - self.calls_before if self.usage else 0

    @property
    def unsent(self) -> int:
        return sum(push.count(UNSENT) for push in self.pushes)

    @property
    def stopped_reasons(self) -> list[str]:
        return [push.stopped_reason for push in self.pushes if push.stopped_reason]

    def unsent_causes(self) -> list[str]:
        """One sentence per cause of unsent records (empty: every record sent got Salesforce's answer)."""
        return [cause for push in self.pushes for cause in unsent_summary(push.outcomes, push.object_name)]

    def as_metadata(self) -> dict[str, Any]:
        pushes = {f"{push.object_name.lower()}_push": push.as_metadata() for push in self.pushes}
        return {"table": PUSH_RESULTS, "rows": self.rows, **outcome_counts(self.outcomes),
                "api_calls": self.api_calls, **self.details, **pushes}


def _held_after(outcome: PushOutcome, sent: pd.DataFrame, apart: frozenset[str] = frozenset()) -> pd.DataFrame:
    """The values to hold back after this push's refusals (``push_plan.refused_values``)."""
    return refused_values(sent, {o.key: (o.error_code or "", o.error_fields) for o in outcome.outcomes if o.refused},
                          apart)


def read_push_inputs(conn: sa.Connection, people: Sequence[str] | KeyRange = EVERYONE) -> PushInputs:
    """Everything the push round reads, in one transaction's snapshot: of one page of people (by key range;
    EVERYONE by default), or of the people of a key list (each person's round depends on their own rows only)."""
    if isinstance(people, KeyRange):
        persons, links = read_people(conn, people), read_links(conn, people)
        return PushInputs(people=persons, links=links,
                          mirrors={name: read_mirror(conn, name, people.record_ids(name)) for name in OBJECTS},
                          events=read_events(conn, people.emails()),
                          pushed=read_pushed_state(conn, people.record_ids()), ledger=read_ledger(conn, people),
                          edits=pending_edits(conn, people), refusals=read_refusals(conn, people.record_ids()))
    persons, links = read_people(conn, people), links_touching(conn, contact_keys=people)
    ids = [str(i) for i in links["crm_id"]]
    return PushInputs(people=persons, links=links,
                      mirrors={name: read_mirror(conn, name, list(links.loc[links["crm_type"] == name, "crm_id"]))
                               for name in OBJECTS},
                      events=read_events(conn, [str(e) for e in persons["email"].dropna()]),
                      pushed=read_pushed_state(conn, ids), ledger=read_ledger(conn, people),
                      edits=pending_edits(conn, people), refusals=read_refusals(conn, ids))


def pages_to_plan(conn: sa.Connection, keys: list[str] | None, column: sa.Column[Any],
                  size: int) -> list[Sequence[str] | KeyRange]:
    """What to plan in pages of ``size``: every value of ``column`` by range (``keys`` None), or ``keys`` in
    slices."""
    if keys is None:
        return list(key_ranges(conn, column, size))
    return [keys[start:start + size] for start in range(0, len(keys), size)]


def people_to_plan(conn: sa.Connection, changes: StepInputs) -> list[str] | None:
    """The people whose push may differ since the step's last complete run: their All Contacts row or scores
    changed, one of their records changed in Salesforce, they have new events, a pending edit or a held value.
    None: everyone is planned (the step never completed a run with these settings, or most people changed)."""
    since = {name: changes.since(name) for name in PUSH_INPUTS}
    if any(version is None for version in since.values()):
        return None
    keys = changed_people(conn, int(since[ALL_CONTACTS] or 0))
    records = set().union(*(changed_record_ids(conn, name, int(since[mirror_dataset(name)] or 0))
                            for name in OBJECTS))
    records |= {str(i) for i in read_refusals(conn)["crm_id"]}
    emails = changed_event_emails(conn, int(since[ENGAGEMENT_EVENTS] or 0))
    linked = links_touching(conn, crm_ids=sorted(records), emails=sorted(emails))
    keys |= {str(k) for k in linked["contact_key"]} | {str(k) for k in pending_edits(conn)["contact_key"]}
    # Most people changed (our own scores read back by the pull, say): one read of everyone costs less than reading
    # each person's rows by IN lists (measured at 1,000,000 people, the run after a full push: over six minutes in
    # IN-list reads).
    if whole_pass_cheaper(len(keys), people_count(conn)):
        return None
    return sorted(keys)


def _due(engine: Engine, now: datetime, **which: Sequence[str]) -> str:
    """The newest refusal that came due (REFUSAL_RETRY_AFTER old): a step input, so a held value is retried."""
    with engine.connect() as conn:
        due = latest_due_refusal(conn, now - REFUSAL_RETRY_AFTER, **which)
    return due.isoformat() if due else ""


def _complete(result: PushResult) -> bool:
    """Every record planned got its final answer: nothing unsent, deferred or still locked waits for a retry."""
    return not any(o.kind in (UNSENT, DEFERRED, LOCKED_KIND) for o in result.outcomes)


# What a push step remembers of one send besides push_results, in the send's transaction: the outcome and the rows
# the records came with (the planned cells of the records, or the Tasks with their events).
Remember = Callable[[sa.Connection, PushOutcome, pd.DataFrame], None]


@dataclass
class _Outbox:
    """Planned records waiting to be sent, per object: a page's records join those of the pages before, and an
    object is sent once SEND_AT of its records wait (then once more at the end), so a push over a million people
    makes a Bulk job per SEND_AT records, not one per page. A step adds a page's records only after it committed
    what decided them (consent and evidence), so nothing is sent before that."""

    engine: Engine
    connect: Callable[[], SalesforceConnection]
    settings: SyncSettings
    run_id: str
    now: datetime
    result: PushResult
    remember: Remember
    external_id_field: str | None = None
    waiting: dict[str, list[tuple[list[dict[str, Any]], pd.DataFrame]]] = field(default_factory=dict)
    connection: SalesforceConnection | None = None

    def add(self, object_name: str, records: list[dict[str, Any]], rows: pd.DataFrame) -> None:
        if records:
            self.waiting.setdefault(object_name, []).append((records, rows))
        if sum(len(batch) for batch, _ in self.waiting.get(object_name, [])) >= SEND_AT:
            self.send(object_name)

    def send(self, object_name: str) -> None:
        """Send what waits for ``object_name`` and record every answer (one transaction)."""
        batches = self.waiting.pop(object_name, [])
        if not batches:
            return
        records = [record for batch, _ in batches for record in batch]
        rows = pd.concat([part for _, part in batches], ignore_index=True)
        if self.connection is None:
            self.connection = self.connect()
            self.result.usage, self.result.calls_before = self.connection.usage, self.connection.usage.calls
        outcome = push_records(self.connection.client, self.connection.usage, object_name, records,
                               operation=self.result.operation, external_id_field=self.external_id_field,
                               bulk_threshold=self.settings.salesforce.bulk_threshold,
                               max_run_share=self.settings.salesforce.max_api_share_per_run)
        self.result.pushes.append(outcome)
        with self.engine.begin() as conn:
            self.result.rows += record_results(conn, self.run_id, object_name, self.result.operation,
                                               outcome.outcomes, self.now)
            self.remember(conn, outcome, rows)

    def send_all(self) -> None:
        for object_name in list(self.waiting):
            self.send(object_name)


def push_changes(engine: Engine, connect: Callable[[], SalesforceConnection], settings: SyncSettings,
                 run_id: str) -> PushResult | Unchanged:
    """Scores, consent, bounces and allowed field changes: each page of people planned (a round), its consent
    committed, its records sent through the outbox. Nothing to do while no input changed and no held value came
    due."""
    now = datetime.now(UTC)
    changes, unchanged = step_inputs(engine, PUSH_STEP, PUSH_INPUTS, settings,
                                     refusals_due=_due(engine, now, not_fields=KEYED_FIELDS))
    if unchanged:
        return unchanged
    with engine.connect() as conn:
        keys = people_to_plan(conn, changes)
        pages = pages_to_plan(conn, keys, all_contacts.c.contact_key, PUSH_PAGE)
    counts: Counter[str] = Counter()
    result = PushResult("update", pd.DataFrame(columns=["crm_id", "crm_type", "field", "value"]), {
        "planned": "everyone" if keys is None else "people changed since the last complete push",
        "pages": len(pages)})
    settlements: list[EditSettlement] = []
    tracked: set[str] = set()  # records of edited people: their answers settle the edits
    accepted: set[str] = set()
    refused: set[str] = set()
    apart = consent_fields(settings)

    def remember(conn: sa.Connection, outcome: PushOutcome, updates: pd.DataFrame) -> None:
        succeeded = {o.key for o in outcome.outcomes if o.success}
        accepted.update(succeeded & tracked)
        refused.update({o.key for o in outcome.outcomes if o.refused} & tracked)
        remember_pushed(conn, updates, succeeded, now)
        remember_refusals(conn, updates, succeeded, _held_after(outcome, updates, apart), now)

    outbox = _Outbox(engine, connect, settings, run_id, now, result, remember)
    for page in pages:
        with engine.connect() as conn:
            inputs = read_push_inputs(conn, page)
        push = plan_round(settings, inputs, now)
        plan = push.plan
        if len(result.preview) < PREVIEW_ROWS:
            result.preview = pd.concat([result.preview, plan.updates[list(result.preview.columns)].head(PREVIEW_ROWS)],
                                       ignore_index=True)
        counts.update(keys_examined=len(inputs.people), records_planned=len(plan.records),
                      fields_planned=len(plan.updates), conflicts=len(plan.conflicts),
                      consent_changes=len(push.consent.ledger_entries), marketing_edits=len(inputs.edits),
                      skipped_refused_before=plan.counts.get("skipped_refused", 0))
        with engine.begin() as conn:  # consent and evidence first: an opt-out is kept even if the push then fails
            counts["consent_written"] += write_consent(conn, consent_changes(inputs.people, push.people))
            append_ledger(conn, push.consent.ledger_entries)
            record_conflicts(conn, plan.conflicts)
        settlement = push.edit_settlement(inputs.links)
        settlements.append(settlement)
        tracked |= settlement.records
        for object_name in OBJECTS:
            records = plan.records_for(object_name)
            ids = {record["Id"] for record in records}
            outbox.add(object_name, records, plan.updates[plan.updates["crm_id"].isin(ids)])
    outbox.send_all()
    statuses = {edit_id: status for settlement in settlements
                for edit_id, status in settlement.outcomes(accepted, refused).items()}
    with engine.begin() as conn:
        settle_edits(conn, statuses, now)
        if _complete(result):
            changes.done(conn, run_id)
    result.details.update(counts)
    result.details["marketing_edits_settled"] = dict(sorted(Counter(s for s, _ in statuses.values()).items()))
    return result


def push_tasks(engine: Engine, connect: Callable[[], SalesforceConnection], settings: SyncSettings,
               run_id: str) -> PushResult | Unchanged:
    """The engagement events the settings enable, as Tasks upserted on their stable key, planned page by page of
    emails (all of an email's events and people in one page: its first click and its record are decided there).
    Nothing to do while no event, person or held Task changed."""
    now = datetime.now(UTC)
    changes, unchanged = step_inputs(engine, TASKS_STEP, [ENGAGEMENT_EVENTS, ALL_CONTACTS], settings,
                                     refusals_due=_due(engine, now, fields=[KEY_FIELD]))
    if unchanged:
        return unchanged
    with engine.connect() as conn:
        emails = emails_to_log(conn, changes)
        pages = pages_to_plan(conn, emails, engagement_events.c.email, TASK_PAGE)
        refused = refused_keys(conn, KEY_FIELD, now - REFUSAL_RETRY_AFTER)
    result = PushResult("upsert", pd.DataFrame(columns=TASK_COLUMNS), {
        "planned": "everyone" if emails is None else "emails with new events or a changed person",
        "pages": len(pages)})

    def remember(conn: sa.Connection, outcome: PushOutcome, tasks: pd.DataFrame) -> None:
        by_key = dict(zip(tasks[KEY_FIELD], tasks["event_id"], strict=True))
        remember_activities(conn, [{"activity_key": o.key, "event_id": by_key.get(o.key, o.key), "task_id": o.sf_id,
                                    "pushed_at": now} for o in outcome.outcomes if o.success])
        # A refused Task is held by its WhoId: the same Task for the same record gets the same answer.
        sent = pd.DataFrame({"crm_id": tasks[KEY_FIELD], "field": KEY_FIELD, "value": tasks["WhoId"],
                             "salesforce_stamp": None})
        accepted = {o.key for o in outcome.outcomes if o.success}
        remember_refusals(conn, sent, accepted, _held_after(outcome, sent), now)

    outbox = _Outbox(engine, connect, settings, run_id, now, result, remember, external_id_field=KEY_FIELD)
    counts: Counter[str] = Counter()
    for page in pages:
        with engine.connect() as conn:
            events = read_events(conn, page)
            people = read_people(conn, page, by="email")
            done = pushed_activity_keys(conn, [activity_key(e) for e in events["event_id"]])
        live = people[people["is_active"].astype(bool) & people["email"].notna()]
        tasks = plan_tasks(events, live[["email", "crm_id", "crm_type"]], list(settings.activities.push), done,
                           refused)
        counts.update(keys_examined=len(events), tasks_planned=len(tasks), **tasks.attrs.get("counts", {}))
        if len(result.preview) < PREVIEW_ROWS:
            result.preview = pd.concat([result.preview, tasks.head(PREVIEW_ROWS)], ignore_index=True)
        event_of = {activity_key(event_id): event_id for event_id in events["event_id"]}
        outbox.add("Task", tasks.to_dict("records"),
                   tasks[[KEY_FIELD, "WhoId"]].assign(event_id=tasks[KEY_FIELD].map(event_of)))
    outbox.send_all()
    result.details.update(counts)
    with engine.begin() as conn:
        if _complete(result):
            changes.done(conn, run_id)
    return result


def emails_to_log(conn: sa.Connection, changes: StepInputs) -> list[str] | None:
    """The emails whose events may give a Task not logged yet: those with events stored since the last complete run,
    and those of the people changed since (a person's record decides where a Task goes, and a new person makes
    their earlier events loggable). None: every email (the step never ran with these settings, or a held Task came
    due)."""
    events_since, people_since = changes.since(ENGAGEMENT_EVENTS), changes.since(ALL_CONTACTS)
    previous = changes.previous or {}
    if events_since is None or people_since is None or previous.get("refusals_due") != changes.values["refusals_due"]:
        return None
    keys = sorted(changed_people(conn, people_since))
    changed = {str(email) for email in read_people(conn, keys)["email"].dropna()} if keys else set()
    emails = changed_event_emails(conn, events_since) | changed
    # Most people changed (our own scores read back, say): one read of every event costs less than many IN lists.
    if whole_pass_cheaper(len(emails), people_count(conn)):
        return None
    return sorted(emails)


def create_leads(engine: Engine, connect: Callable[[], SalesforceConnection], settings: SyncSettings,
                 run_id: str) -> PushResult | Unchanged:
    """New Leads for form submitters Salesforce does not hold, only for lists with ``push.add_new`` (nothing to do
    while no event, person or mirror changed)."""
    asking = [item for item in settings.lists if item.push.add_new]
    result = PushResult("create", pd.DataFrame(columns=[LEAD_KEY_FIELD, "Email"]),
                        {"lists_asking": len(asking), "leads_planned": 0})
    if not asking:
        return result
    now = datetime.now(UTC)
    changes, unchanged = step_inputs(engine, NEW_LEADS_STEP, [ENGAGEMENT_EVENTS, ALL_CONTACTS,
                                                              *(mirror_dataset(o) for o in OBJECTS)], settings,
                                     refusals_due=_due(engine, now, fields=[LEAD_KEY_FIELD]))
    if unchanged:
        return unchanged
    with engine.connect() as conn:
        submits = read_events(conn, event_types=[NEW_PERSON_EVENT])
        # The mirrors' emails are read only when someone submitted a form: nobody new otherwise.
        known, deleted = known_and_deleted_emails(conn) if len(submits) else ([], [])
        done = lead_keys_done(conn, LEAD_KEY_FIELD, now - REFUSAL_RETRY_AFTER)
    records = plan_new_leads(settings.lists, submits, known, deleted, done)
    result.details.update(keys_examined=len(submits), leads_planned=len(records))
    if not records:
        with engine.begin() as conn:
            changes.done(conn, run_id)
        return result
    result.preview = pd.DataFrame([{k: v for k, v in r.items() if k != "attributes"} for r in records])
    connection = connect()
    result.usage, result.calls_before = connection.usage, connection.usage.calls
    outcome = push_records(connection.client, connection.usage, "Lead", records, operation="upsert",
                           external_id_field=LEAD_KEY_FIELD, bulk_threshold=settings.salesforce.bulk_threshold,
                           max_run_share=settings.salesforce.max_api_share_per_run)
    result.pushes.append(outcome)
    succeeded = {o.key for o in outcome.outcomes if o.success}
    keys = pd.DataFrame({"crm_id": [r[LEAD_KEY_FIELD] for r in records], "crm_type": "Lead", "field": LEAD_KEY_FIELD,
                         "value": [r["Email"] for r in records], "salesforce_stamp": None})
    with engine.begin() as conn:
        result.rows = record_results(conn, run_id, "Lead", "create", outcome.outcomes, now)
        remember_pushed(conn, keys, succeeded, now)
        remember_refusals(conn, keys, succeeded, _held_after(outcome, keys), now)  # not sent again for a day
        if _complete(result):
            changes.done(conn, run_id)
    return result
