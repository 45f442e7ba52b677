from datetime import UTC, datetime

import pandas as pd
import pytest

from sync_pipeline.rules.lists import (
    ListSourceError,
    ListSyncPlan,
    plan_list_sync,
    row_columns,
    source_members,
)
from sync_pipeline.settings.model import ListSettings

EARLIER = datetime(2026, 1, 1, 8, tzinfo=UTC)
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
LEAD_1 = "00Q000000000001AAA"
LEAD_2 = "00Q000000000002AAA"
LEAD_3 = "00Q000000000003AAA"
CONTACT_1 = "003000000000001AAA"
CONTACT_2 = "003000000000002AAA"
CAMPAIGN_1 = "701000000000001AAA"
CAMPAIGN_2 = "701000000000002AAA"


def settings(source, columns=("Email", "FirstName", "LastName"), **pull):
    options = {"add_new": True, "update_fields": ["FirstName"], "remove_missing": True, **pull}
    return ListSettings.model_validate({"name": "Test List", "source": source, "columns": columns, "pull": options})


LEAD_LIST = settings({"object": "Lead"})


def leads(*rows):
    base = {"is_deleted": False, "isconverted": "false", "email": None, "firstname": None, "lastname": None}
    return pd.DataFrame([{**base, **row} for row in rows], columns=[*base, "id"] if not rows else None)


def contacts(*rows):
    base = {"is_deleted": False, "email": None, "firstname": None, "lastname": None, "account__name": None}
    return pd.DataFrame([{**base, **row} for row in rows], columns=[*base, "id"] if not rows else None)


def campaigns(*rows):
    return pd.DataFrame([{"is_deleted": False, **row} for row in rows], columns=None if rows else ["id", "name"])


def campaign_members(*rows):
    base = {"is_deleted": False, "leadid": None, "contactid": None}
    columns = None if rows else ["id", "is_deleted", "campaignid", "leadid", "contactid"]
    return pd.DataFrame([{**base, **row} for row in rows], columns=columns)


NO_REPORT = pd.DataFrame({"crm_id": []}, dtype=object)


def members_of(list_settings, *, lead_rows=(), contact_rows=(), campaign_rows=(), member_rows=(), report=NO_REPORT):
    return source_members(
        list_settings,
        leads=leads(*lead_rows),
        contacts=contacts(*contact_rows),
        campaign_members=campaign_members(*member_rows),
        campaigns=campaigns(*campaign_rows),
        report_rows=report,
    )


def member_frame(*rows):
    base = {"crm_type": "Lead", "email": None, "firstname": None, "lastname": None}
    return pd.DataFrame([{**base, **row} for row in rows], columns=None if rows else ["crm_id", *base])


def list_rows(*rows):
    base = {
        "list_name": "Test List",
        "crm_type": "Lead",
        "is_active": True,
        "added_at": EARLIER,
        "updated_at": EARLIER,
        "removed_at": None,
        "email": None,
        "firstname": None,
        "lastname": None,
    }
    return pd.DataFrame([{**base, **row} for row in rows])


def by_id(frame):
    return frame.set_index("crm_id")


def apply(current, plan: ListSyncPlan):
    """What list_members holds after writing the plan (upsert on crm_id)."""
    merged = pd.concat([current, plan.upserts], ignore_index=True)
    return merged.drop_duplicates("crm_id", keep="last").reset_index(drop=True)


def counts(plan):
    return {
        "added": plan.added,
        "updated": plan.updated,
        "removed": plan.removed,
        "unchanged": plan.unchanged,
        "skipped_new": plan.skipped_new,
        "missing_key": plan.missing_key,
    }


# --- source: rules 1-5 ---------------------------------------------------------------------------------------------


