"""The funnel by stage, overall, by lead source and by campaign (rules/funnel.py), on hand-computed fixtures."""

import functools
import math
from datetime import UTC, datetime

import pandas as pd
import pytest

from sync_pipeline.rules.funnel import FUNNEL_COLUMNS, STAGES, build_funnel
from sync_pipeline.settings.model import ReportMapping
from sync_pipeline_tests.rules.report_fixtures import (
    CAMPAIGN_FIELDS,
    MEMBER_FIELDS,
    OPPORTUNITY_FIELDS,
    ROLE_FIELDS,
    mirror,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)
MQL = 20.0
MAPPING = ReportMapping()
NAN = float("nan")



def opp(id, amount, closedate, *, closed=False, won=False, **more):
    return {"id": id, "amount": amount, "closedate": closedate, "isclosed": "true" if closed else "false",
            "iswon": "true" if won else "false", "stagename": "Closed Won" if won else "Prospecting", **more}


def person(key, crm_type, score, lead_source, active=True, opted_out=False, hard_bounced=False):
    return {
        "contact_key": key, "email": f"{key.lower()}@x.com", "crm_type": crm_type, "crm_id": f"id-{key}",
        "first_name": key, "last_name": "Doe", "company": "Acme", "owner_id": "U1", "behavioral_score": score,
        "lead_score": score, "opted_out": opted_out, "hard_bounced": hard_bounced, "is_active": active,
        "lead_source": lead_source,
    }


# The stages each active person meets, by each stage's own criterion (hand-computed; A audience, E engaged,
# M marketing-qualified, S sales-accepted, W won):
#   P1 A E M S W (converted Lead, won O1 in the period, also on open O5)
#   P2 A E . S . (open O2 and O6; score 10, below the MQL score: sales-accepted without being qualified)
#   P3 A E M . .   P4 A E . . .
#   P5 A . M . . (no person-initiated engagement in the period)   P6 A . . . . (was only sent emails)
#   P7 . E . . . (opted out after a click; won O3 closed before the period)   P8 inactive: nowhere
PEOPLE = pd.DataFrame(
    [
        person("P1", "Contact", 50.0, "Web"),
        person("P2", "Contact", 10.0, "Web"),
        person("P3", "Lead", 25.0, "Event"),
        person("P4", "Lead", 5.0, "Event"),
        person("P5", "Lead", 40.0, None),
        person("P6", "Lead", NAN, None),
        person("P7", "Contact", 0.0, "Web", opted_out=True),
        person("P8", "Contact", 90.0, "Web", active=False),
    ]
)
ENGAGED = frozenset({"P1", "P2", "P3", "P4", "P7", "P8"})

LINKS = pd.DataFrame(
    [
        ("00QP1", "Lead", "P1"), ("003P1", "Contact", "P1"), ("003P2", "Contact", "P2"), ("00QP3", "Lead", "P3"),
        ("00QP4", "Lead", "P4"), ("00QP5", "Lead", "P5"), ("00QP6", "Lead", "P6"), ("003P7", "Contact", "P7"),
        ("003P8", "Contact", "P8"),
    ],
    columns=["crm_id", "crm_type", "contact_key"],
)

