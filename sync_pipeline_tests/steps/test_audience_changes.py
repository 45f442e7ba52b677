"""All Contacts built from the changed records only equals a build of every record (a property test), and examines
only the changed records and those linked to them.

The mirrors are written as the pull writes them (``write_mirror_page``); the org's describes come from the emulator.
After every sync of a random sequence of changes (new records, email and name changes, values that fail validation
and their fixes, deletes, undeletes, conversions), the stored people, links and quarantine must equal what a build
of every record makes from the same mirrors and stored links. Keys are stable (a record keeps the person it was
linked to), so the comparison takes the stored links as the build's history, as every full build does.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from sync_pipeline.emulator.testing import running_emulator
from sync_pipeline.rules.contacts import STANDARD_COLUMNS, build_all_contacts
from sync_pipeline.salesforce.connect import SalesforceConnection, open_connection
from sync_pipeline.settings import SyncSettings, load_settings
from sync_pipeline.steps import changes as changes_step
from sync_pipeline.steps.audience import AudienceResult, build_audience
from sync_pipeline.steps.connect import DESCRIBED_OBJECTS
from sync_pipeline.store.audience import read_links, read_mirror, read_people
from sync_pipeline.store.engine import make_engine
from sync_pipeline.store.migrate import upgrade_to_head
from sync_pipeline.store.mirrors import ensure_mirror_table, write_mirror_page
from sync_pipeline.store.tables import quarantine

ROOT = Path(__file__).resolve().parents[2]
EMAILS = ["ann@example.com", " Ann@Example.com ", "bob@example.com", "cy@example.com", "not an email"]
FIELDS = {"Lead": ["Id", "SystemModstamp", "IsDeleted", "CreatedDate", "Email", "FirstName", "LastName", "Company",
                   "IsConverted", "ConvertedContactId", "OwnerId", "Status"],
          "Contact": ["Id", "SystemModstamp", "IsDeleted", "CreatedDate", "Email", "FirstName", "LastName", "OwnerId"]}
PREFIX = {"Lead": "00Q", "Contact": "003"}
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Org:
    """The records as Salesforce holds them; ``changed`` are those the next pull brings."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    clock: int = 0

    def touch(self, record_id: str, **values: Any) -> None:
        self.clock += 1
        record = self.records[record_id]
        record.update(values, SystemModstamp=_stamp(START + timedelta(minutes=self.clock)))
        self.changed.add(record_id)

    def new(self, object_name: str, email: str | None, last_name: str | None) -> str:
        record_id = f"{PREFIX[object_name]}{len(self.records):012d}AAA"
        self.records[record_id] = {"Id": record_id, "IsDeleted": "false", "Email": email, "FirstName": "Pat",
                                   "LastName": last_name, "OwnerId": "005000000000001AAA",
                                   "CreatedDate": _stamp(START + timedelta(minutes=self.clock))}
        if object_name == "Lead":
            self.records[record_id].update(Company="Acme", IsConverted="false", ConvertedContactId=None,
                                           Status="Open - Not Contacted")
        self.touch(record_id)
        return record_id

    def of(self, object_name: str) -> list[str]:
        return sorted(i for i in self.records if i.startswith(PREFIX[object_name]))

    def apply(self, operation: tuple[Any, ...]) -> None:
        kind, *args = operation
        ids = sorted(self.records)
        if kind == "new":
            self.new(*args)
        elif not ids:
            return
        elif kind == "email":
            self.touch(ids[args[0] % len(ids)], Email=args[1])
        elif kind == "last_name":
            self.touch(ids[args[0] % len(ids)], LastName=args[1])
        elif kind in ("delete", "undelete"):
            self.touch(ids[args[0] % len(ids)], IsDeleted="true" if kind == "delete" else "false")
        elif kind == "convert":
            self._convert(args[0])

    def _convert(self, pick: int) -> None:
        leads = [i for i in self.of("Lead") if self.records[i]["IsConverted"] == "false"
                 and self.records[i]["IsDeleted"] == "false"]
        if leads:
            lead = leads[pick % len(leads)]
            contact = self.new("Contact", self.records[lead]["Email"], self.records[lead]["LastName"])
            self.touch(lead, IsConverted="true", ConvertedContactId=contact)

    def pull(self, engine: Engine) -> None:
        """What the pull writes: the changed records, one page per object."""
        with engine.begin() as conn:
            for object_name in ("Lead", "Contact"):
                rows = [self.records[i] for i in sorted(self.changed) if i.startswith(PREFIX[object_name])]
                table = ensure_mirror_table(conn, object_name, FIELDS[object_name])
                if rows:
                    page = pa.table({name: pa.array([row.get(name) for row in rows], pa.string())
                                     for name in FIELDS[object_name]})
                    write_mirror_page(conn, table, page)
        self.changed.clear()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