def test_lead_list_holds_live_leads_that_are_not_converted():
    members = members_of(
        LEAD_LIST,
        lead_rows=[
            {"id": LEAD_2, "email": "bo@x.com", "firstname": "Bo"},
            {"id": LEAD_1, "email": "ann@x.com", "firstname": "Ann", "lastname": "Lee", "company": "Acme"},
            {"id": LEAD_3, "email": "cy@x.com", "is_deleted": True},
            {"id": "00Q000000000004AAA", "email": "di@x.com", "isconverted": "true"},
        ],
        contact_rows=[{"id": CONTACT_1, "email": "ann@x.com"}],
    )
    assert list(members.columns) == ["crm_id", "crm_type", "email", "firstname", "lastname"]
    assert members.to_dict("records") == [
        {"crm_id": LEAD_1, "crm_type": "Lead", "email": "ann@x.com", "firstname": "Ann", "lastname": "Lee"},
        {"crm_id": LEAD_2, "crm_type": "Lead", "email": "bo@x.com", "firstname": "Bo", "lastname": None},
    ]


def test_contact_list_holds_live_contacts_with_relationship_columns():
    contact_list = settings({"object": "Contact"}, columns=("Email", "Account.Name"), update_fields=[])
    members = members_of(
        contact_list,
        lead_rows=[{"id": LEAD_1, "email": "ann@x.com"}],
        contact_rows=[
            {"id": CONTACT_1, "email": "ann@x.com", "account__name": "Acme"},
            {"id": CONTACT_2, "email": "bo@x.com", "is_deleted": True},
        ],
    )
    assert members.to_dict("records") == [
        {"crm_id": CONTACT_1, "crm_type": "Contact", "email": "ann@x.com", "account__name": "Acme"}
    ]


def test_converted_lead_leaves_a_lead_list_and_its_contact_is_a_member_of_a_contact_list():
    contact_list = settings({"object": "Contact"}, update_fields=[])
    before_leads = [{"id": LEAD_1, "email": "ann@x.com", "firstname": "Ann"}]
    after_leads = [{**before_leads[0], "isconverted": "true"}]
    after_contacts = [{"id": CONTACT_1, "email": "ann@x.com", "firstname": "Ann"}]
    keys = {LEAD_1: "K-ann", CONTACT_1: "K-ann"}  # the Contact took the Lead's key in All Contacts

    first_sync = plan_list_sync(LEAD_LIST, list_rows(), members_of(LEAD_LIST, lead_rows=before_leads), keys, EARLIER)
    lead_list_now = apply(list_rows(), first_sync)
    lead_plan = plan_list_sync(
        LEAD_LIST, lead_list_now, members_of(LEAD_LIST, lead_rows=after_leads, contact_rows=after_contacts), keys, NOW
    )
    assert counts(lead_plan)["removed"] == 1
    lead_row = by_id(lead_plan.upserts).loc[LEAD_1]
    assert not lead_row["is_active"]
    assert lead_row["removed_at"] == NOW
    assert lead_row["contact_key"] == "K-ann"

    contact_plan = plan_list_sync(
        contact_list,
        list_rows(),
        members_of(contact_list, lead_rows=after_leads, contact_rows=after_contacts),
        keys,
        NOW,
    )
    contact_row = by_id(contact_plan.upserts).loc[CONTACT_1]
    assert contact_row["is_active"]
    assert contact_row["crm_type"] == "Contact"
    assert contact_row["contact_key"] == "K-ann"


