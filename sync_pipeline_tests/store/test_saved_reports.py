"""A saved report's rows, on SQLite and PostgreSQL: replaced when they change, left alone (no new version) when not."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from sync_pipeline.store.saved_reports import read_report_rows, write_report
from sync_pipeline.store.versions import report_dataset, versions

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ROWS = [{"ID": "00Q5e0000000001EAA", "AMOUNT": 1200.5, "STAGE": "Prospecting"},
        {"ID": "0035e0000000001EAA", "AMOUNT": None, "STAGE": "Closed Won"}]


def _write(engine: Engine, rows: list[dict[str, object]]) -> int:
    with engine.begin() as conn:
        write_report(conn, "Active", "00O1", rows, [str(r["ID"]) for r in rows], total_rows=len(rows),
                     truncated=False, pulled_at=NOW)
        return versions(conn, [report_dataset("Active")])[report_dataset("Active")]


def test_the_report_version_moves_only_when_its_rows_change(migrated_engine: Engine) -> None:
    assert _write(migrated_engine, ROWS) == 1
    assert _write(migrated_engine, [dict(row) for row in ROWS]) == 1  # the same rows again: nothing new
    changed = [ROWS[0], {**ROWS[1], "STAGE": "Negotiation"}]
    assert _write(migrated_engine, changed) == 2
    assert _write(migrated_engine, changed[:1]) == 3  # a row left the report
    with migrated_engine.connect() as conn:
        assert read_report_rows(conn, "Active")["crm_id"].tolist() == ["00Q5e0000000001EAA"]
