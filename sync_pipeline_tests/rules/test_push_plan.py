from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from sync_pipeline.rules.push_plan import (
    PLACEHOLDER,
    REFUSAL_RETRY_AFTER,
    consent_fields,
    plan_creates,
    plan_push,
    pushable_fields,
    refused_values,
    same_value,
)
from sync_pipeline.settings.loader import load_settings
from sync_pipeline.settings.model import ListSettings, SyncSettings

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
EARLIER = pd.Timestamp("2026-04-01T00:00:00Z")
LATER = pd.Timestamp("2026-05-01T11:00:00Z")  # before NOW
SETTINGS_FILE = Path(__file__).resolve().parents[2] / "data" / "sync.yaml"


def settings(conflict_rule="most_recent", opt_out_direction="both", lists=(), **extra_mapping):
    mapping = {
        "email": {"lead": "Email", "contact": "Email", "type": "email"},
        "first_name": {"lead": "FirstName", "contact": "FirstName", "type": "text", "direction": "two_way"},
        "company": {"lead": "Company", "contact": "Account.Name", "type": "text", "direction": "pull"},
        "lead_score": {"lead": "Behavior_Score__c", "contact": "Behavior_Score__c", "type": "score"},
        "title": {"lead": "Title", "contact": "Title", "type": "text", "direction": "pull", "allow_push": True},
        "phone": {"lead": "Phone", "contact": "Phone", "type": "text", "direction": "pull"},
        "rating": {"lead": "Rating__c", "contact": "Contact_Rating__c", "type": "text", "direction": "push"},
        **extra_mapping,
    }
    return SyncSettings.model_validate(
        {
            "contact_mapping": mapping,
            "conflict_rule": conflict_rule,
            "opt_out": {"direction": opt_out_direction},
            "lists": list(lists),
        }
    )


def master_leads(*update_fields, add_new=False):
    return {
        "name": "Master Leads",
        "source": {"object": "Lead"},
        "columns": ["Email", "LastName", "Company", "Title", "Phone", "Behavior_Score__c"],
        "push": {"add_new": add_new, "update_fields": list(update_fields)},
    }


def desired(*rows):
    base = {"crm_type": "Lead", "contact_key": None, "converted_contact_id": None, "is_deleted": False}
    frame = pd.DataFrame([{**base, **row} for row in rows])
    frame["contact_key"] = frame["contact_key"].fillna(frame["crm_id"])
    return frame


def pushed(*rows):
    return pd.DataFrame([(*row, EARLIER) for row in rows], columns=["crm_id", "field", "value", "pushed_at"])


def in_salesforce(*rows):
    return pd.DataFrame(
        [row if len(row) == 4 else (*row, EARLIER) for row in rows],
        columns=["crm_id", "field", "value", "system_modstamp"],
    )


def plan(d, p=None, s=None, cfg=None, local_changed_at=None):
    return plan_push(
        d,
        p if p is not None else pushed(),
        s if s is not None else in_salesforce(),
        cfg or settings(),
        local_changed_at=local_changed_at,
        now=NOW,
    )


def sent(result):
    return sorted(zip(result.updates["crm_id"], result.updates["field"], result.updates["value"], strict=True))


# --- pushable fields ------------------------------------------------------------------------------------------


def test_pushable_fields_of_the_demo_settings():
    cfg = load_settings(SETTINGS_FILE)
    assert pushable_fields(cfg, "Lead") == [
        "FirstName",
        "LastName",
        "Title",
        "Behavior_Score__c",
        "HasOptedOutOfEmail",
        "EmailBouncedReason",
        "EmailBouncedDate",
    ]