def test_campaign_members_by_name_ignoring_case():
    campaign_list = settings({"campaign": "spring product webinar"}, columns=("Email", "Company"), update_fields=[])
    members = members_of(
        campaign_list,
        campaign_rows=[
            {"id": CAMPAIGN_1, "name": " Spring Product Webinar"},
            {"id": CAMPAIGN_2, "name": "Autumn Event"},
        ],
        member_rows=[
            {"id": "00v1", "campaignid": CAMPAIGN_1, "leadid": LEAD_1},
            {"id": "00v2", "campaignid": CAMPAIGN_1, "contactid": CONTACT_1},
            {"id": "00v3", "campaignid": CAMPAIGN_1, "leadid": LEAD_2, "is_deleted": True},  # deleted member
            {"id": "00v4", "campaignid": CAMPAIGN_2, "leadid": LEAD_3},  # another campaign
        ],
        lead_rows=[
            {"id": LEAD_1, "email": "ann@x.com", "company": "Acme"},
            {"id": LEAD_2, "email": "bo@x.com"},
            {"id": LEAD_3, "email": "cy@x.com"},
        ],
        contact_rows=[{"id": CONTACT_1, "email": "di@x.com"}],
    )
    assert members.to_dict("records") == [
        # Company is a Lead field: NULL for the Contact.
        {"crm_id": CONTACT_1, "crm_type": "Contact", "email": "di@x.com", "company": None},
        {"crm_id": LEAD_1, "crm_type": "Lead", "email": "ann@x.com", "company": "Acme"},
    ]


def test_campaign_member_counts_through_its_contact_once_its_lead_is_converted_or_gone():
    campaign_list = settings({"campaign": "Webinar"})
    members = members_of(
        campaign_list,
        campaign_rows=[{"id": CAMPAIGN_1, "name": "Webinar"}],
        member_rows=[
            {"id": "00v1", "campaignid": CAMPAIGN_1, "leadid": LEAD_1, "contactid": CONTACT_1},
            {"id": "00v2", "campaignid": CAMPAIGN_1, "leadid": LEAD_2},
            {"id": "00v3", "campaignid": CAMPAIGN_1, "contactid": CONTACT_2},
        ],
        lead_rows=[{"id": LEAD_1, "isconverted": "true"}, {"id": LEAD_2, "is_deleted": True}],
        contact_rows=[{"id": CONTACT_1, "email": "ann@x.com"}, {"id": CONTACT_2, "is_deleted": True}],
    )
    assert list(members["crm_id"]) == [CONTACT_1]
    assert list(members["crm_type"]) == ["Contact"]


def test_unknown_campaign_raises_an_error_naming_the_campaign_and_the_fix():
    campaign_list = settings({"campaign": "Spring Webinar"})
    with pytest.raises(ListSourceError) as raised:
        members_of(campaign_list, campaign_rows=[{"id": CAMPAIGN_1, "name": "Autumn Event"}])
    message = str(raised.value)
    assert "'Test List'" in message
    assert "'Spring Webinar'" in message
    assert "check the campaign's name in Salesforce" in message
    assert "sync settings" in message
    assert raised.value.list_name == "Test List"


def test_deleted_campaign_is_no_source_and_the_message_says_so():
    campaign_list = settings({"campaign": "Spring Webinar"})
    with pytest.raises(ListSourceError, match="only a deleted campaign has this name"):
        members_of(campaign_list, campaign_rows=[{"id": CAMPAIGN_1, "name": "Spring Webinar", "is_deleted": True}])


def test_several_campaigns_with_the_name_prefer_the_exact_spelling_else_fail():
    rows = [{"id": CAMPAIGN_1, "name": "Webinar"}, {"id": CAMPAIGN_2, "name": "WEBINAR"}]
    member_rows = [
        {"id": "00v1", "campaignid": CAMPAIGN_1, "leadid": LEAD_1},
        {"id": "00v2", "campaignid": CAMPAIGN_2, "leadid": LEAD_2},
    ]
    lead_rows = [{"id": LEAD_1}, {"id": LEAD_2}]
    sources = {"campaign_rows": rows, "member_rows": member_rows, "lead_rows": lead_rows}
    exact = members_of(settings({"campaign": "WEBINAR"}), **sources)
    assert list(exact["crm_id"]) == [LEAD_2]
    with pytest.raises(ListSourceError, match="matches 2 live campaigns") as raised:
        members_of(settings({"campaign": "webinar"}), **sources)
    assert CAMPAIGN_1 in str(raised.value) and CAMPAIGN_2 in str(raised.value)


