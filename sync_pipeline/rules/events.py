"""Engagement events from the marketing side's drop folder (``data/events/*.jsonl``), validated.

Each line of a file is one JSON object::

    {"event_id": "seed7-000000001", "event_type": "email_open", "email": "ann@example.com",
     "occurred_at": "2026-01-05T10:00:00+00:00", "campaign": "Spring Launch", "email_name": "Spring Launch #1"}

with the optional keys ``campaign``, ``email_name``, ``url``, ``form`` and ``reason`` (a hard bounce's reason).

The rules, in order (each is a test):

1. **Every line is read.** A malformed line never stops the batch: it becomes one :class:`Rejection` per problem
   (record id ``event_id`` when the line has one, else ``"<source>:<line>"``) and the other lines continue. Blank
   lines are not events and are skipped silently. Line numbers start at 1 and count every line.
2. **Lines are UTF-8**, decoded one at a time from the bytes of the file: a line that is not valid UTF-8 is rejected
   (field ``line``, record id ``"<source>:<line>"``) with the first bad byte and its column (in bytes, from 1), and
   the lines after it continue. A UTF-8 byte-order mark at the start of the file is dropped. Lines already decoded
   (``str``) are taken as they are.
3. **A line must be a JSON object** with a non-empty ``event_id``. When the last line has no newline and is not
   complete JSON, the file may still be being written: it is rejected like any malformed line, and its reason says
   so (the store replaces a file's quarantine when the file is read again, so the row goes once the line is
   complete). A complete last line without a newline is an event like any other.
4. **``event_type``** must be one of the known types (:data:`EVENT_TYPES`); it is trimmed and lower-cased first.
5. **``email``** is normalized (trimmed, lower-case) and must be a valid address; events are matched to people by it.
6. **``occurred_at``** must be an ISO-8601 datetime *with* a time zone offset (``Z`` or ``+HH:MM``): a time without
   one is ambiguous and is rejected rather than guessed. It is stored in UTC. A time more than a day after ``now``
   is rejected (a clock or export error; a day of slack absorbs clock skew between systems), and so is a time
   before :data:`EARLIEST_EVENT` (2000-01-01T00:00:00Z: an unset or epoch date, not a real engagement).
7. **Optional keys** are kept as text (a non-text scalar is written as text); missing or empty ones are None.
   Neither they nor ``event_id`` may contain a NUL character (U+0000, e.g. written ``\\u0000``): the database
   cannot store it, so the line is rejected (an ``event_id`` with one is not used as the record id).
8. **Duplicates within a batch** (the same ``event_id`` on several valid lines) are the same event delivered twice:
   the first occurrence is kept, later ones are dropped without a rejection and counted in
   :attr:`EventBatch.duplicates`. A line that is rejected does not claim its event_id.
9. **Across batches**, idempotence is the store's job: events are upserted on ``event_id``, so re-reading a file (or
   a file that repeats events of an earlier one) never counts an event twice. :func:`new_events` gives the rows a
   store has not seen yet.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from sync_pipeline.schemas.contact_fields import EMAIL_PATTERN, Rejection
from sync_pipeline.settings.model import EVENT_TYPES

OPTIONAL_FIELDS = ("campaign", "email_name", "url", "form", "reason")
EVENT_COLUMNS = ("event_id", "event_type", "email", "occurred_at", *OPTIONAL_FIELDS, "source", "line")
FUTURE_TOLERANCE = timedelta(days=1)
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
"""The floor of ``occurred_at``: anything earlier is an unset or epoch date, not a real engagement."""
UTF8_BOM = b"\xef\xbb\xbf"
NUL = "\x00"
NUL_REASON = "contains a NUL character (U+0000), which the database cannot store; remove it from the export"
UNFINISHED_HINT = ("; the last line has no newline: the file may still be being written (it is read again when it "
                   "changes)")

_EMAIL = re.compile(EMAIL_PATTERN)


@dataclass
class EventBatch:
    """The valid events of one file (one row per distinct event_id), the rejected lines, and the duplicates dropped."""

    events: pd.DataFrame
    rejections: list[Rejection] = field(default_factory=list)
    duplicates: int = 0


def empty_events() -> pd.DataFrame:
    """An event frame with no rows and the columns and dtypes of :func:`read_event_lines`."""
    return _frame([])


def read_event_lines(lines: Iterable[bytes] | Iterable[str], source: str, *, now: datetime | None = None
                     ) -> EventBatch:
    """Parse and validate JSON lines of engagement events; ``source`` names the file (it goes into every row).

    ``lines`` are the lines of one file, each with its newline (a file opened in binary mode gives them as bytes,
    decoded here one at a time). ``now`` (default: the current time) is the reference for rejecting events dated
    in the future.
    """
    reference = _utc(now) if now is not None else datetime.now(UTC)
    latest_allowed = reference + FUTURE_TOLERANCE
    rows: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    seen: set[str] = set()
    duplicates = 0
    for number, raw, is_last in _numbered(lines):
        row, problems = _read_line(raw, source, number, latest_allowed)
        if problems:
            rejections.extend(_hint_unfinished(problems, raw) if is_last else problems)
            continue
        if row is None:  # a blank line
            continue
        if row["event_id"] in seen:
            duplicates += 1
            continue
        seen.add(row["event_id"])
        rows.append(row)
    return EventBatch(events=_frame(rows), rejections=rejections, duplicates=duplicates)


def new_events(events: pd.DataFrame, known_ids: set[str]) -> pd.DataFrame:
    """The rows whose event_id is not among ``known_ids`` (the ids the store already holds)."""
    return events[~events["event_id"].isin(known_ids)]


def _numbered(lines: Iterable[bytes] | Iterable[str]) -> Iterator[tuple[int, bytes | str, bool]]:
    """Each line with its number (from 1) and whether it is the last one (one line of look-ahead)."""
    iterator: Iterator[bytes | str] = iter(lines)
    current = next(iterator, None)
    number = 1
    while current is not None:
        following = next(iterator, None)
        yield number, current, following is None
        current, number = following, number + 1


def _read_line(
    raw: bytes | str, source: str, number: int, latest_allowed: datetime
) -> tuple[dict[str, Any] | None, list[Rejection]]:
    """One line's event row or its problems; neither for a blank line."""
    text, problems = _decoded(raw, source, number)
    if text is None:
        return None, problems
    if not text.strip():
        return None, []
    return _parse_line(text, source, number, latest_allowed)


