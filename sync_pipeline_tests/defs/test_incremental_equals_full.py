"""The change-driven sync equals a sync from scratch (a property test of the whole job against the emulator).

An org of the seed; the job runs once, then after each batch of a random sequence of changes (Hypothesis): Lead and
Contact edits, new Leads under an existing person's email (merged by email), email changes, deletes, conversions,
campaign members added and removed, new engagement events (clicks, forms, unsubscribes, hard bounces, a form from a
stranger), marketing-side edits, and opt-outs on either side. One more run pulls back what the last one pushed.
Then the same job syncs the same org into a fresh marketing database, every step from scratch.

Not among the changes: a record that already has a person taking another person's email. A record keeps the person
it was linked to (stable keys), so the two people stay two, where a database that never saw them apart makes one:
that is history, like the consent ledger. The step-level property test (``steps/test_audience_changes.py``) covers
it against a build of every record with the same stored links.

All Contacts (scores included), the list memberships and the analyst outputs must be the same in both databases,
people matched by their Salesforce records (keys are surrogates); and the sync from scratch must leave every Lead,
Contact and Task in Salesforce as it found it: the values the change-driven history pushed are the ones a full
sync pushes. (pushed_state, the consent ledger and the part of a list that is history, see ``_comparable``, differ.)

``SYNC_EQUALITY_EXAMPLES`` sets how many sequences run (3 by default, to keep the suite short; ``make bench`` runs
none of this, raise it to search further).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import sync_pipeline.steps.scoring as scoring_step
from sync_pipeline.defs.audience import all_contacts, list_asset, sales_users
from sync_pipeline.defs.pull import MIRROR_ASSETS
from sync_pipeline.defs.push import activity_tasks, new_leads, salesforce_push
from sync_pipeline.defs.reporting import reporting_assets
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.defs.salesforce import salesforce_connection
from sync_pipeline.defs.saved_reports import report_asset
from sync_pipeline.defs.scoring import engagement_events, lead_score_maintenance
from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.records.mirror import mirror_column
from sync_pipeline.salesforce.connect import SalesforceResource
from sync_pipeline.settings import SyncSettings, load_settings
from sync_pipeline.store.push_state import record_edit
from sync_pipeline_tests.defs.test_random_kills import (
    TASK_FIELDS,
    _differences,
    _marketing_state,
    _pinned_clock,
    _salesforce_state,
    _settings_file,
)

ORG_SEED, ORG_SCALE = 5, 80
EXAMPLES = int(os.environ.get("SYNC_EQUALITY_EXAMPLES", "3"))
QUIET_SECONDS = 1.05  # pull windows end at the last whole second before a run
CAMPAIGN = "Spring Product Webinar"
# Times of the run (the outputs' period and when they were made) and surrogate keys are not the outputs' content.
OUTPUT_IGNORED = {"contact_key", "rank", "generated_at", "period_start", "period_end", "updated_at"}

# One change: (kind, which record, which other record). Records are picked by position among the live ones.
CHANGE = st.tuples(st.sampled_from(["retitle_lead", "retitle_contact", "lead_changes_email", "second_lead",
                                    "delete_lead", "delete_contact", "convert", "join_campaign", "leave_campaign",
                                    "click", "form", "unsubscribe", "hard_bounce", "stranger_form",
                                    "marketing_edit", "salesforce_opt_out"]),
                   st.integers(0, 30), st.integers(0, 30))
BATCHES = st.lists(st.lists(CHANGE, min_size=1, max_size=4), min_size=1, max_size=2)


class Org:
    """The emulator, a marketing database and the folders of one history's runs."""

    def __init__(self, emulator: RunningEmulator, folder: Path, settings_path: Path, scoring_now: datetime) -> None:
        self.emulator, self.folder, self.settings_path, self.scoring_now = emulator, folder, settings_path, scoring_now
        self.sf = emulator.salesforce()
        self.events = 0

    def run(self, database_url: str, monkeypatch: pytest.MonkeyPatch) -> dg.ExecuteInJobResult:
        """The main job with its saved reports and analyst outputs, the scoring clock pinned."""
        settings = load_settings(self.settings_path)
        reports = sorted({item.source.report for item in settings.lists if item.source.report})
        assets = [salesforce_connection, *MIRROR_ASSETS, *(report_asset(name) for name in reports), all_contacts,
                  sales_users, *(list_asset(item) for item in settings.lists), engagement_events,
                  lead_score_maintenance, salesforce_push, activity_tasks, new_leads, *reporting_assets(settings)]
        resources = {
            "salesforce": SalesforceResource(username=self.emulator.username, password=self.emulator.password,
                                             security_token=self.emulator.security_token,
                                             emulator_url=self.emulator.url),
            "marketing_db": MarketingDatabase(url=database_url),
            "sync_settings": SyncSettingsResource(path=str(self.settings_path)),
        }
        monkeypatch.setattr(scoring_step, "datetime", _pinned_clock(self.scoring_now))
        time.sleep(QUIET_SECONDS)
        result = dg.materialize(assets, resources=resources, instance=dg.DagsterInstance.ephemeral(),
                                raise_on_error=False)
        failures = [e.event_specific_data.error.message for e in result.all_events
                    if e.event_type_value == "STEP_FAILURE"]
        assert result.success, failures
        return result

    # --- the changes ---------------------------------------------------------------------------------------

    def _live(self, object_name: str, where: str = "") -> list[dict[str, Any]]:
        extra = " AND IsConverted = false" if object_name == "Lead" else ""
        return self.sf.query_all(f"SELECT Id, Email FROM {object_name} WHERE Email != null{extra}{where} "
                                 "ORDER BY Id")["records"]

    def _event(self, kind: str, email: str, **extra: Any) -> None:
        self.events += 1
        when = (datetime.now(UTC) - timedelta(minutes=30)).isoformat(timespec="seconds")
        event = {"event_id": f"eq-{self.events}", "event_type": kind, "email": email, "occurred_at": when, **extra}
        with (self.folder / "events" / "changes.jsonl").open("a", encoding="utf-8") as out:
            out.write(json.dumps(event) + "\n")

    def change(self, kind: str, first: int, second: int, database_url: str) -> None:
        self.events += 1  # numbers events and new emails: each change makes its own
        leads, contacts = self._live("Lead"), self._live("Contact")
        lead = leads[first % len(leads)]
        contact = contacts[first % len(contacts)]
        events = {"click": ("email_click", {"campaign": CAMPAIGN, "email_name": "Invite", "url": "https://example.com/w"}),
                  "form": ("form_submit", {"form": "Demo"}), "unsubscribe": ("unsubscribe", {}),
                  "hard_bounce": ("hard_bounce", {"reason": "550 5.1.1 mailbox does not exist"})}
        if kind in events:
            name, extra = events[kind]
            self._event(name, str(lead["Email"]), **extra)
            return
        changes = {
            "retitle_lead": lambda: self.sf.Lead.update(lead["Id"], {"Title": f"Director {first}-{second}"}),
            "retitle_contact": lambda: self.sf.Contact.update(contact["Id"], {"Title": f"Manager {first}-{second}"}),
            "lead_changes_email": lambda: self.sf.Lead.update(lead["Id"], {"Email": f"moved{self.events}@example.com"}),
            "second_lead": lambda: self.sf.Lead.create({"LastName": "Second", "Company": "Again Inc",
                                                        "Email": lead["Email"]}),
            "delete_lead": lambda: self.sf.Lead.delete(lead["Id"]),
            "delete_contact": lambda: self.sf.Contact.delete(contact["Id"]),
            "convert": lambda: self.emulator.admin("POST", "convert_lead", {"lead_id": lead["Id"]}),
            "join_campaign": lambda: self._join_campaign(lead["Id"]),
            "leave_campaign": lambda: self._leave_campaign(first),
            "stranger_form": lambda: self._event("form_submit", f"stranger{second}@newco.example.com",
                                                 form="Contact us"),
            "marketing_edit": lambda: self._edit(database_url, lead["Id"], f"Edited{second}"),
            "salesforce_opt_out": lambda: self.sf.Contact.update(contact["Id"], {"HasOptedOutOfEmail": True}),
        }
        changes[kind]()

    def _join_campaign(self, lead_id: str) -> None:
        campaign = self.sf.query(f"SELECT Id FROM Campaign WHERE Name = '{CAMPAIGN}'")["records"][0]["Id"]
        if not self.sf.query(f"SELECT Id FROM CampaignMember WHERE LeadId = '{lead_id}'")["totalSize"]:
            self.sf.CampaignMember.create({"CampaignId": campaign, "LeadId": lead_id, "Status": "Sent"})

    def _leave_campaign(self, which: int) -> None:
        members = self.sf.query_all("SELECT Id FROM CampaignMember ORDER BY Id")["records"]
        if members:
            self.sf.CampaignMember.delete(members[which % len(members)]["Id"])

    @staticmethod
    def _edit(database_url: str, crm_id: str, value: str) -> None:
        engine = sa.create_engine(database_url)
        try:
            with engine.begin() as conn:
                key = conn.execute(sa.text("SELECT contact_key FROM contact_links WHERE crm_id = :i"),
                                   {"i": crm_id}).scalar_one_or_none()
                if key is not None:  # a record the last run had not pulled yet has no person to edit
                    record_edit(conn, key, "first_name", value, datetime.now(UTC), source="test")
        finally:
            engine.dispose()