def test_report_rows_are_mapped_to_leads_and_contacts_by_id_prefix():
    report_list = settings({"report": "Prospects in Active Opportunities"})
    report = pd.DataFrame(
        {
            "crm_id": [
                CONTACT_1,
                LEAD_1,
                LEAD_1,  # a person on two report rows is one member
                "006000000000001AAA",  # an Opportunity: not a list member
                LEAD_3,  # deleted in Salesforce
                CONTACT_2,  # not in the mirror
            ]
        }
    )
    members = members_of(
        report_list,
        report=report,
        lead_rows=[{"id": LEAD_1, "email": "ann@x.com"}, {"id": LEAD_3, "is_deleted": True}],
        contact_rows=[{"id": CONTACT_1, "email": "bo@x.com"}],
    )
    assert members[["crm_id", "crm_type", "email"]].to_dict("records") == [
        {"crm_id": CONTACT_1, "crm_type": "Contact", "email": "bo@x.com"},
        {"crm_id": LEAD_1, "crm_type": "Lead", "email": "ann@x.com"},
    ]


def test_source_with_no_records_is_an_empty_frame_with_the_member_columns():
    members = members_of(LEAD_LIST)
    assert members.empty
    assert list(members.columns) == ["crm_id", "crm_type", "email", "firstname", "lastname"]


# --- plan: rules 6-11 ----------------------------------------------------------------------------------------------


def test_new_members_are_added_with_every_column():
    members = member_frame({"crm_id": LEAD_1, "email": "ann@x.com", "firstname": "Ann", "lastname": "Lee"})
    plan = plan_list_sync(LEAD_LIST, list_rows(), members, {LEAD_1: "K1"}, NOW)
    assert counts(plan) == {"added": 1, "updated": 0, "removed": 0, "unchanged": 0, "skipped_new": 0, "missing_key": 0}
    assert list(plan.upserts.columns) == row_columns(LEAD_LIST)
    assert plan.upserts.to_dict("records") == [
        {
            "list_name": "Test List",
            "contact_key": "K1",
            "crm_id": LEAD_1,
            "crm_type": "Lead",
            "is_active": True,
            "added_at": NOW,
            "updated_at": NOW,
            "removed_at": None,
            "email": "ann@x.com",
            "firstname": "Ann",
            "lastname": "Lee",
        }
    ]


def test_new_members_are_not_added_when_add_new_is_false():
    no_add = settings({"object": "Lead"}, add_new=False)
    current = list_rows({"crm_id": LEAD_1, "contact_key": "K1", "email": "ann@x.com"})
    members = member_frame({"crm_id": LEAD_1, "email": "ann@x.com"}, {"crm_id": LEAD_2, "email": "bo@x.com"})
    plan = plan_list_sync(no_add, current, members, {LEAD_1: "K1", LEAD_2: "K2"}, NOW)
    assert plan.upserts.empty
    assert counts(plan) == {"added": 0, "updated": 0, "removed": 0, "unchanged": 1, "skipped_new": 1, "missing_key": 0}


def test_member_without_contact_key_is_not_added():
    members = member_frame({"crm_id": LEAD_1, "email": "ann@x.com"}, {"crm_id": LEAD_2, "email": "not-an-email"})
    plan = plan_list_sync(LEAD_LIST, list_rows(), members, {LEAD_1: "K1"}, NOW)  # LEAD_2 is quarantined
    assert list(plan.upserts["crm_id"]) == [LEAD_1]
    assert plan.added == 1
    assert plan.missing_key == 1


