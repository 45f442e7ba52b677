"""Loading and validating the sync settings: every rule reports its key path and a fix, all problems at once."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from sync_pipeline.settings import SettingsError, SyncSettings, load_settings, parse_settings
from sync_pipeline_tests.settings.helpers import REPO_ROOT, find_problem, problems_of, valid_data

# ---------------------------------------------------------------------------------------------------------------
# The shipped settings file


def test_the_shipped_demo_settings_are_valid_and_say_what_the_demo_org_needs():
    settings = load_settings(REPO_ROOT / "data" / "sync.yaml")

    assert settings.salesforce.api_version is None  # the login mode's: 65.0 for OAuth, 64.0 for the password login
    assert settings.salesforce.full_sync_every_days == 14
    assert settings.salesforce.lookback_minutes == 10
    assert settings.salesforce.bulk_threshold == 10_000
    assert settings.salesforce.max_api_share_per_run == pytest.approx(0.10)
    score = settings.contact_mapping["lead_score"]
    assert (score.lead, score.contact, score.type, score.direction) == (
        "Behavior_Score__c",
        "Behavior_Score__c",
        "score",
        "push",
    )
    email = settings.contact_mapping["email"]
    assert (email.lead, email.contact, email.type) == ("Email", "Email", "email")
    assert settings.contact_mapping["company"].contact == "Account.Name"
    assert settings.conflict_rule == "most_recent"
    assert (settings.opt_out.field, settings.opt_out.direction) == ("HasOptedOutOfEmail", "both")
    assert (settings.hard_bounce.field, settings.hard_bounce.date_field) == ("EmailBouncedReason", "EmailBouncedDate")

    lists = {item.name: item for item in settings.lists}
    assert list(lists) == [
        "SFDC Master Leads",
        "SFDC Master Contacts",
        "Spring Webinar Attendees",
        "Prospects in Active Opportunities",
    ]
    assert (lists["SFDC Master Leads"].source.object, lists["SFDC Master Leads"].schedule) == ("Lead", "0 */4 * * *")
    assert (lists["SFDC Master Contacts"].source.object, lists["SFDC Master Contacts"].schedule) == (
        "Contact",
        "30 */4 * * *",
    )
    assert lists["Spring Webinar Attendees"].source.campaign == "Spring Product Webinar"
    assert lists["Prospects in Active Opportunities"].source.report == "Prospects in Active Opportunities"

    hot = settings.hot_prospects
    assert (hot.top_n, hot.min_score, hot.activity_days) == (20, 1, 90)
    assert hot.assigned_leads == "SFDC Master Leads"
    assert hot.active_opportunities == "Prospects in Active Opportunities"
    assert hot.assigned_contacts == "SFDC Master Contacts"
    assert settings.report_mapping.model_dump() == {
        "amount": "Amount",
        "stage": "StageName",
        "close_date": "CloseDate",
        "won": "IsWon",
    }
    assert settings.full_sync_schedule == "0 2 * * 0"
    assert set(settings.activities.push) == {"form_submit", "email_send", "email_open", "email_click", "page_visit"}


def test_small_valid_settings_get_the_documented_defaults():
    settings = parse_settings(valid_data())

    assert settings.salesforce.full_sync_every_days == 14
    assert settings.salesforce.lookback_minutes == 10
    assert settings.salesforce.bulk_threshold == 10_000
    assert settings.salesforce.max_api_share_per_run == pytest.approx(0.10)
    assert settings.contact_mapping["email"].direction == "pull"
    assert settings.contact_mapping["email"].allow_push is False
    assert settings.contact_mapping["email"].custom is False
    assert settings.contact_mapping["lead_score"].direction == "push"  # scores default to push
    assert settings.conflict_rule == "most_recent"
    assert (settings.opt_out.field, settings.opt_out.direction) == ("HasOptedOutOfEmail", "both")
    assert settings.hot_prospects.top_n == 20
    assert settings.full_sync_schedule == "0 2 * * 0"
    assert settings.lists[1].pull.update_fields == ()
    assert settings.lists[1].push.add_new is False


def test_settings_are_frozen():
    settings = parse_settings(valid_data())
    with pytest.raises(Exception, match="frozen"):
        settings.conflict_rule = "marketing_wins"  # type: ignore[misc]


def test_choices_are_read_case_and_dash_insensitively():
    data = valid_data()
    data["contact_mapping"]["interests"] = {"lead": "Interests__c", "type": "Multi-Text", "direction": "Two-Way"}
    data["lists"][0]["source"] = {"object": "lead"}

    settings = parse_settings(data)

    assert settings.contact_mapping["interests"].type == "multi_text"
    assert settings.contact_mapping["interests"].direction == "two_way"
    assert settings.lists[0].source.object == "Lead"


def test_an_unquoted_api_version_is_read_as_the_version_it_means():
    data = valid_data()
    data["salesforce"]["api_version"] = 61.0
    assert parse_settings(data).salesforce.api_version == "61.0"


# ---------------------------------------------------------------------------------------------------------------
# Rule 1: email mapped on both objects


def test_rule_1_no_email_field_is_a_problem_of_the_mapping():
    data = valid_data()
    del data["contact_mapping"]["email"]

    find_problem(problems_of(data), "contact_mapping", "no field of type email", "add email: {lead: Email")


def test_rule_1_email_must_be_mapped_on_contacts_too():
    data = valid_data()
    del data["contact_mapping"]["email"]["contact"]

    find_problem(problems_of(data), "contact_mapping.email.contact", "not mapped on Contacts", "set contact: Email")


def test_rule_1_email_must_be_mapped_on_leads_too():
    data = valid_data()
    del data["contact_mapping"]["email"]["lead"]

    find_problem(problems_of(data), "contact_mapping.email.lead", "not mapped on Leads", "set lead: Email")


# ---------------------------------------------------------------------------------------------------------------
# Rule 2 and 3: a score field, always pushed


def test_rule_2_a_score_field_must_be_mapped():
    data = valid_data()
    del data["contact_mapping"]["lead_score"]

    find_problem(problems_of(data), "contact_mapping", "no field of type score", "type: score")


def test_rule_3_a_score_field_cannot_be_pull_only():
    data = valid_data()
    data["contact_mapping"]["lead_score"]["direction"] = "pull"

    find_problem(
        problems_of(data),
        "contact_mapping.lead_score.direction",
        "always pushed",
        "set direction: push",
    )


@pytest.mark.parametrize("direction", ["push", "two_way"])
def test_rule_3_a_score_field_may_push_or_sync_both_ways(direction):
    data = valid_data()
    data["contact_mapping"]["lead_score"]["direction"] = direction
    assert parse_settings(data).contact_mapping["lead_score"].direction == direction


def test_a_mapping_must_name_a_salesforce_field():
    data = valid_data()
    data["contact_mapping"]["nickname"] = {"type": "text"}

    find_problem(problems_of(data), "contact_mapping.nickname", "maps no Salesforce field", "set lead:, contact:")


def test_a_related_field_cannot_be_pushed():
    data = valid_data()
    data["contact_mapping"]["company"]["direction"] = "two_way"

    find_problem(
        problems_of(data),
        "contact_mapping.company.contact",
        "'Account.Name' is a field of a related record",
        "set direction: pull",
    )


# ---------------------------------------------------------------------------------------------------------------
# Rule 4: unique list names


def test_rule_4_list_names_are_unique_ignoring_case():
    data = valid_data()
    data["lists"].append({"name": "LEADS", "source": {"campaign": "Spring"}, "columns": ["Email"]})

    find_problem(
        problems_of(data), "lists[3].name", "'LEADS' is already used by lists[0]", "give each list its own name"
    )


# ---------------------------------------------------------------------------------------------------------------
# Rule 5: list sources, objects and field types


def test_rule_5_a_list_without_a_source_kind():
    data = valid_data()
    data["lists"][1]["source"] = {}

    find_problem(problems_of(data), 'lists["Contacts"].source', "names no source", "set exactly one of {object: Lead}")


def test_rule_5_a_list_with_several_sources():
    data = valid_data()
    data["lists"][1]["source"] = {"object": "Contact", "campaign": "Spring"}

    find_problem(
        problems_of(data), 'lists["Contacts"].source', "several sources (object, campaign)", "set exactly one of"
    )


def test_rule_5_a_list_without_a_source_key():
    data = valid_data()
    del data["lists"][1]["source"]

    find_problem(problems_of(data), 'lists["Contacts"].source', "required key is missing", "add source: {object: Lead}")


def test_rule_5_an_unknown_source_kind_is_an_unknown_key():
    data = valid_data()
    data["lists"][1]["source"] = {"view": "My Contacts"}

    problems = problems_of(data)
    find_problem(
        problems, 'lists["Contacts"].source.view', "unknown key 'view'", "allowed here: object, campaign, report"
    )


def test_rule_5_a_list_object_must_be_lead_or_contact():
    data = valid_data()
    data["lists"][1]["source"] = {"object": "Account"}

    find_problem(
        problems_of(data), 'lists["Contacts"].source.object', "unknown object 'Account'", "must be Lead or Contact"
    )


def test_rule_5_an_unknown_field_type():
    data = valid_data()
    data["contact_mapping"]["first_name"]["type"] = "txt"

    find_problem(
        problems_of(data),
        "contact_mapping.first_name.type",
        "'txt' is not allowed",
        "did you mean 'text'?",
        "use one of boolean, date, datetime, text, number, score, email, multi_text",
    )


def test_rule_5_a_missing_field_type():
    data = valid_data()
    del data["contact_mapping"]["first_name"]["type"]

    find_problem(problems_of(data), "contact_mapping.first_name.type", "required key is missing", "add type: one of")


# ---------------------------------------------------------------------------------------------------------------
# Rule 6: cron strings


def test_rule_6_an_invalid_list_schedule():
    data = valid_data()
    data["lists"][0]["schedule"] = "0 */4 * *"

    find_problem(
        problems_of(data), 'lists["Leads"].schedule', "'0 */4 * *' is not a valid cron expression", "use 5 fields"
    )


def test_rule_6_an_invalid_full_sync_schedule():
    data = valid_data()
    data["full_sync_schedule"] = "61 2 * * 0"

    find_problem(problems_of(data), "full_sync_schedule", "not a valid cron expression", '"0 2 * * 0"')


@pytest.mark.parametrize("cron", ["0 */4 * * *", "30 */4 * * *", "15,45 8-18 * * MON-FRI", "0 0 1 JAN,JUL *"])
def test_rule_6_valid_schedules_are_accepted(cron):
    data = valid_data()
    data["lists"][0]["schedule"] = cron
    assert parse_settings(data).lists[0].schedule == cron


# ---------------------------------------------------------------------------------------------------------------
# Rule 7: conflicting directions


def test_rule_7_one_salesforce_field_mapped_with_two_directions():
    data = valid_data()
    data["contact_mapping"]["given_name"] = {"lead": "firstname", "type": "text", "direction": "pull"}

    find_problem(
        problems_of(data),
        "contact_mapping.given_name.lead",
        "Lead.firstname is also mapped by contact_mapping.first_name.lead",
        "directions two_way and pull",
        "map the field once",
    )


def test_rule_7_the_same_field_pulled_into_two_marketing_fields_is_fine():
    data = valid_data()
    data["contact_mapping"]["organisation"] = {"lead": "Company", "type": "text"}
    assert "organisation" in parse_settings(data).contact_mapping


def test_rule_7_two_marketing_fields_cannot_push_into_one_salesforce_field():
    data = valid_data()
    data["contact_mapping"]["engagement"] = {"lead": "Behavior_Score__c", "type": "number", "direction": "push"}

    find_problem(
        problems_of(data),
        "contact_mapping.engagement.lead",
        "two values would be pushed into one field",
        "map the field once",
    )


def test_rule_7_a_list_cannot_push_a_field_the_mapping_only_pulls():
    data = valid_data()
    data["lists"][0]["push"]["update_fields"] = ["Company"]

    find_problem(
        problems_of(data),
        'lists["Leads"].push.update_fields',
        "'Company' is mapped by contact_mapping.company with direction pull",
        "set direction: two_way (or allow_push: true) on contact_mapping.company",
    )


def test_rule_7_allow_push_lets_a_list_push_a_pull_field():
    data = valid_data()
    data["lists"][0]["push"]["update_fields"] = ["Company"]
    data["contact_mapping"]["company"]["allow_push"] = True
    data["contact_mapping"]["company"]["contact"] = "Company__c"  # a related field could not be pushed at all

    settings = parse_settings(data)

    assert settings.lists[0].push.update_fields == ("Company",)
    assert settings.contact_mapping["company"].may_push
    assert not settings.contact_mapping["company"].pushes


def test_rule_7_a_list_pushes_only_fields_mapped_on_its_object():
    data = valid_data()
    data["lists"][0]["columns"].append("Title")
    data["lists"][0]["push"]["update_fields"] = ["Title"]

    find_problem(
        problems_of(data),
        'lists["Leads"].push.update_fields',
        "'Title' is not mapped on Lead in contact_mapping, so the marketing database holds no value to push",
        "contact_mapping.<name>: {lead: Title, allow_push: true}",
    )
    data["contact_mapping"]["title"] = {"lead": "Title", "type": "text", "allow_push": True}
    assert parse_settings(data).lists[0].push.update_fields == ("Title",)


def test_rule_7_a_campaign_or_report_list_cannot_push_fields():
    data = valid_data()
    data["lists"][2]["push"] = {"update_fields": ["Email"]}

    find_problem(problems_of(data), 'lists["Active Opps"].push.update_fields',
                 "a report list holds Leads and Contacts alike, so it cannot push fields",
                 "push fields from a list with source {object: Lead} or {object: Contact}")


@pytest.mark.parametrize("index", [1, 2])
def test_rule_7_only_a_list_of_leads_creates_records(index):
    data = valid_data()
    data["lists"][index]["push"] = {"add_new": True}
    name = data["lists"][index]["name"]

    problems = problems_of(data)

    find_problem(problems, f'lists["{name}"].push.add_new', "new records are created as Leads",
                 "set add_new: true on a list with source {object: Lead}")
    assert len(problems) == 1
    data["lists"][index]["push"] = {"add_new": False}
    data["lists"][0]["push"]["add_new"] = True
    assert parse_settings(data).lists[0].push.add_new


def test_rule_7_the_opt_out_field_mapped_with_another_direction():
    data = valid_data()
    data["opt_out"] = {"field": "HasOptedOutOfEmail", "direction": "push"}
    data["contact_mapping"]["opted_out"] = {"lead": "HasOptedOutOfEmail", "type": "boolean", "direction": "pull"}

    find_problem(
        problems_of(data),
        "contact_mapping.opted_out.direction",
        "opt-out field HasOptedOutOfEmail with direction pull, but opt_out.direction is push",
        "remove this mapping",
    )


def test_rule_7_the_opt_out_field_mapped_with_the_same_direction_is_fine():
    data = valid_data()
    data["opt_out"] = {"direction": "both"}
    data["contact_mapping"]["opted_out"] = {"contact": "HasOptedOutOfEmail", "type": "boolean", "direction": "two_way"}
    assert parse_settings(data).contact_mapping["opted_out"].direction == "two_way"


# ---------------------------------------------------------------------------------------------------------------
# Rule 8: hot prospects name existing lists


def test_rule_8_hot_prospects_name_a_list_that_does_not_exist():
    data = valid_data()
    data["hot_prospects"]["assigned_leads"] = "Lead"

    line = find_problem(
        problems_of(data), "hot_prospects.assigned_leads", "no list is named 'Lead'", "did you mean 'Leads'?"
    )
    assert "'Contacts'" in line  # the lists one could name are listed


def test_rule_8_every_missing_hot_prospect_list_is_reported():
    data = valid_data()
    data["hot_prospects"]["active_opportunities"] = "Open Deals"
    data["hot_prospects"]["assigned_contacts"] = "All My Contacts"

    problems = problems_of(data)
    find_problem(problems, "hot_prospects.active_opportunities", "'Open Deals'", "add a list with source: {report:")
    find_problem(problems, "hot_prospects.assigned_contacts", "'All My Contacts'", "add a list with source: {object:")


def test_rule_8_active_opportunities_must_be_a_report_list():
    data = valid_data()
    data["hot_prospects"]["active_opportunities"] = "Contacts"

    find_problem(
        problems_of(data),
        "hot_prospects.active_opportunities",
        "is made from all Contacts, not from a report",
        "source: {report: ...}",
    )


# ---------------------------------------------------------------------------------------------------------------
# Rule 9: update fields are list columns


def test_rule_9_pull_update_fields_must_be_columns():
    data = valid_data()
    data["lists"][0]["pull"]["update_fields"] = ["FirstName", "Title"]

    find_problem(
        problems_of(data),
        'lists["Leads"].pull.update_fields',
        "'Title' is not one of this list's columns",
        "add Title to columns, or remove it from pull.update_fields",
    )


def test_rule_9_push_update_fields_must_be_columns():
    data = valid_data()
    data["lists"][0]["push"]["update_fields"] = ["Behavior_Score__c", "Rating"]

    find_problem(
        problems_of(data),
        'lists["Leads"].push.update_fields',
        "'Rating' is not one of this list's columns",
        "remove it from push.update_fields",
    )


def test_rule_9_still_reported_when_the_list_source_is_broken_too():
    data = valid_data()
    data["lists"][0]["source"] = {"object": "Opportunity"}
    data["lists"][0]["pull"]["update_fields"] = ["Title"]

    problems = problems_of(data)
    find_problem(problems, 'lists["Leads"].source.object', "unknown object 'Opportunity'")
    find_problem(problems, 'lists["Leads"].pull.update_fields', "'Title' is not one of this list's columns")


def test_update_fields_match_columns_ignoring_case():
    data = valid_data()
    data["lists"][0]["pull"]["update_fields"] = ["firstname"]
    assert parse_settings(data).lists[0].pull.update_fields == ("firstname",)


def test_a_list_cannot_push_a_related_field():
    data = valid_data()
    data["lists"][1]["push"] = {"update_fields": ["Account.Name"]}

    find_problem(
        problems_of(data), 'lists["Contacts"].push.update_fields', "field of a related record", "it can still be pulled"
    )


def test_a_column_listed_twice():
    data = valid_data()
    data["lists"][1]["columns"] = ["Email", "EMAIL"]

    find_problem(problems_of(data), 'lists["Contacts"].columns', "'EMAIL' is listed twice", "keep one")


# ---------------------------------------------------------------------------------------------------------------
# Unknown keys, wrong types and bounds


def test_unknown_keys_are_rejected_with_their_path_and_the_allowed_keys():
    data = valid_data()
    data["salesforce"]["bulk_treshold"] = 5000
    data["lists"][0]["pull"]["remove_mising"] = True
    data["contact_mapping"]["email"]["directon"] = "pull"
    data["extra_section"] = {}

    problems = problems_of(data)

    find_problem(problems, "salesforce.bulk_treshold", "unknown key", "did you mean 'bulk_threshold'?")
    find_problem(problems, 'lists["Leads"].pull.remove_mising', "did you mean 'remove_missing'?")
    find_problem(problems, "contact_mapping.email.directon", "did you mean 'direction'?", "allowed here: lead, contact")
    find_problem(problems, "extra_section", "unknown key", "allowed here: salesforce, contact_mapping")


@pytest.mark.parametrize(
    ("key", "value", "path", "phrases"),
    [
        ("api_version", "62", "salesforce.api_version", ("is not a Salesforce API version", '"NN.N"')),
        ("api_version", "v 62.0", "salesforce.api_version", ("is not a Salesforce API version",)),
        ("api_version", "40.0", "salesforce.api_version", ("too old for Bulk API 2.0", "or later")),
        ("full_sync_every_days", 0, "salesforce.full_sync_every_days", ("must be at least 1", "set a value")),
        ("lookback_minutes", -1, "salesforce.lookback_minutes", ("must be at least 0",)),
        ("bulk_threshold", "many", "salesforce.bulk_threshold", ("expected a whole number, got 'many'",)),
        ("max_api_share_per_run", 0, "salesforce.max_api_share_per_run", ("must be greater than 0",)),
        ("max_api_share_per_run", 1.5, "salesforce.max_api_share_per_run", ("must be at most 1",)),
    ],
)
def test_salesforce_block_values(key, value, path, phrases):
    data = valid_data()
    data["salesforce"][key] = value
    find_problem(problems_of(data), path, *phrases)


def test_scoring_rules_name_known_event_types_and_a_positive_half_life():
    data = valid_data()
    data["scoring"] = {"rules": {"email_opened": 1, "form_submit": 10}, "half_life_days": 0}

    problems = problems_of(data)

    find_problem(problems, "scoring.rules.email_opened", "unknown key 'email_opened'", "did you mean 'email_open'?")
    find_problem(problems, "scoring.half_life_days", "must be greater than 0")


def test_activities_and_conflict_rule_choices():
    data = valid_data()
    data["activities"] = {"push": ["form_submit", "unsubscribe"]}
    data["conflict_rule"] = "newest"

    problems = problems_of(data)

    find_problem(problems, "activities.push[1]", "'unsubscribe' is not allowed", "use one of form_submit")
    find_problem(problems, "conflict_rule", "'newest' is not allowed", "most_recent, salesforce_wins, marketing_wins")


def test_malformed_names_are_rejected_before_they_reach_soql():
    data = valid_data()
    data["contact_mapping"]["Job Title"] = {"lead": "Title; DELETE", "type": "text"}

    problems = problems_of(data)

    find_problem(problems, 'contact_mapping["Job Title"]', "not a usable marketing field name", "e.g. job_title")
    find_problem(problems, 'contact_mapping["Job Title"].lead', "not a Salesforce field API name", "Account.Name")


def test_a_section_of_the_wrong_shape():
    data = valid_data()
    data["lists"] = {"name": "Leads"}

    find_problem(problems_of(data), "lists", "expected a list", "write a list")


def test_an_empty_section_means_its_defaults():
    data = valid_data()
    data["scoring"] = None
    assert parse_settings(data).scoring.half_life_days == 30


# ---------------------------------------------------------------------------------------------------------------
# All problems together, and how they read


def test_several_problems_are_reported_together():
    data = valid_data()
    data["salesforce"]["api_version"] = "sixty-two"  # salesforce block
    del data["contact_mapping"]["email"]  # rule 1 (a cross-block rule, still run)
    data["lists"].append({"name": "leads", "source": {"report": "X"}, "columns": ["Email"]})  # rule 4
    data["lists"][0]["schedule"] = "every 4 hours"  # rule 6 (lists block broken)
    data["hot_prospects"]["assigned_contacts"] = "Nobody"  # rule 8 needs lists: skipped while lists are broken
    data["full_sync_schedule"] = "0 2 * *"  # rule 6
    data["scoring"] = {"half_life_days": -1}

    problems = problems_of(data)

    find_problem(problems, "salesforce.api_version", "'sixty-two'")
    find_problem(problems, "contact_mapping", "no field of type email")
    find_problem(problems, "lists[0].schedule", "not a valid cron expression")
    find_problem(problems, "full_sync_schedule", "not a valid cron expression")
    find_problem(problems, "scoring.half_life_days", "must be greater than 0")
    assert len(problems) == 5


def test_cross_block_rules_all_run_when_the_blocks_themselves_are_valid():
    data = valid_data()
    del data["contact_mapping"]["lead_score"]  # rule 2
    data["contact_mapping"]["email"].pop("contact")  # rule 1
    data["lists"].append({"name": "CONTACTS", "source": {"object": "Contact"}})  # rule 4
    data["lists"][0]["push"]["update_fields"] = ["Company"]  # rule 7 (list push vs a pull mapping)
    data["hot_prospects"]["assigned_leads"] = "Nobody"  # rule 8

    problems = problems_of(data)

    find_problem(problems, "contact_mapping", "no field of type score")
    find_problem(problems, "contact_mapping.email.contact", "not mapped on Contacts")
    find_problem(problems, "lists[3].name", "already used by lists[1]")
    find_problem(problems, 'lists["Leads"].push.update_fields', "'Company'")
    find_problem(problems, "hot_prospects.assigned_leads", "'Nobody'")
    assert len(problems) == 5


def test_the_error_names_the_file_and_lists_one_line_per_problem_without_pydantic_noise():
    data = valid_data()
    data["salesforce"]["lookback_minutes"] = "ten"
    data["lists"][1]["source"] = {"object": "Account"}

    with pytest.raises(SettingsError) as caught:
        parse_settings(data, "conf/sync.yaml")

    text = str(caught.value)
    header, *lines = text.splitlines()
    assert "conf/sync.yaml" in header
    assert "2 problems" in header
    assert lines == [f"- {line}" for line in caught.value.problems]
    assert all(" — " in line for line in lines)
    for noise in ("validation error", "pydantic", "input_value", "type=", "errors.pydantic.dev"):
        assert noise not in text


def test_the_error_survives_pickling():
    data = valid_data()
    data["conflict_rule"] = "newest"
    with pytest.raises(SettingsError) as caught:
        parse_settings(data, "conf/sync.yaml")

    copy = pickle.loads(pickle.dumps(caught.value))

    assert (copy.source, copy.problems, str(copy)) == ("conf/sync.yaml", caught.value.problems, str(caught.value))


def test_a_document_that_is_not_a_mapping():
    find_problem(problems_of(["salesforce"]), "(top level)", "expected a block of settings sections")


# ---------------------------------------------------------------------------------------------------------------
# Loading files


def test_load_settings_reads_a_yaml_file(tmp_path: Path):
    path = tmp_path / "sync.yaml"
    path.write_text((REPO_ROOT / "data" / "sync.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert isinstance(load_settings(path), SyncSettings)


def test_a_missing_file_names_the_path_and_the_fix(tmp_path: Path):
    path = tmp_path / "nowhere" / "sync.yaml"
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert str(path) in str(caught.value)
    find_problem(caught.value.problems, str(path), "file not found", "SYNC_SETTINGS")


def test_bad_yaml_is_reported_with_its_line_number(tmp_path: Path):
    path = tmp_path / "sync.yaml"
    path.write_text("salesforce:\n  api_version: '62.0'\n   bulk_threshold: 5\nlists: []\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    (line,) = caught.value.problems
    assert line.startswith("line 3, column 4: not valid YAML")
    assert "fix the YAML at that line" in line


def test_an_unclosed_block_names_the_line_where_it_started(tmp_path: Path):
    path = tmp_path / "sync.yaml"
    path.write_text("contact_mapping:\n  email: {lead: Email, type: email\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    (line,) = caught.value.problems
    assert "while parsing a flow mapping at line 2" in line


def test_a_duplicate_key_is_reported_rather_than_silently_dropped(tmp_path: Path):
    path = tmp_path / "sync.yaml"
    path.write_text(
        "contact_mapping:\n"
        "  email: {lead: Email, contact: Email, type: email}\n"
        "  lead_score: {lead: Behavior_Score__c, type: score}\n"
        "  email: {lead: Email, type: email}\n"
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    (line,) = caught.value.problems
    assert line.startswith("line 4, column 3: duplicate key 'email' (first given at line 2)")
    assert "give each key once" in line


def test_an_empty_file(tmp_path: Path):
    path = tmp_path / "sync.yaml"
    path.write_text("# nothing yet\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    find_problem(caught.value.problems, "(file)", "the file is empty", "start from data/sync.yaml")


def test_a_directory_is_not_a_settings_file(tmp_path: Path):
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path)
    find_problem(caught.value.problems, str(tmp_path), "is a directory")


def test_problems_of_a_file_name_the_file(tmp_path: Path):
    path = tmp_path / "sync.yaml"
    path.write_text("conflict_rule: newest\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert str(caught.value).splitlines()[0].startswith(f"the sync settings in {path} cannot be used")
    find_problem(caught.value.problems, "conflict_rule", "'newest'")
    find_problem(caught.value.problems, "contact_mapping", "no field of type email")
    find_problem(caught.value.problems, "contact_mapping", "no field of type score")