def test_pushable_fields_follow_directions_opt_out_and_lists():
    cfg = settings(opt_out_direction="pull", lists=[master_leads("Title", "Phone", "Behavior_Score__c")])
    lead_fields = pushable_fields(cfg, "Lead")
    assert lead_fields == [
        "FirstName", "Behavior_Score__c", "Rating__c", "EmailBouncedReason", "EmailBouncedDate", "Title",
    ]
    # the list is on Leads; Phone is pull-only without allow_push; the opt-out only pulls
    assert pushable_fields(cfg, "Contact") == [
        "FirstName", "Behavior_Score__c", "Contact_Rating__c", "EmailBouncedReason", "EmailBouncedDate",
    ]


# --- only changes ---------------------------------------------------------------------------------------------


def test_nothing_changed_gives_an_empty_plan():
    d = desired({"crm_id": "00Q1", "Behavior_Score__c": 42, "FirstName": "Ann", "HasOptedOutOfEmail": True})
    p = pushed(
        ("00Q1", "Behavior_Score__c", "42"), ("00Q1", "FirstName", "Ann"), ("00Q1", "HasOptedOutOfEmail", "true")
    )
    result = plan(d, p)
    assert result.is_empty
    assert result.records == [] and result.updates.empty and result.conflicts.empty
    assert result.counts == {
        "records": 0, "fields": 0, "conflicts": 0, "skipped_pull_only": 0, "retargeted": 0,
        "skipped_deleted": 0, "already_in_salesforce": 0, "skipped_refused": 0,
    }


def test_changed_score_is_sent_as_a_collections_record():
    d = desired({"crm_id": "00Q1", "Behavior_Score__c": 57.0, "FirstName": "Ann"})
    p = pushed(("00Q1", "Behavior_Score__c", 42), ("00Q1", "FirstName", "Ann"))
    result = plan(d, p)
    assert sent(result) == [("00Q1", "Behavior_Score__c", 57)]
    assert result.records == [{"attributes": {"type": "Lead"}, "Id": "00Q1", "Behavior_Score__c": 57}]
    assert result.counts["records"] == 1 and result.counts["fields"] == 1


def test_a_refused_value_is_not_sent_again_until_it_or_the_record_changes():
    p = pushed(("00Q1", "Behavior_Score__c", 42))
    s = in_salesforce(("00Q1", "Behavior_Score__c", "42", EARLIER))
    refused = pd.DataFrame([("00Q1", "Behavior_Score__c", 57, EARLIER)],
                           columns=["crm_id", "field", "value", "record_stamp"])

    def planned(score, salesforce=s):
        return plan_push(desired({"crm_id": "00Q1", "Behavior_Score__c": score}), p, salesforce, settings(),
                         local_changed_at=None, now=NOW, refused=refused, track={"00Q1"})

    same = planned(57.0)
    assert same.is_empty and same.counts["skipped_refused"] == 1
    assert same.cell_states == {("00Q1", "behavior_score__c"): "held_refused"}
    changed = planned(58)
    assert sent(changed) == [("00Q1", "Behavior_Score__c", 58)] and changed.counts["skipped_refused"] == 0
    # Someone changed the record in Salesforce after the refusal (perhaps fixing it): the value goes again.
    touched = planned(57, in_salesforce(("00Q1", "Behavior_Score__c", "42", NOW)))
    assert sent(touched) == [("00Q1", "Behavior_Score__c", 57)]


def test_a_refused_value_goes_again_a_day_after_the_refusal():
    """A validation rule lifted in Setup changes no record: without the day's back-off the value would wait
    forever."""
    p = pushed(("00Q1", "Behavior_Score__c", 42))
    s = in_salesforce(("00Q1", "Behavior_Score__c", "42", EARLIER))

    def planned(refused_at):
        refused = pd.DataFrame([("00Q1", "Behavior_Score__c", 57, EARLIER, refused_at)],
                               columns=["crm_id", "field", "value", "record_stamp", "refused_at"])
        return plan_push(desired({"crm_id": "00Q1", "Behavior_Score__c": 57}), p, s, settings(),
                         local_changed_at=None, now=NOW, refused=refused)

    assert planned(NOW - REFUSAL_RETRY_AFTER + timedelta(minutes=1)).is_empty
    assert sent(planned(NOW - REFUSAL_RETRY_AFTER - timedelta(minutes=1))) == [("00Q1", "Behavior_Score__c", 57)]