def test_only_the_chosen_update_fields_take_the_salesforce_value():
    current = list_rows(
        {"crm_id": LEAD_1, "contact_key": "K1", "email": "ann@x.com", "firstname": "Ann", "lastname": "Lee"}
    )
    members = member_frame({"crm_id": LEAD_1, "email": "ann@new.com", "firstname": "Anna", "lastname": "Lee-Smith"})
    plan = plan_list_sync(LEAD_LIST, current, members, {LEAD_1: "K1"}, NOW)  # update_fields: [FirstName]
    assert counts(plan)["updated"] == 1
    row = by_id(plan.upserts).loc[LEAD_1]
    assert row["firstname"] == "Anna"
    assert row["email"] == "ann@x.com"  # not chosen: the marketing value stays
    assert row["lastname"] == "Lee"
    assert row["added_at"] == EARLIER
    assert row["updated_at"] == NOW
    assert row["is_active"]


def test_differences_in_fields_not_chosen_write_nothing():
    current = list_rows(
        {"crm_id": LEAD_1, "contact_key": "K1", "email": "ann@x.com", "firstname": "Ann", "lastname": "Lee"}
    )
    members = member_frame({"crm_id": LEAD_1, "email": "ann@other.com", "firstname": "Ann", "lastname": "Lee-Smith"})
    plan = plan_list_sync(LEAD_LIST, current, members, {LEAD_1: "K1"}, NOW)
    assert plan.upserts.empty
    assert plan.unchanged == 1


def test_update_field_cleared_in_salesforce_is_cleared_in_the_list():
    current = list_rows({"crm_id": LEAD_1, "contact_key": "K1", "firstname": "Ann"})
    members = member_frame({"crm_id": LEAD_1, "firstname": None})
    plan = plan_list_sync(LEAD_LIST, current, members, {LEAD_1: "K1"}, NOW)
    assert by_id(plan.upserts).loc[LEAD_1, "firstname"] is None


@pytest.mark.parametrize("column_in_table", [False, True], ids=["column-absent", "column-all-null"])
def test_a_column_added_to_the_settings_fills_on_the_next_sync(column_in_table):
    with_title = settings({"object": "Lead"}, columns=("Email", "FirstName", "LastName", "Title"))
    current = list_rows(
        {"crm_id": LEAD_1, "contact_key": "K1", "email": "ann@x.com", "firstname": "Ann"},
        {"crm_id": LEAD_2, "contact_key": "K2", "email": "bo@x.com", "firstname": "Bo"},
    )
    if column_in_table:
        current["title"] = None
    members = member_frame(
        {"crm_id": LEAD_1, "email": "ann@new.com", "firstname": "Ann", "title": "CTO"},
        {"crm_id": LEAD_2, "email": "bo@x.com", "firstname": "Bo", "title": None},
    )
    plan = plan_list_sync(with_title, current, members, {LEAD_1: "K1", LEAD_2: "K2"}, NOW)
    assert counts(plan)["updated"] == 1 and plan.unchanged == 1  # Bo has no title in Salesforce: nothing to write
    row = by_id(plan.upserts).loc[LEAD_1]
    assert row["title"] == "CTO"
    assert row["email"] == "ann@x.com"  # other columns keep their marketing values

    # Once written, the column follows the list's update_fields like any other (Title is not chosen).
    filled = apply(current, plan)
    later = member_frame(
        {"crm_id": LEAD_1, "email": "ann@x.com", "firstname": "Ann", "title": "CEO"},
        {"crm_id": LEAD_2, "email": "bo@x.com", "firstname": "Bo", "title": "VP"},
    )
    again = plan_list_sync(with_title, filled, later, {LEAD_1: "K1", LEAD_2: "K2"}, NOW)
    assert again.upserts.empty


