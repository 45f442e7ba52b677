"""New people from form submits (rules of rules/new_leads.py), and the Leads a list with add_new plans for them."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from sync_pipeline.rules.new_leads import new_people, new_person_key, plan_new_leads
from sync_pipeline.rules.push_plan import PLACEHOLDER, plan_creates
from sync_pipeline.settings.model import ListSettings

T1 = pd.Timestamp(datetime(2026, 11, 1, 9, tzinfo=UTC))
T2 = pd.Timestamp(datetime(2026, 11, 2, 9, tzinfo=UTC))


def _events(*rows: tuple[str, str, str, pd.Timestamp, str | None]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["event_id", "event_type", "email", "occurred_at", "form"])


def test_only_form_submitters_unknown_to_salesforce_are_new_people() -> None:
    events = _events(
        ("e1", "form_submit", "New@Example.com ", T2, "Demo request"),
        ("e2", "form_submit", "new@example.com", T1, "Newsletter"),  # earlier: the first submit is kept
        ("e3", "email_open", "opener@example.com", T1, None),  # an open is no reason to create a record
        ("e4", "form_submit", "known@example.com", T1, "Demo request"),
        ("e5", "form_submit", "gone@example.com", T1, "Pricing"),
    )
    people = new_people(events, known_emails=["KNOWN@example.com", None], deleted_emails=["gone@example.com"])

    assert list(people["Email"]) == sorted(["new@example.com", "gone@example.com"],
                                           key=lambda e: new_person_key(e))
    new = people.set_index("Email").loc["new@example.com"]
    assert new["contact_key"] == new_person_key("new@example.com") and len(new["contact_key"]) == 18
    assert new["first_seen_at"] == T1 and new["form"] == "Newsletter" and not new["deleted_in_salesforce"]
    assert people.set_index("Email").loc["gone@example.com", "deleted_in_salesforce"]


def test_the_key_is_stable_and_distinct_per_email() -> None:
    assert new_person_key("a@example.com") == new_person_key("a@example.com")
    assert new_person_key("a@example.com") != new_person_key("b@example.com")
    assert new_person_key("a@example.com").startswith("mk")


def test_no_events_or_no_unknown_submitters_give_an_empty_frame() -> None:
    assert new_people(_events(), [], []).empty
    assert new_people(_events(("e1", "form_submit", "a@example.com", T1, None)), ["a@example.com"], []).empty


def test_a_list_with_add_new_plans_leads_except_for_people_deleted_in_salesforce() -> None:
    events = _events(("e1", "form_submit", "new@example.com", T1, "Demo"),
                     ("e2", "form_submit", "gone@example.com", T1, "Demo"))
    candidates = new_people(events, [], ["gone@example.com"]).assign(crm_id=None)
    leads = ListSettings.model_validate({"name": "Leads", "source": {"object": "Lead"}, "columns": ["Email"],
                                         "push": {"add_new": True}})

    creates = plan_creates(leads, candidates)

    assert creates.to_dict("records") == [{"contact_key": new_person_key("new@example.com"), "object": "Lead",
                                           "Email": "new@example.com", "LastName": PLACEHOLDER,
                                           "Company": PLACEHOLDER}]
    asks_nothing = leads.model_copy(update={"push": leads.push.model_copy(update={"add_new": False})})
    assert plan_creates(asks_nothing, candidates).empty


def test_plan_new_leads_creates_each_person_once_and_never_again_after_a_create_or_a_refusal() -> None:
    events = _events(("e1", "form_submit", "a@example.com", T1, "Demo"),
                     ("e2", "form_submit", "b@example.com", T1, "Demo"),
                     ("e3", "form_submit", "c@example.com", T1, "Demo"))
    lists = [ListSettings.model_validate({"name": name, "source": {"object": "Lead"}, "columns": ["Email"],
                                          "push": {"add_new": True}}) for name in ("Leads", "More Leads")]
    done = {new_person_key("b@example.com")}  # created (or refused) in an earlier run
    records = plan_new_leads(lists, events, known_emails=[], deleted_emails=[], done_keys=done)
    assert [(r["Marketing_Id__c"], r["Email"], r["attributes"]) for r in records] == sorted(
        [(new_person_key(e), e, {"type": "Lead"}) for e in ("a@example.com", "c@example.com")])
    assert plan_new_leads([lists[0].model_copy(update={"push": lists[0].push.model_copy(
        update={"add_new": False})})], events, [], [], set()) == []
