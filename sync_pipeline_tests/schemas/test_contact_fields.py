import pandas as pd
import pytest

from sync_pipeline.schemas.contact_fields import FieldRule, build_schema, split_valid

RULES = [
    FieldRule("Email", "email", max_length=80),
    FieldRule("LastName", "text", max_length=10, required=True),
    FieldRule("Behavior_Score__c", "score"),
    FieldRule("Birthdate", "date"),
    FieldRule("SystemModstamp", "datetime"),
    FieldRule("HasOptedOutOfEmail", "boolean"),
    FieldRule("AnnualRevenue", "number"),
    FieldRule("Interests__c", "multi_text", allowed_values=("A", "B")),
    FieldRule("Rating", "text", allowed_values=("Hot", "Cold")),
]


def frame(**overrides):
    row = {
        "Id": "00Q000000000001AAA",
        "Email": "ann@example.com",
        "LastName": "Lee",
        "Behavior_Score__c": "12",
        "Birthdate": "1990-02-28",
        "SystemModstamp": "2026-01-02T03:04:05.000Z",
        "HasOptedOutOfEmail": "false",
        "AnnualRevenue": "1000.5",
        "Interests__c": "A;B",
        "Rating": "Hot",
    }
    good = dict(row, Id="00Q000000000002AAA")
    row.update(overrides)
    return pd.DataFrame([row, good])


def test_clean_rows_all_pass():
    valid, rejected = split_valid(frame(), build_schema(RULES))
    assert len(valid) == 2
    assert rejected == []


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("Email", "bob@@example", "not a valid email address"),
        ("Email", "no-at-sign.com", "not a valid email address"),
        ("LastName", "x" * 11, "longer than 10 characters"),
        ("LastName", None, "required value is missing"),
        ("Behavior_Score__c", "-1", "not a whole score from 0 to 999999"),
        ("Behavior_Score__c", "1.5", "not a whole score from 0 to 999999"),
        ("Birthdate", "2026-02-30", "not a real calendar date"),
        ("Birthdate", "02/03/2026", "not a date (YYYY-MM-DD)"),
        ("SystemModstamp", "yesterday", "not an ISO-8601 datetime"),
        ("HasOptedOutOfEmail", "maybe", "not a boolean (true/false)"),
        ("AnnualRevenue", "lots", "not a number"),
        ("Interests__c", "A;Z", "a value outside the field's picklist"),
        ("Rating", "Warm", "a value outside the field's picklist"),
    ],
)
def test_each_bad_value_is_quarantined_with_its_reason(field, value, reason):
    valid, rejected = split_valid(frame(**{field: value}), build_schema(RULES))
    assert list(valid["Id"]) == ["00Q000000000002AAA"]  # the good neighbour continues
    assert [(r.record_id, r.field, r.value, r.reason) for r in rejected] == [
        ("00Q000000000001AAA", field, value, reason)
    ]


def test_nulls_pass_on_optional_fields():
    valid, rejected = split_valid(frame(Email=None, Birthdate=None, Rating=None), build_schema(RULES))
    assert len(valid) == 2 and rejected == []


def test_two_bad_fields_give_two_rejections_for_one_row():
    valid, rejected = split_valid(frame(Email="x", AnnualRevenue="y"), build_schema(RULES))
    assert len(valid) == 1
    assert sorted(r.field for r in rejected) == ["AnnualRevenue", "Email"]


def test_unknown_type_is_refused():
    with pytest.raises(ValueError, match="unknown marketing type 'money'"):
        build_schema([FieldRule("X", "money")])
