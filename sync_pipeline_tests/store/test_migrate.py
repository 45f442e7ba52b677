"""Migrations: from an empty database to head, idempotent, and the migrated schema equals the metadata."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from sync_pipeline.store.engine import make_engine
from sync_pipeline.store.migrate import alembic_config, current_revision, head_revision, upgrade_to_head
from sync_pipeline.store.tables import metadata

STORE_TABLES = {
    "org_state", "sync_state", "quarantine", "all_contacts", "contact_links", "list_members", "sales_users",
    "report_rows", "report_pulls", "engagement_events", "ingested_files", "pushed_state", "push_results",
    "consent_ledger", "push_conflicts", "pushed_activities", "marketing_edits",
    "push_refusals", "hot_prospects", "funnel", "roi", "funnel_history", "roi_history", "data_versions",
    "step_watermarks",
}
WRITES = ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE")


@contextmanager
def statements_of(engine: Engine) -> Iterator[list[str]]:
    """Collect the SQL statements ``engine`` sends while the block runs."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement.strip())

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def schema_differences(engine: Engine, target: sa.MetaData) -> list[Any]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), target))


def test_upgrade_from_empty_creates_the_store_tables(engine: Engine) -> None:
    assert current_revision(engine) is None
    assert sa.inspect(engine).get_table_names() == []

    upgrade_to_head(engine)

    assert current_revision(engine) == "0012" == head_revision()
    assert set(sa.inspect(engine).get_table_names()) == STORE_TABLES | {"alembic_version"}
    indexes = sa.inspect(engine).get_indexes("quarantine")
    assert sorted((i["name"], i["column_names"]) for i in indexes) == [
        ("ix_quarantine_object_name_record_id", ["object_name", "record_id"]),
        ("ix_quarantine_object_name_source", ["object_name", "source"]),
    ]


def test_second_upgrade_is_a_no_op(engine: Engine) -> None:
    upgrade_to_head(engine)

    with statements_of(engine) as statements:
        upgrade_to_head(engine)

    assert current_revision(engine) == "0012"
    assert not [s for s in statements if s.upper().startswith(WRITES)], statements


def test_migrated_schema_matches_the_metadata(engine: Engine) -> None:
    upgrade_to_head(engine)

    assert schema_differences(engine, metadata) == []


def test_the_comparison_does_see_a_difference(engine: Engine) -> None:
    """Control for the test above: a metadata that differs from the migration is reported."""
    upgrade_to_head(engine)
    drifted = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    sa.Table("sync_state", drifted, sa.Column("extra", sa.Integer), extend_existing=True)
    drifted.tables["quarantine"].c["run_id"].type = sa.String(10)

    kinds = {diff[0] if isinstance(diff, tuple) else diff[0][0] for diff in schema_differences(engine, drifted)}

    assert kinds == {"add_column", "modify_type"}


def test_upgrade_works_on_in_memory_sqlite() -> None:
    engine = make_engine("sqlite://")
    upgrade_to_head(engine)

    assert current_revision(engine) == "0012"
    assert schema_differences(engine, metadata) == []


def _upgrade_in_another_process(url: str, start_at: float) -> str | None:
    """Run in a child process: migrate at ``start_at``; the error, if any, as text (exceptions may not pickle)."""
    engine = make_engine(url)
    try:
        time.sleep(max(0.0, start_at - time.time()))
        upgrade_to_head(engine)
        return None
    except Exception as exc:  # reported to the parent, which asserts there was none
        return f"{type(exc).__name__}: {exc}"
    finally:
        engine.dispose()


def test_concurrent_run_starts_on_a_fresh_database_all_succeed(engine: Engine) -> None:
    """Every process of a run migrates at start: on a fresh database they must queue, not race."""
    url = engine.url.render_as_string(hide_password=False)
    start_at = time.time() + 2.0  # after every child has imported the package
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        errors = pool.starmap(_upgrade_in_another_process, [(url, start_at)] * 4)

    assert errors == [None] * 4
    assert current_revision(engine) == "0012"
    assert schema_differences(engine, metadata) == []


def test_concurrent_upgrades_in_one_process_take_turns(engine: Engine) -> None:
    """Threads (e.g. two resources initialising at once) must not trip over Alembic's global context."""
    url = engine.url.render_as_string(hide_password=False)
    errors: list[str | None] = []
    threads = [
        threading.Thread(target=lambda: errors.append(_upgrade_in_another_process(url, time.time())))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == [None] * 4
    assert current_revision(engine) == "0012"


def test_0006_names_the_event_file_of_rows_quarantined_before_it(engine: Engine) -> None:
    """A row keyed by ``<file>.jsonl:<line>`` gets its file as source; other rows keep none."""
    with engine.connect() as conn, conn.begin():
        command.upgrade(alembic_config(conn), "0005")
        conn.execute(sa.text(
            "INSERT INTO quarantine (run_id, object_name, record_id, field, value, reason, quarantined_at) "
            "VALUES ('r', :object_name, :record_id, 'line', NULL, 'x', CURRENT_TIMESTAMP)"), [
                {"object_name": "engagement_event", "record_id": "drop.jsonl:12"},
                {"object_name": "engagement_event", "record_id": "ev-1"},
                {"object_name": "engagement_event", "record_id": "ev:2"},
                {"object_name": "Lead", "record_id": "x.jsonl:3"},
            ])

    upgrade_to_head(engine)

    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT record_id, source FROM quarantine ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("drop.jsonl:12", "drop.jsonl"), ("ev-1", None), ("ev:2", None),
                                        ("x.jsonl:3", None)]
