import copy
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sync_pipeline.rules.contacts import STANDARD_COLUMNS, build_all_contacts
from sync_pipeline.settings import parse_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
with (REPO_ROOT / "data" / "sync.yaml").open(encoding="utf-8") as handle:
    SETTINGS_DATA = yaml.safe_load(handle)
SETTINGS = parse_settings(SETTINGS_DATA)
NO_LINKS = pd.DataFrame({"crm_id": [], "contact_key": [], "email": []}, dtype="string")
EXTRA_COLUMNS = ["title", "phone", "lead_source", "industry", "annual_revenue", "lead_status"]


def stamp(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def lead(crm_id, email, day="2026-03-01", **fields):
    """A Lead mirror row (text values as Bulk CSV sends them)."""
    row = {
        "id": crm_id,
        "system_modstamp": stamp(day),
        "is_deleted": False,
        "ownerid": "005000000000001AAA",
        "isconverted": "false",
        "convertedcontactid": None,
        "convertedaccountid": None,
        "email": email,
        "firstname": "Ann",
        "lastname": "Lee",
        "company": "Acme",
        "title": "CTO",
        "phone": "555-0100",
        "leadsource": "Web",
        "industry": "Banking",
        "status": "Open - Not Contacted",
        "behavior_score__c": "42",
        "hasoptedoutofemail": "false",
        "emailbouncedreason": None,
        "emailbounceddate": None,
    }
    return {**row, **fields}


def contact(crm_id, email, day="2026-03-01", **fields):
    """A Contact mirror row, with its Account's name, industry and revenue."""
    row = {
        "id": crm_id,
        "system_modstamp": stamp(day),
        "is_deleted": False,
        "ownerid": "005000000000002AAA",
        "accountid": "001000000000001AAA",
        "email": email,
        "firstname": "Cy",
        "lastname": "Doe",
        "account__name": "Globex",
        "title": "VP Sales",
        "phone": "555-0101",
        "leadsource": "Partner Referral",
        "account__industry": "Energy",
        "account__annualrevenue": "1500000",
        "behavior_score__c": "7",
        "hasoptedoutofemail": "false",
        "emailbouncedreason": None,
        "emailbounceddate": None,
    }
    return {**row, **fields}


def mirror(*rows):
    return pd.DataFrame(list(rows))


def build(leads=(), contacts=(), links=NO_LINKS, settings=SETTINGS, describes=None):
    lead_frame = mirror(*leads) if leads else mirror(lead("x", None)).iloc[0:0]
    contact_frame = mirror(*contacts) if contacts else mirror(contact("x", None)).iloc[0:0]
    return build_all_contacts(lead_frame, contact_frame, settings, links, describes)


def person(result, key):
    return result.all_contacts.set_index("contact_key").loc[key]


def rejected(result):
    return [(r.record_id, r.field, r.value, r.reason) for r in result.rejections]


def settings_with(**mapping):
    data = copy.deepcopy(SETTINGS_DATA)
    data["contact_mapping"].update(mapping)
    return parse_settings(data)


def assert_counts_add_up(result, leads, contacts):
    counts = result.counts
    assert counts["leads"] == leads and counts["contacts"] == contacts
    assert counts["leads"] + counts["contacts"] == len(result.links) + counts["quarantined_records"]
    assert len(result.links) == counts["people"] + counts["duplicates_merged"] + counts["converted"]
    assert counts["people"] == len(result.all_contacts) == counts["active"] + counts["inactive"]
    assert counts["active"] == int(result.all_contacts["is_active"].sum())
    assert set(result.links["contact_key"]) == set(result.all_contacts["contact_key"])


# --- standard and custom fields -------------------------------------------------------------------------------------


def test_standard_fields_are_mapped_from_a_lead():
    result = build([lead("00Q1", " Ann.Lee@Example.COM ", day="2026-03-02", emailbounceddate=None)])
    ann = person(result, "00Q1")
    assert ann["email"] == "ann.lee@example.com"
    assert (ann["crm_type"], ann["crm_id"]) == ("Lead", "00Q1")
    assert (ann["first_name"], ann["last_name"], ann["company"]) == ("Ann", "Lee", "Acme")
    assert ann["owner_id"] == "005000000000001AAA"
    assert ann["lead_score"] == 42.0
    assert not ann["opted_out"] and not ann["hard_bounced"]
    assert pd.isna(ann["hard_bounce_reason"]) and pd.isna(ann["hard_bounced_at"])
    assert ann["is_active"]
    assert ann["system_modstamp"] == stamp("2026-03-02")
    assert (ann["title"], ann["lead_source"], ann["industry"], ann["lead_status"]) == (
        "CTO",
        "Web",
        "Banking",
        "Open - Not Contacted",
    )
    assert pd.isna(ann["annual_revenue"])  # mapped on Contacts only


def test_a_contacts_company_is_its_account_name_and_its_custom_fields_come_from_the_account():
    result = build(contacts=[contact("0031", "cy@globex.com")])
    cy = person(result, "0031")
    assert (cy["crm_type"], cy["company"], cy["first_name"], cy["last_name"]) == ("Contact", "Globex", "Cy", "Doe")
    assert cy["industry"] == "Energy"  # Account.Industry
    assert cy["annual_revenue"] == 1_500_000.0  # Account.AnnualRevenue, type number
    assert pd.isna(cy["lead_status"])  # mapped on Leads only
    assert cy["owner_id"] == "005000000000002AAA"


def test_company_is_the_account_name_even_when_company_maps_no_contact_field():
    data = copy.deepcopy(SETTINGS_DATA)
    data["contact_mapping"]["company"] = {"lead": "Company", "type": "text", "direction": "pull"}
    result = build(contacts=[contact("0031", "cy@globex.com")], settings=parse_settings(data))
    assert person(result, "0031")["company"] == "Globex"


def test_columns_and_their_types():
    result = build([lead("00Q1", "ann@x.com")], [contact("0031", "cy@x.com")])
    frame = result.all_contacts
    assert list(frame.columns) == [*STANDARD_COLUMNS, *EXTRA_COLUMNS]
    assert "behavioral_score" not in frame.columns  # marketing-side, written by scoring
    for column in ("contact_key", "email", "crm_type", "crm_id", "first_name", "company", "owner_id", "title"):
        assert isinstance(frame[column].dtype, pd.StringDtype), column
    for column in ("lead_score", "annual_revenue"):
        assert frame[column].dtype == "float64", column
    for column in ("opted_out", "hard_bounced", "is_active"):
        assert frame[column].dtype == bool, column
    for column in ("hard_bounced_at", "system_modstamp"):
        assert isinstance(frame[column].dtype, pd.DatetimeTZDtype) and str(frame[column].dt.tz) == "UTC", column
    assert list(result.links.columns) == ["crm_id", "crm_type", "contact_key", "email"]


def test_custom_fields_are_typed_by_their_mapping():
    settings = settings_with(
        birthdate={"contact": "Birthdate", "type": "date", "custom": True},
        last_visit={"lead": "Last_Visit__c", "contact": "Last_Visit__c", "type": "datetime", "custom": True},
        is_partner={"lead": "Partner__c", "contact": "Partner__c", "type": "boolean", "custom": True},
        interests={"lead": "Interests__c", "type": "multi_text", "custom": True},
        employees={"lead": "NumberOfEmployees", "type": "number", "custom": True},
        work_email={"contact": "Work_Email__c", "type": "email", "custom": True},
    )
    result = build(
        [
            lead(
                "00Q1",
                "ann@x.com",
                last_visit__c="2026-02-03T04:05:06.000Z",
                partner__c="true",
                interests__c="Cloud;Security",
                numberofemployees="250",
            )
        ],
        [
            contact(
                "0031",
                "cy@x.com",
                birthdate="1990-02-28",
                last_visit__c=None,
                partner__c="false",
                work_email__c=" Cy@Globex.COM",
            )
        ],
        settings=settings,
    )
    frame = result.all_contacts
    assert list(frame.columns)[-6:] == ["birthdate", "last_visit", "is_partner", "interests", "employees", "work_email"]
    ann, cy = person(result, "00Q1"), person(result, "0031")
    assert ann["last_visit"] == pd.Timestamp("2026-02-03T04:05:06", tz="UTC")
    assert pd.isna(cy["last_visit"])
    assert ann["is_partner"] and not cy["is_partner"]
    assert ann["interests"] == "Cloud;Security"
    assert ann["employees"] == 250.0
    assert cy["birthdate"] == dt.date(1990, 2, 28) and ann["birthdate"] is None
    assert cy["work_email"] == "cy@globex.com"
    assert frame["is_partner"].dtype == bool and frame["employees"].dtype == "float64"
    assert isinstance(frame["last_visit"].dtype, pd.DatetimeTZDtype)
    assert isinstance(frame["interests"].dtype, pd.StringDtype)
    assert result.rejections == []


def test_the_score_column_is_the_score_entry_named_lead_score_else_the_first():
    data = copy.deepcopy(SETTINGS_DATA)
    mapping = data["contact_mapping"]
    mapping["engagement"] = mapping.pop("lead_score")
    mapping["fit_score"] = {"lead": "Fit_Score__c", "type": "score"}
    result = build([lead("00Q1", "ann@x.com", fit_score__c="3")], settings=parse_settings(data))
    ann = person(result, "00Q1")
    assert ann["lead_score"] == 42.0  # engagement: the first score entry
    assert ann["fit_score"] == 3.0
    assert "engagement" not in result.all_contacts.columns


def test_a_mapping_entry_may_not_shadow_a_column_the_build_derives():
    settings = settings_with(owner_id={"lead": "Owner_ID__c", "type": "text"})
    with pytest.raises(ValueError, match="'owner_id'"):
        build([lead("00Q1", "ann@x.com")], settings=settings)


# --- validation and quarantine --------------------------------------------------------------------------------------


def test_invalid_email_and_bad_score_are_quarantined_with_their_reason_and_the_rest_continue():
    result = build(
        [
            lead("00Q1", "ann@@example"),
            lead("00Q2", "bo@x.com", behavior_score__c="lots"),
            lead("00Q3", "cy@x.com"),
        ],
        [contact("0031", "dee@x.com", behavior_score__c="-3"), contact("0032", "eve@x.com")],
    )
    assert rejected(result) == [
        ("00Q1", "Email", "ann@@example", "not a valid email address"),
        ("00Q2", "Behavior_Score__c", "lots", "not a whole score from 0 to 999999"),
        ("0031", "Behavior_Score__c", "-3", "not a whole score from 0 to 999999"),
    ]
    assert sorted(result.links["crm_id"]) == ["0032", "00Q3"]
    assert sorted(result.all_contacts["crm_id"]) == ["0032", "00Q3"]
    assert result.counts["quarantined_records"] == 3
    assert [r.record_id for r in result.rejections_by_object["Lead"]] == ["00Q1", "00Q2"]
    assert [r.record_id for r in result.rejections_by_object["Contact"]] == ["0031"]
    assert_counts_add_up(result, 3, 2)


def test_a_record_with_two_bad_values_gives_two_rejections_and_counts_once():
    result = build([lead("00Q1", "nope", behavior_score__c="1.5", hasoptedoutofemail="maybe")])
    assert sorted(r.field for r in result.rejections) == ["Behavior_Score__c", "Email", "HasOptedOutOfEmail"]
    assert result.counts["quarantined_records"] == 1
    assert result.all_contacts.empty and result.links.empty


def test_bad_dates_and_datetimes_are_quarantined():
    settings = settings_with(birthdate={"contact": "Birthdate", "type": "date", "custom": True})
    result = build(
        contacts=[
            contact("0031", "a@x.com", birthdate="2026-02-30"),
            contact("0032", "b@x.com", birthdate="02/03/2026"),
            contact("0033", "c@x.com", emailbouncedreason="full", emailbounceddate="yesterday"),
            contact("0034", "d@x.com", birthdate="2024-02-29"),
        ],
        settings=settings,
    )
    assert rejected(result) == [
        ("0031", "Birthdate", "2026-02-30", "not a real calendar date"),
        ("0032", "Birthdate", "02/03/2026", "not a date (YYYY-MM-DD)"),
        ("0033", "EmailBouncedDate", "yesterday", "not an ISO-8601 datetime"),
    ]
    assert list(result.all_contacts["crm_id"]) == ["0034"]


LEAD_DESCRIBE = {
    "name": "Lead",
    "fields": [
        {"name": "LastName", "type": "string", "length": 80, "nillable": False},
        {"name": "FirstName", "type": "string", "length": 40, "nillable": True},
        {"name": "Email", "type": "email", "length": 80, "nillable": True},
        {
            "name": "Status",
            "type": "picklist",
            "length": 255,
            "nillable": False,
            "restrictedPicklist": True,
            "picklistValues": [
                {"value": "Open - Not Contacted", "active": True},
                {"value": "Working - Contacted", "active": True},
                {"value": "Archived", "active": False},
            ],
        },
        {"name": "HasOptedOutOfEmail", "type": "boolean", "length": 0, "nillable": False},
    ],
}
CONTACT_DESCRIBE = {
    "name": "Contact",
    "fields": [
        {"name": "AccountId", "type": "reference", "relationshipName": "Account", "referenceTo": ["Account"]},
        {"name": "LastName", "type": "string", "length": 80, "nillable": False},
    ],
}
ACCOUNT_DESCRIBE = {"name": "Account", "fields": [{"name": "Name", "type": "string", "length": 10, "nillable": False}]}
DESCRIBES = {"Lead": LEAD_DESCRIBE, "Contact": CONTACT_DESCRIBE, "Account": ACCOUNT_DESCRIBE}


@pytest.mark.parametrize(
    ("fields", "field", "value", "reason"),
    [
        ({"firstname": "A" * 41}, "FirstName", "A" * 41, "longer than 40 characters"),
        ({"email": "a" * 75 + "@x.com"}, "Email", "a" * 75 + "@x.com", "longer than 80 characters"),
        ({"status": "Archived"}, "Status", "Archived", "a value outside the field's picklist"),
        ({"lastname": None}, "LastName", None, "required value is missing"),
    ],
)
def test_describe_metadata_adds_lengths_picklists_and_required_fields(fields, field, value, reason):
    result = build([{**lead("00Q1", "ann@x.com"), **fields}, lead("00Q2", "bo@x.com")], describes=DESCRIBES)
    assert rejected(result) == [("00Q1", field, value, reason)]
    assert list(result.links["crm_id"]) == ["00Q2"]


def test_describe_lengths_reach_through_relationships_but_a_missing_account_is_no_error():
    result = build(
        contacts=[
            contact("0031", "a@x.com", account__name="A much too long name"),
            contact("0032", "b@x.com", accountid=None, account__name=None),  # Account.Name is required on Account
        ],
        describes=DESCRIBES,
    )
    assert rejected(result) == [("0031", "Account.Name", "A much too long name", "longer than 10 characters")]
    assert pd.isna(person(result, "0032")["company"])


def test_without_describes_lengths_are_not_checked():
    result = build([lead("00Q1", "ann@x.com", firstname="A" * 41)])
    assert result.rejections == []


def test_a_record_without_email_joins_as_its_own_person():
    result = build(
        [lead("00Q1", None, firstname="Ann"), lead("00Q2", None, firstname="Bo"), lead("00Q3", "  ")],
        [contact("0031", "")],
    )
    assert result.rejections == []
    assert sorted(result.all_contacts["contact_key"]) == ["0031", "00Q1", "00Q2", "00Q3"]
    assert result.all_contacts["email"].isna().all()
    assert person(result, "00Q2")["first_name"] == "Bo"
    assert_counts_add_up(result, 3, 1)


def test_an_empty_text_value_is_no_value():
    result = build([lead("00Q1", "ann@x.com", title="", behavior_score__c="")])
    ann = person(result, "00Q1")
    assert pd.isna(ann["title"]) and pd.isna(ann["lead_score"])
    assert result.rejections == []


# --- people: keys, duplicates, conversion, deletes ------------------------------------------------------------------


def test_duplicates_by_email_are_one_person_shown_by_the_primary_record():
    result = build(
        [
            lead("00Q1", "ann@x.com", day="2026-01-01", firstname="Old"),
            lead("00Q2", " ANN@x.com", day="2026-02-01", firstname="Newer"),
            lead("00Q3", "bo@x.com"),
        ],
        [contact("0031", "Ann@X.com", day="2025-01-01", firstname="Annie")],  # a Contact beats Leads whatever its age
    )
    assert list(result.all_contacts["contact_key"]) == ["0031", "00Q3"]
    ann = person(result, "0031")
    assert (ann["crm_type"], ann["crm_id"], ann["first_name"]) == ("Contact", "0031", "Annie")
    assert ann["email"] == "ann@x.com"
    assert ann["company"] == "Globex"
    assert result.counts["duplicates_merged"] == 2
    assert sorted(result.links.loc[result.links["contact_key"] == "0031", "crm_id"]) == ["0031", "00Q1", "00Q2"]
    assert_counts_add_up(result, 3, 1)


def test_among_leads_the_earliest_created_live_record_is_primary_whatever_was_modified_last():
    def ann(modified: tuple[str, str, str]):
        return build(
            [
                lead("00Q1", "ann@x.com", day=modified[0], firstname="Later", createddate="2026-01-09T08:00:00.000Z"),
                lead("00Q2", "ann@x.com", day=modified[1], firstname="First", createddate="2026-01-05T08:00:00.000Z"),
                lead("00Q3", "ann@x.com", day=modified[2], firstname="Gone", is_deleted=True,
                     createddate="2025-01-01T08:00:00.000Z"),
            ]
        )

    for modified in (("2026-02-01", "2026-01-10", "2026-05-01"), ("2026-01-10", "2026-02-01", "2026-01-01")):
        (only,) = ann(modified).all_contacts.itertuples()
        assert (only.contact_key, only.crm_id, only.first_name, only.is_active) == ("00Q2", "00Q2", "First", True)
        assert only.system_modstamp == stamp(modified[1])  # the primary record's own SystemModstamp


def test_a_contact_is_primary_over_an_older_lead_and_mirrors_without_created_date_fall_back_to_the_id():
    result = build(
        [lead("00Q1", "ann@x.com", day="2026-06-01", createddate="2020-01-01T00:00:00.000Z")],
        [contact("0032", "ann@x.com", day="2026-01-02", firstname="Second"),  # modified last
         contact("0031", "ann@x.com", day="2026-01-01", firstname="First")],
    )
    (only,) = result.all_contacts.itertuples()
    assert (only.contact_key, only.crm_type, only.crm_id, only.first_name) == ("0031", "Contact", "0031", "First")


def test_conversion_keeps_the_leads_key_and_the_person_becomes_a_contact():
    first = build([lead("00Q1", "ann@x.com", behavior_score__c="40")])
    assert list(first.all_contacts["contact_key"]) == ["00Q1"]

    second = build(
        [lead("00Q1", "ann@x.com", isconverted="true", convertedcontactid="0035")],
        [contact("0035", "ann.lee@corp.com", firstname="Ann", behavior_score__c="40")],  # email changed at conversion
        links=first.links,
    )
    assert list(second.all_contacts["contact_key"]) == ["00Q1"]
    ann = person(second, "00Q1")
    assert (ann["crm_type"], ann["crm_id"], ann["email"], ann["company"]) == (
        "Contact",
        "0035",
        "ann.lee@corp.com",
        "Globex",
    )
    assert second.counts["converted"] == 1 and second.counts["duplicates_merged"] == 0
    assert set(second.links["contact_key"]) == {"00Q1"}
    assert_counts_add_up(second, 1, 1)


def test_conversion_seen_for_the_first_time_keeps_the_lead_with_its_contact_even_with_a_duplicate_lead():
    result = build(
        [
            lead("00Q1", "ann@x.com", isconverted="true", convertedcontactid="0035"),
            lead("00Q2", "ann@x.com"),  # a duplicate Lead: the converted one is not its group's primary
        ],
        [contact("0035", "ann.lee@corp.com")],
    )
    assert len(result.all_contacts) == 1
    (key,) = set(result.links["contact_key"])
    assert person(result, key)["crm_id"] == "0035"
    assert result.counts["converted"] == 1 and result.counts["duplicates_merged"] == 1
    assert_counts_add_up(result, 2, 1)


def test_chained_conversions_in_one_batch_are_one_person():
    result = build(
        [
            lead("00Q1", "ann@x.com", isconverted="true", convertedcontactid="0035"),
            lead("00Q2", "ann@x.com"),
            lead("00Q3", "ann@corp.com", isconverted="true", convertedcontactid="0036"),  # the first Contact's email
        ],
        [contact("0035", "ann@corp.com"), contact("0036", "ann.lee@corp.com")],
    )
    assert set(result.links["contact_key"]) == {"00Q2"}  # the key of the Lead that was never converted
    assert len(result.all_contacts) == 1
    assert result.counts["converted"] == 2
    assert_counts_add_up(result, 3, 2)


def test_a_converted_lead_joining_a_known_person_by_email_brings_its_contact_along():
    links = pd.DataFrame({"crm_id": ["00Q9"], "contact_key": ["K-ann"], "email": ["ann@x.com"]})
    result = build(
        [lead("00Q1", "ann@x.com", isconverted="true", convertedcontactid="0035")],
        [contact("0035", "ann.lee@corp.com")],
        links=links,
    )
    assert dict(zip(result.links["crm_id"], result.links["contact_key"], strict=True)) == {
        "00Q1": "K-ann",
        "0035": "K-ann",
    }
    assert person(result, "K-ann")["crm_type"] == "Contact"


def test_a_person_whose_records_are_all_deleted_is_inactive_and_a_live_record_wins():
    result = build(
        [
            lead("00Q1", "ann@x.com", is_deleted=True),
            lead("00Q2", "bo@x.com", day="2026-05-01", is_deleted=True, firstname="Deleted"),
            lead("00Q3", "bo@x.com", day="2026-01-01", firstname="Live"),
        ]
    )
    ann, bo = person(result, "00Q1"), person(result, "00Q3")
    assert not ann["is_active"]
    assert bo["is_active"] and bo["crm_id"] == "00Q3" and bo["first_name"] == "Live"
    assert (result.counts["active"], result.counts["inactive"]) == (1, 1)
    assert_counts_add_up(result, 3, 0)


def test_a_converted_lead_whose_contact_was_deleted_leaves_an_inactive_person():
    first = build([lead("00Q1", "ann@x.com", isconverted="true", convertedcontactid="0035")],
                  [contact("0035", "ann@x.com")])
    assert person(first, "00Q1")[["crm_id", "is_active"]].tolist() == ["0035", True]
    second = build([lead("00Q1", "ann@x.com", isconverted="true", convertedcontactid="0035")],
                   [contact("0035", "ann@x.com", day="2026-04-01", is_deleted=True)], links=first.links)
    ann = person(second, "00Q1")
    assert (ann["crm_type"], ann["crm_id"], ann["is_active"]) == ("Lead", "00Q1", False)
    assert (second.counts["active"], second.counts["inactive"]) == (0, 1)
    assert_counts_add_up(second, 1, 1)


def test_opt_out_and_hard_bounce():
    result = build(
        [
            lead("00Q1", "ann@x.com", hasoptedoutofemail="true"),
            lead(
                "00Q2",
                "bo@x.com",
                emailbouncedreason="550 mailbox unavailable",
                emailbounceddate="2026-02-01T10:00:00.000Z",
            ),
        ],
        [contact("0031", "cy@x.com", hasoptedoutofemail="false")],
    )
    ann, bo, cy = person(result, "00Q1"), person(result, "00Q2"), person(result, "0031")
    assert ann["opted_out"] and not bo["opted_out"] and not cy["opted_out"]
    assert bo["hard_bounced"] and not ann["hard_bounced"] and not cy["hard_bounced"]
    assert bo["hard_bounce_reason"] == "550 mailbox unavailable"
    assert bo["hard_bounced_at"] == pd.Timestamp("2026-02-01T10:00:00", tz="UTC")


def test_known_links_keep_keys_across_two_builds():
    first = build(
        [lead("00Q1", "ann@x.com"), lead("00Q2", "bo@x.com")],
        [contact("0031", "cy@x.com")],
    )
    assert sorted(first.links["contact_key"]) == ["0031", "00Q1", "00Q2"]

    second = build(
        [
            lead("00Q1", "ann.new@x.com", day="2026-04-01"),  # email changed: still the same person
            lead("00Q2", "bo@x.com", behavior_score__c="oops"),  # quarantined this time
            lead("00Q7", "cy@x.com"),  # a new Lead with a known person's email
        ],
        [contact("0031", "cy@x.com")],
        links=first.links,
    )
    keys = dict(zip(second.links["crm_id"], second.links["contact_key"], strict=True))
    assert keys == {"00Q1": "00Q1", "00Q7": "0031", "0031": "0031"}
    assert person(second, "00Q1")["email"] == "ann.new@x.com"
    assert [r.record_id for r in second.rejections] == ["00Q2"]  # kept out, its stored link untouched (upsert)
    assert_counts_add_up(second, 3, 1)


# --- the whole: arithmetic, determinism, scale ----------------------------------------------------------------------


def synthetic_mirrors(n_leads: int, n_contacts: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lead and Contact mirror frames of any size, built column-wise.

    About 5% of the Leads share an email with another Lead, 2% have none, 0.1% an invalid email and 0.1% a bad score;
    1% of the records are deleted; a tenth as many Leads as there are Contacts are converted into the first Contacts.
    """
    rng = np.random.default_rng(seed)
    seconds = rng.integers(0, 86_400 * 300, n_leads + n_contacts)
    stamps = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(seconds, unit="s")
    lead_ids = pd.Series(np.arange(n_leads)).map("00Q{:015d}".format).to_numpy(dtype=object)
    contact_ids = pd.Series(np.arange(n_contacts)).map("003{:015d}".format).to_numpy(dtype=object)

    lead_person = np.where(rng.random(n_leads) < 0.05, rng.integers(0, max(n_leads, 1), n_leads), np.arange(n_leads))
    lead_email = pd.Series(lead_person).map("lead{}@example.com".format).to_numpy(dtype=object)
    lead_email[rng.random(n_leads) < 0.02] = None
    lead_email[rng.random(n_leads) < 0.001] = "not-an-email"
    scores = rng.integers(0, 500, n_leads).astype(str).astype(object)
    scores[rng.random(n_leads) < 0.001] = "n/a"
    n_converted = min(n_contacts // 10, n_leads)
    converted = np.arange(n_leads) < n_converted
    converted_contact = np.full(n_leads, None, dtype=object)
    converted_contact[:n_converted] = contact_ids[:n_converted]
    bounced = rng.random(n_leads) < 0.01
    leads = pd.DataFrame(
        {
            "id": lead_ids,
            "system_modstamp": stamps[:n_leads],
            "is_deleted": rng.random(n_leads) < 0.01,
            "ownerid": "005000000000001AAA",
            "isconverted": np.where(converted, "true", "false").astype(object),
            "convertedcontactid": converted_contact,
            "convertedaccountid": None,
            "email": lead_email,
            "firstname": "Ann",
            "lastname": pd.Series(np.arange(n_leads)).map("Lee{}".format).to_numpy(dtype=object),
            "company": "Acme Inc",
            "title": "CTO",
            "phone": "555-0100",
            "leadsource": "Web",
            "industry": "Banking",
            "status": "Open - Not Contacted",
            "behavior_score__c": scores,
            "hasoptedoutofemail": np.where(rng.random(n_leads) < 0.03, "true", "false").astype(object),
            "emailbouncedreason": np.where(bounced, "550 mailbox unavailable", None),
            "emailbounceddate": np.where(bounced, "2026-02-01T10:00:00.000Z", None),
        }
    )
    contacts = pd.DataFrame(
        {
            "id": contact_ids,
            "system_modstamp": stamps[n_leads:],
            "is_deleted": rng.random(n_contacts) < 0.01,
            "ownerid": "005000000000002AAA",
            "accountid": "001000000000001AAA",
            "email": pd.Series(np.arange(n_contacts)).map("contact{}@example.com".format).to_numpy(dtype=object),
            "firstname": "Cy",
            "lastname": "Doe",
            "account__name": "Globex",
            "title": "VP",
            "phone": "555-0101",
            "leadsource": "Web",
            "account__industry": "Energy",
            "account__annualrevenue": "1500000",
            "behavior_score__c": rng.integers(0, 500, n_contacts).astype(str).astype(object),
            "hasoptedoutofemail": "false",
            "emailbouncedreason": None,
            "emailbounceddate": None,
        }
    )
    return leads, contacts


def test_counts_add_up_and_nothing_is_lost_on_a_synthetic_org():
    leads, contacts = synthetic_mirrors(4_000, 1_000)
    result = build_all_contacts(leads, contacts, SETTINGS, NO_LINKS)
    assert_counts_add_up(result, 4_000, 1_000)
    linked = set(result.links["crm_id"])
    quarantined = {r.record_id for r in result.rejections}
    assert linked.isdisjoint(quarantined)
    assert linked | quarantined == set(leads["id"]) | set(contacts["id"])
    assert len(quarantined) == result.counts["quarantined_records"] > 0
    assert result.counts["converted"] == 100 - len(quarantined & set(leads["id"][:100]))
    assert result.counts["duplicates_merged"] > 0 and result.counts["inactive"] > 0
    # every converted Lead shares its person with its Contact
    keys = dict(zip(result.links["crm_id"], result.links["contact_key"], strict=True))
    pairs = leads.loc[leads["isconverted"] == "true", ["id", "convertedcontactid"]]
    assert all(keys[a] == keys[b] for a, b in pairs.itertuples(index=False) if a in keys)


def test_the_same_input_gives_the_same_output_whatever_the_row_order():
    leads, contacts = synthetic_mirrors(2_000, 500, seed=3)
    result = build_all_contacts(leads, contacts, SETTINGS, NO_LINKS)
    shuffled = build_all_contacts(
        leads.sample(frac=1, random_state=1), contacts.sample(frac=1, random_state=2), SETTINGS, NO_LINKS
    )
    pd.testing.assert_frame_equal(result.all_contacts, shuffled.all_contacts)
    pd.testing.assert_frame_equal(result.links, shuffled.links)
    assert result.rejections == shuffled.rejections
    assert result.counts == shuffled.counts
    assert result.all_contacts["contact_key"].is_monotonic_increasing
    assert result.all_contacts["contact_key"].is_unique


def test_a_second_build_fed_its_own_links_keeps_every_key():
    leads, contacts = synthetic_mirrors(2_000, 500, seed=5)
    first = build_all_contacts(leads, contacts, SETTINGS, NO_LINKS)
    second = build_all_contacts(leads, contacts, SETTINGS, first.links)
    pd.testing.assert_frame_equal(first.links, second.links)
    pd.testing.assert_frame_equal(first.all_contacts, second.all_contacts)


def test_empty_mirrors_give_an_empty_audience_with_every_column():
    result = build(links=pd.DataFrame())
    assert result.all_contacts.empty and result.links.empty and result.rejections == []
    assert list(result.all_contacts.columns) == [*STANDARD_COLUMNS, *EXTRA_COLUMNS]
    assert result.counts == {
        "leads": 0,
        "contacts": 0,
        "people": 0,
        "active": 0,
        "inactive": 0,
        "quarantined_records": 0,
        "duplicates_merged": 0,
        "converted": 0,
    }