def test_only_the_fields_an_error_names_are_held_back_else_the_whole_record():
    updates = pd.DataFrame([("00Q1", "Lead", "HasOptedOutOfEmail", True, EARLIER),
                            ("00Q1", "Lead", "Rating__c", "BAD", EARLIER),
                            ("00Q2", "Lead", "Behavior_Score__c", 7, EARLIER),
                            ("00Q2", "Lead", "HasOptedOutOfEmail", True, EARLIER),
                            ("00Q3", "Lead", "Behavior_Score__c", 9, EARLIER)],
                           columns=["crm_id", "crm_type", "field", "value", "salesforce_stamp"])
    held = refused_values(updates, {"00Q1": ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ("Rating__c",)),
                                    "00Q2": ("FIELD_CUSTOM_VALIDATION_EXCEPTION", ("Email",))})
    assert sorted(zip(held["crm_id"], held["field"], held["value"], strict=True)) == [
        ("00Q1", "Rating__c", "BAD"),  # the opt-out sent with it is not held back: it goes alone next time
        ("00Q2", "Behavior_Score__c", 7), ("00Q2", "HasOptedOutOfEmail", True),  # the rule objects to the record
    ]
    assert set(held["record_stamp"]) == {EARLIER}


def test_an_opt_out_never_waits_behind_a_refusal_of_the_record_as_a_whole():
    """A validation rule on a field the push never sends (Email) refuses the record: the score is held back, the
    opt-out and the bounce go alone next run; refused alone, they are held like any value."""
    updates = pd.DataFrame([("00Q2", "Lead", "Behavior_Score__c", 7, EARLIER),
                            ("00Q2", "Lead", "HasOptedOutOfEmail", True, EARLIER),
                            ("00Q2", "Lead", "EmailBouncedReason", "550", EARLIER),
                            ("00Q3", "Lead", "HasOptedOutOfEmail", True, EARLIER)],
                           columns=["crm_id", "crm_type", "field", "value", "salesforce_stamp"])
    apart = consent_fields(settings())
    assert apart == {"hasoptedoutofemail", "emailbouncedreason", "emailbounceddate"}
    refusal = ("FIELD_CUSTOM_VALIDATION_EXCEPTION", ("Email",))
    held = refused_values(updates, {"00Q2": refusal, "00Q3": refusal}, apart)
    assert sorted(zip(held["crm_id"], held["field"], strict=True)) == [
        ("00Q2", "Behavior_Score__c"), ("00Q3", "HasOptedOutOfEmail")]
    # Next run: the opt-out of 00Q2 is planned alone, its score is held.
    refused = held.assign(refused_at=NOW).rename(columns={"salesforce_stamp": "record_stamp"})
    result = plan_push(desired({"crm_id": "00Q2", "Behavior_Score__c": 7, "HasOptedOutOfEmail": True}),
                       pushed(), in_salesforce(("00Q2", "Behavior_Score__c", "1", EARLIER),
                                               ("00Q2", "HasOptedOutOfEmail", "false", EARLIER)),
                       settings(), local_changed_at=None, now=NOW, refused=refused)
    assert sent(result) == [("00Q2", "HasOptedOutOfEmail", True)] and result.counts["skipped_refused"] == 1


def test_cell_states_say_what_became_of_each_tracked_cell():
    d = desired({"crm_id": "00Q1", "Behavior_Score__c": 42, "FirstName": "Ann", "Company": "Acme"},
                {"crm_id": "00Q2", "Behavior_Score__c": 43})
    p = pushed(("00Q1", "Behavior_Score__c", 42))
    s = in_salesforce(("00Q1", "FirstName", "Ann"))
    result = plan_push(d, p, s, settings(), local_changed_at=None, now=NOW, track={"00Q1"})
    assert result.cell_states == {("00Q1", "behavior_score__c"): "unchanged",
                                  ("00Q1", "firstname"): "already_in_salesforce",
                                  ("00Q1", "company"): "not_pushable"}  # 00Q2 is not tracked
    assert sent(result) == [("00Q2", "Behavior_Score__c", 43)]


