"""The pure parts of the sync bench: targets met or not, entries merged into sync.json, the table, the files it writes.

The whole part (emulator, three runs of the job) is run by hand at a small size, not here: see the README's bench.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from sync_pipeline.bench.common import Emulator
from sync_pipeline.bench.sync_figures import (
    job_environment,
    merge_entry,
    summary_lines,
    targets,
    write_new_events,
    write_settings,
)
from sync_pipeline.rules.events import read_event_lines
from sync_pipeline.settings import load_settings

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def _run(wall: float, peak: int, **extra: Any) -> dict[str, Any]:
    return {"wall_seconds": wall, "run_seconds": wall - 5, "peak_memory_mb": peak, "api_calls": 9, "exit_status": 0,
            "steps": {"sf_lead": 1.5, "all_contacts": 3.25, "salesforce_push": 0.5, "roi": 0.1},
            "pulled": {"sf_lead": 7}, **extra}


def _entry(backend: str = "sqlite", leads: int = 2000, **runs: dict[str, Any]) -> dict[str, Any]:
    measured = runs or {"full": _run(300.0, 900), "no_change": _run(15.0, 401), "changes": _run(61.2, 350)}
    return {"backend": backend, "leads": leads, "contacts": leads // 4, "people_with_events": leads // 4,
            "events": 1234, "database": f"{backend}://x", "runs": measured, "targets": targets(measured)}


def test_each_target_is_beside_its_figure_met_or_not() -> None:
    rows = {(r["run"], r["figure"]): r for r in targets(_entry()["runs"])}
    assert {key: (row["limit"], row["value"], row["met"]) for key, row in rows.items()} == {
        ("no_change", "wall_seconds"): (15, 15.0, True),  # at the limit is met
        ("no_change", "peak_memory_mb"): (400, 401, False),
        ("changes", "wall_seconds"): (60, 61.2, False),
        ("full", "wall_seconds"): (480, 300.0, True),
        ("full", "peak_memory_mb"): (1024, 900, True),
    }


def test_a_run_not_measured_meets_no_target() -> None:
    rows = targets({"full": _run(10.0, 100)})
    assert [(r["run"], r["value"], r["met"]) for r in rows if r["run"] != "full"] == [
        ("no_change", None, False), ("no_change", None, False), ("changes", None, False)]


def test_an_entry_replaces_the_one_of_its_size_and_backend_and_keeps_the_others() -> None:
    document = {"entries": [_entry("sqlite", 200_000), _entry("postgresql", 1_000_000)]}
    newer = {**_entry("postgresql", 1_000_000), "events": 99}
    merged = merge_entry(document, newer)
    assert [(e["backend"], e["leads"], e["events"]) for e in merged["entries"]] == [
        ("postgresql", 1_000_000, 99), ("sqlite", 200_000, 1234)]
    assert merge_entry({}, _entry("sqlite", 2000))["entries"] == [_entry("sqlite", 2000)]
    assert [e["leads"] for e in merge_entry(merged, _entry("sqlite", 2000))["entries"]] == [1_000_000, 2000, 200_000]


def test_the_table_shows_the_runs_and_the_targets() -> None:
    entry = _entry()
    entry["runs"]["changes"]["changed"] = {"leads_changed": 1946, "events_added": 10_000}
    lines = summary_lines(entry)
    assert lines[0].startswith("sync: salesforce_sync as `dagster job execute`, 2,000 Leads + 500 Contacts, 1,234")
    assert lines[2].split() == ["full", "first", "run", "300.0", "295.0", "900", "9", "7", "0", "all_contacts", "3.2,",
                                "sf_lead", "1.5,", "salesforce_push", "0.5"]
    assert "1,946 Leads changed in Salesforce (Title), 10,000 new engagement events" in lines[5]
    assert "set for 1,000,000 Leads, shown here for reference" in lines[6]
    assert [line.split()[-1] for line in lines[7:]] == ["met", "MET", "MET", "met", "met"]
    assert "reference" not in "\n".join(summary_lines(_entry(leads=1_000_000)))


def test_the_settings_copy_has_no_lookback_and_is_otherwise_the_same(tmp_path: Path) -> None:
    source = Path("data/sync.yaml")
    write_settings(source, tmp_path / "sync.yaml")
    copied, original = load_settings(tmp_path / "sync.yaml"), load_settings(source)
    assert copied.salesforce.lookback_minutes == 0
    assert copied.model_copy(update={"salesforce": original.salesforce}) == original
    assert yaml.safe_load((tmp_path / "sync.yaml").read_text())["salesforce"]["lookback_minutes"] == 0


def test_the_new_events_are_valid_events_of_the_people_given(tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"
    assert write_new_events(path, ["ann@example.com", "bo@example.com", "cy@example.com"], 7, NOW) == 7
    batch = read_event_lines(path.read_bytes().splitlines(keepends=True), path.name, now=NOW)
    assert batch.rejections == [] and batch.duplicates == 0
    assert batch.events["email"].tolist() == ["ann@example.com", "bo@example.com", "cy@example.com"] * 2 + [
        "ann@example.com"]
    assert batch.events["event_type"].tolist() == ["email_open", "page_visit"] * 3 + ["email_open"]
    assert batch.events["event_id"].nunique() == 7


def test_the_job_gets_the_emulator_and_the_folders_and_none_of_our_salesforce_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESFORCE_CONSUMER_KEY", "of-a-real-org")
    env = job_environment(Emulator("http://127.0.0.1:1234", None), "sqlite:///m.db", tmp_path)  # type: ignore[arg-type]
    assert "SALESFORCE_CONSUMER_KEY" not in env
    assert {name: env[name] for name in ("SALESFORCE_EMULATOR_URL", "SALESFORCE_DOMAIN", "MARKETING_DB_URL",
                                         "SYNC_SETTINGS", "ENGAGEMENT_EVENTS_DIR", "EXPORTS_DIR", "DAGSTER_HOME")} == {
        "SALESFORCE_EMULATOR_URL": "http://127.0.0.1:1234", "SALESFORCE_DOMAIN": "login",
        "MARKETING_DB_URL": "sqlite:///m.db", "SYNC_SETTINGS": str(tmp_path / "sync.yaml"),
        "ENGAGEMENT_EVENTS_DIR": str(tmp_path / "events"), "EXPORTS_DIR": str(tmp_path / "exports"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    assert env["SALESFORCE_USERNAME"] and env["SALESFORCE_PASSWORD"] and env["SALESFORCE_SECURITY_TOKEN"]
