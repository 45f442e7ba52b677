import itertools

import pandas as pd

from sync_pipeline.rules.audience import assign_keys, build_audience, normalize_email

NO_LINKS = pd.DataFrame({"crm_id": [], "contact_key": [], "email": []}, dtype="string")


def records(*rows):
    base = {"is_deleted": False, "is_converted": False, "converted_contact_id": None, "created_date": pd.NaT,
            "first_name": None}
    frame = pd.DataFrame([{**base, **row} for row in rows])
    frame["created_date"] = pd.to_datetime(frame["created_date"], utc=True)
    return frame


def lead(crm_id, email, stamp, **extra):
    return {"crm_id": crm_id, "crm_type": "Lead", "email": email, "system_modstamp": stamp, **extra}


def contact(crm_id, email, stamp, **extra):
    return {"crm_id": crm_id, "crm_type": "Contact", "email": email, "system_modstamp": stamp, **extra}


def test_email_is_trimmed_and_lowercased():
    assert list(normalize_email(pd.Series([" Ann@Example.COM ", "", None]))) == ["ann@example.com", pd.NA, pd.NA]


def test_new_people_get_the_id_of_their_primary_record_and_duplicates_by_email_merge():
    frame = records(
        lead("00Q1", "ann@x.com", "2026-01-01"),
        lead("00Q2", "ANN@x.com ", "2026-02-01"),  # same person, newer
        contact("0031", "ann@x.com", "2025-01-01"),  # a Contact beats Leads whatever its age
        lead("00Q3", "bo@x.com", "2026-01-01"),
    )
    keys = assign_keys(frame, NO_LINKS)
    assert list(keys) == ["0031", "0031", "0031", "00Q3"]
    audience = build_audience(frame, keys).set_index("contact_key")
    assert audience.loc["0031", "crm_id"] == "0031"
    assert audience.loc["0031", "crm_type"] == "Contact"
    assert audience.loc["0031", "email"] == "ann@x.com"
    assert len(audience) == 2


def test_known_links_are_kept():
    links = pd.DataFrame({"crm_id": ["00Q1"], "contact_key": ["K-ann"], "email": ["ann@x.com"]})
    frame = records(lead("00Q1", "ann@x.com", "2026-01-01"), lead("00Q9", "ann@x.com", "2026-03-01"))
    assert list(assign_keys(frame, links)) == ["K-ann", "K-ann"]


def test_converted_lead_becomes_its_contact_and_keeps_its_key():
    links = pd.DataFrame({"crm_id": ["00Q1"], "contact_key": ["K-ann"], "email": ["ann@x.com"]})
    frame = records(
        lead("00Q1", "ann@x.com", "2026-03-01", is_converted=True, converted_contact_id="0035"),
        contact("0035", "ann.lee@corp.com", "2026-03-01", first_name="Ann"),  # email changed at conversion
    )
    keys = assign_keys(frame, links)
    assert list(keys) == ["K-ann", "K-ann"]
    person = build_audience(frame, keys).set_index("contact_key").loc["K-ann"]
    assert person["crm_type"] == "Contact"
    assert person["crm_id"] == "0035"
    assert person["email"] == "ann.lee@corp.com"


def test_conversion_in_the_same_batch_as_first_sight():
    frame = records(
        lead("00Q1", "ann@x.com", "2026-03-01", is_converted=True, converted_contact_id="0035"),
        contact("0035", "other@corp.com", "2026-03-01"),
    )
    assert list(assign_keys(frame, NO_LINKS)) == ["00Q1", "00Q1"]


def test_person_with_all_records_deleted_is_inactive_and_live_record_wins():
    frame = records(
        lead("00Q1", "ann@x.com", "2026-03-01", is_deleted=True),
        lead("00Q2", "bo@x.com", "2026-03-01", is_deleted=True),
        lead("00Q3", "bo@x.com", "2026-01-01"),
    )
    keys = assign_keys(frame, NO_LINKS)
    audience = build_audience(frame, keys).set_index("contact_key")
    assert not audience.loc["00Q1", "is_active"]
    bo_key = keys.iloc[1]
    assert audience.loc[bo_key, "is_active"]
    assert audience.loc[bo_key, "crm_id"] == "00Q3"


def test_records_without_email_are_their_own_person():
    frame = records(lead("00Q1", None, "2026-01-01"), lead("00Q2", None, "2026-01-01"))
    assert list(assign_keys(frame, NO_LINKS)) == ["00Q1", "00Q2"]


def test_the_primary_record_is_the_same_whatever_the_system_modstamps():
    """Contacts before Leads, then the earliest CreatedDate, then the lowest Id: our own push writes every record
    of a person in one batch, milliseconds apart, so the latest SystemModstamp would follow our writes' timing."""
    people = [
        lead("00Q1", "ann@x.com", None, created_date="2026-01-09"),
        lead("00Q2", "ann@x.com", None, created_date="2026-01-05"),  # Ann's earliest record: a Lead
        lead("00Q3", "ann@x.com", None),  # no CreatedDate: after those with one
        lead("00Q7", "bo@x.com", None, created_date="2025-06-01"),
        contact("0038", "bo@x.com", None, created_date="2026-02-01"),  # a Contact beats older Leads
        contact("0037", "bo@x.com", None, created_date="2026-02-01"),  # the same CreatedDate: the lowest Id
    ]
    times = ["2026-03-01T10:00:00.001Z", "2026-03-01T10:00:00.002Z", "2026-02-01T00:00:00Z"]
    for ann_stamps in itertools.permutations(times):
        for bo_stamps in itertools.permutations(times):
            frame = records(*[{**row, "system_modstamp": pd.Timestamp(at)}
                              for row, at in zip(people, [*ann_stamps, *bo_stamps], strict=True)])
            audience = build_audience(frame, assign_keys(frame, NO_LINKS))
            assert list(zip(audience["contact_key"], audience["crm_id"], strict=True)) == [
                ("0037", "0037"), ("00Q2", "00Q2")]


def test_a_person_left_with_only_a_converted_lead_is_inactive_history():
    links = pd.DataFrame({"crm_id": ["00Q1", "0035", "00Q2", "0036"], "contact_key": ["K-ann", "K-ann", "K-bo", "K-bo"],
                          "email": ["ann@x.com", "ann@x.com", "bo@x.com", "bo@x.com"]})
    frame = records(
        lead("00Q1", "ann@x.com", "2026-03-01", is_converted=True, converted_contact_id="0035"),
        contact("0035", "ann@x.com", "2026-04-01", is_deleted=True),  # Ann's Contact was deleted in Salesforce
        lead("00Q2", "bo@x.com", "2026-03-01", is_converted=True, converted_contact_id="0036"),
        contact("0036", "bo@x.com", "2026-03-01"),
        lead("00Q3", "cy@x.com", "2026-03-01", is_converted=True, converted_contact_id="0037"),  # Contact not here
    )
    audience = build_audience(frame, assign_keys(frame, links)).set_index("contact_key")
    assert audience[["crm_type", "crm_id", "is_active"]].to_dict("index") == {
        "K-ann": {"crm_type": "Lead", "crm_id": "00Q1", "is_active": False},  # no live record Salesforce lets us write
        "K-bo": {"crm_type": "Contact", "crm_id": "0036", "is_active": True},
        "00Q3": {"crm_type": "Lead", "crm_id": "00Q3", "is_active": False},
    }