def test_first_push_sends_values_salesforce_does_not_hold_yet():
    d = desired({"crm_id": "00Q1", "Behavior_Score__c": 10}, {"crm_id": "00Q2", "Behavior_Score__c": 20})
    result = plan(d, s=in_salesforce(("00Q2", "Behavior_Score__c", "20")))
    assert sent(result) == [("00Q1", "Behavior_Score__c", 10)]
    assert result.counts["already_in_salesforce"] == 1


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        (42, "42", True), (42, 42.0, True), ("42", 42.0, True), ("42", "42.0", False), (42, 43, False),
        (True, "true", True), (False, "false", True), (True, "false", False), (True, 1, True),
        (None, None, True), (None, float("nan"), True), (None, "", True), (None, 0, False),
        ("Ann", "Ann", True), ("Ann", "ann", False), ("00123", "123", False),
        (pd.Timestamp("2026-04-01T00:00:00Z"), "2026-04-01T00:00:00.000+0000", True),
        (datetime(2026, 4, 1, tzinfo=UTC), pd.Timestamp("2026-04-01T01:00:00Z"), False),
    ],
)
def test_values_are_compared_normalized(left, right, same):
    assert same_value(left, right) is same
    assert same_value(right, left) is same


def test_normalized_equal_values_are_not_sent():
    d = desired({"crm_id": "00Q1", "Behavior_Score__c": 42.0, "HasOptedOutOfEmail": False, "FirstName": None})
    p = pushed(
        ("00Q1", "Behavior_Score__c", "42"), ("00Q1", "HasOptedOutOfEmail", "false"), ("00Q1", "FirstName", None)
    )
    assert plan(d, p).is_empty


# --- directions -----------------------------------------------------------------------------------------------


def test_pull_only_fields_are_never_sent():
    d = desired({"crm_id": "00Q1", "Company": "Acme", "Phone": "555", "Industry": "Retail", "Behavior_Score__c": 5})
    result = plan(d)
    assert sent(result) == [("00Q1", "Behavior_Score__c", 5)]
    assert result.counts["skipped_pull_only"] == 3


def test_allow_push_field_is_sent_only_when_a_list_pushes_it():
    d = desired({"crm_id": "00Q1", "Title": "CTO", "Phone": "555"})
    assert plan(d).is_empty  # allow_push alone does not push
    cfg = settings(lists=[master_leads("Title", "Phone")])
    result = plan(d, cfg=cfg)
    # Title has allow_push; Phone is pull-only, so even a list cannot push it
    assert sent(result) == [("00Q1", "Title", "CTO")]


def test_opt_out_field_is_pushed_only_when_the_direction_pushes():
    d = desired({"crm_id": "00Q1", "HasOptedOutOfEmail": True, "EmailBouncedReason": "550 mailbox unavailable"})
    assert sent(plan(d, cfg=settings(opt_out_direction="pull"))) == [
        ("00Q1", "EmailBouncedReason", "550 mailbox unavailable"),
    ]
    assert ("00Q1", "HasOptedOutOfEmail", True) in sent(plan(d, cfg=settings(opt_out_direction="push")))


def test_hard_bounce_date_is_sent_as_iso_text():
    d = desired({"crm_id": "0031", "crm_type": "Contact", "EmailBouncedDate": pd.Timestamp("2026-04-30T08:00:00Z")})
    result = plan(d)
    assert result.records == [
        {"attributes": {"type": "Contact"}, "Id": "0031", "EmailBouncedDate": "2026-04-30T08:00:00+00:00"}
    ]


