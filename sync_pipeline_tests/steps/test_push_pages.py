"""The push plans people page by page and sends each object's records in batches gathered over the pages: the same
values reach Salesforce as in one round over everyone, each page's consent is committed before any of its records
is sent, and a marketing edit settles whichever page its person falls in. The Tasks, planned page by page of
emails, are the Tasks of one pass over every event."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from simple_salesforce import format_soql
from sqlalchemy.engine import Engine

from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.rules.activities import KEY_FIELD
from sync_pipeline.rules.push_inputs import OBJECTS, field_columns
from sync_pipeline.salesforce.connect import SalesforceConnection, open_connection
from sync_pipeline.settings import SyncSettings, load_settings, pulled_fields
from sync_pipeline.steps import push as push_step
from sync_pipeline.steps.audience import build_audience
from sync_pipeline.steps.changes import Unchanged
from sync_pipeline.steps.pull import PullOptions, pull_object
from sync_pipeline.steps.push import PushResult, push_changes, push_tasks
from sync_pipeline.steps.scoring import ingest_events, maintain_scores
from sync_pipeline.store.engine import make_engine
from sync_pipeline.store.migrate import upgrade_to_head
from sync_pipeline.store.push_state import record_edit
from sync_pipeline.store.tables import all_contacts, consent_ledger, marketing_edits, pushed_activities, pushed_state

ROOT = Path(__file__).resolve().parents[2]
SEED, SCALE, EVENT_PEOPLE = 5, 60, 40


@dataclass
class Synced:
    org: RunningEmulator
    engine: Engine
    connection: SalesforceConnection
    settings: SyncSettings


@pytest.fixture
def synced(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A function that makes an emulator and a marketing database pulled, built and scored up to the push."""
    stack: list[Any] = []

    def make(name: str) -> Synced:
        folder = tmp_path / name / "events"
        folder.mkdir(parents=True)
        context = running_emulator(seed=SEED, scale=SCALE, events_path=folder / "seed.jsonl",
                                   events_people=EVENT_PEOPLE)
        org = context.__enter__()
        stack.append(context)
        engine = make_engine(f"sqlite:///{tmp_path / name / 'marketing.db'}")
        upgrade_to_head(engine)
        connection = open_connection(org.login(), emulator_url=org.url)
        settings = load_settings(ROOT / "data" / "sync.yaml")
        for object_name in OBJECTS:
            pull_object(connection.client, engine, object_name, pulled_fields(settings, object_name),
                        run_started_at=datetime.now(UTC), options=PullOptions())
        build_audience(engine, connection, settings, "run-1")
        ingest_events(engine, folder, "run-1")
        maintain_scores(engine, settings, "run-1")
        return Synced(org, engine, connection, settings)

    yield make
    for context in reversed(stack):
        context.__exit__(None, None, None)


def _pushed_values(synced: Synced) -> dict[tuple[str, str], Any]:
    """What Salesforce holds in every field the push writes, per record."""
    out: dict[tuple[str, str], Any] = {}
    for object_name in OBJECTS:
        fields = sorted(field_columns(synced.settings, object_name))
        soql = format_soql("SELECT Id, {:literal} FROM {:literal}", ", ".join(fields), object_name)
        rows = synced.connection.client.query_all(soql)["records"]
        for row in rows:
            for name in fields:
                out[(row["Id"], name)] = row[name]
    return out


def _table(engine: Engine, table: sa.Table, *columns: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return sorted(tuple(row) for row in conn.execute(sa.select(*(table.c[c] for c in columns))))


def _people(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(all_contacts)).scalar_one())


def test_pages_and_batches_push_what_one_round_over_everyone_pushes(synced: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    whole, paged = synced("whole"), synced("paged")
    before = _pushed_values(whole)
    assert before == _pushed_values(paged)
    one = push_changes(whole.engine, lambda: whole.connection, whole.settings, "run-2")

    monkeypatch.setattr(push_step, "PUSH_PAGE", 7)
    monkeypatch.setattr(push_step, "SEND_AT", 10)
    many = push_changes(paged.engine, lambda: paged.connection, paged.settings, "run-2")
    assert isinstance(one, PushResult) and isinstance(many, PushResult)

    people = _people(paged.engine)
    assert one.details["pages"] == 1 and many.details["pages"] == -(-people // 7)
    assert many.details["keys_examined"] == one.details["keys_examined"] == people
    for name in ("records_planned", "fields_planned", "consent_changes", "consent_written"):
        assert many.details[name] == one.details[name], name
    assert one.details["records_planned"] > 20  # enough to need several batches
    # Each object's records go in batches of at least SEND_AT, gathered over the pages; only the last is smaller.
    for object_name in OBJECTS:
        sizes = [len(push.outcomes) for push in many.pushes if push.object_name == object_name]
        assert sum(sizes) == sum(len(p.outcomes) for p in one.pushes if p.object_name == object_name)
        assert all(size >= 10 for size in sizes[:-1]) and len(sizes) <= -(-sum(sizes) // 10)

    after = _pushed_values(paged)
    assert after == _pushed_values(whole) and after != before
    for table, columns in ((pushed_state, ("crm_id", "field", "value")),
                           (consent_ledger, ("contact_key", "crm_id", "system", "old_value", "new_value")),
                           (all_contacts, ("contact_key", "opted_out", "hard_bounced", "hard_bounce_reason"))):
        assert _table(paged.engine, table, *columns) == _table(whole.engine, table, *columns), table.name
    assert isinstance(push_changes(paged.engine, lambda: paged.connection, paged.settings, "run-3"), Unchanged)


def test_a_page_s_consent_is_committed_before_any_of_its_records_is_sent(synced: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    run = synced("ordering")
    monkeypatch.setattr(push_step, "PUSH_PAGE", 5)
    monkeypatch.setattr(push_step, "SEND_AT", 8)
    opt_out = run.settings.opt_out.field
    sent_opt_outs: list[str] = []
    real_push = push_step.push_records

    def checked_push(client: Any, usage: Any, object_name: str, records: list[dict[str, Any]],
                     **options: Any) -> Any:
        ids = [r["Id"] for r in records if r.get(opt_out) is True]
        with run.engine.connect() as conn:  # what a failure right now would leave behind
            ledger = {row.crm_id for row in conn.execute(sa.select(consent_ledger.c.crm_id))}
            people = pd.read_sql(sa.select(all_contacts.c.crm_id, all_contacts.c.opted_out), conn)
        opted = set(people.loc[people["opted_out"].astype(bool), "crm_id"])
        for crm_id in ids:
            assert crm_id in ledger or crm_id in opted, f"{crm_id} sent an opt-out not committed yet"
        sent_opt_outs.extend(ids)
        return real_push(client, usage, object_name, records, **options)

    monkeypatch.setattr(push_step, "push_records", checked_push)
    result = push_changes(run.engine, lambda: run.connection, run.settings, "run-2")
    assert isinstance(result, PushResult) and result.details["pages"] > 2
    assert sent_opt_outs and result.details["consent_changes"] > 0


def test_an_edit_settles_in_the_page_of_its_person(synced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    run = synced("edits")
    with run.engine.connect() as conn:
        keys = sorted(conn.execute(sa.select(all_contacts.c.contact_key).where(all_contacts.c.is_active)).scalars())
    last = keys[-1]  # in the last page: its records go in the final batch
    with run.engine.begin() as conn:
        record_edit(conn, last, "title", "Chief Tester", datetime.now(UTC), "test")
        record_edit(conn, "nobody-such", "title", "Ghost", datetime.now(UTC), "test")  # no such person
    monkeypatch.setattr(push_step, "PUSH_PAGE", 6)
    monkeypatch.setattr(push_step, "SEND_AT", 9)
    result = push_changes(run.engine, lambda: run.connection, run.settings, "run-2")
    assert isinstance(result, PushResult)
    # The unknown person's edit falls in a page too (the pages cover every key) and is settled, not left pending.
    assert _table(run.engine, marketing_edits, "contact_key", "status") == [(last, "pushed"),
                                                                            ("nobody-such", "not_pushable")]
    with run.engine.connect() as conn:
        crm_id, crm_type = conn.execute(sa.select(all_contacts.c.crm_id, all_contacts.c.crm_type)
                                        .where(all_contacts.c.contact_key == last)).one()
    soql = format_soql("SELECT Title FROM {:literal} WHERE Id = {}", crm_type, crm_id)
    assert run.connection.client.query(soql)["records"][0]["Title"] == "Chief Tester"


def _tasks(synced: Synced) -> list[tuple[Any, ...]]:
    soql = format_soql("SELECT {:literal} FROM Task WHERE {:literal} != null",
                       f"{KEY_FIELD}, WhoId, Subject, ActivityDate, Type", KEY_FIELD)
    return sorted((r[KEY_FIELD], r["WhoId"], r["Subject"], r["ActivityDate"], r["Type"])
                  for r in synced.connection.client.query_all(soql)["records"])


def test_tasks_planned_page_by_page_of_emails_equal_one_pass_over_every_event(
        synced: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    whole, paged = synced("whole"), synced("paged")
    one = push_tasks(whole.engine, lambda: whole.connection, whole.settings, "run-2")
    monkeypatch.setattr(push_step, "TASK_PAGE", 25)
    monkeypatch.setattr(push_step, "SEND_AT", 40)
    many = push_tasks(paged.engine, lambda: paged.connection, paged.settings, "run-2")
    assert isinstance(one, PushResult) and isinstance(many, PushResult)
    assert one.details["pages"] == 1 and many.details["pages"] > 3
    # Every count of the plan agrees: first clicks, events with no record, Tasks planned.
    for name in ("keys_examined", "tasks_planned", "later_clicks", "no_salesforce_record", "disabled_type"):
        assert many.details[name] == one.details[name], name
    assert one.details["tasks_planned"] > 80
    sizes = [len(push.outcomes) for push in many.pushes]
    assert sum(sizes) == one.details["tasks_planned"] and all(size >= 40 for size in sizes[:-1])
    assert _tasks(paged) == _tasks(whole) and len(_tasks(paged)) == one.details["tasks_planned"]
    activities = ("activity_key", "event_id", "task_id")
    assert len(_table(paged.engine, pushed_activities, *activities)) == one.details["tasks_planned"]
    assert isinstance(push_tasks(paged.engine, lambda: paged.connection, paged.settings, "run-3"), Unchanged)