@contextmanager
def _org(folder: Path) -> Iterator[Org]:
    (folder / "events").mkdir(parents=True)
    now = datetime.now(UTC)
    with running_emulator(seed=ORG_SEED, scale=ORG_SCALE, anchor=now.replace(hour=0, minute=0, second=0),
                          events_path=folder / "events" / "seed.jsonl") as emulator:
        yield Org(emulator, folder, _settings_file(folder), now)


def _comparable(state: dict[str, dict[Any, Any]], settings: SyncSettings) -> dict[str, dict[Any, Any]]:
    """All Contacts, and of each active list member its person, type and the columns Salesforce keeps up to date
    (``pull.update_fields``). The rest of a list is its history, which a database synced from scratch never saw:
    members who left (inactive rows) and the values a column kept from when the member joined (rule 7 of
    ``rules.lists``), like the consent ledger."""
    kept = {item.name: {"person", "crm_type", "is_active", *(mirror_column(f) for f in item.pull.update_fields)}
            for item in settings.lists}
    members = {key: {column: value for column, value in row.items() if column in kept[key[0]]}
               for key, row in state["list_members"].items() if row["is_active"]}
    return {"all_contacts": state["all_contacts"], "list_members": members}


def _without_task_records(state: dict[str, dict[Any, Any]]) -> dict[str, dict[Any, Any]]:
    """The Salesforce state with each Task's record (WhoId) left out. A Task stays on the record that held the
    event's email when it was logged; a database synced from scratch logs by the emails of today and, upserting by
    the Task's key, moves a Task whose email has since passed to another record: history too."""
    who = TASK_FIELDS.index("WhoId")
    tasks: Counter[tuple[Any, ...]] = Counter()
    for task, count in state["salesforce tasks"].items():
        tasks[task[:who] + task[who + 1:]] += count
    return {**state, "salesforce tasks": dict(tasks)}


