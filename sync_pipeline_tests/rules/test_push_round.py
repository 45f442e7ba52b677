"""One push round planned end to end from the push's inputs (rules/push_round.py), with the demo settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import yaml

from sync_pipeline.rules.push_round import PushInputs, plan_round
from sync_pipeline.settings import parse_settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = parse_settings(yaml.safe_load((ROOT / "data" / "sync.yaml").read_text()))
T0 = pd.Timestamp(datetime(2026, 11, 1, tzinfo=UTC))
T1 = pd.Timestamp(datetime(2026, 11, 2, tzinfo=UTC))
NOW = datetime(2026, 11, 3, tzinfo=UTC)


def _inputs(edits: pd.DataFrame, *, sf_title: str = "CTO", stamp: pd.Timestamp = T0,
            opted_out_in_salesforce: str = "false") -> PushInputs:
    people = pd.DataFrame({
        "contact_key": ["K1"], "crm_id": ["00Q1"], "crm_type": ["Lead"], "email": ["ann@example.com"],
        "first_name": ["Ann"], "title": ["CTO"], "company": ["Acme"], "lead_score": [12.0], "opted_out": [False],
        "hard_bounced": [False], "hard_bounce_reason": [None], "hard_bounced_at": [None], "is_active": [True]})
    lead = pd.DataFrame({"id": ["00Q1"], "is_deleted": [False], "isconverted": ["false"],
                         "convertedcontactid": [None], "firstname": ["Ann"], "title": [sf_title], "company": ["Acme"],
                         "behavior_score__c": ["12"], "hasoptedoutofemail": [opted_out_in_salesforce],
                         "emailbouncedreason": [None], "emailbounceddate": [None], "system_modstamp": [stamp]})
    empty_contact = pd.DataFrame({"id": pd.Series(dtype="string"), "is_deleted": pd.Series(dtype=bool)})
    pushed = pd.DataFrame([("00Q1", "Behavior_Score__c", 12, T0)], columns=["crm_id", "field", "value", "pushed_at"])
    return PushInputs(
        people=people, links=pd.DataFrame({"crm_id": ["00Q1"], "crm_type": ["Lead"], "contact_key": ["K1"]}),
        mirrors={"Lead": lead, "Contact": empty_contact},
        events=pd.DataFrame(columns=["event_id", "event_type", "email", "occurred_at", "reason"]),
        pushed=pushed, ledger=pd.DataFrame(columns=["contact_key", "crm_id", "system", "old_value", "new_value",
                                                    "changed_at", "evidence"]),
        edits=edits, refusals=pd.DataFrame(columns=["crm_id", "field", "value", "record_stamp"]))


def _edit(column: str, value: object, old: object, at: pd.Timestamp, edit_id: int = 1) -> pd.DataFrame:
    return pd.DataFrame([(edit_id, "K1", column, value, old, at)],
                        columns=["edit_id", "contact_key", "column_name", "value", "old_value", "changed_at"])


def test_nothing_pending_plans_nothing() -> None:
    inputs = _inputs(_edit("title", "CTO", "CTO", T1).iloc[:0])
    round_ = plan_round(SETTINGS, inputs, NOW)
    assert round_.plan.is_empty and round_.edit_outcomes(inputs.links, set(), set()) == {}


def test_an_edit_salesforce_did_not_touch_is_sent_and_settles_as_pushed() -> None:
    inputs = _inputs(_edit("title", "VP Sales", "CTO", T1))
    round_ = plan_round(SETTINGS, inputs, NOW)
    assert round_.plan.records == [{"attributes": {"type": "Lead"}, "Id": "00Q1", "Title": "VP Sales"}]
    assert round_.plan.conflicts.empty
    assert round_.edit_outcomes(inputs.links, {"00Q1"}, set()) == {1: ("pushed", "")}


def test_an_edit_of_a_field_salesforce_changed_later_loses_by_the_most_recent_rule() -> None:
    inputs = _inputs(_edit("title", "VP Sales", "CTO", T0), sf_title="Head of IT", stamp=T1)
    round_ = plan_round(SETTINGS, inputs, NOW)
    assert round_.plan.is_empty
    assert list(round_.plan.conflicts[["field", "winner"]].itertuples(index=False, name=None)) == [
        ("Title", "salesforce")]
    assert round_.edit_outcomes(inputs.links, set(), set())[1][0] == "salesforce_won"


def test_an_opt_out_in_salesforce_is_kept_and_an_edit_of_the_consent_column_is_refused() -> None:
    inputs = _inputs(_edit("opted_out", False, True, T1), opted_out_in_salesforce="true")
    round_ = plan_round(SETTINGS, inputs, NOW)
    assert bool(round_.people.loc[0, "opted_out"]) is True  # pulled in; never undone by the edit
    assert round_.edit_outcomes(inputs.links, set(), set())[1][0] == "not_pushable"
    assert len(round_.consent.ledger_entries) == 1


def test_only_the_consent_rows_that_changed_are_written_back() -> None:
    from sync_pipeline.rules.push_round import consent_changes

    before = pd.DataFrame({"contact_key": ["K1", "K2", "K3"], "opted_out": [False, True, False],
                           "hard_bounced": [False, False, False], "hard_bounce_reason": [None, None, None],
                           "hard_bounced_at": [None, None, None], "email": ["a@x.com", "b@x.com", "c@x.com"]})
    after = before.copy()
    after.loc[0, "opted_out"] = True  # K1 opted out now
    after.loc[2, ["hard_bounced", "hard_bounce_reason"]] = [True, "550 no such user"]  # K3 bounced
    changed = consent_changes(before, after)
    assert changed["contact_key"].tolist() == ["K1", "K3"]
    assert list(changed.columns) == ["contact_key", "opted_out", "hard_bounced", "hard_bounce_reason",
                                     "hard_bounced_at"]
    assert consent_changes(before, before.copy()).empty
