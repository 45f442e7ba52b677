"""Mirror writes stamp the rows they change, and only a change moves the mirror's version (SQLite and PostgreSQL)."""

from __future__ import annotations

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.store.migrate import upgrade_to_head
from sync_pipeline.store.mirrors import ensure_mirror_table, mark_deleted, write_mirror_page
from sync_pipeline.store.versions import changed_keys, versions

FIELDS = ["Id", "SystemModstamp", "IsDeleted", "Email", "Title"]


def _csv(rows: list[tuple[str, str, str]]) -> str:
    lines = ['"Id","SystemModstamp","IsDeleted","Email","Title"']
    lines += [f'"{i}","{stamp}","false","{i.lower()}@example.com","{title}"' for i, stamp, title in rows]
    return "\n".join(lines) + "\n"


def _arrow(rows: list[tuple[str, str, str]]) -> pa.Table:
    return pa.table({"Id": [r[0] for r in rows], "SystemModstamp": [r[1] for r in rows],
                     "IsDeleted": ["false"] * len(rows), "Email": [f"{r[0].lower()}@example.com" for r in rows],
                     "Title": [r[2] for r in rows]})


def _version(engine: Engine) -> int:
    with engine.connect() as conn:
        return versions(conn, ["sf_lead"])["sf_lead"]


def _stamps(engine: Engine, table: sa.Table) -> dict[str, int | None]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(table.c.id, table.c.change_seq)).all())  # type: ignore[arg-type]


@pytest.mark.parametrize("form", ["csv", "arrow"])
def test_only_changed_rows_are_stamped_and_move_the_version(engine: Engine, form: str) -> None:
    upgrade_to_head(engine)
    page = _csv if form == "csv" else _arrow
    first = [("00Q000000000001AAA", "2026-01-01T00:00:00.000Z", "CEO"),
             ("00Q000000000002AAA", "2026-01-01T00:00:00.000Z", "CTO")]
    with engine.begin() as conn:
        table = ensure_mirror_table(conn, "Lead", FIELDS)
        write_mirror_page(conn, table, page(first), fresh=True)
    assert _version(engine) == 1
    assert _stamps(engine, table) == {"00Q000000000001AAA": 1, "00Q000000000002AAA": 1}

    with engine.begin() as conn:  # the same page again (a lookback window re-read): no change
        assert write_mirror_page(conn, table, page(first)) == 2
    assert _version(engine) == 1

    edited = [first[0], ("00Q000000000002AAA", "2026-01-02T00:00:00.000Z", "VP Sales"),
              ("00Q000000000003AAA", "2026-01-02T00:00:00.000Z", "COO")]
    with engine.begin() as conn:
        write_mirror_page(conn, table, page(edited))
    assert _version(engine) == 2
    assert _stamps(engine, table) == {"00Q000000000001AAA": 1, "00Q000000000002AAA": 2, "00Q000000000003AAA": 2}
    with engine.connect() as conn:
        assert sorted(changed_keys(conn, table, "id", 1)) == ["00Q000000000002AAA", "00Q000000000003AAA"]
        assert changed_keys(conn, table, "id", 2) == []

    stale = [("00Q000000000002AAA", "2025-12-31T00:00:00.000Z", "stale")]  # older copy: kept out, nothing stamped
    with engine.begin() as conn:
        write_mirror_page(conn, table, page(stale))
    assert _version(engine) == 2

    with engine.begin() as conn:
        assert mark_deleted(conn, table, ["00Q000000000001AAA"]) == 1
        assert mark_deleted(conn, table, ["00Q000000000001AAA"]) == 0  # already deleted: no change, no version
    assert _version(engine) == 3
    assert _stamps(engine, table)["00Q000000000001AAA"] == 3
