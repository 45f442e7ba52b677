"""Which people the push plans: those changed since its last complete run, or everyone in one pass when most did."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.steps import changes as changes_step
from sync_pipeline.steps.changes import StepInputs
from sync_pipeline.steps.push import PUSH_INPUTS, PUSH_STEP, people_to_plan
from sync_pipeline.store.tables import all_contacts
from sync_pipeline.store.versions import ALL_CONTACTS

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _inputs(consumed_people_version: int) -> StepInputs:
    consumed: dict[str, object] = {name: 0 for name in PUSH_INPUTS}
    consumed.update({ALL_CONTACTS: consumed_people_version, "settings": "same"})
    return StepInputs(PUSH_STEP, {**consumed, ALL_CONTACTS: 9}, previous=consumed)


@pytest.mark.parametrize(("changed", "expected"), [(3, 3), (10, None)])
def test_the_push_plans_the_changed_people_or_everyone_when_most_changed(
        migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch, changed: int, expected: int | None) -> None:
    monkeypatch.setattr(changes_step, "WHOLE_PASS_ABOVE", 2)  # the org here is tiny; the share is what is tested
    with migrated_engine.begin() as conn:
        conn.execute(sa.insert(all_contacts), [
            {"contact_key": f"K{n:02d}", "email": f"p{n}@example.com", "crm_type": "Lead",
             "crm_id": f"00Q{n:012d}AAA", "opted_out": False, "hard_bounced": False, "is_active": True,
             "updated_at": NOW, "change_seq": 5 if n < changed else 1} for n in range(20)])
        keys = people_to_plan(conn, _inputs(consumed_people_version=2))
    if expected is None:
        assert keys is None  # 10 of 20 changed, above a fifth: everyone, in one read
    else:
        assert keys == [f"K{n:02d}" for n in range(expected)]
