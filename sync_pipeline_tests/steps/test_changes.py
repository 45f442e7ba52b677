"""When a derived step has nothing to do: dataset versions, watermarks and what a step consumes (SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from sync_pipeline.settings import load_settings
from sync_pipeline.steps.changes import step_inputs
from sync_pipeline.store.engine import make_engine
from sync_pipeline.store.migrate import upgrade_to_head
from sync_pipeline.store.versions import bump, versions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'marketing.db'}")
    upgrade_to_head(engine)
    return engine


def test_a_step_has_nothing_to_do_only_while_its_inputs_are_what_it_last_consumed(engine: Engine) -> None:
    settings = load_settings(ROOT / "data" / "sync.yaml")
    datasets = ["sf_lead", "all_contacts"]
    inputs, unchanged = step_inputs(engine, "step", datasets, settings, day="2026-12-01")
    assert unchanged is None and inputs.values["sf_lead"] == 0  # never ran
    with engine.begin() as conn:
        inputs.done(conn, "run-1", {"checks": {"c": {"passed": False}}})
    again, unchanged = step_inputs(engine, "step", datasets, settings, day="2026-12-01")
    assert unchanged is not None and unchanged.since_run == "run-1"
    assert unchanged.report == {"checks": {"c": {"passed": False}}}
    assert unchanged.as_metadata() == {"unchanged": True, "unchanged_since_run": "run-1", "keys_examined": 0,
                                       "rows_written": 0}
    # Each kind of change makes the step work again: a dataset it reads, the day, the settings.
    with engine.begin() as conn:
        assert bump(conn, "sf_lead") == 1 and bump(conn, "sf_lead") == 2
        bump(conn, "sf_contact")  # not an input of this step
    assert step_inputs(engine, "step", datasets, settings, day="2026-12-01")[1] is None
    with engine.begin() as conn:
        step_inputs(engine, "step", datasets, settings, day="2026-12-01")[0].done(conn, "run-2")
    assert step_inputs(engine, "step", datasets, settings, day="2026-12-01")[1] is not None
    assert step_inputs(engine, "step", datasets, settings, day="2026-12-02")[1] is None
    changed = settings.model_copy(update={"full_sync_schedule": "0 3 * * 0"})
    assert step_inputs(engine, "step", datasets, changed, day="2026-12-01")[1] is None
    with engine.connect() as conn:
        assert versions(conn, ["sf_lead", "sf_contact", "never"]) == {"sf_lead": 2, "sf_contact": 1, "never": 0}


def test_a_step_s_own_write_is_not_news_to_it_but_another_writer_s_is(engine: Engine) -> None:
    settings = load_settings(ROOT / "data" / "sync.yaml")
    inputs, _ = step_inputs(engine, "push", ["all_contacts"], settings)
    with engine.begin() as conn:
        bump(conn, "all_contacts")  # the step's own write
        inputs.own_write(conn, "all_contacts")
        inputs.done(conn, "run-1")
    assert step_inputs(engine, "push", ["all_contacts"], settings)[1] is not None
    inputs, _ = step_inputs(engine, "push", ["all_contacts"], settings)
    with engine.begin() as conn:
        bump(conn, "all_contacts")  # another writer
        bump(conn, "all_contacts")  # then the step's own
        inputs.own_write(conn, "all_contacts")
        inputs.done(conn, "run-2")
    assert step_inputs(engine, "push", ["all_contacts"], settings)[1] is None  # the other write is news
