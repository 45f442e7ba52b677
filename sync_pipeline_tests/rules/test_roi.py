"""Campaign and lead-source return with any-touch attribution (rules of rules/roi.py), on hand-computed fixtures."""

import functools
import math

import pandas as pd
import pytest

from sync_pipeline.rules.roi import ROI_COLUMNS, build_roi
from sync_pipeline.settings.model import ReportMapping
from sync_pipeline_tests.rules.report_fixtures import (
    CAMPAIGN_FIELDS,
    MEMBER_FIELDS,
    OPPORTUNITY_FIELDS,
    ROLE_FIELDS,
    mirror,
)

NAN = float("nan")


def opp(id, amount, *, closed=False, won=False, **more):
    return {"id": id, "amount": amount, "closedate": "2026-02-01", "isclosed": "true" if closed else "false",
            "iswon": "true" if won else "false", **more}


def person(key, lead_source, active=True):
    return {"contact_key": key, "crm_type": "Contact", "crm_id": f"003{key}", "behavioral_score": 1.0,
            "last_activity_at": pd.NaT, "is_active": active, "lead_source": lead_source}


PEOPLE = pd.DataFrame(
    [
        person("P1", "Web"), person("P2", "Web"), person("P3", "Event"), person("P4", None), person("P5", "Event"),
        person("P6", "Web"), person("P7", "Web", active=False),
    ]
)
LINKS = pd.DataFrame(
    [
        ("00QP1", "Lead", "P1"), ("003P1", "Contact", "P1"), ("003P2", "Contact", "P2"), ("00QP3", "Lead", "P3"),
        ("003P4", "Contact", "P4"), ("00QP5", "Lead", "P5"), ("003P6", "Contact", "P6"), ("003P7", "Contact", "P7"),
    ],
    columns=["crm_id", "crm_type", "contact_key"],
)
OPPORTUNITIES = mirror(
    OPPORTUNITY_FIELDS,
    opp("O1", "1000", closed=True, won=True, leadsource="Web", campaignid="C1"),  # C1 as source AND through P1
    opp("O2", "500.0", leadsource="Web"),  # C1 through P4, C2 through P2
    opp("O3", "300", closed=True, leadsource="Event", campaignid="C2"),  # lost
    opp("O4", "200", campaignid="C3"),  # no lead source
    opp("O5", "9999", campaignid="C1", is_deleted=True),  # deleted: ignored
    opp("O6", None, closed=True, won=True, leadsource="Event"),  # C2 through inactive P7; no amount
    opp("O7", "50", leadsource="Partner", campaignid="C9"),  # unknown campaign: no campaign credit
)
ROLES = mirror(
    ROLE_FIELDS,
    {"id": "R1", "opportunityid": "O1", "contactid": "003P1"},
    {"id": "R2", "opportunityid": "O2", "contactid": "003P2"},
    {"id": "R3", "opportunityid": "O2", "contactid": "003P4"},
    {"id": "R4", "opportunityid": "O3", "contactid": "003P6"},
    {"id": "R5", "opportunityid": "O6", "contactid": "003P7"},
    {"id": "R6", "opportunityid": "O4", "contactid": "003P1", "is_deleted": True},
)
MEMBERS = mirror(
    MEMBER_FIELDS,
    {"id": "M1", "campaignid": "C1", "leadid": "00QP1"},
    {"id": "M2", "campaignid": "C1", "contactid": "003P4"},
    {"id": "M3", "campaignid": "C1", "leadid": "00QP3"},
    {"id": "M4", "campaignid": "C2", "contactid": "003P2"},
    {"id": "M5", "campaignid": "C2", "contactid": "003P7"},
    {"id": "M6", "campaignid": "C2", "leadid": "00QP5", "is_deleted": True},
    {"id": "M7", "campaignid": "C5", "contactid": "003P1"},
)
CAMPAIGNS = mirror(
    CAMPAIGN_FIELDS,
    {"id": "C1", "name": "Webinar"},
    {"id": "C2", "name": "Trade Show"},
    {"id": "C3", "name": "Banner Ads"},
    {"id": "C4", "name": "Idle"},
    {"id": "C5", "name": "Deleted", "is_deleted": True},
)


def roi(opportunities=OPPORTUNITIES, roles=ROLES, members=MEMBERS, campaigns=CAMPAIGNS, people=PEOPLE):
    return build_roi(people, LINKS, opportunities, roles, members, campaigns, ReportMapping())


@functools.cache
def default_roi():
    """The ROI of the fixture, built once (tests only read it)."""
    return roi()


