"""The fields each pull selects, and the fingerprint that forces a full sync when they change."""

from __future__ import annotations

import hashlib

import pytest

from sync_pipeline.settings import fields_hash, load_settings, mapped_fields_hash, parse_settings, pulled_fields
from sync_pipeline_tests.settings.helpers import REPO_ROOT, valid_data


def test_lead_pull_selects_mapped_fields_list_columns_consent_fields_and_system_fields():
    assert pulled_fields(parse_settings(valid_data()), "Lead") == sorted(
        [
            "Behavior_Score__c",
            "Company",
            "ConvertedAccountId",
            "ConvertedContactId",
            "CreatedDate",
            "Email",
            "EmailBouncedDate",
            "EmailBouncedReason",
            "FirstName",
            "HasOptedOutOfEmail",
            "Id",
            "IsConverted",
            "IsDeleted",
            "OwnerId",
            "SystemModstamp",
        ]
    )


def test_contact_pull_selects_relationship_paths_and_the_account_link():
    assert pulled_fields(parse_settings(valid_data()), "Contact") == sorted(
        [
            "Account.Name",
            "AccountId",
            "Behavior_Score__c",
            "CreatedDate",
            "Email",
            "EmailBouncedDate",
            "EmailBouncedReason",
            "FirstName",
            "HasOptedOutOfEmail",
            "Id",
            "IsDeleted",
            "OwnerId",
            "SystemModstamp",
        ]
    )


def test_fields_are_deduplicated_ignoring_case_and_only_object_lists_count():
    data = valid_data()
    data["lists"].append(
        {"name": "More Leads", "source": {"object": "Lead"}, "columns": ["EMAIL", "ownerid", "Rating"]}
    )
    data["lists"][2]["columns"] += ["Report_Only__c"]  # a report list: read from the report, not the Lead pull
    data["opt_out"] = {"field": "hasoptedoutofemail"}

    fields = pulled_fields(parse_settings(data), "Lead")

    assert [f.lower() for f in fields].count("email") == 1
    assert "OwnerId" in fields and "ownerid" not in fields  # the fixed spelling wins
    assert "HasOptedOutOfEmail" not in fields and "hasoptedoutofemail" in fields
    assert "Rating" in fields
    assert "Report_Only__c" not in fields
    assert fields == sorted(fields)


def test_the_demo_settings_pull_what_the_demo_lists_show():
    settings = load_settings(REPO_ROOT / "data" / "sync.yaml")
    lead, contact = pulled_fields(settings, "Lead"), pulled_fields(settings, "Contact")
    assert {"Status", "Industry", "Title", "Behavior_Score__c", "IsConverted"} <= set(lead)
    assert {"Account.Name", "Account.Industry", "Account.AnnualRevenue", "AccountId"} <= set(contact)
    assert "Status" not in contact


def test_object_names_are_case_insensitive_and_limited_to_the_pulled_objects():
    settings = parse_settings(valid_data())
    assert pulled_fields(settings, "lead") == pulled_fields(settings, "Lead")
    with pytest.raises(ValueError, match="no pull is defined for 'Task'"):
        pulled_fields(settings, "Task")


def test_related_objects_pull_their_fixed_fields_and_the_report_mapping():
    settings = parse_settings(valid_data())
    assert pulled_fields(settings, "Account") == sorted(
        ["Id", "IsDeleted", "SystemModstamp", "Name", "Industry", "AnnualRevenue", "NumberOfEmployees", "Type",
         "OwnerId"])
    mapping = settings.report_mapping
    opportunity = pulled_fields(settings, "Opportunity")
    assert {mapping.amount, mapping.stage, mapping.close_date, mapping.won} <= set(opportunity)
    assert len(opportunity) == len({f.lower() for f in opportunity})


def test_the_hash_does_not_depend_on_the_order_of_the_fields():
    assert fields_hash(["Id", "Email", "IsDeleted"]) == fields_hash(["Email", "IsDeleted", "Id", "Email"])
    assert fields_hash(["Id", "Email"]) != fields_hash(["Id", "Email", "Phone"])


def test_the_hash_is_the_sha256_of_the_pulled_fields():
    settings = parse_settings(valid_data())
    expected = hashlib.sha256(",".join(pulled_fields(settings, "Lead")).encode()).hexdigest()
    assert mapped_fields_hash(settings, "Lead") == expected
    assert len(expected) == 64


def test_the_hash_changes_when_a_column_is_added_and_only_for_that_object():
    before = parse_settings(valid_data())
    data = valid_data()
    data["lists"][0]["columns"].append("Title")
    after = parse_settings(data)

    assert mapped_fields_hash(after, "Lead") != mapped_fields_hash(before, "Lead")
    assert mapped_fields_hash(after, "Contact") == mapped_fields_hash(before, "Contact")


def test_the_hash_ignores_order_and_settings_that_do_not_change_the_fields():
    data = valid_data()
    data["lists"][0]["columns"].reverse()
    data["salesforce"]["bulk_threshold"] = 5
    assert mapped_fields_hash(parse_settings(data), "Lead") == mapped_fields_hash(parse_settings(valid_data()), "Lead")
