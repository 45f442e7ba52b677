"""Pulling objects from the emulator into mirror tables, on SQLite and PostgreSQL, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa

import sync_pipeline.salesforce.query as query_module
import sync_pipeline.steps.pull as pull_module
from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.salesforce.connect import open_connection
from sync_pipeline.salesforce.errors import SalesforceLimitReached
from sync_pipeline.settings.login import AuthMode
from sync_pipeline.steps.pull import PullOptions, PullResult, pull_object
from sync_pipeline.store.engine import make_engine
from sync_pipeline.store.migrate import upgrade_to_head
from sync_pipeline.store.sync_state import read_sync_state

FIELDS = ["Id", "SystemModstamp", "IsDeleted", "Email", "FirstName", "LastName", "Company", "Title", "OwnerId",
          "IsConverted", "ConvertedContactId", "Behavior_Score__c", "HasOptedOutOfEmail"]
REST = PullOptions(bulk_threshold=1_000_000)
BULK = PullOptions(bulk_threshold=1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_db(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], sa.Engine]:
    """A factory of fresh, migrated marketing databases of the parametrized backend."""
    engines: list[sa.Engine] = []

    def make() -> sa.Engine:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / f'marketing{len(engines)}.db'}"
        else:
            url = request.getfixturevalue("postgres_database")()
        engine = make_engine(url)
        upgrade_to_head(engine)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(seed=3, scale=400, page_size=100) as emulator:
        yield emulator


def _pull(emu: RunningEmulator, engine: sa.Engine, options: PullOptions = REST, *, client=None,
          at: datetime | None = None) -> PullResult:
    time.sleep(0.01)
    return pull_object(client or emu.salesforce(), engine, "Lead", FIELDS, fields_hash="fields-v1",
                       run_started_at=at or datetime.now(UTC), options=options)


def _mirror(engine: sa.Engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT id, system_modstamp, is_deleted, email, title, isconverted, convertedcontactid, behavior_score__c "
            "FROM sf_lead")).fetchall()
    return {row[0]: (str(row[1])[:23], bool(row[2]), *row[3:]) for row in rows}


def _wait_next_second() -> None:
    """Pull windows end at the last whole second before the run: let the clock pass one."""
    time.sleep(1.05)


def _calls(emu: RunningEmulator) -> int:
    return emu.admin("GET", "stats")["api_calls"]


@pytest.mark.parametrize("options", [REST, BULK], ids=["rest", "bulk"])
def test_full_pull_mirrors_every_record_with_deleted_ones(emu: RunningEmulator, make_db, options) -> None:
    engine = make_db()
    result = _pull(emu, engine, options)
    sf = emu.salesforce()
    expected = sf.query_all("SELECT Id, Email, IsDeleted FROM Lead", include_deleted=True)["records"]
    mirror = _mirror(engine)
    assert result.plan.is_full and result.used_bulk is (options is BULK)
    assert set(mirror) == {r["Id"] for r in expected} and len(mirror) == 400
    assert {i for i, row in mirror.items() if row[1]} == {r["Id"] for r in expected if r["IsDeleted"]}
    one = next(r for r in expected if r["Email"])
    assert mirror[one["Id"]][2] == one["Email"]
    with engine.connect() as conn:
        state = read_sync_state(conn, "Lead")
    assert state.cursor == result.plan.upper and state.mapped_fields_hash == "fields-v1"


def test_incremental_sees_changes_deletes_conversions_and_new_records(emu: RunningEmulator, make_db) -> None:
    engine = make_db()
    _pull(emu, engine)
    sf = emu.salesforce()
    leads = [r["Id"] for r in sf.query("SELECT Id FROM Lead WHERE IsConverted = false ORDER BY Id LIMIT 4")["records"]]
    sf.Lead.update(leads[0], {"Title": "Changed"})
    sf.Lead.delete(leads[1])
    converted = emu.admin("POST", "convert_lead", {"lead_id": leads[2]})
    new = sf.Lead.create({"LastName": "New", "Company": "Fresh", "Email": "new@example.com"})["id"]
    _wait_next_second()
    calls_before = _calls(emu)
    result = _pull(emu, engine)
    mirror = _mirror(engine)
    assert not result.plan.is_full and result.changed == 4 and result.rows_written == 4
    assert mirror[leads[0]][3] == "Changed"
    assert mirror[leads[1]][1] is True
    assert mirror[leads[2]][4] == "true" and mirror[leads[2]][5] == converted["contact_id"]
    assert mirror[new][2] == "new@example.com"
    assert _calls(emu) - calls_before == 2  # COUNT() + one page of changes (the deleted check ran with the full)


def test_no_change_writes_nothing_with_one_call(emu: RunningEmulator, make_db) -> None:
    engine = make_db()
    _pull(emu, engine)
    before = _mirror(engine)
    _wait_next_second()
    calls_before = _calls(emu)
    result = _pull(emu, engine)
    assert result.changed == 0 and result.rows_written == 0 and result.pages == 0
    assert _calls(emu) - calls_before == 1
    assert _mirror(engine) == before


def test_boundary_and_during_run_changes_are_not_lost(emu: RunningEmulator, make_db) -> None:
    engine = make_db()
    sf = emu.salesforce()
    no_lookback = PullOptions(lookback_minutes=0, bulk_threshold=1_000_000)
    first = _pull(emu, engine, no_lookback)
    lead = sf.query("SELECT Id FROM Lead WHERE IsConverted = false ORDER BY Id LIMIT 1")["records"][0]["Id"]
    # A record stamped exactly at the cursor is read by the next pull (>= lower bound).
    emu.state.org.db.execute("UPDATE Lead SET Title = 'At boundary', SystemModstamp = ? WHERE Id = ?",
                             (first.plan.upper.strftime("%Y-%m-%dT%H:%M:%S.000Z"), lead))
    _wait_next_second()
    second = _pull(emu, engine, no_lookback)
    assert second.plan.lower == first.plan.upper and second.changed == 1
    assert _mirror(engine)[lead][3] == "At boundary"
    # A record changed during a run (after its frozen upper bound) is read by the next run.
    run_start = datetime.now(UTC)
    _wait_next_second()
    other = sf.query("SELECT Id FROM Lead WHERE IsConverted = false ORDER BY Id DESC LIMIT 1")["records"][0]["Id"]
    sf.Lead.update(other, {"Title": "During the run"})
    third = _pull(emu, engine, no_lookback, at=run_start)
    assert third.changed == 0 and _mirror(engine)[other][3] != "During the run"
    _wait_next_second()
    fourth = _pull(emu, engine, no_lookback)
    assert fourth.changed == 1 and _mirror(engine)[other][3] == "During the run"


@pytest.mark.parametrize("options", [REST, BULK], ids=["rest", "bulk"])
def test_killed_pull_converges_on_rerun(emu: RunningEmulator, make_db, monkeypatch: pytest.MonkeyPatch,
                                        options: PullOptions) -> None:
    reference = make_db()
    _pull(emu, reference, options)
    killed = make_db()
    real_write = pull_module.write_mirror_page
    written = {"pages": 0}

    def dies_after_one_page(*args, **kwargs):
        if written["pages"] == 1:
            raise KeyboardInterrupt("killed between page writes")
        written["pages"] += 1
        return real_write(*args, **kwargs)

    monkeypatch.setattr(pull_module, "write_mirror_page", dies_after_one_page)
    with pytest.raises(KeyboardInterrupt):
        _pull(emu, killed, REST)  # REST: several pages
    monkeypatch.setattr(pull_module, "write_mirror_page", real_write)
    with killed.connect() as conn:
        assert read_sync_state(conn, "Lead") is None  # no cursor: the rows of one page only
    assert 0 < len(_mirror(killed)) < 400

    def dies_at_the_cursor(*args, **kwargs):
        raise KeyboardInterrupt("killed between the rows and the cursor")

    monkeypatch.setattr(pull_module, "write_sync_state", dies_at_the_cursor)
    with pytest.raises(KeyboardInterrupt):
        _pull(emu, killed, options)
    monkeypatch.undo()
    _pull(emu, killed, options)
    assert _mirror(killed) == _mirror(reference)


def test_purged_records_found_by_full_pull_reconciliation(emu: RunningEmulator, make_db) -> None:
    engine = make_db()
    _pull(emu, engine)
    sf = emu.salesforce()
    victim = sf.query("SELECT Id FROM Lead WHERE IsConverted = false ORDER BY Id LIMIT 1")["records"][0]["Id"]
    emu.state.org.hard_delete("Lead", victim)  # emptied from the recycle bin: queryAll no longer sees it
    _wait_next_second()
    calls_before = _calls(emu)
    result = pull_object(sf, engine, "Lead", FIELDS, fields_hash="fields-v2",  # changed fields force a full pull
                         run_started_at=datetime.now(UTC), options=REST)
    assert result.plan.is_full and result.plan.reason == "the set of pulled fields changed"
    assert result.purged == 1 and _mirror(engine)[victim][1] is True
    assert _calls(emu) - calls_before == 1 + 4 + 1  # COUNT, four pages, one Id lookup of the unseen record


def test_get_deleted_once_a_day(emu: RunningEmulator, make_db) -> None:
    engine = make_db()
    sf = emu.salesforce()
    _pull(emu, engine)
    victim = sf.query("SELECT Id FROM Lead WHERE IsConverted = false ORDER BY Id LIMIT 1")["records"][0]["Id"]
    sf.Lead.delete(victim)
    emu.state.org.hard_delete("Lead", victim)  # purged before the next pull could see it in the recycle bin
    # getDeleted answers whole minutes up to the current one: date the deletion two minutes back.
    two_minutes_ago = (datetime.now(UTC) - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    emu.state.org.db.execute("UPDATE _purged SET deleted_at = ? WHERE Id = ?", (two_minutes_ago, victim))
    _wait_next_second()
    calls_before = _calls(emu)
    result = _pull(emu, engine, at=datetime.now(UTC) + timedelta(days=1, minutes=1))
    assert result.deleted_reported == 1 and _mirror(engine)[victim][1] is True
    assert _calls(emu) - calls_before == 2  # COUNT() + getDeleted


@pytest.mark.parametrize(("options", "mode"), [(REST, AuthMode.JWT), (BULK, AuthMode.JWT),
                                               (BULK, AuthMode.CLIENT_CREDENTIALS), (BULK, AuthMode.PASSWORD)],
                         ids=["rest-jwt", "bulk-jwt", "bulk-client_credentials", "bulk-password"])
def test_session_expiry_mid_run_relogs_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: PullOptions,
                                            mode: AuthMode) -> None:
    """The session expires after the first page is written: the next page is asked again after one new login by
    the connection's own flow (REST: simple-salesforce's retry; Bulk: the pull's, at the same locator). SQLite
    only: the renewal is the client's, the same whatever the database."""
    engine = make_engine(f"sqlite:///{tmp_path / 'marketing.db'}")
    upgrade_to_head(engine)
    real_write = pull_module.write_mirror_page
    state = {"pages": 0}
    # Ten pages: the pull reads at most three pages ahead of its writes, so pages are fetched after the expiry.
    monkeypatch.setattr(pull_module, "bulk_pages", partial(query_module.bulk_pages, page_records=100))
    with running_emulator(seed=4, scale=1000, page_size=100) as emu:

        def expire_after_first_page(*args, **kwargs):
            state["pages"] += 1
            if state["pages"] == 1:
                emu.admin("POST", "faults", {"expire_sessions": True})
            return real_write(*args, **kwargs)

        monkeypatch.setattr(pull_module, "write_mirror_page", expire_after_first_page)
        client = open_connection(emu.login(mode), emulator_url=emu.url).client
        logins_before = emu.admin("GET", "stats")["logins"]
        result = _pull(emu, engine, options, client=client)
        assert result.used_bulk is (options is BULK) and result.pages == 10
        assert result.rows_written == 1000 and len(_mirror(engine)) == 1000
        assert emu.admin("GET", "stats")["logins"] == logins_before + 1  # one re-login


def test_api_limit_stops_cleanly_and_resumes(emu: RunningEmulator, make_db) -> None:
    engine = make_db()
    client = emu.salesforce()
    emu.admin("POST", "faults", {"daily_api_limit": _calls(emu) + 2})  # COUNT and one page, then refused
    with pytest.raises(SalesforceLimitReached) as stopped:
        _pull(emu, engine, client=client)
    assert "REQUEST_LIMIT_EXCEEDED" in str(stopped.value) and "resumes from the last committed cursor" in str(
        stopped.value)
    with engine.connect() as conn:
        assert read_sync_state(conn, "Lead") is None
    emu.admin("POST", "faults", {"daily_api_limit": 100_000})
    _pull(emu, engine, client=client)
    assert len(_mirror(engine)) == 400


def test_forced_full_pull(emu: RunningEmulator, make_db) -> None:
    engine = make_db()
    _pull(emu, engine)
    _wait_next_second()
    result = pull_object(emu.salesforce(), engine, "Lead", FIELDS, fields_hash="fields-v1",
                         run_started_at=datetime.now(UTC), options=PullOptions(force_full=True))
    assert result.plan.is_full and "full sync was asked for" in result.plan.reason and result.changed == 400