OPERATIONS = st.one_of(
    st.tuples(st.just("new"), st.sampled_from(["Lead", "Contact"]), st.sampled_from([*EMAILS, None]),
              st.sampled_from(["Lee", None])),
    st.tuples(st.just("email"), st.integers(0, 50), st.sampled_from([*EMAILS, None])),
    st.tuples(st.just("last_name"), st.integers(0, 50), st.sampled_from(["Lee", "Kim", None])),
    st.tuples(st.sampled_from(["delete", "undelete", "convert"]), st.integers(0, 50)),
)


@pytest.fixture(scope="module")
def connection() -> Iterator[SalesforceConnection]:
    with running_emulator(seed=5, scale=20) as org:
        yield open_connection(org.login(), emulator_url=org.url)


@pytest.fixture(scope="module")
def sync_settings() -> SyncSettings:
    return load_settings(ROOT / "data" / "sync.yaml")


@pytest.fixture(scope="module")
def migrated_file() -> Iterator[Path]:
    """One migrated SQLite file, copied for each example (migrating costs more than an example)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "template.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade_to_head(engine)
        engine.dispose()
        yield path


def _cells(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Rows as comparable tuples: no value is None, times are ISO text in UTC."""
    def cell(value: Any) -> Any:
        if value is None or value is pd.NA or (not isinstance(value, str) and pd.isna(value)):
            return None
        if isinstance(value, datetime | pd.Timestamp):
            return pd.Timestamp(value).tz_convert(UTC).isoformat() if pd.Timestamp(value).tzinfo else \
                pd.Timestamp(value).tz_localize(UTC).isoformat()
        return bool(value) if isinstance(value, bool) else value
    return sorted(tuple(cell(v) for v in row) for row in frame.itertuples(index=False))


