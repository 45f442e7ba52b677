"""bulk_upsert and delete_keys: the same semantics on SQLite, PostgreSQL INSERT ... ON CONFLICT and PostgreSQL COPY.

Each semantic test runs three ways: SQLite, PostgreSQL below the COPY threshold, and PostgreSQL through the COPY
path (``copy_threshold=1``). The test tables live in this module's own metadata, not in the migrations.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.store.types import UtcDateTime
from sync_pipeline.store.upsert import DEFAULT_COPY_THRESHOLD, bulk_upsert, delete_keys
from sync_pipeline_tests.store.helpers import table_rows

test_metadata = sa.MetaData()
people = sa.Table(
    "people",
    test_metadata,
    sa.Column("id", sa.String(20), primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("email", sa.String(255)),
    sa.Column("score", sa.Integer),
    sa.Column("active", sa.Boolean),
    sa.Column("seen_at", UtcDateTime),
    sa.Column("note", sa.Text),
)
memberships = sa.Table(
    "memberships",
    test_metadata,
    sa.Column("list_name", sa.String(80), primary_key=True),
    sa.Column("contact_key", sa.String(40), primary_key=True),
    sa.Column("role", sa.String(40)),
    sa.Column("joined_on", sa.Date),
    sa.Column("profile", sa.JSON(none_as_null=True)),
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AWKWARD_TEXTS = [
    "Smith, Jones & Co.",
    'She said "hi", then left',
    "two\nlines",
    "windows\r\nline end",
    "tab\tseparated",
    "back\\slash and \\N",
    "\\N",
    "NULL",
    "  padded  ",
    "Ünïcødé — Zürich, São Paulo, 東京, 🚀",
    '"',
    ",",
    "",
]


def person(key: str, **changes: Any) -> dict[str, Any]:
    row = {
        "id": key,
        "name": f"Name {key}",
        "email": f"{key}@example.com",
        "score": 10,
        "active": True,
        "seen_at": T0,
        "note": "first",
    }
    return {**row, **changes}


def as_arrow(rows: Sequence[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(rows))


@contextmanager
def statements_of(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement.strip())

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


@dataclass(frozen=True)
class Target:
    """A database and a write path: every upsert checks it went the path the test is about."""

    engine: Engine
    copy_threshold: int

    @property
    def copies(self) -> bool:
        return self.engine.dialect.name == "postgresql" and self.copy_threshold <= 1

    def upsert(self, table: sa.Table, rows: Any, keys: Sequence[str], **options: Any) -> int:
        with statements_of(self.engine) as statements, self.engine.begin() as conn:
            written = bulk_upsert(conn, table, rows, keys, copy_threshold=self.copy_threshold, **options)
        staged = any(s.startswith("CREATE TEMPORARY TABLE") for s in statements)
        assert staged == (self.copies and written > 0), statements
        return written

    def rows(self, table: sa.Table) -> list[dict[str, Any]]:
        return table_rows(self.engine, table)


WRITE_PATHS = [
    pytest.param(("sqlite", DEFAULT_COPY_THRESHOLD), id="sqlite"),
    pytest.param(("postgres", DEFAULT_COPY_THRESHOLD), id="postgres-insert", marks=pytest.mark.postgres),
    pytest.param(("postgres", 1), id="postgres-copy", marks=pytest.mark.postgres),
]


@pytest.fixture(params=WRITE_PATHS)
def target(request: pytest.FixtureRequest) -> Target:
    backend, copy_threshold = request.param
    engine: Engine = request.getfixturevalue(f"{backend}_engine")
    test_metadata.create_all(engine)
    return Target(engine, copy_threshold)


@pytest.fixture(params=["dicts", "arrow"])
def shape(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def shaped(rows: list[dict[str, Any]], shape: str) -> Any:
    return as_arrow(rows) if shape == "arrow" else rows


def test_inserts_new_keys_then_updates_existing_ones(target: Target) -> None:
    assert target.upsert(people, [person("a"), person("b"), person("c")], ["id"]) == 3
    assert target.rows(people) == [person("a"), person("b"), person("c")]

    later = T0 + timedelta(days=1)
    written = target.upsert(
        people,
        [person("b", name="Bea", score=42, active=False, seen_at=later, note="second"), person("d")],
        ["id"],
    )

    assert written == 2
    assert target.rows(people) == [
        person("a"),
        person("b", name="Bea", score=42, active=False, seen_at=later, note="second"),
        person("c"),
        person("d"),
    ]


def test_running_the_same_batch_twice_changes_nothing(target: Target, shape: str) -> None:
    batch = [person(f"p{i}", score=i, note=None if i % 3 == 0 else f"note {i}") for i in range(50)]
    target.upsert(people, shaped(batch, shape), ["id"])
    first = target.rows(people)

    assert target.upsert(people, shaped(batch, shape), ["id"]) == 50
    assert target.rows(people) == first == sorted(batch, key=lambda row: row["id"])


def test_a_key_repeated_in_one_batch_keeps_its_last_occurrence(target: Target, shape: str) -> None:
    batch = [
        person("a", score=1),
        person("b", score=1),
        person("a", score=2, name="second a"),
        person("c", score=1),
        person("a", score=3, name="third a"),
    ]

    assert target.upsert(people, shaped(batch, shape), ["id"]) == 3
    assert target.rows(people) == [person("a", score=3, name="third a"), person("b", score=1), person("c", score=1)]


def test_update_columns_limit_what_an_existing_row_takes(target: Target) -> None:
    target.upsert(people, [person("a"), person("b")], ["id"])

    changed = [person("a", name="Changed", score=99, note="changed"), person("new", name="New", score=5)]
    target.upsert(people, changed, ["id"], update_columns=["score"])

    assert target.rows(people) == [
        person("a", score=99),  # only the score moved; name and note kept their stored values
        person("b"),
        person("new", name="New", score=5),  # a new key is inserted whole
    ]


def test_no_update_columns_makes_the_write_insert_only(target: Target) -> None:
    target.upsert(people, [person("a")], ["id"])

    target.upsert(people, [person("a", score=99), person("b", score=7)], ["id"], update_columns=[])

    assert target.rows(people) == [person("a"), person("b", score=7)]


def test_null_and_empty_string_stay_distinct(target: Target, shape: str) -> None:
    batch = [person("null", note=None, name=None), person("empty", note="", name=""), person("text", note="x")]
    target.upsert(people, shaped(batch, shape), ["id"])
    assert {r["id"]: (r["name"], r["note"]) for r in target.rows(people)} == {
        "null": (None, None),
        "empty": ("", ""),
        "text": ("Name text", "x"),
    }

    swapped = [person("null", note="", name=""), person("empty", note=None, name=None), person("text", note=None)]
    target.upsert(people, shaped(swapped, shape), ["id"])
    assert {r["id"]: (r["name"], r["note"]) for r in target.rows(people)} == {
        "null": ("", ""),
        "empty": (None, None),
        "text": ("Name text", None),
    }


def test_a_pyarrow_table_with_a_subset_of_columns(target: Target) -> None:
    target.upsert(people, [person("a"), person("b")], ["id"])
    seen = [T0 + timedelta(hours=1), None, T0 + timedelta(hours=3)]
    batch = pa.table(
        {
            "id": pa.array(["a", "b", "c"]),
            "score": pa.array([7, None, 9], pa.int64()),
            "active": pa.array([False, None, True]),
            "seen_at": pa.array(seen, pa.timestamp("us", tz="UTC")),
        }
    )

    assert target.upsert(people, batch, ["id"]) == 3
    assert target.rows(people) == [
        person("a", score=7, active=False, seen_at=seen[0]),
        person("b", score=None, active=None, seen_at=None),
        {"id": "c", "name": None, "email": None, "score": 9, "active": True, "seen_at": seen[2], "note": None},
    ]


def test_timestamps_in_other_zones_are_stored_as_the_same_instant(target: Target) -> None:
    paris = timezone(timedelta(hours=1))
    target.upsert(people, [person("a", seen_at=datetime(2026, 3, 1, 13, 0, tzinfo=paris))], ["id"])

    [row] = target.rows(people)
    assert row["seen_at"] == T0
    assert row["seen_at"].utcoffset() == timedelta(0)


@pytest.mark.parametrize("ignore_timezone", ["0", "1"])
def test_timestamps_keep_their_instant_when_pyarrow_is_told_to_ignore_time_zones(
    target: Target, monkeypatch: pytest.MonkeyPatch, ignore_timezone: str
) -> None:
    """pandera sets PYARROW_IGNORE_TIMEZONE=1 on import; the COPY path must not shift aware datetimes then."""
    monkeypatch.setenv("PYARROW_IGNORE_TIMEZONE", ignore_timezone)
    paris = timezone(timedelta(hours=1))
    rows = [
        person("a", seen_at=datetime(2026, 3, 1, 13, 0, tzinfo=paris)),
        person("b", seen_at=datetime(2026, 3, 1, 12)),  # naive: UTC by the store's convention
    ]

    target.upsert(people, rows, ["id"])

    assert [row["seen_at"] for row in target.rows(people)] == [T0, T0]


def test_composite_keys(target: Target, shape: str) -> None:
    first: list[dict[str, Any]] = [
        {"list_name": "Leads", "contact_key": "k1", "role": "member", "joined_on": date(2026, 1, 1), "profile": None},
        {"list_name": "Leads", "contact_key": "k2", "role": "member", "joined_on": date(2026, 1, 2), "profile": None},
        {"list_name": "Contacts", "contact_key": "k1", "role": "member", "joined_on": None, "profile": {"a": [1, 2]}},
    ]
    target.upsert(memberships, shaped(first, shape), ["list_name", "contact_key"])
    second: list[dict[str, Any]] = [
        {"list_name": "Leads", "contact_key": "k2", "role": "owner", "joined_on": date(2026, 2, 2), "profile": None},
        {"list_name": "Contacts", "contact_key": "k2", "role": "member", "joined_on": None, "profile": {"b": "x"}},
    ]
    target.upsert(memberships, shaped(second, shape), ["list_name", "contact_key"])

    assert target.rows(memberships) == sorted(
        [first[0], second[0], first[2], second[1]], key=lambda r: (r["list_name"], r["contact_key"])
    )


def test_text_with_commas_quotes_newlines_and_unicode_survives(target: Target, shape: str) -> None:
    batch = [person(f"t{i:02d}", name=text, note=text[::-1]) for i, text in enumerate(AWKWARD_TEXTS)]

    target.upsert(people, shaped(batch, shape), ["id"])

    assert target.rows(people) == batch


def test_the_write_is_part_of_the_callers_transaction(target: Target) -> None:
    with target.engine.connect() as conn, conn.begin() as transaction:
        bulk_upsert(conn, people, [person("a"), person("b")], ["id"], copy_threshold=target.copy_threshold)
        assert conn.execute(sa.select(sa.func.count()).select_from(people)).scalar() == 2
        transaction.rollback()

    assert target.rows(people) == []


def test_two_batches_in_one_transaction(target: Target) -> None:
    with target.engine.begin() as conn:
        bulk_upsert(conn, people, [person("a"), person("b")], ["id"], copy_threshold=target.copy_threshold)
        bulk_upsert(conn, people, [person("b", score=2), person("c")], ["id"], copy_threshold=target.copy_threshold)

    assert target.rows(people) == [person("a"), person("b", score=2), person("c")]


def test_an_empty_batch_writes_nothing(target: Target) -> None:
    assert target.upsert(people, [], ["id"]) == 0
    assert target.upsert(people, pa.table({"id": pa.array([], pa.string())}), ["id"]) == 0
    assert target.rows(people) == []


@pytest.mark.parametrize(
    ("rows", "keys", "options", "message"),
    [
        ([{"id": "a", "shoe_size": 9}], ["id"], {}, "no column"),
        ([{"name": "a"}], ["id"], {}, "lack the key"),
        ([{"id": "a", "name": "x"}, {"id": "b"}], ["id"], {}, "same columns"),
        ([{"id": "a", "name": "x"}], ["id"], {"update_columns": ["id"]}, "cannot be update columns"),
        ([{"id": "a", "name": "x"}], ["id"], {"update_columns": ["score"]}, "not in the rows"),
        ([{"id": "a"}], [], {}, "at least one key"),
    ],
)
def test_a_malformed_batch_is_refused_before_writing(
    sqlite_engine: Engine, rows: list[dict[str, Any]], keys: list[str], options: dict[str, Any], message: str
) -> None:
    test_metadata.create_all(sqlite_engine)
    with sqlite_engine.begin() as conn, pytest.raises(ValueError, match=message):
        bulk_upsert(conn, people, rows, keys, **options)


def test_delete_keys(target: Target) -> None:
    target.upsert(people, [person(f"p{i}") for i in range(10)], ["id"])

    with target.engine.begin() as conn:
        deleted = delete_keys(conn, people, "id", ["p1", "p3", "p3", "missing"])

    assert deleted == 2
    assert [r["id"] for r in target.rows(people)] == ["p0", "p2", "p4", "p5", "p6", "p7", "p8", "p9"]


def test_delete_keys_in_chunks(target: Target) -> None:
    keys = [f"p{i:05d}" for i in range(2500)]
    target.upsert(people, pa.table({"id": keys}), ["id"])

    with target.engine.begin() as conn:
        deleted = delete_keys(conn, people, "id", keys[:2400])

    assert deleted == 2400
    assert [r["id"] for r in target.rows(people)] == keys[2400:]


# --- the COPY path at scale ----------------------------------------------------------------------------------------

COPY_ROWS = 20_000


def copy_batch(version: int) -> pa.Table:
    """20,000 people; ``version`` changes the scores and notes so a second version is an update of every row."""
    keys = [f"c{i:06d}" for i in range(COPY_ROWS)]
    return pa.table(
        {
            "id": keys,
            "name": [f'Person {i}, "the {i % 7}th"\n{AWKWARD_TEXTS[i % len(AWKWARD_TEXTS)]}' for i in range(COPY_ROWS)],
            "email": [None if i % 10 == 0 else f"p{i}@example.com" for i in range(COPY_ROWS)],
            "score": pa.array([i * version for i in range(COPY_ROWS)], pa.int64()),
            "active": [i % 2 == 0 for i in range(COPY_ROWS)],
            "seen_at": pa.array([T0 + timedelta(seconds=i) for i in range(COPY_ROWS)], pa.timestamp("us", tz="UTC")),
            "note": ["" if i % 5 == 0 else f"v{version}" for i in range(COPY_ROWS)],
        }
    )


def sample(engine: Engine, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(people).where(people.c.id.in_(keys))).mappings()
        return {row["id"]: dict(row) for row in rows}


@pytest.mark.postgres
def test_copy_path_writes_20000_rows_and_a_rerun_is_idempotent(
    postgres_engine: Engine, record_property: Any
) -> None:
    test_metadata.create_all(postgres_engine)
    target = Target(postgres_engine, copy_threshold=1)

    batch = copy_batch(1)
    started = time.perf_counter()
    written = target.upsert(people, batch, ["id"])
    record_property("copy_upsert_20000_rows_seconds", round(time.perf_counter() - started, 3))

    assert written == COPY_ROWS
    with postgres_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(people)).scalar() == COPY_ROWS
    rows = sample(postgres_engine, ["c000000", "c000003", "c019999"])
    assert rows["c000000"] == {
        "id": "c000000",
        "name": f'Person 0, "the 0th"\n{AWKWARD_TEXTS[0]}',
        "email": None,
        "score": 0,
        "active": True,
        "seen_at": T0,
        "note": "",
    }
    assert rows["c000003"]["name"] == 'Person 3, "the 3th"\n' + "windows\r\nline end"
    assert rows["c000003"]["email"] == "p3@example.com"
    assert rows["c000003"]["note"] == "v1"
    assert rows["c019999"]["score"] == 19_999
    assert rows["c019999"]["seen_at"] == T0 + timedelta(seconds=19_999)

    before = table_rows(postgres_engine, people)
    assert target.upsert(people, batch, ["id"]) == COPY_ROWS
    assert table_rows(postgres_engine, people) == before

    target.upsert(people, copy_batch(2), ["id"], update_columns=["score", "note"])
    updated = sample(postgres_engine, ["c000003", "c019999"])
    assert (updated["c000003"]["score"], updated["c000003"]["note"]) == (6, "v2")
    assert updated["c019999"]["score"] == 39_998
    assert updated["c019999"]["name"] == rows["c019999"]["name"]


@pytest.mark.postgres
def test_copy_path_needs_a_transaction(postgres_engine: Engine) -> None:
    test_metadata.create_all(postgres_engine)
    with postgres_engine.connect() as conn:
        autocommit = conn.execution_options(isolation_level="AUTOCOMMIT")
        with pytest.raises(ValueError, match="needs a transaction"):
            bulk_upsert(autocommit, people, [person("a")], ["id"], copy_threshold=1)