def row(frame, dimension, segment):
    rows = frame[(frame["dimension"] == dimension) & (frame["segment"] == segment)]
    assert len(rows) == 1
    return rows.iloc[0]


def check(actual, expected):
    for name, value in expected.items():
        got = actual[name]
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(got), name
        else:
            assert got == pytest.approx(value) if isinstance(value, float) else got == value, (name, got, value)


def test_rows_and_order():
    frame = default_roi()
    assert list(frame.columns) == list(ROI_COLUMNS)
    assert list(zip(frame["dimension"], frame["segment"], strict=True)) == [
        ("campaign", "Webinar"), ("campaign", "Trade Show"), ("campaign", "Banner Ads"),
        ("lead_source", "Web"), ("lead_source", "(none)"), ("lead_source", "Partner"), ("lead_source", "Event"),
    ]
    for name in ("contacts_touched", "opportunities_influenced", "open_opportunities", "won_opportunities"):
        assert frame[name].dtype == "int64"


def test_primary_source_and_member_influence_on_the_same_opportunity_count_once():
    check(row(default_roi(), "campaign", "Webinar"), {
        "campaign_id": "C1", "contacts_touched": 3, "opportunities_influenced": 2, "open_opportunities": 1,
        "won_opportunities": 1, "pipeline_amount": 500.0, "won_amount": 1000.0, "win_rate": 1.0,
    })


def test_member_influence_through_an_inactive_person_counts_but_is_not_a_contact_touched():
    check(row(default_roi(), "campaign", "Trade Show"), {
        "campaign_id": "C2", "contacts_touched": 1, "opportunities_influenced": 3, "open_opportunities": 1,
        "won_opportunities": 1, "pipeline_amount": 500.0, "won_amount": 0.0, "win_rate": 0.5,
    })


def test_a_campaign_with_only_a_primary_source_opportunity():
    check(row(default_roi(), "campaign", "Banner Ads"), {
        "campaign_id": "C3", "contacts_touched": 0, "opportunities_influenced": 1, "open_opportunities": 1,
        "won_opportunities": 0, "pipeline_amount": 200.0, "won_amount": 0.0, "win_rate": NAN,
    })


def test_campaigns_without_members_or_opportunities_and_deleted_ones_are_left_out():
    frame = default_roi()
    assert not frame["segment"].isin(["Idle", "Deleted"]).any()
    assert "C9" not in set(frame["campaign_id"].dropna())


def test_lead_source_rows():
    frame = default_roi()
    check(row(frame, "lead_source", "Web"), {
        "campaign_id": None, "contacts_touched": 3, "opportunities_influenced": 2, "open_opportunities": 1,
        "won_opportunities": 1, "pipeline_amount": 500.0, "won_amount": 1000.0, "win_rate": 1.0,
    })
    check(row(frame, "lead_source", "Event"), {
        "contacts_touched": 2, "opportunities_influenced": 2, "open_opportunities": 0, "won_opportunities": 1,
        "pipeline_amount": 0.0, "won_amount": 0.0, "win_rate": 0.5,
    })
    check(row(frame, "lead_source", "(none)"), {
        "contacts_touched": 1, "opportunities_influenced": 1, "open_opportunities": 1, "pipeline_amount": 200.0,
        "win_rate": NAN,
    })
    check(row(frame, "lead_source", "Partner"), {
        "contacts_touched": 0, "opportunities_influenced": 1, "pipeline_amount": 50.0, "win_rate": NAN,
    })
    assert frame.loc[frame["dimension"] == "lead_source", "campaign_id"].map(lambda value: value is None).all()


def test_lead_source_rows_add_up_to_all_live_opportunities():
    sources = default_roi().query("dimension == 'lead_source'")
    assert sources["opportunities_influenced"].sum() == 6  # O1-O7 without the deleted O5
    assert sources["pipeline_amount"].sum() == 750.0


def test_an_amount_that_does_not_parse_names_the_opportunity_and_field():
    opportunities = mirror(OPPORTUNITY_FIELDS, opp("OBAD", "n/a"))
    with pytest.raises(ValueError, match=r"OBAD.*Amount.*'n/a'"):
        roi(opportunities=opportunities)


def test_empty_inputs_give_an_empty_frame_with_the_columns():
    empty = pd.DataFrame()
    frame = build_roi(PEOPLE.iloc[0:0], LINKS.iloc[0:0], empty, empty, empty, empty, ReportMapping())
    assert frame.empty
    assert list(frame.columns) == list(ROI_COLUMNS)