def assert_equals_a_build_of_every_record(engine: Engine, sync_settings: SyncSettings,
                                          connection: SalesforceConnection) -> None:
    with engine.connect() as conn:
        leads, contacts, links = read_mirror(conn, "Lead"), read_mirror(conn, "Contact"), read_links(conn)
        stored = read_people(conn)
        problems = {(r.object_name, r.record_id, r.field, r.reason)
                    for r in conn.execute(sa.select(quarantine).where(quarantine.c.source.is_(None)))}
    describes = {name: connection.describe(name) for name in DESCRIBED_OBJECTS}
    full = build_all_contacts(leads, contacts, sync_settings, links, describes)
    columns = [c for c in full.all_contacts.columns if c in STANDARD_COLUMNS or c in stored.columns]
    expected = full.all_contacts[columns]
    got = stored[stored["contact_key"].isin(expected["contact_key"])][columns]
    assert _cells(got) == _cells(expected)
    # Every person the mirrors no longer make (all records failing now) is kept as it was, by either build.
    assert set(stored["contact_key"]) >= set(expected["contact_key"])
    assert _cells(links[links["crm_id"].isin(full.links["crm_id"])][list(full.links.columns)]) == _cells(full.links)
    assert problems == {(name, r.record_id, r.field, r.reason)
                        for name, rejections in full.rejections_by_object.items() for r in rejections}


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(OPERATIONS, min_size=1, max_size=6), min_size=2, max_size=5))
def test_building_the_changed_records_equals_a_build_of_every_record(
        batches: list[list[tuple[Any, ...]]], connection: SalesforceConnection, sync_settings: SyncSettings,
        migrated_file: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(migrated_file, Path(folder) / "marketing.db")
        engine = make_engine(f"sqlite:///{Path(folder) / 'marketing.db'}")
        org = Org()
        for email in ("ann@example.com", "bob@example.com", None):
            org.new("Lead", email, "Lee")
        org.new("Contact", "cy@example.com", "Lee")
        try:
            for number, batch in enumerate(batches):
                for operation in batch:
                    org.apply(operation)
                org.pull(engine)
                result = build_audience(engine, connection, sync_settings, f"run-{number}")
                assert isinstance(result, AudienceResult)
                assert result.full is (number == 0)
                assert_equals_a_build_of_every_record(engine, sync_settings, connection)
        finally:
            engine.dispose()


def test_one_edited_lead_rebuilds_its_person_and_those_sharing_its_email(
        tmp_path: Path, connection: SalesforceConnection, sync_settings: SyncSettings) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'marketing.db'}")
    upgrade_to_head(engine)
    org = Org()
    for number in range(30):
        org.new("Lead", f"person{number}@example.com", "Lee")
    ann = org.new("Lead", "ann@example.com", "Lee")
    org.new("Contact", "ann@example.com", "Lee")  # the same person as Ann's Lead
    org.new("Lead", "bob@example.com", "Lee")
    org.pull(engine)
    first = build_audience(engine, connection, sync_settings, "run-1")
    assert isinstance(first, AudienceResult) and first.records_examined == 33

    org.touch(ann, FirstName="Ann")
    org.pull(engine)
    second = build_audience(engine, connection, sync_settings, "run-2")
    assert isinstance(second, AudienceResult) and not second.full
    assert second.records_examined == 2  # Ann's Lead and her Contact: nobody else
    assert second.rows_written == 0  # the Contact is her primary record: her row shows its name, unchanged

    org.touch(ann, Email="bob@example.com")  # she now shares Bob's email: both people are built again
    org.pull(engine)
    third = build_audience(engine, connection, sync_settings, "run-3")
    assert isinstance(third, AudienceResult) and third.records_examined == 3
    assert third.counts["people"] == 32 and third.counts["leads"] == 32
    assert_equals_a_build_of_every_record(engine, sync_settings, connection)
    engine.dispose()


def test_when_most_records_changed_every_record_is_built_at_once(
        tmp_path: Path, connection: SalesforceConnection, sync_settings: SyncSettings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(changes_step, "WHOLE_PASS_ABOVE", 2)  # the org here is tiny; the share is what is tested
    engine = make_engine(f"sqlite:///{tmp_path / 'marketing.db'}")
    upgrade_to_head(engine)
    org = Org()
    leads = [org.new("Lead", f"person{number}@example.com", "Lee") for number in range(20)]
    org.pull(engine)
    build_audience(engine, connection, sync_settings, "run-1")
    for lead in leads[:3]:  # 3 of 20: by their links
        org.touch(lead, FirstName="Ann")
    org.pull(engine)
    some = build_audience(engine, connection, sync_settings, "run-2")
    assert isinstance(some, AudienceResult) and not some.full and some.records_examined == 3
    for lead in leads[:10]:  # 10 of 20, above a fifth: all at once
        org.touch(lead, FirstName="Bo")
    org.pull(engine)
    most = build_audience(engine, connection, sync_settings, "run-3")
    assert isinstance(most, AudienceResult) and most.full and most.records_examined == 20
    assert_equals_a_build_of_every_record(engine, sync_settings, connection)
    engine.dispose()
