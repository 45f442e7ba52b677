"""The engagement_events asset alone (no Salesforce): bad files cost their bad lines, never the run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from sync_pipeline.defs.resources import MarketingDatabase
from sync_pipeline.defs.scoring import engagement_events
from sync_pipeline_tests.defs.helpers import query_rows


def _event(event_id: str, **fields: str) -> bytes:
    return json.dumps({"event_id": event_id, "event_type": "email_open", "email": f"{event_id}@example.com",
                       "occurred_at": "2026-02-01T10:00:00Z", **fields}, ensure_ascii=False).encode()


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    events = tmp_path / "events"
    events.mkdir()
    monkeypatch.setenv("ENGAGEMENT_EVENTS_DIR", str(events))
    return events


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


def _read(database_url: str, instance: dg.DagsterInstance) -> tuple[str, dict]:
    """Materialize engagement_events once: its run id and metadata."""
    result = dg.materialize([engagement_events], resources={"marketing_db": MarketingDatabase(url=database_url)},
                            instance=instance)
    [materialization] = result.asset_materializations_for_node("engagement_events")
    return result.run_id, {key: value.value for key, value in materialization.metadata.items()}


def _events(database_url: str) -> list[tuple]:
    return query_rows(database_url, "SELECT event_id, source, campaign FROM engagement_events ORDER BY event_id")


def _quarantine(database_url: str) -> list[tuple]:
    return query_rows(database_url, "SELECT run_id, source, record_id, field, reason FROM quarantine "
                                    "WHERE object_name = 'engagement_event' ORDER BY record_id")


def test_a_bad_byte_costs_its_line_and_every_other_line_and_file_is_read(
        database_url: str, folder: Path, instance: dg.DagsterInstance) -> None:
    (folder / "a.jsonl").write_bytes(b"\n".join([
        b"\xef\xbb\xbf" + _event("a1"),  # a byte-order mark: the first line still parses
        b'{"event_id": "a2", "campaign": "Caf\xe9"}',  # Latin-1, not UTF-8
        _event("a3", campaign="Café"),
    ]) + b"\n")
    (folder / "b.jsonl").write_bytes(_event("b1") + b"\n" + _event("b2", occurred_at="1970-01-01T00:00:00Z") + b"\n")

    run_id, metadata = _read(database_url, instance)

    assert _events(database_url) == [("a1", "a.jsonl", None), ("a3", "a.jsonl", "Café"), ("b1", "b.jsonl", None)]
    assert _quarantine(database_url) == [
        (run_id, "a.jsonl", "a.jsonl:2", "line",
         "not valid UTF-8 (byte 0xe9 at column 36); re-export the file as UTF-8"),
        (run_id, "b.jsonl", "b2", "occurred_at",
         "occurred_at is before 2000-01-01T00:00:00+00:00 (an unset date or a clock or export error)"),
    ]
    assert (metadata["files_read"], metadata["new_events"], metadata["records_quarantined"]) == (2, 3, 2)
    assert query_rows(database_url, "SELECT events, rejected FROM ingested_files ORDER BY path") == [(2, 1), (1, 1)]

    # Both files are remembered: the next run reads nothing and changes nothing.
    _, again = _read(database_url, instance)
    assert (again["files_read"], again["new_events"]) == (0, 0)
    assert len(_quarantine(database_url)) == 2


def test_a_line_completed_after_a_read_leaves_no_stale_quarantine_row(
        database_url: str, folder: Path, instance: dg.DagsterInstance) -> None:
    path = folder / "live.jsonl"
    other = folder / "other.jsonl"
    other.write_bytes(b"{broken\n")
    cut = len(_event("e3")) // 2
    path.write_bytes(_event("e1") + b"\n" + b"{broken\n" + _event("e3")[:cut])  # the writer is mid-line

    first_run, first = _read(database_url, instance)

    assert _events(database_url) == [("e1", "live.jsonl", None)]
    unfinished = _quarantine(database_url)
    assert [row[1:4] for row in unfinished] == [("live.jsonl", "live.jsonl:2", "line"),
                                                ("live.jsonl", "live.jsonl:3", "line"),
                                                ("other.jsonl", "other.jsonl:1", "line")]
    assert "the file may still be being written" in unfinished[1][4]
    assert first["records_quarantined"] == 3

    with path.open("ab") as handle:  # the writer finishes the line and adds another
        handle.write(_event("e3")[cut:] + b"\n" + _event("e4") + b"\n")
    second_run, second = _read(database_url, instance)

    assert second_run != first_run
    assert _events(database_url) == [("e1", "live.jsonl", None), ("e3", "live.jsonl", None),
                                     ("e4", "live.jsonl", None)]
    # Only the line still broken is left, recorded once, by the run that first refused it; the other file's row
    # is untouched (that file was not read again).
    assert [row[:4] for row in _quarantine(database_url)] == [
        (first_run, "live.jsonl", "live.jsonl:2", "line"),
        (first_run, "other.jsonl", "other.jsonl:1", "line"),
    ]
    assert (second["files_read"], second["new_events"], second["records_quarantined"]) == (1, 2, 1)


def test_nul_characters_cost_their_line_on_every_backend(
        database_url: str, folder: Path, instance: dg.DagsterInstance) -> None:
    (folder / "nul.jsonl").write_bytes(b"\n".join([
        _event("n1", campaign="Spring\x00"),  # written escaped, as JSON does: \u0000
        b'{"event_id": "n2\x00"}',  # a raw NUL byte: not JSON
        _event("n3"),
    ]) + b"\n")

    _, metadata = _read(database_url, instance)

    assert _events(database_url) == [("n3", "nul.jsonl", None)]
    assert [row[2:4] for row in _quarantine(database_url)] == [("n1", "campaign"), ("nul.jsonl:2", "line")]
    assert query_rows(database_url, "SELECT value FROM quarantine WHERE record_id = 'n1'") == [("Spring\\x00",)]
    assert metadata["records_quarantined"] == 2


def test_a_missing_or_empty_events_folder_fails_its_check_not_silently(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance) -> None:
    database_url = f"sqlite:///{tmp_path / 'marketing.db'}"
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("ENGAGEMENT_EVENTS_DIR", str(missing))
    result = dg.materialize([engagement_events], resources={"marketing_db": MarketingDatabase(url=database_url)},
                            instance=instance)
    [check] = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed, check.severity) == ("events_folder", False, dg.AssetCheckSeverity.ERROR)
    assert check.description.startswith(f"the events folder {missing} does not exist")
    assert "ENGAGEMENT_EVENTS_DIR" in check.description
    warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == 30]  # logging.WARNING
    assert any("does not exist" in message for message in warnings)

    missing.mkdir()  # there now, but nothing has arrived
    result = dg.materialize([engagement_events], resources={"marketing_db": MarketingDatabase(url=database_url)},
                            instance=instance)
    [check] = result.get_asset_check_evaluations()
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert "holds no *.jsonl event file" in check.description

    (missing / "day.jsonl").write_bytes(_event("e-1") + b"\n")
    result = dg.materialize([engagement_events], resources={"marketing_db": MarketingDatabase(url=database_url)},
                            instance=instance)
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.description == f"1 event file(s) in {missing}"