def _decoded(raw: bytes | str, source: str, number: int) -> tuple[str | None, list[Rejection]]:
    """The line as text (the file's byte-order mark dropped), or the rejection of a line that is not UTF-8."""
    if isinstance(raw, str):
        return (raw.removeprefix("\ufeff") if number == 1 else raw), []
    skipped = len(UTF8_BOM) if number == 1 and raw.startswith(UTF8_BOM) else 0
    try:
        return raw[skipped:].decode("utf-8"), []
    except UnicodeDecodeError as error:
        column = skipped + error.start + 1
        reason = f"not valid UTF-8 (byte 0x{raw[column - 1]:02x} at column {column}); re-export the file as UTF-8"
        shown = _clip(raw.decode("utf-8", errors="backslashreplace"))
        return None, [Rejection(f"{source}:{number}", "line", shown, reason)]


def _hint_unfinished(problems: list[Rejection], raw: bytes | str) -> list[Rejection]:
    """A last line without a newline that does not parse may be one a writer has not finished: say so."""
    terminated = raw.endswith(b"\n") if isinstance(raw, bytes) else raw.endswith("\n")
    if terminated:
        return problems
    return [Rejection(p.record_id, p.field, p.value, p.reason + UNFINISHED_HINT) if p.field == "line" else p
            for p in problems]


def _parse_line(
    text: str, source: str, number: int, latest_allowed: datetime
) -> tuple[dict[str, Any] | None, list[Rejection]]:
    fallback_id = f"{source}:{number}"
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        return None, [Rejection(fallback_id, "line", _clip(text), f"not valid JSON: {error.msg}")]
    if not isinstance(record, dict):
        return None, [Rejection(fallback_id, "line", _clip(text), "not a JSON object")]

    problems: list[tuple[str, Any, str]] = []  # (field, value, reason)
    event_id = _text(record.get("event_id"))
    if event_id is None:
        problems.append(("event_id", record.get("event_id"), "missing event_id"))

    raw_type = record.get("event_type")
    event_type = (_text(raw_type) or "").lower()
    if event_type not in EVENT_TYPES:
        what = "missing event_type" if not event_type else f"unknown event_type {raw_type!r}"
        problems.append(("event_type", raw_type, f"{what}; expected one of {', '.join(EVENT_TYPES)}"))

    raw_email = record.get("email")
    email = (_text(raw_email) or "").lower()
    if not email:
        problems.append(("email", raw_email, "missing email"))
    elif not _EMAIL.match(email):
        problems.append(("email", raw_email, "not a valid email address"))

    raw_time = record.get("occurred_at")
    occurred_at, time_problem = _occurred_at(raw_time, latest_allowed)
    if time_problem:
        problems.append(("occurred_at", raw_time, time_problem))

    with_nul = [name for name in ("event_id", *OPTIONAL_FIELDS) if NUL in (_text(record.get(name)) or "")]
    problems.extend((name, record.get(name), NUL_REASON) for name in with_nul)

    if problems:
        record_id = event_id if event_id and "event_id" not in with_nul else fallback_id
        return None, [Rejection(record_id, name, _value_text(value), reason) for name, value, reason in problems]
    row = {
        "event_id": event_id,
        "event_type": event_type,
        "email": email,
        "occurred_at": occurred_at,
        **{name: _text(record.get(name)) for name in OPTIONAL_FIELDS},
        "source": source,
        "line": number,
    }
    return row, []


def _occurred_at(value: Any, latest_allowed: datetime) -> tuple[datetime | None, str | None]:
    text = _text(value)
    if text is None:
        return None, "missing occurred_at"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None, "occurred_at is not an ISO-8601 datetime (e.g. 2026-01-05T10:00:00Z)"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None, "occurred_at has no time zone offset (write e.g. 2026-01-05T10:00:00Z)"
    # Compared before converting: a time near year 1 or 9999 may not convert to UTC at all.
    if parsed < EARLIEST_EVENT:
        return None, f"occurred_at is before {EARLIEST_EVENT.isoformat()} (an unset date or a clock or export error)"
    if parsed > latest_allowed:
        return None, f"occurred_at is more than a day in the future (latest allowed {latest_allowed.isoformat()})"
    return parsed.astimezone(UTC), None


def _text(value: Any) -> str | None:
    """A trimmed, non-empty text, or None (JSON containers are not text)."""
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _value_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _clip(text: str, limit: int = 200) -> str:
    text = text.rstrip("\r\n")
    return text if len(text) <= limit else text[:limit] + "…"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    frame["line"] = frame["line"].astype("int64")
    for column in ("event_id", "event_type", "email", *OPTIONAL_FIELDS, "source"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame
