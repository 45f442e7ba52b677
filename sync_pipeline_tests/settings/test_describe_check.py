"""The settings checked against the org's describe metadata (small hand-written describes)."""

from __future__ import annotations

import pytest

from sync_pipeline.settings import check_against_describe, load_settings, parse_settings
from sync_pipeline_tests.settings.helpers import REPO_ROOT, describe, find_problem, sf_field, valid_data

COMMON = (
    "Id",
    "IsDeleted",
    "SystemModstamp",
    "Email",
    "FirstName",
    "LastName",
    "HasOptedOutOfEmail",
    "EmailBouncedReason",
    "EmailBouncedDate",
    "Title",
    "Phone",
    "LeadSource",
)


def lead_describe(*extra: dict) -> dict:
    return describe(
        "Lead",
        *(sf_field(name) for name in COMMON),
        sf_field("Company"),
        sf_field("Industry", type_="picklist"),
        sf_field("Status", type_="picklist"),
        sf_field("OwnerId", type_="reference", relationship="Owner", reference_to=("Group", "User")),
        sf_field("Behavior_Score__c", type_="double"),
        sf_field("Owner_ID__c", updateable=False, calculated=True),
        *extra,
    )


def contact_describe(*extra: dict) -> dict:
    return describe(
        "Contact",
        *(sf_field(name) for name in COMMON),
        sf_field("AccountId", type_="reference", relationship="Account", reference_to=("Account",)),
        sf_field("OwnerId", type_="reference", relationship="Owner", reference_to=("User",)),
        sf_field("Behavior_Score__c", type_="double"),
        sf_field("Owner_ID__c", updateable=False, calculated=True),
        *extra,
    )


def account_describe() -> dict:
    return describe("Account", sf_field("Id"), sf_field("Name"), sf_field("Industry"), sf_field("AnnualRevenue"))


def org(**overrides: dict) -> dict[str, dict]:
    describes = {"Lead": lead_describe(), "Contact": contact_describe(), "Account": account_describe()}
    describes.update(overrides)
    return describes


def test_valid_settings_match_the_org():
    assert check_against_describe(parse_settings(valid_data()), org()) == []


def test_the_shipped_demo_settings_match_the_demo_org_fields():
    settings = load_settings(REPO_ROOT / "data" / "sync.yaml")
    opportunity = describe("Opportunity", *(sf_field(n) for n in ("Amount", "StageName", "CloseDate", "IsWon")))
    assert check_against_describe(settings, {**org(), "Opportunity": opportunity}) == []


def test_a_misspelt_mapped_field_names_key_object_field_and_fix():
    data = valid_data()
    data["contact_mapping"]["industry"] = {"lead": "Industri", "type": "text", "custom": True}

    problems = check_against_describe(parse_settings(data), org())

    line = find_problem(
        problems,
        "contact_mapping.industry.lead",
        "field 'Industri' does not exist on Lead",
        "did you mean 'Industry'?",
        "check the spelling, or run `sync-pipeline mapping suggest` to see the org's fields",
    )
    assert len(problems) == 1, line


def test_field_names_are_case_insensitive():
    data = valid_data()
    data["contact_mapping"]["email"] = {"lead": "EMAIL", "contact": "email", "type": "email"}
    data["lists"][1]["columns"] = ["email", "account.name"]
    assert check_against_describe(parse_settings(data), org()) == []


def test_describe_object_names_are_case_insensitive():
    describes = {"lead": lead_describe(), "CONTACT": contact_describe(), "account": account_describe()}
    assert check_against_describe(parse_settings(valid_data()), describes) == []


def test_a_relationship_path_needs_the_relationship_and_the_target_field():
    data = valid_data()
    data["contact_mapping"]["company"]["contact"] = "Account.Nmae"
    data["contact_mapping"]["region"] = {"lead": "Account.Region", "type": "text"}

    problems = check_against_describe(parse_settings(data), org())

    find_problem(
        problems,
        "contact_mapping.company.contact",
        "field 'Nmae' does not exist on Account (in 'Account.Nmae')",
        "did you mean 'Name'?",
    )
    find_problem(problems, "contact_mapping.region.lead", "Lead has no relationship 'Account' (in 'Account.Region')")
    assert len(problems) == 2


def test_a_relationship_into_an_undescribed_object_is_accepted():
    data = valid_data()
    data["contact_mapping"]["company"]["contact"] = "Account.Anything__c"
    describes = org()
    del describes["Account"]
    assert check_against_describe(parse_settings(data), describes) == []


def test_a_polymorphic_relationship_resolves_through_any_described_target():
    data = valid_data()
    data["contact_mapping"]["owner_name"] = {"lead": "owner.name", "type": "text"}
    user = describe("User", sf_field("Id"), sf_field("Name"))
    assert check_against_describe(parse_settings(data), {**org(), "User": user}) == []

    data["contact_mapping"]["owner_name"]["lead"] = "Owner.Nickname"
    problems = check_against_describe(parse_settings(data), {**org(), "User": user})
    find_problem(problems, "contact_mapping.owner_name.lead", "field 'Nickname' does not exist on User")


@pytest.mark.parametrize(
    ("entry", "phrases"),
    [
        ({"type": "score"}, ("score fields are always pushed", "map the score to a writable Number field")),
        ({"type": "text", "direction": "push"}, ("direction push pushes it", "set direction: pull")),
        ({"type": "text", "direction": "two_way"}, ("direction two_way pushes it",)),
        ({"type": "text", "allow_push": True}, ("allow_push: true lets lists push it",)),
    ],
)
def test_a_pushed_field_must_be_updateable(entry, phrases):
    data = valid_data()
    del data["contact_mapping"]["lead_score"]
    data["contact_mapping"]["owner_ref"] = {"lead": "Owner_ID__c", **entry}
    if entry["type"] != "score":
        data["contact_mapping"]["lead_score"] = {"lead": "Behavior_Score__c", "type": "score"}
    else:  # the score moved to another field: the list no longer has a mapped Behavior_Score__c to push
        data["lists"][0]["push"]["update_fields"] = []

    problems = check_against_describe(parse_settings(data), org())

    find_problem(
        problems,
        "contact_mapping.owner_ref.lead",
        "field 'Owner_ID__c' on Lead is a formula field, read-only",
        *phrases,
    )
    assert len(problems) == 1


def test_a_read_only_field_may_be_pulled():
    data = valid_data()
    data["contact_mapping"]["owner_ref"] = {"lead": "Owner_ID__c", "contact": "Owner_ID__c", "type": "text"}
    assert check_against_describe(parse_settings(data), org()) == []


def test_columns_of_object_lists_are_checked_against_their_object():
    data = valid_data()
    data["lists"][0]["columns"].append("Rating")  # not on the Lead describe above
    data["lists"][1]["columns"].append("Company")  # a Lead field, not a Contact one
    data["lists"][2]["columns"].append("ANYTHING")  # report rows are not checked against an object

    problems = check_against_describe(parse_settings(data), org())

    find_problem(problems, 'lists["Leads"].columns', "field 'Rating' does not exist on Lead", "mapping suggest")
    find_problem(problems, 'lists["Contacts"].columns', "field 'Company' does not exist on Contact")
    assert len(problems) == 2


def test_a_list_cannot_push_a_read_only_field():
    data = valid_data()
    data["lists"][0]["columns"].append("Owner_ID__c")
    data["lists"][0]["push"]["update_fields"].append("Owner_ID__c")
    data["contact_mapping"]["owner_ref"] = {"lead": "Owner_ID__c", "type": "text", "allow_push": True}

    problems = check_against_describe(parse_settings(data), org())

    find_problem(
        problems,
        'lists["Leads"].push.update_fields',
        "'Owner_ID__c' on Lead is a formula field, read-only",
        "this list pushes it",
        "remove Owner_ID__c from push.update_fields",
    )
    find_problem(problems, "contact_mapping.owner_ref.lead", "allow_push: true lets lists push it")
    assert len(problems) == 2


def test_opt_out_and_hard_bounce_fields_must_exist_and_be_writable():
    data = valid_data()
    data["opt_out"] = {"field": "Email_Opt_Out__c", "direction": "push"}
    data["hard_bounce"] = {"field": "EmailBouncedReason", "date_field": "Bounced_On__c"}
    lead = lead_describe(sf_field("Email_Opt_Out__c", type_="boolean", updateable=False))

    problems = check_against_describe(parse_settings(data), org(Lead=lead))

    find_problem(
        problems,
        "opt_out.field",
        "'Email_Opt_Out__c' on Lead is read-only",
        "opt_out.direction push pushes opt-outs",
        "set opt_out.direction: pull",
    )
    find_problem(problems, "opt_out.field", "field 'Email_Opt_Out__c' does not exist on Contact")
    find_problem(problems, "hard_bounce.date_field", "field 'Bounced_On__c' does not exist on Lead")
    find_problem(problems, "hard_bounce.date_field", "field 'Bounced_On__c' does not exist on Contact")
    assert len(problems) == 4


def test_a_pulled_opt_out_field_may_be_read_only():
    data = valid_data()
    data["opt_out"] = {"field": "HasOptedOutOfEmail", "direction": "pull"}
    lead = lead_describe()
    lead["fields"] = [{**f, "updateable": False} if f["name"] == "HasOptedOutOfEmail" else f for f in lead["fields"]]
    assert check_against_describe(parse_settings(data), org(Lead=lead)) == []


def test_report_mapping_is_checked_when_opportunity_is_described():
    data = valid_data()
    data["report_mapping"] = {"amount": "Amount", "stage": "Stage", "close_date": "CloseDate", "won": "IsWon"}
    opportunity = describe("Opportunity", *(sf_field(n) for n in ("Amount", "StageName", "CloseDate", "IsWon")))

    problems = check_against_describe(parse_settings(data), {**org(), "Opportunity": opportunity})

    find_problem(problems, "report_mapping.stage", "field 'Stage' does not exist on Opportunity")
    assert check_against_describe(parse_settings(data), org()) == []  # Opportunity not described: not checked


def test_objects_without_a_describe_are_not_checked():
    data = valid_data()
    data["contact_mapping"]["industry"] = {"lead": "Industri", "type": "text"}
    assert check_against_describe(parse_settings(data), {"Contact": contact_describe()}) == []


def test_a_missing_score_field_is_one_problem_at_the_mapping_with_the_fix_to_create_it() -> None:
    settings = load_settings(REPO_ROOT / "data" / "sync.yaml")
    lead = lead_describe()
    lead["fields"] = [f for f in lead["fields"] if f["name"] != "Behavior_Score__c"]
    problems = [p for p in check_against_describe(settings, org(Lead=lead)) if "Behavior_Score__c" in p]
    assert problems == [
        "contact_mapping.lead_score.lead: field 'Behavior_Score__c' does not exist on Lead (also named by "
        "lists[\"SFDC Master Leads\"].columns, lists[\"SFDC Master Leads\"].push.update_fields) — create a writable "
        "Number(6, 0) field Behavior_Score__c on Lead (Setup > Object Manager > Fields & Relationships), or map the "
        "score to an existing Number field"]