OPPORTUNITIES = mirror(
    OPPORTUNITY_FIELDS,
    opp("O1", "1000", "2026-02-10", closed=True, won=True, leadsource="Web", campaignid="C1"),
    opp("O2", "500.0", "2026-06-30"),
    opp("O3", "9999", "2025-11-15", closed=True, won=True),  # won, but before the period
    opp("O4", "7777", "2026-02-01", is_deleted=True),  # deleted: ignored
    opp("O5", "250", "2026-05-01"),
    opp("O6", None, "2026-05-01"),  # no amount: counts as 0
)
ROLES = mirror(
    ROLE_FIELDS,
    {"id": "R1", "opportunityid": "O1", "contactid": "003P1"},
    {"id": "R2", "opportunityid": "O2", "contactid": "003P2"},
    {"id": "R3", "opportunityid": "O3", "contactid": "003P7"},
    {"id": "R4", "opportunityid": "O4", "contactid": "003P7"},
    {"id": "R5", "opportunityid": "O5", "contactid": "003P1"},
    {"id": "R6", "opportunityid": "O6", "contactid": "003P2"},
    {"id": "R7", "opportunityid": "O2", "contactid": "003P8"},
    {"id": "R8", "opportunityid": "O2", "contactid": "003P7", "is_deleted": True},
)
MEMBERS = mirror(
    MEMBER_FIELDS,
    {"id": "M1", "campaignid": "C1", "leadid": "00QP1", "contactid": "003P1"},  # a converted Lead's member
    {"id": "M2", "campaignid": "C1", "leadid": "00QP3"},
    {"id": "M3", "campaignid": "C1", "contactid": "003P8"},  # inactive person
    {"id": "M4", "campaignid": "C1", "leadid": "00QP4", "is_deleted": True},
    {"id": "M5", "campaignid": "C2", "contactid": "003P2"},
    {"id": "M6", "campaignid": "C2", "leadid": "00QP4"},
    {"id": "M7", "campaignid": "C4", "contactid": "003P8"},  # only an inactive member: left out
    {"id": "M8", "campaignid": "C5", "contactid": "003P1"},  # deleted campaign: left out
)
CAMPAIGNS = mirror(
    CAMPAIGN_FIELDS,
    {"id": "C1", "name": "Spring Webinar"},
    {"id": "C2", "name": "Trade Show"},
    {"id": "C3", "name": "Empty"},
    {"id": "C4", "name": "Ghost"},
    {"id": "C5", "name": "Deleted", "is_deleted": True},
)


def funnel(people=PEOPLE, opportunities=OPPORTUNITIES, roles=ROLES, members=MEMBERS, campaigns=CAMPAIGNS,
           mapping=MAPPING, start=START, end=END, engaged=ENGAGED, min_base=4):
    return build_funnel(people, engaged, LINKS, opportunities, roles, members, campaigns, mapping, mql_score=MQL,
                        period_start=start, period_end=end, min_base=min_base)


@functools.cache
def default_funnel():
    """The funnel of the fixture, built once (tests only read it)."""
    return funnel()


def segment(frame, dimension, name):
    rows = frame[(frame["dimension"] == dimension) & (frame["segment"] == name)]
    assert list(rows["stage"]) == list(STAGES)
    return rows


def same(actual, expected):
    assert len(actual) == len(expected)
    for left, right in zip(actual, expected, strict=True):
        assert (math.isnan(left) and math.isnan(right)) or left == pytest.approx(right), (list(actual), expected)


