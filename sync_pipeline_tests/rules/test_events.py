import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from sync_pipeline.emulator.app import build_emulator
from sync_pipeline.rules.events import EVENT_COLUMNS, empty_events, new_events, read_event_lines
from sync_pipeline.settings.model import EVENT_TYPES

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def line(**fields):
    base = {
        "event_id": "ev-1",
        "event_type": "email_open",
        "email": "ann@example.com",
        "occurred_at": "2026-02-01T10:00:00+00:00",
    }
    return json.dumps({**base, **fields})


def read(*lines):
    return read_event_lines(list(lines), "drop.jsonl", now=NOW)


def test_a_valid_line_becomes_a_normalized_row():
    batch = read(
        line(
            event_type=" Email_Click ",
            email="  Ann@Example.COM ",
            occurred_at="2026-02-01T11:30:00+01:30",
            campaign="Spring Launch",
            email_name="Spring Launch #1",
            url="https://www.example.com/pricing",
        )
    )
    assert batch.rejections == []
    assert batch.duplicates == 0
    assert list(batch.events.columns) == list(EVENT_COLUMNS)
    row = batch.events.iloc[0]
    assert row["event_id"] == "ev-1"
    assert row["event_type"] == "email_click"
    assert row["email"] == "ann@example.com"
    assert row["occurred_at"] == pd.Timestamp("2026-02-01T10:00:00Z")
    assert str(batch.events["occurred_at"].dtype) == "datetime64[ns, UTC]"
    assert row["campaign"] == "Spring Launch"
    assert row["email_name"] == "Spring Launch #1"
    assert row["url"] == "https://www.example.com/pricing"
    assert row["form"] is None and row["reason"] is None
    assert row["source"] == "drop.jsonl"
    assert row["line"] == 1


def test_z_suffix_and_optional_non_text_values():
    batch = read(line(occurred_at="2026-02-01T10:00:00Z", form=42, reason=""))
    row = batch.events.iloc[0]
    assert row["occurred_at"] == pd.Timestamp("2026-02-01T10:00:00Z")
    assert row["form"] == "42"
    assert row["reason"] is None


@pytest.mark.parametrize(
    ("text", "record_id", "field", "value", "reason"),
    [
        ("{not json", "drop.jsonl:1", "line", "{not json", "not valid JSON"),
        ("[1, 2]", "drop.jsonl:1", "line", "[1, 2]", "not a JSON object"),
        (line(event_id=None), "drop.jsonl:1", "event_id", None, "missing event_id"),
        (line(event_id="  "), "drop.jsonl:1", "event_id", "  ", "missing event_id"),
        (line(event_type="email_forward"), "ev-1", "event_type", "email_forward", "unknown event_type 'email_forward'"),
        (line(event_type=None), "ev-1", "event_type", None, "missing event_type"),
        (line(email=None), "ev-1", "email", None, "missing email"),
        (line(email="ann at example.com"), "ev-1", "email", "ann at example.com", "not a valid email address"),
        (line(occurred_at=None), "ev-1", "occurred_at", None, "missing occurred_at"),
        (line(occurred_at="yesterday"), "ev-1", "occurred_at", "yesterday", "not an ISO-8601 datetime"),
        (line(occurred_at="2026-02-01T10:00:00"), "ev-1", "occurred_at", "2026-02-01T10:00:00", "no time zone"),
        (line(occurred_at="2026-03-02T12:00:01Z"), "ev-1", "occurred_at", "2026-03-02T12:00:01Z", "in the future"),
    ],
)
def test_each_kind_of_malformed_line_is_rejected_with_its_reason(text, record_id, field, value, reason):
    batch = read(text)
    assert batch.events.empty
    assert len(batch.rejections) == 1
    rejection = batch.rejections[0]
    assert (rejection.record_id, rejection.field, rejection.value) == (record_id, field, value)
    assert reason in rejection.reason


def test_unknown_event_type_names_the_allowed_ones():
    (rejection,) = read(line(event_type="email_forward")).rejections
    assert all(name in rejection.reason for name in EVENT_TYPES)


def test_up_to_a_day_in_the_future_is_accepted():
    assert len(read(line(occurred_at="2026-03-02T12:00:00Z")).events) == 1


def test_every_problem_of_a_line_is_reported():
    batch = read(line(event_type="nope", email="", occurred_at="later"))
    assert [r.field for r in batch.rejections] == ["event_type", "email", "occurred_at"]
    assert {r.record_id for r in batch.rejections} == {"ev-1"}


def test_malformed_lines_never_stop_the_batch():
    batch = read(
        line(event_id="a"),
        "{broken",
        "",
        line(event_id="b", email="nobody"),
        line(event_id="c", event_type="page_visit"),
    )
    assert list(batch.events["event_id"]) == ["a", "c"]
    assert list(batch.events["line"]) == [1, 5]
    assert [(r.record_id, r.field) for r in batch.rejections] == [("drop.jsonl:2", "line"), ("b", "email")]