def _outputs(url: str) -> dict[str, dict[Any, Any]]:
    """The analyst outputs, each row keyed by its dimensions (the hot prospects by person and owner)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            person = {}
            for key, crm_id in conn.execute(sa.text("SELECT contact_key, crm_id FROM contact_links")):
                person.setdefault(key, []).append(crm_id)
            outputs: dict[str, dict[Any, Any]] = {}
            for name, keys in (("hot_prospects", ("owner_id", "contact_key")), ("funnel", ("dimension", "segment",
                                                                                         "stage")),
                               ("roi", ("dimension", "segment"))):
                table = sa.Table(name, sa.MetaData(), autoload_with=conn)
                rows = {}
                for row in conn.execute(sa.select(table)).mappings():
                    key = tuple("+".join(sorted(person.get(row[k], [row[k]]))) if k == "contact_key" else row[k]
                                for k in keys)
                    rows[key] = {c: (round(v, 6) if isinstance(v, float) else v) for c, v in row.items()
                                 if c not in OUTPUT_IGNORED}
                outputs[name] = rows
    finally:
        engine.dispose()
    return outputs


# No shrinking: every example is whole runs of the job (seconds each); the failure message names the changes.
@hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=BATCHES)
def test_the_change_driven_sync_equals_a_sync_from_scratch(
        batches: list[list[tuple[str, int, int]]], tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite only: the backends' own behaviour is the other tests' subject; this one is about the engine."""
    folder = tmp_path_factory.mktemp("equality")
    incremental, fresh = (f"sqlite:///{folder / name}" for name in ("incremental.db", "from-scratch.db"))
    monkeypatch.setenv("ENGAGEMENT_EVENTS_DIR", str(folder / "events"))
    with _org(folder) as org:
        monkeypatch.setenv("EXPORTS_DIR", str(folder / "exports-incremental"))
        org.run(incremental, monkeypatch)
        for batch in batches:
            for kind, first, second in batch:
                org.change(kind, first, second, incremental)
            org.run(incremental, monkeypatch)
        org.run(incremental, monkeypatch)  # pulls back what the last run pushed
        salesforce_before = _salesforce_state(org.emulator)
        monkeypatch.setenv("EXPORTS_DIR", str(folder / "exports-fresh"))
        org.run(fresh, monkeypatch)
        salesforce_after = _salesforce_state(org.emulator)
    settings = load_settings(org.settings_path)
    changed, scratch = (_comparable(_marketing_state(url), settings) for url in (incremental, fresh))
    labels = ("from scratch", "change-driven")
    differences = (_differences(scratch, changed, labels) + _differences(_outputs(fresh), _outputs(incremental), labels)
                   + [f"the sync from scratch changed Salesforce: {line}" for line in _differences(
                       _without_task_records(salesforce_before), _without_task_records(salesforce_after),
                       ("before", "after"))])
    assert not differences, (f"{len(differences)} difference(s) after the changes {batches}:\n"
                             + "\n".join(differences[:40]))