def test_a_plan_over_some_records_is_that_part_of_the_plan_over_all_given_the_written_columns():
    with_title = settings({"object": "Lead"}, columns=("Email", "FirstName", "LastName", "Title"))
    current = list_rows(
        {"crm_id": LEAD_1, "contact_key": "K1", "firstname": "Ann", "title": "CTO"},
        {"crm_id": LEAD_2, "contact_key": "K2", "firstname": "Bo", "title": None},
    )
    members = member_frame(
        {"crm_id": LEAD_1, "firstname": "Ann", "title": "CTO"},
        {"crm_id": LEAD_2, "firstname": "Bo", "title": "VP"},
    )
    keys = {LEAD_1: "K1", LEAD_2: "K2"}
    whole = plan_list_sync(with_title, current, members, keys, NOW)
    assert whole.upserts.empty  # Title is written in the list (Ann's), and not chosen: Bo's stays as it is
    # Bo alone: his rows say nothing of Ann's title, the list's written columns do.
    bo_current, bo_members = current[current["crm_id"] == LEAD_2], members[members["crm_id"] == LEAD_2]
    part = plan_list_sync(with_title, bo_current, bo_members, keys, NOW,
                          written_columns={"email", "firstname", "title"})
    assert part.upserts.empty and part.unchanged == 1
    # Judged from Bo's rows alone, the column would look never written and fill from Salesforce.
    judged_alone = plan_list_sync(with_title, bo_current, bo_members, keys, NOW)
    assert by_id(judged_alone.upserts).loc[LEAD_2, "title"] == "VP"


def test_row_no_longer_in_the_source_is_deactivated_when_remove_missing_is_true():
    current = list_rows(
        {"crm_id": LEAD_1, "contact_key": "K1", "email": "ann@x.com"},
        {"crm_id": LEAD_2, "contact_key": "K2", "email": "bo@x.com"},
    )
    members = member_frame({"crm_id": LEAD_1, "email": "ann@x.com"})
    plan = plan_list_sync(LEAD_LIST, current, members, {LEAD_1: "K1", LEAD_2: "K2"}, NOW)
    assert counts(plan) == {"added": 0, "updated": 0, "removed": 1, "unchanged": 1, "skipped_new": 0, "missing_key": 0}
    row = by_id(plan.upserts).loc[LEAD_2]
    assert not row["is_active"]
    assert row["removed_at"] == NOW
    assert row["updated_at"] == NOW
    assert row["added_at"] == EARLIER
    assert row["email"] == "bo@x.com"  # kept as history


def test_row_no_longer_in_the_source_stays_when_remove_missing_is_false():
    keep = settings({"object": "Lead"}, remove_missing=False)
    current = list_rows({"crm_id": LEAD_2, "contact_key": "K2", "email": "bo@x.com"})
    plan = plan_list_sync(keep, current, member_frame(), {LEAD_2: "K2"}, NOW)
    assert plan.upserts.empty
    assert counts(plan) == {"added": 0, "updated": 0, "removed": 0, "unchanged": 1, "skipped_new": 0, "missing_key": 0}


def test_inactive_row_stays_inactive_while_its_record_is_gone():
    current = list_rows({"crm_id": LEAD_2, "contact_key": "K2", "is_active": False, "removed_at": EARLIER})
    plan = plan_list_sync(LEAD_LIST, current, member_frame(), {LEAD_2: "K2"}, NOW)
    assert plan.upserts.empty
    assert plan.unchanged == 1 and plan.removed == 0


def test_record_back_in_the_source_is_reactivated_when_add_new_is_true():
    current = list_rows(
        {"crm_id": LEAD_1, "contact_key": "K1", "is_active": False, "removed_at": EARLIER, "email": "ann@x.com"}
    )
    members = member_frame({"crm_id": LEAD_1, "email": "ann@new.com", "firstname": "Ann"})
    plan = plan_list_sync(LEAD_LIST, current, members, {LEAD_1: "K1"}, NOW)
    assert counts(plan) == {"added": 1, "updated": 0, "removed": 0, "unchanged": 0, "skipped_new": 0, "missing_key": 0}
    row = by_id(plan.upserts).loc[LEAD_1]
    assert row["is_active"]
    assert row["removed_at"] is None
    assert row["added_at"] == EARLIER
    assert row["firstname"] == "Ann"  # update field
    assert row["email"] == "ann@x.com"  # marketing value kept


