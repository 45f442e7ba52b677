"""The push plan's inputs from the marketing database's frames (rules of rules/push_inputs.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import yaml

from sync_pipeline.rules.push_inputs import (
    desired_values,
    field_columns,
    marketing_events,
    salesforce_consent,
    salesforce_now,
    with_marketing_evidence,
)
from sync_pipeline.settings import parse_settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = parse_settings(yaml.safe_load((ROOT / "data" / "sync.yaml").read_text()))
T1 = pd.Timestamp(datetime(2026, 11, 1, tzinfo=UTC))
T2 = pd.Timestamp(datetime(2026, 11, 2, tzinfo=UTC))


def _people() -> pd.DataFrame:
    return pd.DataFrame({
        "contact_key": ["K1", "K2"], "crm_id": ["00QA", "003B"], "email": ["a@example.com", "b@example.com"],
        "first_name": ["Ann", "Bo"], "lead_score": [12.0, None], "opted_out": [False, True],
        "hard_bounced": [False, False], "hard_bounce_reason": [None, None], "hard_bounced_at": [None, None],
    })


def _mirrors() -> dict[str, pd.DataFrame]:
    lead = pd.DataFrame({"id": ["00QA", "00QC"], "is_deleted": [False, False], "isconverted": ["false", "false"],
                         "convertedcontactid": [None, None], "firstname": ["Ann", "Annie"],
                         "behavior_score__c": ["3", "4"], "hasoptedoutofemail": ["false", "true"],
                         "system_modstamp": [T1, T2]})
    contact = pd.DataFrame({"id": ["003B"], "is_deleted": [False], "firstname": ["Bo"], "behavior_score__c": [None],
                            "hasoptedoutofemail": ["false"], "system_modstamp": [T1]})
    return {"Lead": lead, "Contact": contact}


LINKS = pd.DataFrame({"crm_id": ["00QA", "00QC", "003B"], "crm_type": ["Lead", "Lead", "Contact"],
                      "contact_key": ["K1", "K1", "K2"]})


def test_field_columns_cover_score_push_fields_consent_and_bounce() -> None:
    columns = field_columns(SETTINGS, "Lead")
    assert columns["Behavior_Score__c"] == "lead_score" and columns["FirstName"] == "first_name"
    assert columns["HasOptedOutOfEmail"] == "opted_out" and columns["EmailBouncedReason"] == "hard_bounce_reason"
    assert "Company" not in columns  # a pull field is never pushed
    assert all("." not in field for field in field_columns(SETTINGS, "Contact"))  # no relationship path


def test_field_columns_add_an_allow_push_field_only_where_a_list_of_that_object_pushes_it() -> None:
    data = yaml.safe_load((ROOT / "data" / "sync.yaml").read_text())
    data["contact_mapping"]["phone"]["allow_push"] = True
    assert "Phone" not in field_columns(parse_settings(data), "Lead")  # allowed, but no list asks
    data["lists"][0]["push"]["update_fields"].append("Phone")  # SFDC Master Leads pushes Phone
    settings = parse_settings(data)
    assert field_columns(settings, "Lead")["Phone"] == "phone"
    assert "Phone" not in field_columns(settings, "Contact")  # the Contacts list does not push it


def test_marketing_events_take_the_latest_unsubscribe_and_bounce() -> None:
    events = pd.DataFrame({"email": ["a@example.com"] * 3 + ["nobody@example.com"],
                           "event_type": ["unsubscribe", "unsubscribe", "hard_bounce", "unsubscribe"],
                           "occurred_at": [T1, T2, T1, T2], "reason": [None, None, "550 no such user", None]})
    evidence = marketing_events(_people(), events).set_index("contact_key")
    assert evidence.loc["K1", "opt_out_event_at"] == T2 and evidence.loc["K1", "bounce_reason"] == "550 no such user"
    assert "K2" not in evidence.index  # events of unknown emails are ignored
    people = with_marketing_evidence(_people(), evidence.reset_index()).set_index("contact_key")
    assert bool(people.loc["K1", "hard_bounced"]) and people.loc["K1", "hard_bounced_at"] == T1


def test_desired_values_score_to_every_record_names_to_the_primary_only() -> None:
    desired = desired_values(SETTINGS, _people(), LINKS, _mirrors()).set_index("crm_id")
    assert desired.loc["00QA", "Behavior_Score__c"] == 12 and desired.loc["00QC", "Behavior_Score__c"] == 12
    assert desired.loc["00QA", "FirstName"] == "Ann"
    assert desired.loc["00QC", "FirstName"] == "Annie"  # a duplicate keeps its own name: nothing to send
    assert desired.loc["003B", "HasOptedOutOfEmail"]  # consent goes to every record of the person
    assert desired.loc["003B", "Behavior_Score__c"] is None


def test_a_marketing_column_named_like_a_mirror_column_keeps_the_marketing_value() -> None:
    people = _people().assign(title=["Marketing Title", None])  # ``title`` is also the mirror column of Title
    mirrors = _mirrors()
    mirrors["Lead"]["title"] = ["Sales Title", "Other"]
    desired = desired_values(SETTINGS, people, LINKS, mirrors)  # title is two_way in the demo settings
    titles = dict(zip(desired["crm_id"], desired["Title"], strict=True))
    assert titles["00QA"] == "Marketing Title"  # the person's primary record: the marketing value
    assert titles["00QC"] == "Other"  # a second record of the person keeps its own value


def test_salesforce_side_frames() -> None:
    mirrors = _mirrors()
    mirrors["Lead"]["isconverted"] = ["false", "true"]
    consent = salesforce_consent(mirrors, LINKS, "HasOptedOutOfEmail").set_index("crm_id")
    assert consent[["has_opted_out", "is_converted"]].to_dict("index") == {
        "00QA": {"has_opted_out": False, "is_converted": False}, "00QC": {"has_opted_out": True, "is_converted": True},
        "003B": {"has_opted_out": False, "is_converted": False}}
    desired = desired_values(SETTINGS, _people(), LINKS, _mirrors())
    now = salesforce_now(desired, _mirrors())
    score = now[(now["crm_id"] == "00QA") & (now["field"] == "Behavior_Score__c")].iloc[0]
    assert score["value"] == "3" and score["system_modstamp"] == T1


def test_nothing_is_desired_for_an_inactive_person_nor_through_a_converted_lead_whose_contact_is_gone() -> None:
    people = _people().assign(is_active=[True, False])  # Bo is inactive history
    mirrors = _mirrors()
    # Ann's duplicate Lead 00QC was converted into a Contact since deleted in Salesforce: nowhere to write to.
    mirrors["Lead"]["isconverted"] = ["false", "true"]
    mirrors["Lead"]["convertedcontactid"] = [None, "003D"]
    mirrors["Contact"] = pd.concat([mirrors["Contact"], pd.DataFrame(
        {"id": ["003D"], "is_deleted": [True], "firstname": ["Annie"], "behavior_score__c": [None],
         "hasoptedoutofemail": ["false"], "system_modstamp": [T2]})], ignore_index=True)
    links = pd.concat([LINKS, pd.DataFrame({"crm_id": ["003D"], "crm_type": ["Contact"], "contact_key": ["K1"]})])
    desired = desired_values(SETTINGS, people, links, mirrors)
    assert list(desired["crm_id"]) == ["00QA"]
    # With its Contact live, the converted Lead stays: the plan sends its values to that Contact.
    mirrors["Contact"].loc[mirrors["Contact"]["id"] == "003D", "is_deleted"] = False
    desired = desired_values(SETTINGS, people, links, mirrors).set_index("crm_id")
    assert sorted(desired.index) == ["003D", "00QA", "00QC"] and desired.loc["00QC", "converted_contact_id"] == "003D"


def test_a_converted_lead_sends_nothing_through_a_contact_of_another_person() -> None:
    people = _people().assign(is_active=[True, True])
    mirrors = _mirrors()
    # Ann's duplicate Lead 00QC was converted into Bo's Contact 003B: Bo's own values decide what 003B holds, so a
    # page holding only Ann plans the same as a run over everyone.
    mirrors["Lead"]["isconverted"] = ["false", "true"]
    mirrors["Lead"]["convertedcontactid"] = [None, "003B"]
    desired = desired_values(SETTINGS, people, LINKS, mirrors)
    assert sorted(desired["crm_id"]) == ["003B", "00QA"]
    ann_only = desired_values(SETTINGS, people[people["contact_key"] == "K1"], LINKS[LINKS["contact_key"] == "K1"],
                              {"Lead": mirrors["Lead"], "Contact": mirrors["Contact"].iloc[:0]})
    assert list(ann_only["crm_id"]) == ["00QA"]