def test_overall_counts_rates_and_amounts():
    frame = default_funnel()
    assert list(frame.columns) == list(FUNNEL_COLUMNS)
    overall = segment(frame, "overall", "all")
    assert list(overall["stage_order"]) == [1, 2, 3, 4, 5]
    assert list(overall["people"]) == [6, 5, 3, 2, 1]
    assert list(overall["from_previous"]) == [6, 4, 2, 1, 1]
    assert list(overall["entered_directly"]) == [0, 1, 1, 1, 0]  # P7 engaged, P5 qualified, P2 accepted
    same(overall["conversion_rate"], [NAN, 4 / 6, 2 / 5, 1 / 3, 1 / 2])
    same(overall["rate_from_audience"], [1.0, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    assert list(overall["small_sample"]) == [False, False, False, True, True]  # bases 6 6 5 3 2, min_base 4
    # sales_accepted: open O5 (250) of P1, O2 (500) and O6 (no amount) of P2; won: O1 only (O3 closed before).
    same(overall["amount"], [NAN, NAN, NAN, 750.0, 1000.0])
    assert (overall["period_start"] == pd.Timestamp(START)).all()
    assert (overall["period_end"] == pd.Timestamp(END)).all()
    assert frame["people"].dtype == "int64" and frame["small_sample"].dtype == bool


def test_a_sales_accepted_person_below_the_mql_score_is_not_counted_as_qualified():
    alone = PEOPLE[PEOPLE["contact_key"] == "P2"]
    overall = segment(funnel(people=alone), "overall", "all")
    assert list(overall["people"]) == [1, 1, 0, 1, 0]
    assert list(overall["entered_directly"]) == [0, 0, 0, 1, 0]
    same(overall["conversion_rate"], [NAN, 1.0, 0.0, NAN, 0.0])


def test_sends_alone_do_not_engage():
    """Who is engaged is the caller's list of person-initiated engagements: P6 was only sent emails."""
    overall = segment(funnel(engaged=ENGAGED | {"P6"}), "overall", "all")
    assert list(overall["people"])[:2] == [6, 6]
    assert list(segment(default_funnel(), "overall", "all")["people"])[:2] == [6, 5]


def test_opted_out_and_hard_bounced_people_are_not_in_the_audience():
    people = PEOPLE.copy()
    people.loc[people["contact_key"] == "P4", "hard_bounced"] = True
    overall = segment(funnel(people=people), "overall", "all")
    assert list(overall["people"]) == [5, 5, 3, 2, 1]
    assert list(overall["entered_directly"]) == [0, 2, 1, 1, 0]  # P7 and P4 engaged outside the audience


def test_small_samples_are_flagged_by_the_rate_base():
    overall = segment(funnel(min_base=20), "overall", "all")
    assert overall["small_sample"].all()
    overall = segment(funnel(min_base=1), "overall", "all")
    assert not overall["small_sample"].any()


def test_segment_order():
    frame = default_funnel()
    segments = list(dict.fromkeys(zip(frame["dimension"], frame["segment"], strict=True)))
    assert segments == [
        ("overall", "all"),
        ("lead_source", "Event"), ("lead_source", "Web"), ("lead_source", "(none)"),
        ("campaign", "Spring Webinar"), ("campaign", "Trade Show"),
    ]
    assert len(frame) == 6 * 5


def test_lead_source_segments():
    frame = default_funnel()
    web = segment(frame, "lead_source", "Web")  # P1, P2, P7; P8 is inactive
    assert list(web["people"]) == [2, 3, 1, 2, 1]
    assert list(web["from_previous"]) == [2, 2, 1, 1, 1]
    same(web["conversion_rate"], [NAN, 1.0, 1 / 3, 1.0, 0.5])
    same(web["amount"], [NAN, NAN, NAN, 750.0, 1000.0])
    event = segment(frame, "lead_source", "Event")  # P3, P4
    assert list(event["people"]) == [2, 2, 1, 0, 0]
    same(event["conversion_rate"], [NAN, 1.0, 0.5, 0.0, NAN])  # NaN: no one at the previous stage
    same(event["amount"], [NAN, NAN, NAN, 0.0, 0.0])
    none = segment(frame, "lead_source", "(none)")  # P5, P6
    assert list(none["people"]) == [2, 0, 1, 0, 0]
    assert list(none["entered_directly"]) == [0, 0, 1, 0, 0]
    same(none["conversion_rate"], [NAN, 0.0, NAN, 0.0, NAN])
    same(none["rate_from_audience"], [1.0, 0.0, 0.5, 0.0, 0.0])


def test_campaign_segments():
    frame = default_funnel()
    webinar = segment(frame, "campaign", "Spring Webinar")  # P1 (once, via Lead and Contact), P3; not P8, not M4
    assert list(webinar["people"]) == [2, 2, 2, 1, 1]
    same(webinar["conversion_rate"], [NAN, 1.0, 1.0, 0.5, 1.0])
    same(webinar["amount"], [NAN, NAN, NAN, 250.0, 1000.0])
    show = segment(frame, "campaign", "Trade Show")  # P2, P4
    assert list(show["people"]) == [2, 2, 0, 1, 0]
    assert list(show["entered_directly"]) == [0, 0, 0, 1, 0]
    same(show["amount"], [NAN, NAN, NAN, 500.0, 0.0])
    assert not frame["segment"].isin(["Empty", "Ghost", "Deleted"]).any()


def test_a_person_in_two_campaigns_counts_in_each():
    members = pd.concat([MEMBERS, mirror(MEMBER_FIELDS, {"id": "M9", "campaignid": "C2", "contactid": "003P1"})])
    frame = funnel(members=members)
    assert list(segment(frame, "campaign", "Trade Show")["people"]) == [3, 3, 1, 2, 1]
    assert list(segment(frame, "campaign", "Spring Webinar")["people"]) == [2, 2, 2, 1, 1]
    assert list(segment(frame, "overall", "all")["people"]) == [6, 5, 3, 2, 1]


def test_won_close_dates_on_the_period_edges_count():
    opportunities = mirror(
        OPPORTUNITY_FIELDS,
        opp("O1", "100", "2026-01-01", closed=True, won=True),  # first day: in
        opp("O2", "200", "2026-03-31", closed=True, won=True),  # last day: in
        opp("O3", "400", "2026-04-01", closed=True, won=True),  # the day after: out
    )
    roles = mirror(ROLE_FIELDS, {"id": "R1", "opportunityid": "O1", "contactid": "003P2"},
                   {"id": "R2", "opportunityid": "O2", "contactid": "003P7"},
                   {"id": "R3", "opportunityid": "O3", "contactid": "00QP4"})
    overall = segment(funnel(opportunities=opportunities, roles=roles), "overall", "all")
    # P2 and P7 won, so sales-accepted too (a won deal went through sales), neither qualified; P1 is accepted as a
    # converted Lead. No one holds an open opportunity: the pipeline is 0.
    assert list(overall["people"]) == [6, 5, 3, 3, 2]
    assert list(overall["entered_directly"])[3:] == [2, 0]
    same(overall["amount"], [NAN, NAN, NAN, 0.0, 300.0])


def test_the_mapping_names_the_fields_read():
    opportunities = OPPORTUNITIES.rename(columns={"amount": "net_amount__c", "iswon": "won__c"})
    mapping = ReportMapping(amount="Net_Amount__c", won="Won__c")
    overall = segment(funnel(opportunities=opportunities, mapping=mapping), "overall", "all")
    same(overall["amount"], [NAN, NAN, NAN, 750.0, 1000.0])


def test_a_mapped_field_missing_from_the_mirror_is_an_error():
    with pytest.raises(ValueError, match="'net_amount__c'.*Net_Amount__c"):
        funnel(mapping=ReportMapping(amount="Net_Amount__c"))


def test_an_amount_that_does_not_parse_names_the_opportunity_and_field():
    opportunities = mirror(OPPORTUNITY_FIELDS, opp("O1", "1000", "2026-02-10"), opp("OBAD", "12,500", "2026-02-10"))
    with pytest.raises(ValueError, match=r"OBAD.*Amount.*'12,500'"):
        funnel(opportunities=opportunities)


def test_a_close_date_that_does_not_parse_names_the_opportunity_and_field():
    opportunities = mirror(OPPORTUNITY_FIELDS, opp("OBAD", "1", "31/03/2026"))
    with pytest.raises(ValueError, match=r"OBAD.*CloseDate"):
        funnel(opportunities=opportunities)


def test_no_people_and_no_salesforce_rows_gives_the_overall_rows_with_zeros():
    empty = pd.DataFrame()
    frame = build_funnel(PEOPLE.iloc[0:0], set(), LINKS.iloc[0:0], empty, empty, empty, empty, ReportMapping(),
                         mql_score=MQL, period_start=START, period_end=END)
    assert list(frame["dimension"]) == ["overall"] * 5
    assert list(frame["people"]) == [0, 0, 0, 0, 0]
    assert frame["conversion_rate"].isna().all() and frame["rate_from_audience"].isna().all()
    same(frame["amount"], [NAN, NAN, NAN, 0.0, 0.0])


def test_people_without_a_lead_source_column_are_none():
    frame = funnel(people=PEOPLE.drop(columns="lead_source"))
    assert list(segment(frame, "lead_source", "(none)")["people"]) == [6, 5, 3, 2, 1]


def test_the_period_must_not_end_before_it_starts():
    with pytest.raises(ValueError, match="before period_start"):
        funnel(start=END, end=START)
