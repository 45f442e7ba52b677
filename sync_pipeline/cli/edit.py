"""`sync-pipeline contacts edit`: record marketing-side field edits of a person, for the next push to send.

``sync-pipeline contacts edit --email ann@example.com title="VP Sales" first_name=Ann`` finds the person in All
Contacts by email (or ``--key`` by contact_key), checks each column exists, converts each value to the column's type,
and appends one pending row per column to ``marketing_edits``. The push decides what happens to it (see the README:
pushed, salesforce_won, rejected or not_pushable); ``marketing_changes_sensor`` sends it within minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from sync_pipeline.records.values import checkbox
from sync_pipeline.store.audience import with_runtime_columns
from sync_pipeline.store.engine import make_engine, safe_url
from sync_pipeline.store.migrate import upgrade_to_head
from sync_pipeline.store.push_state import record_edit
from sync_pipeline.store.tables import all_contacts

SOURCE = "command line"


class EditError(ValueError):
    """An edit that cannot be recorded; the message names the person or column and the fix."""


def parse_assignments(assignments: Sequence[str]) -> dict[str, str]:
    """``column=value`` pairs; an empty value means no value (null)."""
    parsed: dict[str, str] = {}
    for item in assignments:
        column, sep, value = item.partition("=")
        if not sep or not column.strip():
            raise EditError(f"{item!r} is not column=value; write for example title=\"VP Sales\"")
        parsed[column.strip()] = value
    return parsed


def _flag(text: str) -> bool:
    flag = checkbox(text)
    if flag is None:
        raise ValueError
    return flag


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:  # ambiguous: refused rather than guessed
        raise ValueError
    return moment.astimezone(UTC)


# Column type → (parser, an example a person can copy).
_PARSERS: dict[type, tuple[Callable[[str], Any], str]] = {
    bool: (_flag, "true"),
    int: (int, "42"),
    float: (float, "42.5"),
    Decimal: (float, "42.5"),
    datetime: (_moment, "2026-11-25T09:30:00+00:00"),
    date: (lambda text: date.fromisoformat(text.strip()), "2026-11-25"),
}


def typed_value(column: sa.Column[Any], text: str) -> Any:
    """``text`` as a value of the column's type: booleans true/false/yes/no/1/0, whole numbers, numbers, dates
    ``YYYY-MM-DD``, times ISO 8601 with a time zone; text as given; an empty text is null."""
    if text == "":
        return None
    try:
        kind: type = column.type.python_type
    except NotImplementedError:
        kind = str
    if kind not in _PARSERS:
        return text
    parse, example = _PARSERS[kind]
    try:
        return parse(text)
    except ValueError:
        raise EditError(f"{column.name}={text!r} is not a {kind.__name__} value; give one like "
                        f"{column.name}={example}") from None


def _person(conn: sa.Connection, table: sa.Table, email: str | None, key: str | None) -> str:
    if key:
        found = conn.execute(sa.select(table.c.contact_key).where(table.c.contact_key == key)).scalars().all()
        what = f"contact_key {key!r}"
    else:
        wanted = (email or "").strip().lower()
        found = conn.execute(sa.select(table.c.contact_key).where(sa.func.lower(table.c.email) == wanted)
                             ).scalars().all()
        what = f"email {wanted!r}"
    if not found:
        raise EditError(f"no person with {what} in all_contacts; check the address, or run a sync first")
    if len(found) > 1:
        raise EditError(f"{len(found)} people have {what} ({', '.join(found)}); choose one with --key")
    return str(found[0])


def record_edits(engine: sa.Engine, assignments: Sequence[str], *, email: str | None = None,
                 key: str | None = None, at: datetime | None = None) -> list[int]:
    """Append the edits (all or none) and return their edit_ids."""
    values = parse_assignments(assignments)
    if not values:
        raise EditError("nothing to edit; give column=value pairs, e.g. title=\"VP Sales\"")
    with engine.begin() as conn:
        table = with_runtime_columns(conn, all_contacts)  # with the mapped columns
        unknown = sorted(set(values) - set(table.c.keys()))
        if unknown:
            raise EditError(f"all_contacts has no column {', '.join(map(repr, unknown))}; its columns: "
                            f"{', '.join(table.c.keys())}")
        contact_key = _person(conn, table, email, key)
        when = at or datetime.now(UTC)
        return [record_edit(conn, contact_key, column, typed_value(table.c[column], text), when, SOURCE)
                for column, text in values.items()]


def edit_command(assignments: Sequence[str], *, email: str | None, key: str | None) -> int:
    engine = make_engine()
    upgrade_to_head(engine)
    try:
        ids = record_edits(engine, assignments, email=email, key=key)
    except EditError as error:
        print(f"error: {error}")
        return 1
    finally:
        engine.dispose()
    print(f"recorded {len(ids)} edit(s) in marketing_edits of {safe_url(engine.url)} (ids {', '.join(map(str, ids))});"
          " the next push sends them")
    return 0