def test_duplicates_in_a_batch_keep_the_first_and_are_counted_not_rejected():
    batch = read(
        line(event_id="a", campaign="first"),
        line(event_id="b"),
        line(event_id="a", campaign="second"),
        line(event_id="a"),
    )
    assert list(batch.events["event_id"]) == ["a", "b"]
    assert batch.events.set_index("event_id").loc["a", "campaign"] == "first"
    assert batch.duplicates == 2
    assert batch.rejections == []


def test_a_rejected_line_does_not_claim_its_event_id():
    batch = read(line(event_id="a", email="broken"), line(event_id="a"))
    assert list(batch.events["line"]) == [2]
    assert batch.duplicates == 0
    assert len(batch.rejections) == 1


def test_reading_the_same_lines_twice_gives_the_same_events():
    lines = [line(event_id="a"), line(event_id="b"), line(event_id="a")]
    first, second = read(*lines), read(*lines)
    pd.testing.assert_frame_equal(first.events, second.events)


def test_new_events_are_those_the_store_does_not_know():
    events = read(line(event_id="a"), line(event_id="b"), line(event_id="c")).events
    assert list(new_events(events, {"a", "c", "zzz"})["event_id"]) == ["b"]
    assert new_events(events, {"a", "b", "c"}).empty


def test_an_empty_batch_has_the_columns_and_types():
    batch = read()
    assert list(batch.events.columns) == list(EVENT_COLUMNS)
    assert str(batch.events["occurred_at"].dtype) == "datetime64[ns, UTC]"
    assert batch.events.dtypes.equals(empty_events().dtypes)


def test_events_written_by_the_seed_generator_read_without_rejections(tmp_path):
    path = tmp_path / "e.jsonl"
    _, summary = build_emulator(seed=7, scale=200, events_path=path)
    with path.open(encoding="utf-8") as lines:
        batch = read_event_lines(lines, path.name)
    assert batch.rejections == []
    assert batch.duplicates == 0
    assert len(batch.events) == summary["events"] > 0
    assert set(batch.events["event_type"]) <= set(EVENT_TYPES)
    assert {"email_send", "email_open", "hard_bounce"} <= set(batch.events["event_type"])
    assert batch.events["event_id"].is_unique
    assert (batch.events["email"] == batch.events["email"].str.strip().str.lower()).all()
    assert (batch.events["source"] == "e.jsonl").all()
    bounces = batch.events[batch.events["event_type"] == "hard_bounce"]
    assert bounces["reason"].notna().all()


# --- bytes, encodings and unfinished files --------------------------------------------------------------------------


def raw(**fields) -> bytes:
    """A line as a UTF-8 file holds it: non-ASCII characters unescaped, with its newline."""
    base = json.loads(line())
    return (json.dumps({**base, **fields}, ensure_ascii=False) + "\n").encode("utf-8")


def read_bytes(*lines: bytes):
    return read_event_lines(iter(lines), "drop.jsonl", now=NOW)


def test_a_line_that_is_not_utf8_is_rejected_with_the_byte_and_its_column_and_the_rest_go_on():
    bad = b'{"event_id": "\xff"}\n'
    batch = read_bytes(raw(event_id="a"), bad, raw(event_id="c", campaign="Café"))
    assert list(batch.events["event_id"]) == ["a", "c"]
    assert list(batch.events["line"]) == [1, 3]
    assert batch.events.iloc[1]["campaign"] == "Café"
    [rejection] = batch.rejections
    assert (rejection.record_id, rejection.field) == ("drop.jsonl:2", "line")
    assert rejection.reason == "not valid UTF-8 (byte 0xff at column 15); re-export the file as UTF-8"
    assert rejection.value == '{"event_id": "\\xff"}'  # the bad byte shown, not dropped


def test_a_latin1_export_names_the_first_bad_byte_of_its_line():
    latin1 = b'{"event_id": "x", "campaign": "Caf\xe9 Cr\xe8me"}\n'
    batch = read_bytes(latin1, raw(event_id="y"))
    assert list(batch.events["event_id"]) == ["y"]
    [rejection] = batch.rejections
    assert rejection.reason == "not valid UTF-8 (byte 0xe9 at column 35); re-export the file as UTF-8"


def test_a_byte_order_mark_at_the_start_of_the_file_is_accepted():
    batch = read_bytes(b"\xef\xbb\xbf" + raw(event_id="a"), raw(event_id="b"))
    assert batch.rejections == []
    assert list(batch.events["event_id"]) == ["a", "b"]
    # Columns still count the bytes of the file's line, mark included.
    [rejection] = read_bytes(b'\xef\xbb\xbf{"\xff"}\n').rejections
    assert "at column 6)" in rejection.reason
    # A file read as text keeps the mark as U+FEFF: dropped too.
    assert list(read("\ufeff" + line(event_id="t")).events["event_id"]) == ["t"]