# --- two-way conflicts ----------------------------------------------------------------------------------------


def conflict_case(rule, salesforce_stamp, local_changed_at=None):
    d = desired({"crm_id": "00Q1", "FirstName": "Annie"})
    p = pushed(("00Q1", "FirstName", "Ann"))
    s = in_salesforce(("00Q1", "FirstName", "Anna", salesforce_stamp))
    return plan(d, p, s, cfg=settings(conflict_rule=rule), local_changed_at=local_changed_at)


@pytest.mark.parametrize(
    ("rule", "salesforce_stamp", "local", "winner"),
    [
        ("most_recent", LATER, pd.Series({"00Q1": EARLIER}), "salesforce"),
        ("most_recent", EARLIER, pd.Series({"00Q1": LATER}), "marketing"),
        ("most_recent", EARLIER, None, "marketing"),  # no local time: the change is taken as of now
        ("most_recent", LATER, pd.Series({"00Q1": LATER}), "salesforce"),  # a tie goes to Salesforce
        ("salesforce_wins", EARLIER, pd.Series({"00Q1": LATER}), "salesforce"),
        ("marketing_wins", LATER, pd.Series({"00Q1": EARLIER}), "marketing"),
    ],
)
def test_two_way_conflict_follows_the_rule_and_records_the_evidence(rule, salesforce_stamp, local, winner):
    result = conflict_case(rule, salesforce_stamp, local)
    [conflict] = result.conflicts.to_dict("records")
    marketing_time = NOW if local is None else local["00Q1"]
    assert conflict == {
        "crm_id": "00Q1",
        "field": "FirstName",
        "marketing_value": "Annie",
        "salesforce_value": "Anna",
        "marketing_changed_at": pd.Timestamp(marketing_time),
        "salesforce_changed_at": salesforce_stamp,
        "winner": winner,
        "rule": rule,
        "decided_at": pd.Timestamp(NOW),
    }
    assert result.counts["conflicts"] == 1
    assert sent(result) == ([("00Q1", "FirstName", "Annie")] if winner == "marketing" else [])


def test_change_on_one_side_only_is_no_conflict():
    p = pushed(("00Q1", "FirstName", "Ann"))
    # only the marketing side changed: sent, no conflict
    result = plan(desired({"crm_id": "00Q1", "FirstName": "Annie"}), p, in_salesforce(("00Q1", "FirstName", "Ann")))
    assert sent(result) == [("00Q1", "FirstName", "Annie")] and result.conflicts.empty
    # only Salesforce changed: nothing to send (the pull takes it)
    result = plan(desired({"crm_id": "00Q1", "FirstName": "Ann"}), p, in_salesforce(("00Q1", "FirstName", "Anna")))
    assert result.is_empty and result.conflicts.empty
    # both changed to the same value: agreement, nothing to send
    result = plan(desired({"crm_id": "00Q1", "FirstName": "Anna"}), p, in_salesforce(("00Q1", "FirstName", "Anna")))
    assert result.is_empty and result.conflicts.empty


def test_push_only_field_changed_in_salesforce_is_overwritten_without_conflict():
    d = desired({"crm_id": "00Q1", "Rating__c": "Hot"})
    result = plan(d, pushed(("00Q1", "Rating__c", "Warm")), in_salesforce(("00Q1", "Rating__c", "Cold", LATER)))
    assert sent(result) == [("00Q1", "Rating__c", "Hot")] and result.conflicts.empty


# --- converted and deleted records -----------------------------------------------------------------------------


