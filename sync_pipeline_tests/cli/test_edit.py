"""`sync-pipeline contacts edit`: marketing-side edits recorded for the push, with clear errors for bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from sync_pipeline.cli.edit import EditError, record_edits
from sync_pipeline.cli.main import main
from sync_pipeline.store.engine import make_engine
from sync_pipeline.store.migrate import upgrade_to_head
from sync_pipeline.store.tables import all_contacts, marketing_edits

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def _person(key: str, email: str, **extra: object) -> dict[str, object]:
    return {"contact_key": key, "email": email, "crm_type": "Lead", "crm_id": key, "first_name": "Ann",
            "opted_out": False, "hard_bounced": False, "is_active": True, "updated_at": NOW, **extra}


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'marketing.db'}")
    upgrade_to_head(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(all_contacts), [_person("K1", "ann@example.com"), _person("K2", "dup@example.com"),
                                               _person("K3", "dup@example.com")])
    return engine


def _edits(engine: sa.Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(
            marketing_edits.c.contact_key, marketing_edits.c.column_name, marketing_edits.c.value,
            marketing_edits.c.old_value, marketing_edits.c.status, marketing_edits.c.source))]


def test_an_edit_of_a_column_added_at_run_time_keeps_its_old_value(engine: sa.Engine) -> None:
    with engine.begin() as conn:  # as the audience build adds a mapped column
        conn.exec_driver_sql("ALTER TABLE all_contacts ADD COLUMN title TEXT")
        conn.execute(sa.text("UPDATE all_contacts SET title = 'CTO' WHERE contact_key = 'K1'"))
    record_edits(engine, ["title=VP Sales"], key="K1", at=NOW)
    assert [(json.loads(value), json.loads(old)) for _, _, value, old, *_ in _edits(engine)] == [("VP Sales", "CTO")]


def test_edits_are_recorded_typed_with_the_old_value(engine: sa.Engine) -> None:
    ids = record_edits(engine, ["first_name=Anna", "lead_score=42", "opted_out=no", "company=",
                                "hard_bounced_at=2026-11-25T10:30:00+01:00"], email=" ANN@example.com ", at=NOW)
    assert len(ids) == 5
    rows = {column: (json.loads(value), json.loads(old)) for _, column, value, old, *_ in _edits(engine)}
    assert rows == {"first_name": ("Anna", "Ann"), "lead_score": (42.0, None), "opted_out": (False, False),
                    "company": (None, None), "hard_bounced_at": ("2026-11-25 09:30:00+00:00", None)}
    assert {(key, status, source) for key, _, _, _, status, source in _edits(engine)} == {
        ("K1", "pending", "command line")}


@pytest.mark.parametrize(("kwargs", "assignments", "message"), [
    ({"email": "nobody@example.com"}, ["first_name=X"], "no person with email 'nobody@example.com'"),
    ({"email": "dup@example.com"}, ["first_name=X"], "2 people have email 'dup@example.com' (K2, K3); choose one"),
    ({"key": "K1"}, ["shoe_size=9"], "all_contacts has no column 'shoe_size'"),
    ({"key": "K1"}, ["opted_out=maybe"], "opted_out='maybe' is not a bool value"),
    ({"key": "K1"}, ["lead_score=high"], "lead_score='high' is not a float value"),
    ({"key": "K1"}, ["hard_bounced_at=next week"],
     "hard_bounced_at='next week' is not a datetime value; give one like"),
    ({"key": "K1"}, ["hard_bounced_at=2026-11-25T09:30:00"], "is not a datetime value"),  # no time zone: ambiguous
    ({"key": "K1"}, ["no equals sign"], "'no equals sign' is not column=value"),
])
def test_bad_input_names_the_problem_and_records_nothing(engine: sa.Engine, kwargs: dict[str, str],
                                                         assignments: list[str], message: str) -> None:
    with pytest.raises(EditError, match=message.replace("(", r"\(").replace(")", r"\)")):
        record_edits(engine, ["first_name=Anna", *assignments], **kwargs)
    assert _edits(engine) == []  # all or nothing


def test_the_command_line(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MARKETING_DB_URL", str(engine.url))
    assert main(["contacts", "edit", "--key", "K1", "first_name=Annie"]) == 0
    assert "recorded 1 edit(s)" in capsys.readouterr().out
    assert main(["contacts", "edit", "--email", "nobody@example.com", "first_name=X"]) == 1
    assert "error: no person with email 'nobody@example.com'" in capsys.readouterr().out