def test_a_byte_order_mark_after_the_first_line_is_not_dropped():
    [rejection] = read_bytes(raw(event_id="a"), b"\xef\xbb\xbf" + raw(event_id="b")).rejections
    assert (rejection.record_id, rejection.field) == ("drop.jsonl:2", "line")
    assert "not valid JSON" in rejection.reason


def test_a_complete_last_line_without_a_newline_is_an_event():
    batch = read_bytes(raw(event_id="a"), raw(event_id="b").rstrip(b"\n"))
    assert batch.rejections == []
    assert list(batch.events["event_id"]) == ["a", "b"]


def test_an_unfinished_last_line_is_rejected_and_says_the_file_may_still_be_written():
    cut = raw(event_id="b")[:25]
    batch = read_bytes(raw(event_id="a"), cut)
    assert list(batch.events["event_id"]) == ["a"]
    [rejection] = batch.rejections
    assert (rejection.record_id, rejection.field, rejection.value) == ("drop.jsonl:2", "line", cut.decode())
    assert rejection.reason.startswith("not valid JSON: ")
    assert rejection.reason.endswith("the last line has no newline: the file may still be being written "
                                     "(it is read again when it changes)")


def test_a_last_line_cut_inside_a_character_is_unfinished_too():
    cut = raw(event_id="b", campaign="Café").rstrip(b"\n")[:-3]  # ends on the first byte of "é"
    assert cut.endswith(b"\xc3")
    [rejection] = read_bytes(cut).rejections
    assert rejection.reason.startswith("not valid UTF-8 (byte 0xc3 at column ")
    assert "the file may still be being written" in rejection.reason


def test_a_broken_line_in_the_middle_or_with_its_newline_gets_no_unfinished_hint():
    batch = read_bytes(b"{broken\n", raw(event_id="a"), b"{also broken\n")
    assert [r.record_id for r in batch.rejections] == ["drop.jsonl:1", "drop.jsonl:3"]
    assert not any("still being written" in r.reason for r in batch.rejections)


def test_an_event_with_bad_values_on_the_last_line_is_not_called_unfinished():
    [rejection] = read_bytes(raw(email="nobody").rstrip(b"\n")).rejections
    assert rejection.reason == "not a valid email address"


@pytest.mark.parametrize("moment", ["1999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00"])
def test_events_before_2000_are_rejected(moment):
    [rejection] = read(line(occurred_at=moment)).rejections
    assert (rejection.record_id, rejection.field, rejection.value) == ("ev-1", "occurred_at", moment)
    assert rejection.reason == ("occurred_at is before 2000-01-01T00:00:00+00:00 (an unset date or a clock or "
                                "export error)")


def test_the_floor_itself_is_accepted_and_far_future_years_do_not_overflow():
    assert len(read(line(occurred_at="2000-01-01T00:00:00Z")).events) == 1
    assert len(read(line(occurred_at="2000-01-01T01:00:00+01:00")).events) == 1
    [rejection] = read(line(occurred_at="9999-12-31T23:59:59-05:00")).rejections
    assert "in the future" in rejection.reason


def test_a_file_opened_in_binary_mode_reads_like_its_lines(tmp_path):
    path = tmp_path / "drop.jsonl"
    crlf = [raw(event_id="a").rstrip() + b"\r\n", b'{"x": "\xfe"}\r\n', b"\r\n", raw(event_id="d").rstrip()]
    path.write_bytes(b"\xef\xbb\xbf" + b"".join(crlf))
    with path.open("rb") as handle:
        batch = read_event_lines(handle, "drop.jsonl", now=NOW)
    assert list(batch.events["event_id"]) == ["a", "d"]
    assert list(batch.events["line"]) == [1, 4]
    assert [(r.record_id, r.reason) for r in batch.rejections] == [
        ("drop.jsonl:2", "not valid UTF-8 (byte 0xfe at column 8); re-export the file as UTF-8")]


def test_a_nul_character_in_a_kept_text_is_rejected_and_never_becomes_the_record_id():
    batch = read(line(event_id="a", campaign="Spring\u0000"), line(event_id="b\u0000"), line(event_id="c"))
    assert list(batch.events["event_id"]) == ["c"]
    assert [(r.record_id, r.field, r.value) for r in batch.rejections] == [
        ("a", "campaign", "Spring\u0000"), ("drop.jsonl:2", "event_id", "b\u0000")]
    assert {r.reason for r in batch.rejections} == {
        "contains a NUL character (U+0000), which the database cannot store; remove it from the export"}