def test_record_back_in_the_source_stays_inactive_when_add_new_is_false():
    no_add = settings({"object": "Lead"}, add_new=False)
    current = list_rows({"crm_id": LEAD_1, "contact_key": "K1", "is_active": False, "removed_at": EARLIER})
    members = member_frame({"crm_id": LEAD_1, "firstname": "Ann"})
    plan = plan_list_sync(no_add, current, members, {LEAD_1: "K1"}, NOW)
    assert plan.upserts.empty
    assert plan.skipped_new == 1 and plan.added == 0


def test_contact_key_of_existing_rows_is_refreshed():
    current = list_rows(
        {"crm_id": LEAD_1, "contact_key": "K-old"},
        {"crm_id": LEAD_2, "contact_key": "K2"},
        {"crm_id": LEAD_3, "contact_key": "K3", "is_active": False, "removed_at": EARLIER},
    )
    members = member_frame({"crm_id": LEAD_1}, {"crm_id": LEAD_2})
    keys = {LEAD_1: "K-merged", LEAD_3: "K-merged"}  # LEAD_2 has no key now (quarantined): it keeps its own
    plan = plan_list_sync(LEAD_LIST, current, members, keys, NOW)
    upserts = by_id(plan.upserts)
    assert sorted(upserts.index) == [LEAD_1, LEAD_3]
    assert list(upserts["contact_key"]) == ["K-merged", "K-merged"]
    assert not upserts.loc[LEAD_3, "is_active"]  # still history
    assert plan.updated == 2 and plan.unchanged == 1


def test_a_resync_with_no_change_writes_nothing():
    members = member_frame(
        {"crm_id": LEAD_1, "email": "ann@x.com", "firstname": "Ann"},
        {"crm_id": LEAD_2, "email": "bo@x.com", "lastname": None},
    )
    keys = {LEAD_1: "K1", LEAD_2: "K2"}
    first = plan_list_sync(LEAD_LIST, list_rows(), members, keys, EARLIER)
    again = plan_list_sync(LEAD_LIST, apply(list_rows(), first), members, keys, NOW)
    assert again.upserts.empty
    assert counts(again) == {"added": 0, "updated": 0, "removed": 0, "unchanged": 2, "skipped_new": 0, "missing_key": 0}


def test_planning_on_its_own_output_writes_nothing():
    with_title = settings({"object": "Lead"}, columns=("Email", "FirstName", "LastName", "Title"))
    current = list_rows(
        {"crm_id": LEAD_1, "contact_key": "K-old", "email": "ann@x.com", "firstname": "Ann"},  # key and name change
        {"crm_id": LEAD_2, "contact_key": "K2"},  # leaves the source
        {"crm_id": LEAD_3, "contact_key": "K3", "is_active": False, "removed_at": EARLIER},  # comes back
    )
    members = member_frame(
        {"crm_id": LEAD_1, "email": "ann@y.com", "firstname": "Anna", "title": "CTO"},
        {"crm_id": LEAD_3, "firstname": "Cy"},
        {"crm_id": "00Q000000000009AAA", "email": "new@x.com"},  # new
        {"crm_id": "00Q000000000008AAA", "email": "nokey@x.com"},  # no contact key
    )
    keys = {LEAD_1: "K1", LEAD_2: "K2", LEAD_3: "K3", "00Q000000000009AAA": "K9"}
    plan = plan_list_sync(with_title, current, members, keys, NOW)
    assert counts(plan) == {"added": 2, "updated": 1, "removed": 1, "unchanged": 0, "skipped_new": 0, "missing_key": 1}
    assert plan.added + plan.updated + plan.removed + plan.unchanged == len(current) + 1

    replan = plan_list_sync(with_title, apply(current, plan), members, keys, NOW)
    assert replan.upserts.empty
    assert replan.unchanged == 4
    assert replan.missing_key == 1  # still not added, still reported
