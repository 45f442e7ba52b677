"""The suggested contact_mapping: standard fields by meaning, the score field, the rest by name, types, directions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sync_pipeline.rules.mapping_suggest import (
    NO_SCORE_NOTE,
    SuggestedMapping,
    marketing_name,
    render_mapping_yaml,
    suggest_mapping,
)
from sync_pipeline.settings import check_against_describe, parse_settings

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "data" / "sync.yaml"
SYSTEM = ("Id id", "IsDeleted boolean", "CreatedDate datetime", "CreatedById reference", "SystemModstamp datetime",
          "LastModifiedDate datetime", "LastModifiedById reference")


def field(name: str, kind: str = "string", *, flags: str = "CU", label: str | None = None,
          ref: str | None = None, rel: str | None = None, length: int = 80) -> dict[str, Any]:
    """One describe field; flags: C createable, U updateable, F calculated."""
    return {
        "name": name, "label": label or name.removesuffix("__c").replace("_", " "), "type": kind,
        "createable": "C" in flags, "updateable": "U" in flags, "calculated": "F" in flags,
        "custom": name.endswith("__c"), "relationshipName": rel, "referenceTo": [ref] if ref else [],
        "length": length, "precision": 6 if kind in ("double", "currency", "percent") else 0, "scale": 0,
    }


def describe(name: str, *fields: dict[str, Any], system: bool = True) -> dict[str, Any]:
    base = [field(*spec.split(), flags="") for spec in SYSTEM] if system else []
    return {"name": name, "fields": [*base, *fields]}


def lead(*extra: dict[str, Any]) -> dict[str, Any]:
    return describe(
        "Lead",
        field("Email", "email"), field("FirstName"), field("LastName"), field("Name", flags=""),
        field("Company"), field("Title"), field("Phone", "phone"), field("MobilePhone", "phone"),
        field("City"), field("State"), field("PostalCode"), field("Country"), field("Street", "textarea"),
        field("LeadSource", "picklist"), field("Industry", "picklist"), field("Website", "url"),
        field("Description", "textarea", length=32000), field("Status", "picklist"),
        field("OwnerId", "reference", ref="User", rel="Owner"), field("HasOptedOutOfEmail", "boolean"),
        field("EmailBouncedReason", flags="U"), field("EmailBouncedDate", "datetime", flags="U"),
        field("IsConverted", "boolean", flags="C"), field("ConvertedDate", "date", flags=""),
        field("ConvertedContactId", "reference", flags="", ref="Contact", rel="ConvertedContact"),
        field("LastActivityDate", "date", flags=""), field("Address", "address", flags=""),
        field("Behavior_Score__c", "double", label="Behavior Score"),
        *extra,
    )


def contact(*extra: dict[str, Any]) -> dict[str, Any]:
    return describe(
        "Contact",
        field("AccountId", "reference", ref="Account", rel="Account"),
        field("Email", "email"), field("FirstName"), field("LastName"), field("Name", flags=""),
        field("Title"), field("Phone", "phone"), field("MobilePhone", "phone"),
        field("MailingCity"), field("MailingState"), field("MailingPostalCode"), field("MailingCountry"),
        field("LeadSource", "picklist"), field("Description", "textarea", length=32000),
        field("OwnerId", "reference", ref="User", rel="Owner"), field("HasOptedOutOfEmail", "boolean"),
        field("Behavior_Score__c", "double", label="Behavior Score"),
        *extra,
    )


def account(*extra: dict[str, Any]) -> dict[str, Any]:
    return describe("Account", field("Name"), field("Industry", "picklist"), field("Website", "url"),
                    field("AnnualRevenue", "currency"), *extra)


def without(describe_: dict[str, Any], *names: str) -> dict[str, Any]:
    return {**describe_, "fields": [f for f in describe_["fields"] if f["name"] not in names]}


# -- standard fields by meaning -------------------------------------------------------------------------------------

def test_standard_fields_by_meaning() -> None:
    mapping = suggest_mapping(lead(), contact(), account())
    assert mapping["email"] == {"lead": "Email", "contact": "Email", "type": "email"}
    assert mapping["first_name"] == {"lead": "FirstName", "contact": "FirstName", "type": "text",
                                     "direction": "two_way"}
    assert mapping["city"] == {"lead": "City", "contact": "MailingCity", "type": "text", "direction": "pull",
                               "custom": True}
    assert mapping["postal_code"]["contact"] == "MailingPostalCode"
    assert mapping["country"] == {"lead": "Country", "contact": "MailingCountry", "type": "text",
                                  "direction": "pull", "custom": True}
    assert mapping["mobile_phone"] == {"lead": "MobilePhone", "contact": "MobilePhone", "type": "text",
                                       "direction": "pull", "custom": True}
    assert mapping["lead_source"] == {"lead": "LeadSource", "contact": "LeadSource", "type": "text",
                                      "direction": "pull", "custom": True}


def test_contact_company_and_industry_come_from_the_account() -> None:
    mapping = suggest_mapping(lead(), contact(), account())
    assert mapping["company"] == {"lead": "Company", "contact": "Account.Name", "type": "text", "direction": "pull"}
    assert mapping["industry"] == {"lead": "Industry", "contact": "Account.Industry", "type": "text",
                                   "direction": "pull", "custom": True}
    assert mapping["website"] == {"lead": "Website", "contact": "Account.Website", "type": "text",
                                  "direction": "pull", "custom": True}


def test_without_the_account_describe_only_its_name_is_suggested() -> None:
    mapping = suggest_mapping(lead(), contact())
    assert mapping["company"]["contact"] == "Account.Name"
    assert mapping["industry"] == {"lead": "Industry", "type": "text", "direction": "pull", "custom": True}
    assert "contact" not in mapping["website"]
    assert any("Account was not described" in note for note in mapping.notes)


def test_contact_without_an_account_relationship_has_no_company() -> None:
    mapping = suggest_mapping(lead(), without(contact(), "AccountId"), account())
    assert mapping["company"] == {"lead": "Company", "type": "text", "direction": "pull"}
    assert "contact" not in mapping["industry"]


def test_a_standard_field_the_org_lacks_is_left_out() -> None:
    mapping = suggest_mapping(without(lead(), "Website", "MobilePhone"), without(contact(), "MobilePhone"))
    assert "mobile_phone" not in mapping
    assert "website" not in mapping  # no Lead.Website, and no Account describe for the Contact side


def test_missing_email_on_one_side_is_a_note() -> None:
    mapping = suggest_mapping(lead(), without(contact(), "Email"))
    assert mapping["email"] == {"lead": "Email", "type": "email"}
    assert any(note.startswith("Contact has no Email field") for note in mapping.notes)


# -- the score field ------------------------------------------------------------------------------------------------

def test_score_field_is_detected_by_name() -> None:
    mapping = suggest_mapping(lead(), contact(), account())
    assert mapping["lead_score"] == {"lead": "Behavior_Score__c", "contact": "Behavior_Score__c", "type": "score",
                                     "direction": "push"}
    assert "behavior_score" not in mapping  # mapped once, as the score
    assert NO_SCORE_NOTE not in mapping.notes


def test_score_field_is_detected_by_label_and_prefers_a_name_on_both_objects() -> None:
    engagement = field("Engagement__c", "int", label="Engagement Score")
    rating = field("Rating_Score__c", "double")
    mapping = suggest_mapping(without(lead(rating, engagement), "Behavior_Score__c"),
                              without(contact(engagement), "Behavior_Score__c"))
    assert mapping["lead_score"] == {"lead": "Engagement__c", "contact": "Engagement__c", "type": "score",
                                     "direction": "push"}
    assert mapping["rating_score"] == {"lead": "Rating_Score__c", "type": "number", "direction": "pull",
                                       "custom": True}
    assert any("several score-like fields" in note and "Lead.Rating_Score__c" in note for note in mapping.notes)


def test_a_formula_or_standard_number_is_not_the_score() -> None:
    formula = field("Total_Score__c", "double", flags="F")
    mapping = suggest_mapping(
        without(lead(formula, field("ScoreText__c", "string")), "Behavior_Score__c"),
        without(contact(), "Behavior_Score__c"),
    )
    assert "lead_score" not in mapping
    assert mapping["total_score"] == {"lead": "Total_Score__c", "type": "number", "direction": "pull",
                                      "custom": True}
    assert any("Total_Score__c on Lead looks like a score but is read-only" in note for note in mapping.notes)


def test_no_score_field_is_a_note_not_a_mapping() -> None:
    mapping = suggest_mapping(without(lead(), "Behavior_Score__c"), without(contact(), "Behavior_Score__c"))
    assert not any(entry["type"] == "score" for entry in mapping.values())
    assert NO_SCORE_NOTE in mapping.notes
    assert "Number(6,0)" in NO_SCORE_NOTE and "type: score" in NO_SCORE_NOTE


def test_score_on_one_object_only_maps_that_side_and_says_so() -> None:
    mapping = suggest_mapping(lead(), without(contact(), "Behavior_Score__c"))
    assert mapping["lead_score"] == {"lead": "Behavior_Score__c", "type": "score", "direction": "push"}
    assert any(note.startswith("Contacts have no score field") for note in mapping.notes)


# -- the rest by name -----------------------------------------------------------------------------------------------

def test_custom_field_on_both_objects_maps_by_name() -> None:
    marketing_id = field("Marketing_Id__c")
    mapping = suggest_mapping(lead(marketing_id), contact(marketing_id))
    assert mapping["marketing_id"] == {"lead": "Marketing_Id__c", "contact": "Marketing_Id__c", "type": "text",
                                       "direction": "pull", "custom": True}


def test_custom_field_on_one_object_maps_that_side_only() -> None:
    mapping = suggest_mapping(lead(field("Lead_Grade__c", "picklist")), contact(field("Segment__c")))
    assert mapping["lead_grade"] == {"lead": "Lead_Grade__c", "type": "text", "direction": "pull", "custom": True}
    assert mapping["segment"] == {"contact": "Segment__c", "type": "text", "direction": "pull", "custom": True}


def test_standard_fields_without_a_meaning_are_not_suggested() -> None:
    mapping = suggest_mapping(lead(), contact(), account())
    mapped = {entry.get("lead") for entry in mapping.values()} | {entry.get("contact") for entry in mapping.values()}
    assert "Status" not in mapped and "Street" not in mapped


@pytest.mark.parametrize(
    ("api_name", "expected"),
    [("Behavior_Score__c", "behavior_score"), ("Marketing_Id__c", "marketing_id"), ("NPS_Score__c", "nps_score"),
     ("LeadGrade__c", "lead_grade"), ("acme__Region__c", "acme_region"), ("X2nd_Touch__c", "x2nd_touch")],
)
def test_marketing_names_are_lower_snake_case_without_the_suffix(api_name: str, expected: str) -> None:
    assert marketing_name(api_name) == expected


def test_taken_names_get_a_suffix_and_a_note() -> None:
    mapping = suggest_mapping(
        lead(field("Industry__c"), field("Is_Active__c", "boolean")),
        contact(field("Industry__c"), field("Region__c")),
        account(),
    )
    assert mapping["industry"]["lead"] == "Industry"
    assert mapping["industry_custom"] == {"lead": "Industry__c", "contact": "Industry__c", "type": "text",
                                          "direction": "pull", "custom": True}
    assert mapping["is_active_lead"] == {"lead": "Is_Active__c", "type": "boolean", "direction": "pull",
                                         "custom": True}  # is_active is an all_contacts column
    assert any("Lead.Industry__c and Contact.Industry__c is suggested as industry_custom" in n for n in mapping.notes)


# -- types ----------------------------------------------------------------------------------------------------------

def test_types_from_describe() -> None:
    customs = [
        field("Opted_In__c", "boolean"), field("Birthday__c", "date"), field("Last_Seen__c", "datetime"),
        field("Visits__c", "int"), field("Ratio__c", "double"), field("Budget__c", "currency"),
        field("Share__c", "percent"), field("Interests__c", "multipicklist"), field("Tier__c", "picklist"),
        field("Alt_Email__c", "email"), field("Home_Page__c", "url"), field("Fax2__c", "phone"),
        field("Notes__c", "textarea", length=255),
    ]
    mapping = suggest_mapping(lead(*customs), contact())
    assert {name: mapping[name]["type"] for name in (
        "opted_in", "birthday", "last_seen", "visits", "ratio", "budget", "share", "interests", "tier", "alt_email",
        "home_page", "fax2", "notes")} == {
        "opted_in": "boolean", "birthday": "date", "last_seen": "datetime", "visits": "number", "ratio": "number",
        "budget": "number", "share": "number", "interests": "multi_text", "tier": "text", "alt_email": "email",
        "home_page": "text", "fax2": "text", "notes": "text"}


def test_sides_of_different_types_become_text() -> None:
    mapping = suggest_mapping(lead(field("Region__c", "picklist")), contact(field("Region__c", "int")))
    assert mapping["region"]["type"] == "text"
    assert any(note.startswith("region: the two sides have different types") for note in mapping.notes)


# -- directions -----------------------------------------------------------------------------------------------------

def test_two_way_needs_writable_fields_on_every_side() -> None:
    read_only_title = [f if f["name"] != "Title" else field("Title", flags="C") for f in contact()["fields"]]
    mapping = suggest_mapping(lead(), {"name": "Contact", "fields": read_only_title})
    assert mapping["title"]["direction"] == "pull"
    assert mapping["last_name"]["direction"] == "two_way"
    assert mapping["phone"]["direction"] == "two_way"
    assert mapping["mobile_phone"]["direction"] == "pull"  # not one of the two-way fields


def test_calculated_and_relationship_fields_never_push() -> None:
    formula = field("Days_Open__c", "double", flags="F")
    mapping = suggest_mapping(lead(formula), contact(formula), account())
    pushing = {name for name, entry in mapping.items() if entry.get("direction") in ("push", "two_way")}
    assert pushing == {"first_name", "last_name", "title", "phone", "lead_score"}
    assert mapping["days_open"]["direction"] == "pull"


# -- skipped fields -------------------------------------------------------------------------------------------------

def test_system_owned_and_compound_fields_are_skipped() -> None:
    skipped = [
        field("Owner_ID__c", flags="F"), field("Jigsaw__c"), field("Photo_Url__c", "url"),
        field("Converted_Note__c"), field("HasOptedOutOfSms__c", "boolean"), field("EmailBounced_Flag__c", "boolean"),
        field("Partner__c", "reference", ref="Account", rel="Partner__r"), field("Geo__c", "location"),
        field("Rich_Notes__c", "textarea", length=32768),
    ]
    mapping = suggest_mapping(lead(*skipped), contact())
    mapped = {entry.get("lead") for entry in mapping.values()}
    assert not mapped & {f["name"] for f in skipped}
    assert not mapped & {"Id", "Name", "OwnerId", "HasOptedOutOfEmail", "EmailBouncedReason", "IsConverted",
                         "ConvertedDate", "Description", "Address", "SystemModstamp", "LastActivityDate"}
    assert "long text fields not suggested: Lead.Rich_Notes__c" in mapping.notes


def test_owner_prefix_does_not_swallow_similar_words() -> None:
    mapping = suggest_mapping(lead(field("Ownership_Type__c", "picklist")), contact())
    assert mapping["ownership_type"]["lead"] == "Ownership_Type__c"


# -- order ----------------------------------------------------------------------------------------------------------

def test_order_is_standard_then_score_then_custom_alphabetically() -> None:
    customs = [field("Zeta__c"), field("Alpha__c"), field("Mid__c")]
    mapping = suggest_mapping(lead(*customs), contact(*reversed(customs)), account())
    assert list(mapping) == [
        "email", "first_name", "last_name", "company", "title", "phone", "mobile_phone", "city", "state",
        "postal_code", "country", "lead_source", "industry", "website", "lead_score", "alpha", "mid", "zeta",
    ]


def test_output_does_not_depend_on_the_order_of_the_describe() -> None:
    customs = [field("Zeta__c"), field("Alpha__c", "int"), field("Only_Lead__c")]
    first = suggest_mapping(lead(*customs), contact(*customs[:2]), account())
    shuffled_lead = {"name": "Lead", "fields": list(reversed(lead(*customs)["fields"]))}
    shuffled_contact = {"name": "Contact", "fields": list(reversed(contact(*customs[:2])["fields"]))}
    second = suggest_mapping(shuffled_lead, shuffled_contact, account())
    assert list(first.items()) == list(second.items()) and first.notes == second.notes


def test_result_is_a_plain_mapping_with_notes() -> None:
    mapping = suggest_mapping(lead(), contact())
    assert isinstance(mapping, dict) and isinstance(mapping, SuggestedMapping)
    assert all(isinstance(entry, dict) for entry in mapping.values())


# -- rendering ------------------------------------------------------------------------------------------------------

def _with_mapping(text: str) -> dict[str, Any]:
    data = yaml.safe_load(SETTINGS_FILE.read_text(encoding="utf-8"))
    data["contact_mapping"] = yaml.safe_load(text)["contact_mapping"]
    return data


def test_rendered_yaml_reads_back_and_loads_as_settings() -> None:
    mapping = suggest_mapping(lead(field("Marketing_Id__c")), contact(field("Marketing_Id__c")), account())
    text = render_mapping_yaml(mapping, mapping.notes)
    assert yaml.safe_load(text) == {"contact_mapping": dict(mapping)}
    settings = parse_settings(_with_mapping(text))
    assert settings.contact_mapping["company"].contact == "Account.Name"
    assert settings.contact_mapping["lead_score"].direction == "push"
    describes = {"Lead": lead(field("Marketing_Id__c")), "Contact": contact(field("Marketing_Id__c")),
                 "Account": account()}
    problems = check_against_describe(settings, describes)
    assert [line for line in problems if line.startswith("contact_mapping")] == []


def test_rendered_yaml_has_a_review_header_flow_lines_and_notes() -> None:
    mapping = suggest_mapping(without(lead(), "Behavior_Score__c"), without(contact(), "Behavior_Score__c"))
    text = render_mapping_yaml(mapping, mapping.notes)
    lines = text.splitlines()
    header = "\n".join(line for line in lines if line.startswith("#"))
    assert "describe" in header and "Review it before use" in header
    assert "# - no score field found: add a Number(6,0) custom field such as Behavior_Score__c" in text
    assert "  email:        {lead: Email, contact: Email, type: email}" in lines
    assert "  first_name:   {lead: FirstName, contact: FirstName, type: text, direction: two_way}" in lines
    assert lines.index("contact_mapping:") > max(i for i, line in enumerate(lines) if line.startswith("#"))
    assert all(len(line) <= 120 for line in lines if line.startswith("#"))


def test_names_yaml_would_misread_are_quoted() -> None:
    text = render_mapping_yaml({"on": {"lead": "On__c", "type": "boolean", "custom": True},
                                "null_field": {"lead": "Yes", "type": "text"}}, [])
    assert yaml.safe_load(text) == {"contact_mapping": {"on": {"lead": "On__c", "type": "boolean", "custom": True},
                                                        "null_field": {"lead": "Yes", "type": "text"}}}


def test_an_empty_mapping_renders_as_an_empty_section() -> None:
    assert yaml.safe_load(render_mapping_yaml({}, ["nothing to suggest"])) == {"contact_mapping": {}}
