"""The maintenance step over days: a new day re-scores only the people decay can move, writes the decimals that
moved without marking those people changed, and leaves every score equal to scoring everyone from scratch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.rules.scoring import behavioral_scores, maintenance
from sync_pipeline.settings import SyncSettings, load_settings
from sync_pipeline.steps import scoring as scoring_step
from sync_pipeline.steps.changes import Unchanged
from sync_pipeline.steps.scoring import MaintenanceResult, maintain_scores
from sync_pipeline.store.engagement import EVENT_COLUMNS, read_events, store_events
from sync_pipeline.store.tables import all_contacts

ROOT = Path(__file__).resolve().parents[2]
DAY_ONE = datetime(2026, 3, 10, tzinfo=UTC)


def _pinned(at: datetime) -> type[datetime]:
    class Pinned(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return at.astimezone(tz) if tz is not None else at.replace(tzinfo=None)

    return Pinned


def _events(*rows: tuple[str, str, datetime]) -> pd.DataFrame:
    frame = pd.DataFrame([{"event_id": f"e{n:03d}", "event_type": kind, "email": email, "occurred_at": at,
                           "source": "test.jsonl"} for n, (kind, email, at) in enumerate(rows)])
    return frame.reindex(columns=list(EVENT_COLUMNS))


def _people() -> list[dict[str, Any]]:
    """steady: a score whose whole number holds from one day to the next; sliding: one whose whole number drops;
    quiet: no events; negative: a total below 0; rising: below 0 today, above 0 tomorrow (an event dated ahead
    keeps its full points while old unsubscribes decay)."""
    return [{"contact_key": key, "email": f"{key}@example.com", "crm_type": "Lead", "crm_id": f"00Q{n:012d}AAA",
             "opted_out": False, "hard_bounced": False, "is_active": True, "updated_at": DAY_ONE}
            for n, key in enumerate(["steady", "sliding", "quiet", "negative", "rising"])]


def _run(engine: Engine, settings: SyncSettings, at: datetime, monkeypatch: pytest.MonkeyPatch
         ) -> MaintenanceResult | Unchanged:
    monkeypatch.setattr(scoring_step, "datetime", _pinned(at))
    return maintain_scores(engine, settings, f"run-{at.isoformat()}")


def _stored(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(all_contacts.c.contact_key, all_contacts.c.behavioral_score,
                                     all_contacts.c.lead_score, all_contacts.c.change_seq), conn
                           ).set_index("contact_key").sort_index()


def _from_scratch(engine: Engine, settings: SyncSettings, day: datetime) -> pd.DataFrame:
    with engine.connect() as conn:
        people = pd.read_sql(sa.select(all_contacts.c.contact_key, all_contacts.c.email, all_contacts.c.lead_score),
                             conn)
        events = read_events(conn)
    scores = behavioral_scores(events, people[["contact_key", "email"]], dict(settings.scoring.rules),
                               settings.scoring.half_life_days, day)
    return maintenance(people, scores).set_index("contact_key").sort_index()[["behavioral_score", "lead_score"]]


def test_a_new_day_rescores_only_the_people_decay_can_move(migrated_engine: Engine,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(ROOT / "data" / "sync.yaml")
    with migrated_engine.begin() as conn:
        conn.execute(sa.insert(all_contacts), _people())
        store_events(conn, _events(
            ("form_submit", "steady@example.com", DAY_ONE - timedelta(days=0.5)),
            ("email_click", "sliding@example.com", DAY_ONE - timedelta(days=7.5)),
            ("unsubscribe", "negative@example.com", DAY_ONE - timedelta(days=3)),
            ("email_open", "negative@example.com", DAY_ONE - timedelta(days=3)),
            *(("unsubscribe", "rising@example.com", DAY_ONE - timedelta(days=17.5)) for _ in range(3)),
            ("form_submit", "rising@example.com", DAY_ONE + timedelta(days=3)),
        ))

    first = _run(migrated_engine, settings, DAY_ONE + timedelta(hours=9), monkeypatch)
    assert isinstance(first, MaintenanceResult) and first.everyone and first.keys_examined == 5
    assert isinstance(_run(migrated_engine, settings, DAY_ONE + timedelta(hours=15), monkeypatch), Unchanged)
    before = _stored(migrated_engine)
    assert before.loc["rising", "behavioral_score"] == 0.0 and before.loc["negative", "behavioral_score"] == 0.0

    day_two = DAY_ONE + timedelta(days=1)
    second = _run(migrated_engine, settings, day_two + timedelta(hours=8), monkeypatch)
    assert isinstance(second, MaintenanceResult) and not second.everyone
    # steady and sliding have a score; rising has an event dated after day one. quiet and negative cannot move.
    assert second.keys_examined == 3
    after = _stored(migrated_engine)
    expected = _from_scratch(migrated_engine, settings, day_two)
    pd.testing.assert_frame_equal(after[["behavioral_score", "lead_score"]], expected, check_dtype=False)

    moved = after["behavioral_score"] != before["behavioral_score"]
    whole_number_moved = after["lead_score"] != before["lead_score"]
    assert set(after.index[moved]) == {"steady", "sliding", "rising"}
    assert set(after.index[whole_number_moved]) == {"sliding"}
    # Only the people whose lead score moved are news to the lists and the push; the decimals are written quietly.
    assert set(after.index[after["change_seq"] != before["change_seq"]]) == {"sliding"}
    assert (second.rows_written, second.people_changed, second.lead_scores_changed) == (3, 1, 1)
    assert isinstance(_run(migrated_engine, settings, day_two + timedelta(hours=20), monkeypatch), Unchanged)


def test_a_run_scores_in_chunks_and_gives_the_scores_of_one_pass(migrated_engine: Engine,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(ROOT / "data" / "sync.yaml")
    people = [{**person, "contact_key": f"{person['contact_key']}{n}", "email": f"p{n % 7}@example.com",
               "crm_id": f"00Q{n:012d}AAB"} for n, person in enumerate(_people() * 5)]
    with migrated_engine.begin() as conn:
        conn.execute(sa.insert(all_contacts), people)
        store_events(conn, _events(*((kind, f"p{n % 7}@example.com", DAY_ONE - timedelta(days=n))
                                     for n, kind in enumerate(["form_submit", "email_open", "unsubscribe"] * 4))))
    monkeypatch.setattr(scoring_step, "SCORE_CHUNK", 4)
    result = _run(migrated_engine, settings, DAY_ONE + timedelta(hours=9), monkeypatch)
    assert isinstance(result, MaintenanceResult)
    assert (result.chunks, result.keys_examined) == (7, 25)
    stored = _stored(migrated_engine)[["behavioral_score", "lead_score"]]
    assert (stored["behavioral_score"] > 0).sum() >= 10
    pd.testing.assert_frame_equal(stored, _from_scratch(migrated_engine, settings, DAY_ONE), check_dtype=False)