def test_converted_lead_is_retargeted_to_its_contact():
    d = desired(
        {"crm_id": "00Q1", "converted_contact_id": "0035", "Behavior_Score__c": 30, "Rating__c": "Hot", "Company": "X"}
    )
    result = plan(d, pushed(("0035", "Behavior_Score__c", 20)))
    assert sent(result) == [("0035", "Behavior_Score__c", 30), ("0035", "Contact_Rating__c", "Hot")]
    assert result.records == [
        {"attributes": {"type": "Contact"}, "Id": "0035", "Behavior_Score__c": 30, "Contact_Rating__c": "Hot"}
    ]
    assert set(result.updates["crm_type"]) == {"Contact"}
    assert result.counts["retargeted"] == 1
    assert result.counts["skipped_pull_only"] == 1  # Company → Account.Name, pull-only


def test_contacts_own_values_win_over_its_converted_lead():
    d = desired(
        {"crm_id": "00Q1", "converted_contact_id": "0035", "Behavior_Score__c": 30},
        {"crm_id": "0035", "crm_type": "Contact", "Behavior_Score__c": 31},
    )
    assert sent(plan(d)) == [("0035", "Behavior_Score__c", 31)]


def test_records_are_grouped_per_record_and_per_object():
    d = desired(
        {"crm_id": "00Q1", "Behavior_Score__c": 5, "FirstName": "Ann"},
        {"crm_id": "0031", "crm_type": "Contact", "Behavior_Score__c": 7, "FirstName": None},
    )
    result = plan(d)
    assert result.records_for("Lead") == [
        {"attributes": {"type": "Lead"}, "Id": "00Q1", "Behavior_Score__c": 5, "FirstName": "Ann"}
    ]
    assert result.records_for("Contact") == [{"attributes": {"type": "Contact"}, "Id": "0031", "Behavior_Score__c": 7}]
    assert (result.counts["records"], result.counts["fields"]) == (2, 3)


def test_deleted_records_are_never_sent():
    d = desired(
        {"crm_id": "00Q1", "Behavior_Score__c": 30, "is_deleted": True},
        {"crm_id": "00Q2", "converted_contact_id": "0036", "Behavior_Score__c": 30},
        {"crm_id": "0036", "crm_type": "Contact", "Behavior_Score__c": None, "is_deleted": True},
        {"crm_id": "00Q3", "Behavior_Score__c": 30},
    )
    result = plan(d)
    assert sent(result) == [("00Q3", "Behavior_Score__c", 30)]
    assert result.counts["skipped_deleted"] == 2


# --- new records ----------------------------------------------------------------------------------------------


def candidates():
    return pd.DataFrame(
        [
            {"contact_key": "K2", "crm_id": None, "Email": "bo@x.com", "LastName": None, "Company": None,
             "Behavior_Score__c": 12.0, "deleted_in_salesforce": False},
            {"contact_key": "K1", "crm_id": None, "Email": "ann@x.com", "LastName": "Lee", "Company": "Acme",
             "Behavior_Score__c": 3, "deleted_in_salesforce": False},
            {"contact_key": "K3", "crm_id": "00Q9", "Email": "cy@x.com", "LastName": "Cy", "Company": "C",
             "Behavior_Score__c": 1, "deleted_in_salesforce": False},
            {"contact_key": "K4", "crm_id": None, "Email": "di@x.com", "LastName": "Di", "Company": "D",
             "Behavior_Score__c": 1, "deleted_in_salesforce": True},
        ]
    )


def test_creates_only_when_the_list_asks():
    assert plan_creates(ListSettings.model_validate(master_leads("Behavior_Score__c")), candidates()).empty


def test_creates_new_leads_with_placeholders_for_required_fields():
    creates = plan_creates(ListSettings.model_validate(master_leads("Behavior_Score__c", add_new=True)), candidates())
    assert creates.to_dict("records") == [
        {"contact_key": "K1", "object": "Lead", "Email": "ann@x.com", "LastName": "Lee", "Company": "Acme",
         "Behavior_Score__c": 3},
        {"contact_key": "K2", "object": "Lead", "Email": "bo@x.com", "LastName": PLACEHOLDER, "Company": PLACEHOLDER,
         "Behavior_Score__c": 12},
    ]
    assert PLACEHOLDER == "[not provided]"
