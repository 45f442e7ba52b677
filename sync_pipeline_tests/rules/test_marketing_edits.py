"""Marketing-side edits laid over All Contacts, and how they settle (rules of rules/marketing_edits.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from sync_pipeline.rules.marketing_edits import edit_outcomes, overlay_edits

T1 = pd.Timestamp(datetime(2026, 11, 1, tzinfo=UTC))
T2 = pd.Timestamp(datetime(2026, 11, 2, tzinfo=UTC))
PEOPLE = pd.DataFrame({"contact_key": ["K1", "K2"], "crm_id": ["00Q1", "0032"], "first_name": ["Ann", "Bo"],
                       "company": ["Acme", "Bolt"], "opted_out": [False, False]})
LINKS = pd.DataFrame({"crm_id": ["00Q1", "0031", "0032"], "crm_type": ["Lead", "Contact", "Contact"],
                      "contact_key": ["K1", "K1", "K2"]})
COLUMN_FIELDS = {"first_name": ["FirstName"], "opted_out": ["HasOptedOutOfEmail"]}


def _edits(*rows: tuple[int, str, str, object, pd.Timestamp]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["edit_id", "contact_key", "column_name", "value", "changed_at"])
    return frame.assign(old_value=frame["contact_key"].map({"K1": "Ann", "K2": "Bo"}))


def test_the_latest_edit_of_a_cell_is_laid_over_and_dates_every_record_of_the_person() -> None:
    edits = _edits((1, "K1", "first_name", "Anna", T2), (2, "K1", "first_name", "Annie", T1))

    laid = overlay_edits(PEOPLE, LINKS, edits, COLUMN_FIELDS)

    assert list(laid.people["first_name"]) == ["Anna", "Bo"]  # the later change time wins, not the later id
    assert list(PEOPLE["first_name"]) == ["Ann", "Bo"]  # the input is not changed
    assert laid.local_changed_at.to_dict() == {"00Q1": T2, "0031": T2}
    assert laid.live["edit_ids"].tolist() == [[2, 1]] and laid.settled == {}
    # the value before the edit is the baseline of every record of the person
    assert laid.baselines.to_dict("records") == [{"crm_id": "00Q1", "field": "FirstName", "value": "Ann"},
                                                 {"crm_id": "0031", "field": "FirstName", "value": "Ann"}]


def test_unknown_people_columns_pull_fields_and_managed_columns_settle_as_not_pushable() -> None:
    edits = _edits((1, "K9", "first_name", "X", T1), (2, "K2", "shoe_size", 9, T1), (3, "K2", "company", "Y", T1),
                   (4, "K2", "opted_out", True, T1))

    laid = overlay_edits(PEOPLE, LINKS, edits, COLUMN_FIELDS)

    assert laid.live.empty and laid.people.equals(PEOPLE)
    assert {k: v[0] for k, v in laid.settled.items()} == {1: "not_pushable", 2: "not_pushable", 3: "not_pushable",
                                                          4: "not_pushable"}
    assert "no person with contact_key 'K9'" in laid.settled[1][1]
    assert "no column 'shoe_size'" in laid.settled[2][1]
    assert "do not push 'company'" in laid.settled[3][1]
    assert "unsubscribe events" in laid.settled[4][1]


def test_settling_after_the_push() -> None:
    edits = _edits((1, "K1", "first_name", "Anna", T1), (2, "K2", "first_name", "Bob", T1))
    laid = overlay_edits(PEOPLE, LINKS, edits, COLUMN_FIELDS)
    sent = {("00Q1", "firstname"): "sent", ("0031", "firstname"): "already_in_salesforce",
            ("0032", "firstname"): "sent"}

    def settled(states, accepted, refused=frozenset()):
        return {k: v[0] for k, v in edit_outcomes(laid.live, LINKS, COLUMN_FIELDS, states, set(accepted), set(refused)
                                           ).items()}

    assert settled(sent, {"00Q1", "0032"}) == {1: "pushed", 2: "pushed"}
    assert settled(sent, {"00Q1"}, {"0032"}) == {1: "pushed", 2: "rejected"}
    assert settled(sent, {"00Q1"}) == {1: "pushed"}  # 0032 sent but not answered: still pending
    assert settled({**sent, ("0032", "firstname"): "salesforce_won"}, {"00Q1"}) == {1: "pushed",
                                                                                    2: "salesforce_won"}
    # Held back because Salesforce refused the same value before: not pushed, rejected.
    assert settled({**sent, ("0032", "firstname"): "held_refused"}, {"00Q1"})[2] == "rejected"
    # An edit back to the value the record already holds changes nothing: done.
    assert settled({**sent, ("0032", "firstname"): "unchanged"}, {"00Q1"})[2] == "pushed"
    # No live record of the person takes the column (deleted, or the other object only): never silently "pushed".
    nothing = edit_outcomes(laid.live, LINKS, COLUMN_FIELDS, {k: v for k, v in sent.items() if k[0] != "0032"},
                     {"00Q1"}, set())
    assert nothing[2][0] == "not_pushable" and "no live Salesforce record" in nothing[2][1]
