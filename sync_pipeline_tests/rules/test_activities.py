"""Engagement events as Tasks: types, first click, stable keys, skips and the Task fields (pure)."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from sync_pipeline.rules.activities import ACTIVITY_TYPES, KEY_FIELD, TASK_COLUMNS, activity_key, plan_tasks

LEAD, CONTACT = "00Q5e0000000001EAA", "0035e0000000001EAA"
LINKS = pd.DataFrame([
    {"email": "ann@example.com", "crm_id": LEAD, "crm_type": "Lead"},
    {"email": "bob@example.com", "crm_id": CONTACT, "crm_type": "Contact"},
])


def _event(event_id: str, event_type: str, *, email: str = "ann@example.com", at: str = "2024-03-01T10:00:00Z",
           campaign: str | None = "Spring", email_name: str | None = None, url: str | None = None,
           form: str | None = None) -> dict:
    return {"event_id": event_id, "event_type": event_type, "email": email, "occurred_at": at, "campaign": campaign,
            "email_name": email_name, "url": url, "form": form}


def _events(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def _plan(events: pd.DataFrame, enabled=ACTIVITY_TYPES, pushed: set[str] | None = None,
          links: pd.DataFrame = LINKS) -> pd.DataFrame:
    return plan_tasks(events, links, enabled, pushed or set())


def test_one_task_per_event_of_each_type_with_its_fields() -> None:
    events = _events(
        _event("e1", "form_submit", form="Demo request", url="https://acme.test/demo"),
        _event("e2", "email_send", email_name="Spring promo", at="2024-03-01T11:00:00Z"),
        _event("e3", "email_open", email_name="Spring promo", at="2024-03-01T12:00:00Z"),
        _event("e4", "email_click", email_name="Spring promo", url="https://acme.test/offer",
               at="2024-03-01T13:00:00Z"),
        _event("e5", "page_visit", url="https://acme.test/pricing", email="bob@example.com", campaign=None,
               at="2024-03-01T14:00:00Z"),
    )
    tasks = _plan(events)
    assert list(tasks.columns) == TASK_COLUMNS
    assert tasks["Subject"].tolist() == [
        "Form submitted: Demo request", "Email sent: Spring promo", "Email opened: Spring promo",
        "Email link clicked: Spring promo", "Page visited: https://acme.test/pricing"]
    assert tasks["Type"].tolist() == ["Other", "Email", "Email", "Email", "Other"]
    assert tasks["WhoId"].tolist() == [LEAD, LEAD, LEAD, LEAD, CONTACT]
    assert set(tasks["Status"]) == {"Completed"} and set(tasks["ActivityDate"]) == {"2024-03-01"}
    assert tasks[KEY_FIELD].tolist() == [activity_key(f"e{i}") for i in range(1, 6)]
    click = tasks.loc[3, "Description"]
    assert click.startswith("Email link clicked on 2024-03-01 13:00:00 UTC.")
    assert "Email: Spring promo" in click and "Page: https://acme.test/offer" in click
    assert "Campaign: Spring" in click and "Marketing event: e4" in click
    assert "Campaign" not in tasks.loc[4, "Description"]
    assert tasks.attrs["counts"] == {"events": 5, "tasks": 5, "disabled_type": 0, "later_clicks": 0,
                                     "already_pushed": 0, "no_salesforce_record": 0, "refused_before": 0}


def test_only_enabled_types_make_tasks() -> None:
    events = _events(_event("e1", "form_submit", form="F"), _event("e2", "email_open", email_name="N"),
                     _event("e3", "page_visit", url="u"), _event("e4", "webinar", url="u"))
    tasks = _plan(events, enabled=["email_open", "page_visit"])
    assert tasks["Subject"].tolist() == ["Email opened: N", "Page visited: u"]
    assert tasks.attrs["counts"]["disabled_type"] == 2
    assert _plan(events, enabled=[]).empty


def test_an_unknown_enabled_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown activity type.*email_bounce"):
        _plan(_events(_event("e1", "email_open")), enabled=["email_open", "email_bounce"])


def test_only_the_first_click_per_person_and_email_makes_a_task() -> None:
    events = _events(
        _event("c3", "email_click", email_name="Promo", at="2024-03-03T00:00:00Z"),
        _event("c1", "email_click", email_name="Promo", at="2024-03-01T00:00:00Z"),
        _event("c2", "email_click", email="  ANN@example.com ", email_name="Promo", at="2024-03-02T00:00:00Z"),
        _event("d1", "email_click", email_name="Other email", at="2024-03-04T00:00:00Z"),
        _event("b1", "email_click", email="bob@example.com", email_name="Promo", at="2024-03-05T00:00:00Z"),
        _event("o1", "email_open", email_name="Promo", at="2024-03-06T00:00:00Z"),
    )
    tasks = _plan(events)
    assert tasks[KEY_FIELD].tolist() == [activity_key(e) for e in ("c1", "d1", "b1", "o1")]
    assert tasks.attrs["counts"]["later_clicks"] == 2


def test_a_later_click_stays_without_task_once_the_first_was_pushed() -> None:
    events = _events(_event("c1", "email_click", email_name="Promo", at="2024-03-01T00:00:00Z"),
                     _event("c2", "email_click", email_name="Promo", at="2024-03-02T00:00:00Z"))
    tasks = _plan(events, pushed={activity_key("c1")})
    assert tasks.empty
    assert tasks.attrs["counts"] == {"events": 2, "tasks": 0, "disabled_type": 0, "later_clicks": 1,
                                     "already_pushed": 1, "no_salesforce_record": 0, "refused_before": 0}


def test_the_key_is_stable_short_and_one_per_event() -> None:
    key = activity_key("evt-123")
    assert key == "ev-" + hashlib.sha1(b"evt-123").hexdigest()[:32] and len(key) <= 80
    assert activity_key("evt-123") == key and activity_key("evt-124") != key
    events = _events(_event("e1", "email_open", email_name="N"), _event("e1", "email_open", email_name="N"),
                     _event("e2", "email_open", email_name="N"))
    first, again = _plan(events), _plan(events.iloc[::-1])
    assert first[KEY_FIELD].tolist() == [activity_key("e1"), activity_key("e2")]
    pd.testing.assert_frame_equal(first, again)


def test_events_already_pushed_are_skipped() -> None:
    events = _events(_event("e1", "email_open", email_name="N"), _event("e2", "email_send", email_name="N"))
    tasks = _plan(events, pushed={activity_key("e1"), "ev-unrelated"})
    assert tasks[KEY_FIELD].tolist() == [activity_key("e2")]
    assert tasks.attrs["counts"]["already_pushed"] == 1


def test_events_without_a_salesforce_record_are_skipped_and_counted() -> None:
    events = _events(_event("e1", "email_open", email_name="N", email="nobody@example.com"),
                     _event("e2", "email_open", email_name="N", email=None),
                     _event("e3", "email_open", email_name="N", email="Bob@Example.com"))
    tasks = _plan(events)
    assert tasks["WhoId"].tolist() == [CONTACT]
    assert tasks.attrs["counts"]["no_salesforce_record"] == 2


def test_a_contact_wins_over_a_lead_of_the_same_email() -> None:
    links = pd.DataFrame([{"email": "ann@example.com", "crm_id": LEAD, "crm_type": "Lead"},
                          {"email": "ANN@example.com", "crm_id": CONTACT, "crm_type": "Contact"}])
    tasks = _plan(_events(_event("e1", "email_open", email_name="N")), links=links)
    assert tasks["WhoId"].tolist() == [CONTACT]


def test_subject_is_cut_to_255_and_the_date_is_the_utc_day() -> None:
    url = "https://acme.test/" + "x" * 400
    events = _events(_event("e1", "page_visit", url=url, at="2024-03-01T22:30:00-05:00"),
                     _event("e2", "form_submit", form=None, at=pd.Timestamp("2024-03-05 08:00")))
    tasks = _plan(events)
    assert len(tasks.loc[0, "Subject"]) == 255 and tasks.loc[0, "Subject"].endswith("...")
    assert tasks.loc[0, "ActivityDate"] == "2024-03-02"
    assert tasks.loc[1, "Subject"] == "Form submitted" and tasks.loc[1, "ActivityDate"] == "2024-03-05"


def test_no_events_give_an_empty_plan_with_the_task_columns() -> None:
    tasks = plan_tasks(pd.DataFrame(columns=["event_id", "event_type", "email", "occurred_at", "campaign",
                                             "email_name", "url", "form"]), LINKS, ACTIVITY_TYPES, set())
    assert tasks.empty and list(tasks.columns) == TASK_COLUMNS
    assert tasks.attrs["counts"]["events"] == 0


def test_a_task_refused_for_a_record_is_not_planned_again_for_it_but_is_for_a_new_record() -> None:
    events = _events(_event("e1", "email_open", email_name="Promo"),
                     _event("e2", "email_open", email_name="Promo", email="bob@example.com"))
    refused = {activity_key("e1"): LEAD, activity_key("e2"): "003OLDCONTACT00AAA"}
    tasks = plan_tasks(events, LINKS, ACTIVITY_TYPES, set(), refused)
    assert tasks[KEY_FIELD].tolist() == [activity_key("e2")]  # e2's person has another record now: planned
    assert tasks["WhoId"].tolist() == [CONTACT]
    assert tasks.attrs["counts"]["refused_before"] == 1 and tasks.attrs["counts"]["tasks"] == 1
