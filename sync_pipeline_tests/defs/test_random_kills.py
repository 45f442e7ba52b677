"""Killed at random points and re-run, the main job ends in the state of an uninterrupted history, on both backends.

Two orgs from the same seed, two marketing databases of the same backend, the same engagement event files and the
same changes between runs. The uninterrupted history runs the job once per round. The killed history runs it in a
child process that is SIGKILLed at a seeded random moment a few times per round (one kill inside a random step of
the pull, one of the audience, one of the push, in a random order), then lets a last run finish. The rounds: a
first sync; then changes on both sides (see ``_changes``); then a run with nothing changed and no kill, so that
each history has pulled back what it wrote. Then All Contacts, the list memberships, the consent ledger and both orgs
(the fields the sync reads or writes on every Lead and Contact, every Task with its key and record) must not
differ at all; every difference is printed with the seed and where each kill landed.

The scoring clock is pinned per round, the same in both histories: scores decay with time and the two histories run
seconds apart, which is not what this test is about.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.context
import multiprocessing.process
import os
import random
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

import sync_pipeline.steps.scoring as scoring_defs
from sync_pipeline.defs.audience import all_contacts, list_asset, sales_users
from sync_pipeline.defs.pull import MIRROR_ASSETS
from sync_pipeline.defs.push import activity_tasks, new_leads, salesforce_push
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.defs.salesforce import salesforce_connection
from sync_pipeline.defs.scoring import engagement_events, lead_score_maintenance
from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.salesforce.connect import SalesforceResource
from sync_pipeline.settings import load_settings
from sync_pipeline.store.push_state import record_edit

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("RANDOM_KILL_SEED", "20250611"))  # set it to replay a failure or to try other kills
ORG_SEED, ORG_SCALE = 9, 200
QUIET_SECONDS = 1.05  # pull windows end at the last whole second before a run: changes must be older than that
RUN_TIMEOUT_SECONDS = 180.0

# The parts of the job a kill aims at: a random step of the part, at a random moment of that step's duration in
# the uninterrupted history's run of the same round.
PARTS: dict[str, Callable[[str], bool]] = {
    "pull": lambda step: step == "salesforce_connection" or step.startswith("sf_"),
    "audience": lambda step: step in ("all_contacts", "sales_users") or step.startswith("list_"),
    "push": lambda step: step in ("salesforce_push", "activity_tasks", "new_leads"),
}
STEP_STARTED = re.compile(r'Started execution of step "([^"]+)"')  # Dagster's log line of a step's start


# ---------------------------------------------------------------------------------------------------------------
# One run of the job, the same in the test process and in a child


@dataclass(frozen=True)
class JobTarget:
    """What one run of the job needs: the org, the marketing database, the settings and folders, the clock."""

    org_url: str
    username: str
    password: str
    security_token: str
    database_url: str
    settings_path: str
    events_dir: str
    exports_dir: str
    scoring_now: datetime


def _pinned_clock(at: datetime) -> type[datetime]:
    """A ``datetime`` whose ``now()`` is always ``at``."""

    class Pinned(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return at.astimezone(tz) if tz is not None else at.astimezone().replace(tzinfo=None)

    return Pinned


def _materialize(target: JobTarget, instance: dg.DagsterInstance) -> dg.ExecuteInJobResult:
    """The main job without its analyst outputs and report lists: the connection, the mirrors, All Contacts, the
    users and lists, the events, the maintenance step, the push, the Tasks and the new Leads."""
    settings = load_settings(Path(target.settings_path))
    lists = [list_asset(item) for item in settings.lists if not item.source.report]
    assets = [salesforce_connection, *MIRROR_ASSETS, all_contacts, sales_users, *lists, engagement_events,
              lead_score_maintenance, salesforce_push, activity_tasks, new_leads]
    resources = {
        "salesforce": SalesforceResource(username=target.username, password=target.password,
                                         security_token=target.security_token, emulator_url=target.org_url),
        "marketing_db": MarketingDatabase(url=target.database_url),
        "sync_settings": SyncSettingsResource(path=target.settings_path),
    }
    return dg.materialize(assets, resources=resources, instance=instance, raise_on_error=False)


def _child_run(target: JobTarget, log_path: str) -> None:
    """The run of a child process; everything it prints (Dagster's log of the run) goes to ``log_path``."""
    log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the life of the process
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    os.environ["ENGAGEMENT_EVENTS_DIR"] = target.events_dir
    os.environ["EXPORTS_DIR"] = target.exports_dir
    scoring_defs.datetime = _pinned_clock(target.scoring_now)  # type: ignore[misc]
    result = _materialize(target, dg.DagsterInstance.ephemeral())
    sys.exit(0 if result.success else 1)


def _forkserver() -> multiprocessing.context.ForkServerContext:
    """Children forked from a server that imported Dagster and the pipeline once: a fresh interpreter would pay
    that import (seconds) on every run."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


# ---------------------------------------------------------------------------------------------------------------
# The two histories


@dataclass
class Kill:
    """One kill of a child's run: which step it waits for, how long after that step started, where it landed."""

    in_round: int
    part: str
    target: str
    fraction: float  # of the target's duration in the uninterrupted run
    delay: float
    landed_in: str | None = None  # the step running when killed; None when the run ended before the kill
    exit_code: int | None = None

    def __str__(self) -> str:
        where = (f"killed in {self.landed_in}" if self.landed_in else
                 f"the run ended before the kill (exit code {self.exit_code})")
        return (f"round {self.in_round}: {self.part}, {self.delay:.3f}s after step {self.target} started "
                f"(fraction {self.fraction:.3f}) -> {where}")


@dataclass
class History:
    """One org and one marketing database, the folders and settings their runs use, and when the org last changed."""

    name: str
    org: RunningEmulator
    database_url: str
    folder: Path
    settings_path: Path
    changed_at: float = field(default_factory=time.time)
    kills: list[Kill] = field(default_factory=list)

    @property
    def events_dir(self) -> Path:
        return self.folder / "events"

    def target(self, scoring_now: datetime) -> JobTarget:
        return JobTarget(self.org.url, self.org.username, self.org.password, self.org.security_token,
                         self.database_url, str(self.settings_path), str(self.events_dir),
                         str(self.folder / "exports"), scoring_now)

    def wait_until_quiet(self) -> None:
        """A run's pull must see every change made before it (its window ends at the last whole second)."""
        time.sleep(max(0.0, self.changed_at + QUIET_SECONDS - time.time()))


def _settings_file(folder: Path) -> Path:
    """The demo settings, with the Leads list creating new Leads for form submitters (so new_leads has work)."""
    data = yaml.safe_load((ROOT / "data" / "sync.yaml").read_text())
    data["lists"][0]["push"]["add_new"] = True
    path = folder / "sync.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@contextmanager
def _history(name: str, tmp_path: Path, database_url: str, anchor: datetime) -> Iterator[History]:
    """An org of the seed (generated as of ``anchor``) with its events, and a marketing database of its own."""
    folder = tmp_path / name
    (folder / "events").mkdir(parents=True)
    with running_emulator(seed=ORG_SEED, scale=ORG_SCALE, anchor=anchor,
                          events_path=folder / "events" / "seed.jsonl") as org:
        yield History(name, org, database_url, folder, _settings_file(folder))


# ---------------------------------------------------------------------------------------------------------------
# What changes between runs (the same records in both orgs: they come from the same seed)


def _write_events(history: History, name: str, events: list[dict[str, Any]]) -> None:
    (history.events_dir / name).write_text("".join(json.dumps(event) + "\n" for event in events))


def _edit(history: History, crm_id: str, column: str, value: object) -> None:
    engine = sa.create_engine(history.database_url)
    try:
        with engine.begin() as conn:
            key = conn.execute(sa.text("SELECT contact_key FROM contact_links WHERE crm_id = :i"),
                               {"i": crm_id}).scalar_one()
            record_edit(conn, key, column, value, datetime.now(UTC), source="test")
    finally:
        engine.dispose()


def _changes(history: History, when: datetime) -> None:
    """What happens between the first run and the second.

    In Salesforce: a Lead renamed, one retitled, one deleted, one converted whose new Contact then opts out (it
    also engages below), an opted-out Lead converted (its Contact is opted out too), another opted-out Lead
    un-ticking the box (the push ticks it again), a Contact opting out, two new Leads with the emails of existing
    Leads, and two new Leads of one new person (people with several records). On the marketing side: an
    unsubscribe, a hard bounce, a click and a form of the converted Lead, a form from someone Salesforce does not
    hold (new_leads creates a Lead), and an edited first name (pushed: the field is two-way).
    """
    sf = history.org.salesforce()
    leads = sf.query("SELECT Id, Email, Company FROM Lead WHERE IsConverted = false AND HasOptedOutOfEmail = false "
                     "AND EmailBouncedReason = null AND Email LIKE '%@example.com' ORDER BY Id LIMIT 9")["records"]
    renamed, retitled, deleted, converting, unsubscribing, bouncing, edited, *duplicated = leads
    opted_out = sf.query("SELECT Id FROM Lead WHERE IsConverted = false AND HasOptedOutOfEmail = true "
                         "ORDER BY Id LIMIT 2")["records"]
    contact = sf.query("SELECT Id FROM Contact WHERE HasOptedOutOfEmail = false AND Email != null "
                       "ORDER BY Id LIMIT 1")["records"][0]
    sf.Lead.update(renamed["Id"], {"FirstName": "Renamed", "Phone": "+1 555 0101"})
    sf.Lead.update(retitled["Id"], {"Title": "VP Marketing", "Status": "Working - Contacted"})
    sf.Lead.delete(deleted["Id"])
    converted = history.org.admin("POST", "convert_lead", {"lead_id": converting["Id"]})
    sf.Contact.update(converted["contact_id"], {"HasOptedOutOfEmail": True})
    history.org.admin("POST", "convert_lead", {"lead_id": opted_out[0]["Id"]})
    sf.Lead.update(opted_out[1]["Id"], {"HasOptedOutOfEmail": False})
    sf.Contact.update(contact["Id"], {"HasOptedOutOfEmail": True})
    for lead in duplicated:
        sf.Lead.create({"LastName": "Second Record", "Company": lead["Company"], "Email": lead["Email"]})
    for first_name in ("Once", "Twice"):  # the same person sent the same web form twice
        sf.Lead.create({"FirstName": first_name, "LastName": "Doubled", "Company": "Doubled Inc",
                        "Email": "doubled@doubled.example.com"})
    at = when.isoformat(timespec="seconds")
    _write_events(history, "changes.jsonl", [
        {"event_id": "rk-unsub-1", "event_type": "unsubscribe", "email": unsubscribing["Email"], "occurred_at": at},
        {"event_id": "rk-bounce-1", "event_type": "hard_bounce", "email": bouncing["Email"], "occurred_at": at,
         "reason": "550 5.1.1 mailbox does not exist"},
        {"event_id": "rk-click-1", "event_type": "email_click", "email": converting["Email"], "occurred_at": at,
         "campaign": "Spring Product Webinar", "email_name": "Webinar invite", "url": "https://example.com/webinar"},
        {"event_id": "rk-form-1", "event_type": "form_submit", "email": converting["Email"], "occurred_at": at,
         "form": "Demo request"},
        {"event_id": "rk-form-2", "event_type": "form_submit", "email": "new.person@newco.example.com",
         "occurred_at": at, "form": "Contact us"},
    ])
    _edit(history, edited["Id"], "first_name", "Edited")


@dataclass(frozen=True)
class Round:
    """The changes made before a round's runs, and how many times the killed history's run is killed."""

    change: Callable[[History, datetime], None] | None
    kills: int


# A first sync; then the changes; then nothing changed and no kill: each history pulls back what it wrote.
ROUNDS = (Round(None, 3), Round(_changes, 3), Round(None, 0))


# ---------------------------------------------------------------------------------------------------------------
# Running the two histories


def _run_uninterrupted(history: History, scoring_now: datetime, monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """One run in this process; returns how long each of its steps took (seconds)."""
    monkeypatch.setenv("ENGAGEMENT_EVENTS_DIR", str(history.events_dir))
    monkeypatch.setenv("EXPORTS_DIR", str(history.folder / "exports"))
    monkeypatch.setattr(scoring_defs, "datetime", _pinned_clock(scoring_now))
    instance = dg.DagsterInstance.ephemeral()
    history.wait_until_quiet()
    result = _materialize(history.target(scoring_now), instance)
    history.changed_at = time.time()
    failures = [e.event_specific_data.error.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert result.success, failures
    started: dict[str, float] = {}
    took: dict[str, float] = {}
    for entry in instance.all_logs(result.run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value == "STEP_SUCCESS":
            took[event.step_key] = entry.timestamp - started[event.step_key]
    return took


def _kill_plan(rng: random.Random, number: int, count: int, took: dict[str, float]) -> list[Kill]:
    """``count`` kills, one per part of the job in a random order (then again): each after a random step of its
    part started, at a random moment of that step's duration."""
    parts = [part for _ in range(count) for part in rng.sample(sorted(PARTS), len(PARTS))][:count]
    kills = []
    for part in parts:
        target = rng.choice(sorted(name for name in took if PARTS[part](name)))
        fraction = rng.random()
        kills.append(Kill(number, part, target, fraction, fraction * took[target]))
    return kills


class _LogTail:
    """The steps a child's run has started so far, read from its log as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = ""
        self.steps: list[str] = []

    def started(self) -> list[str]:
        if self.path.exists():
            with self.path.open(encoding="utf-8", errors="replace") as handle:
                handle.seek(self.offset)
                text = self.partial + handle.read()
                self.offset = handle.tell()
            *lines, self.partial = text.split("\n")
            self.steps.extend(match.group(1) for line in lines if (match := STEP_STARTED.search(line)))
        return self.steps


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _start_child(context: multiprocessing.context.ForkServerContext, target: JobTarget,
                 log: Path) -> multiprocessing.process.BaseProcess:
    process = context.Process(target=_child_run, args=(target, str(log)), daemon=True)
    process.start()
    return process


def _kill_during(process: multiprocessing.process.BaseProcess, log: Path, kill: Kill) -> None:
    """Wait until the child starts the kill's target step, then ``kill.delay`` seconds, then SIGKILL it."""
    tail = _LogTail(log)
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while kill.target not in tail.started() and process.is_alive():
        assert time.monotonic() < deadline, f"{kill.target} did not start within the timeout:\n{_tail(log)}"
        time.sleep(0.005)
    fire = time.monotonic() + kill.delay
    while process.is_alive() and time.monotonic() < fire:
        time.sleep(0.002)
    process.kill()
    process.join(RUN_TIMEOUT_SECONDS)
    steps = tail.started()
    kill.exit_code = process.exitcode
    kill.landed_in = steps[-1] if process.exitcode == -signal.SIGKILL and steps else None


def _run_with_kills(history: History, context: multiprocessing.context.ForkServerContext, number: int,
                    scoring_now: datetime, kills: list[Kill]) -> None:
    """The job in child processes: killed once per planned kill, each re-run at once, then let finish."""
    history.wait_until_quiet()
    target = history.target(scoring_now)
    for attempt, kill in enumerate(kills):
        log = history.folder / f"round{number}-attempt{attempt}.log"
        _kill_during(_start_child(context, target, log), log, kill)
        history.kills.append(kill)
    log = history.folder / f"round{number}-last.log"
    process = _start_child(context, target, log)
    process.join(RUN_TIMEOUT_SECONDS)
    if process.is_alive():
        process.kill()
        process.join()
    history.changed_at = time.time()
    assert process.exitcode == 0, f"the run after the kills failed (exit code {process.exitcode}):\n{_tail(log)}"


# ---------------------------------------------------------------------------------------------------------------
# The state to compare

# A surrogate key, times of the run or org, and the change stamp (a killed write is written again: a later stamp).
PEOPLE_IGNORED = {"contact_key", "updated_at", "system_modstamp", "change_seq"}
MEMBERS_IGNORED = {"contact_key", "added_at", "updated_at", "removed_at"}
LEAD_FIELDS = ("Email", "FirstName", "LastName", "Title", "Phone", "Company", "Status", "Behavior_Score__c",
               "HasOptedOutOfEmail", "EmailBouncedReason", "EmailBouncedDate", "IsConverted", "ConvertedContactId",
               "IsDeleted", "Marketing_Id__c")
CONTACT_FIELDS = ("Email", "FirstName", "LastName", "Title", "Phone", "Behavior_Score__c", "HasOptedOutOfEmail",
                  "EmailBouncedReason", "EmailBouncedDate", "IsDeleted")
TASK_FIELDS = ("Marketing_Activity_Key__c", "WhoId", "Subject", "ActivityDate", "Status", "Type", "IsDeleted")

State = dict[str, dict[Any, Any]]


def _marketing_state(url: str) -> State:
    """All Contacts per person, list members per list and record, and the consent ledger as a multiset.

    A person is named by the Salesforce records linked to them (``contact_key`` is a surrogate)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            records: dict[str, list[str]] = {}
            for key, crm_id in conn.execute(sa.text("SELECT contact_key, crm_id FROM contact_links")):
                records.setdefault(key, []).append(crm_id)
            person = {key: "+".join(sorted(ids)) for key, ids in records.items()}

            def who(key: str | None) -> str:
                return person.get(key, f"(no linked record: {key})") if key is not None else "(none)"

            def table(name: str) -> sa.Table:
                return sa.Table(name, sa.MetaData(), autoload_with=conn)

            people: dict[Any, Any] = {}
            for row in conn.execute(sa.select(table("all_contacts"))).mappings():
                values = {k: v for k, v in row.items() if k not in PEOPLE_IGNORED}
                if values["behavioral_score"] is not None:
                    values["behavioral_score"] = round(values["behavioral_score"], 2)
                people[who(row["contact_key"])] = values
            members: dict[Any, Any] = {}
            for row in conn.execute(sa.select(table("list_members"))).mappings():
                values = {k: v for k, v in row.items() if k not in MEMBERS_IGNORED}
                members[(row["list_name"], row["crm_id"])] = {**values, "person": who(row["contact_key"])}
            ledger = Counter(
                (who(key), crm_id, system, old, new) for key, crm_id, system, old, new in conn.execute(
                    sa.text("SELECT contact_key, crm_id, system, old_value, new_value FROM consent_ledger")))
    finally:
        engine.dispose()
    return {"all_contacts": people, "list_members": members, "consent_ledger": dict(ledger)}


def _salesforce_state(org: RunningEmulator) -> State:
    """Every Lead and Contact (deleted ones too) with the fields the sync reads or writes, and the Tasks."""
    sf = org.salesforce()
    records: dict[Any, Any] = {}
    for name, fields in (("Lead", LEAD_FIELDS), ("Contact", CONTACT_FIELDS)):
        rows = sf.query_all(f"SELECT Id, {', '.join(fields)} FROM {name}", include_deleted=True)["records"]
        records.update({(name, row["Id"]): {f: row[f] for f in fields} for row in rows})
    tasks = sf.query_all(f"SELECT {', '.join(TASK_FIELDS)} FROM Task", include_deleted=True)["records"]
    leads = sum(1 for name, _ in records if name == "Lead")
    return {"salesforce records": records,
            "salesforce tasks": dict(Counter(tuple(task[f] for f in TASK_FIELDS) for task in tasks)),
            "salesforce counts": {"Lead": leads, "Task": len(tasks)}}


def _differences(uninterrupted: State, killed: State,
                 labels: tuple[str, str] = ("uninterrupted", "killed")) -> list[str]:
    """One line per key whose value differs between the histories (for rows: the columns that differ)."""
    first, second = labels
    lines = []
    for section, expected in uninterrupted.items():
        actual = killed[section]
        for key in sorted(expected.keys() | actual.keys(), key=repr):
            left, right = expected.get(key), actual.get(key)
            if left == right:
                continue
            if isinstance(left, dict) and isinstance(right, dict):
                changed = {c: (left.get(c), right.get(c)) for c in left.keys() | right.keys()
                           if left.get(c) != right.get(c)}
                lines.append(f"{section} {key}: " + ", ".join(
                    f"{c} {a!r} {first} / {b!r} {second}" for c, (a, b) in sorted(changed.items())))
            else:
                lines.append(f"{section} {key}: {left!r} {first} / {right!r} {second}")
    return lines


# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def killed_database_url(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A second fresh marketing database of the same backend as ``database_url``."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'marketing-killed.db'}"
    return request.getfixturevalue("postgres_database")()


def test_a_job_killed_at_random_points_ends_as_an_uninterrupted_one(
        database_url: str, killed_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No difference at all between the two histories after the same changes (see the module docstring)."""
    rng = random.Random(SEED)
    context = _forkserver()
    now = datetime.now(UTC)
    anchor = now.replace(hour=0, minute=0, second=0, microsecond=0)  # both orgs generated as of the same day
    lines = []
    with _history("uninterrupted", tmp_path, database_url, anchor) as plain, \
            _history("killed", tmp_path, killed_database_url, anchor) as killed:
        for number, round_ in enumerate(ROUNDS):
            scoring_now = datetime.now(UTC)
            if round_.change:
                for history in (plain, killed):
                    round_.change(history, now - timedelta(hours=1))
                    history.changed_at = time.time()
            started = time.perf_counter()
            took = _run_uninterrupted(plain, scoring_now, monkeypatch)
            middle = time.perf_counter()
            _run_with_kills(killed, context, number, scoring_now, _kill_plan(rng, number, round_.kills, took))
            lines.append(f"round {number}: uninterrupted run {middle - started:.1f}s, killed history "
                         f"{time.perf_counter() - middle:.1f}s ({round_.kills} kills)")
        differences = _differences({**_marketing_state(plain.database_url), **_salesforce_state(plain.org)},
                                   {**_marketing_state(killed.database_url), **_salesforce_state(killed.org)})
    # A re-run that fails by itself (not killed) did not cope with what a kill left: a difference too.
    differences += [f"a run failed by itself before its kill ({kill}); its log is in {killed.folder}"
                    for kill in killed.kills if kill.exit_code not in (0, -signal.SIGKILL)]
    report = "\n".join([f"seed {SEED} (RANDOM_KILL_SEED replays it)", *lines, "kills:",
                        *(f"  {kill}" for kill in killed.kills)])
    print(report)  # on a failure pytest shows it under the captured output
    assert not differences, (f"{len(differences)} difference(s) between the histories (seed {SEED}; the kills are in "
                             "the captured output):\n" + "\n".join(differences))
