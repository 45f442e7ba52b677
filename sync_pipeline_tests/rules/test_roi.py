"""Campaign and lead-source return of a period: any-touch influence, attribution and cost (rules of rules/roi.py),
on hand-computed fixtures."""

import functools
import math
from datetime import UTC, datetime

import pandas as pd
import pytest

from sync_pipeline.rules.deal_amounts import DealTotals
from sync_pipeline.rules.report_inputs import opportunity_facts, utc_timestamp
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
START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)
MAPPING = ReportMapping()
COUNTS = ("contacts_touched", "opportunities_influenced", "open_opportunities", "won_opportunities",
          "closed_opportunities")
ATTRIBUTED = ("won_amount_first_touch", "won_amount_last_touch", "won_amount_even_split", "pipeline_amount_even_split")
COSTS = ("budgeted_cost", "actual_cost", "cost", "return_on_cost", "cost_per_opportunity", "cost_per_won")


def opp(id, amount, *, closed=False, won=False, **more):
    return {"id": id, "amount": amount, "closedate": "2026-02-01", "createddate": "2026-01-10T09:00:00.000+0000",
            "isclosed": "true" if closed else "false", "iswon": "true" if won else "false", **more}


def member(id, campaign, record, created=None, **more):
    side = "leadid" if record.startswith("00Q") else "contactid"
    return {"id": id, "campaignid": campaign, side: record, "createddate": created, **more}


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
    opp("O3", "300", closed=True, leadsource="Event", campaignid="C2"),  # lost in the period
    opp("O4", "200", campaignid="C3"),  # no lead source
    opp("O5", "9999", campaignid="C1", is_deleted=True),  # deleted: ignored
    opp("O6", None, closed=True, won=True, leadsource="Event"),  # C2 through inactive P7; no amount
    opp("O7", "50", leadsource="Partner", campaignid="C9"),  # unknown campaign: no campaign credit
    opp("O8", "700", closed=True, won=True, closedate="2025-12-15", createddate="2025-10-01T00:00:00.000+0000",
        leadsource="Web", campaignid="C1"),  # won before the period
    opp("O9", "400", closed=True, closedate="2025-11-01", createddate="2025-09-01T00:00:00.000+0000",
        leadsource="Event", campaignid="C2"),  # lost before the period
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
    member("M1", "C1", "00QP1", "2026-01-05T10:00:00.000+0000"),
    member("M2", "C1", "003P4", "2026-01-15T10:00:00.000+0000"),
    member("M3", "C1", "00QP3", "2026-01-16T10:00:00.000+0000"),
    member("M4", "C2", "003P2", "2026-01-20T10:00:00.000+0000"),
    member("M5", "C2", "003P7", "2026-01-25T10:00:00.000+0000"),
    member("M6", "C2", "00QP5", "2026-01-26T10:00:00.000+0000", is_deleted=True),
    member("M7", "C5", "003P1", "2026-01-27T10:00:00.000+0000"),
)
CAMPAIGNS = mirror(
    CAMPAIGN_FIELDS,
    {"id": "C1", "name": "Webinar", "budgetedcost": "2000", "actualcost": "400.0"},  # actual overrides budgeted
    {"id": "C2", "name": "Trade Show", "budgetedcost": "1000"},  # budgeted only
    {"id": "C3", "name": "Banner Ads"},  # no cost
    {"id": "C4", "name": "Idle", "budgetedcost": "100"},
    {"id": "C5", "name": "Deleted", "is_deleted": True},
)


def roi(opportunities=OPPORTUNITIES, roles=ROLES, members=MEMBERS, campaigns=CAMPAIGNS, people=PEOPLE,
        start=START, end=END):
    return build_roi(people, LINKS, opportunities, roles, members, campaigns, MAPPING,
                     period_start=start, period_end=end)


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
            assert math.isnan(got), (name, got)
        else:
            assert got == pytest.approx(value) if isinstance(value, float) else got == value, (name, got, value)


def campaigns_of(frame):
    return frame[frame["dimension"] == "campaign"]


# Rules 1-6, 9-10 on the default fixture.


def test_rows_order_and_types():
    frame = default_roi()
    assert list(frame.columns) == list(ROI_COLUMNS)
    assert list(zip(frame["dimension"], frame["segment"], strict=True)) == [
        ("campaign", "Webinar"), ("campaign", "Trade Show"), ("campaign", "Banner Ads"),
        ("lead_source", "Web"), ("lead_source", "(none)"), ("lead_source", "Partner"), ("lead_source", "Event"),
    ]
    for name in COUNTS:
        assert frame[name].dtype == "int64", name
    for name in ("pipeline_amount", "won_amount", "win_rate", *ATTRIBUTED, *COSTS):
        assert frame[name].dtype == "float64", name


def test_primary_source_and_member_influence_on_the_same_opportunity_count_once():
    check(row(default_roi(), "campaign", "Webinar"), {
        "campaign_id": "C1", "contacts_touched": 3, "opportunities_influenced": 3, "open_opportunities": 1,
        "won_opportunities": 1, "closed_opportunities": 1, "pipeline_amount": 500.0, "won_amount": 1000.0,
        "win_rate": 1.0, "won_amount_first_touch": 1000.0, "won_amount_last_touch": 1000.0,
        "won_amount_even_split": 1000.0, "pipeline_amount_even_split": 250.0,  # O2 is shared with Trade Show
    })


def test_member_influence_through_an_inactive_person_counts_but_is_not_a_contact_touched():
    check(row(default_roi(), "campaign", "Trade Show"), {
        "campaign_id": "C2", "contacts_touched": 1, "opportunities_influenced": 4, "open_opportunities": 1,
        "won_opportunities": 1, "closed_opportunities": 2, "pipeline_amount": 500.0, "won_amount": 0.0,
        "win_rate": 0.5, "won_amount_first_touch": 0.0, "won_amount_last_touch": 0.0, "won_amount_even_split": 0.0,
        "pipeline_amount_even_split": 250.0,
    })


def test_a_campaign_with_only_a_primary_source_opportunity():
    check(row(default_roi(), "campaign", "Banner Ads"), {
        "campaign_id": "C3", "contacts_touched": 0, "opportunities_influenced": 1, "open_opportunities": 1,
        "won_opportunities": 0, "closed_opportunities": 0, "pipeline_amount": 200.0, "won_amount": 0.0,
        "win_rate": NAN, "won_amount_first_touch": 0.0, "won_amount_even_split": 0.0,
        "pipeline_amount_even_split": 200.0,
    })


def test_campaigns_without_members_or_opportunities_and_deleted_ones_are_left_out():
    frame = default_roi()
    assert not frame["segment"].isin(["Idle", "Deleted"]).any()
    assert "C9" not in set(frame["campaign_id"].dropna())


def test_win_rate_counts_only_opportunities_closed_in_the_period():
    # Trade Show influenced O3 (lost in the period), O6 (won in the period) and O9 (lost before it): 1 of 2.
    check(row(default_roi(), "campaign", "Trade Show"), {"closed_opportunities": 2, "win_rate": 0.5})
    wider = roi(start=datetime(2025, 10, 1, tzinfo=UTC))
    check(row(wider, "campaign", "Trade Show"), {"closed_opportunities": 3, "won_opportunities": 1,
                                                 "win_rate": 1 / 3})


def test_a_won_opportunity_closed_before_the_period_is_in_no_won_amount():
    frame = default_roi()
    # O8 (700, won 2025-12-15, primary Webinar, lead source Web) is influenced but neither won nor closed here.
    for dimension, segment in (("campaign", "Webinar"), ("lead_source", "Web")):
        check(row(frame, dimension, segment), {
            "opportunities_influenced": 3, "won_opportunities": 1, "closed_opportunities": 1, "won_amount": 1000.0,
            "won_amount_first_touch": 1000.0, "won_amount_last_touch": 1000.0, "won_amount_even_split": 1000.0,
        })
    assert campaigns_of(frame)["won_amount_even_split"].sum() == pytest.approx(1000.0)
    # A period that includes its close date counts it (its primary-campaign touch predates the close).
    wider = roi(start=datetime(2025, 12, 1, tzinfo=UTC))
    check(row(wider, "campaign", "Webinar"), {
        "won_opportunities": 2, "closed_opportunities": 2, "won_amount": 1700.0, "won_amount_first_touch": 1700.0,
        "won_amount_even_split": 1700.0,
    })


def test_lead_source_rows():
    frame = default_roi()
    check(row(frame, "lead_source", "Web"), {
        "campaign_id": None, "contacts_touched": 3, "opportunities_influenced": 3, "open_opportunities": 1,
        "won_opportunities": 1, "closed_opportunities": 1, "pipeline_amount": 500.0, "won_amount": 1000.0,
        "win_rate": 1.0, "won_amount_first_touch": 1000.0, "won_amount_last_touch": 1000.0,
        "won_amount_even_split": 1000.0, "pipeline_amount_even_split": 500.0,
    })
    check(row(frame, "lead_source", "Event"), {
        "contacts_touched": 2, "opportunities_influenced": 3, "open_opportunities": 0, "won_opportunities": 1,
        "closed_opportunities": 2, "pipeline_amount": 0.0, "won_amount": 0.0, "win_rate": 0.5,
    })
    check(row(frame, "lead_source", "(none)"), {
        "contacts_touched": 1, "opportunities_influenced": 1, "open_opportunities": 1, "pipeline_amount": 200.0,
        "pipeline_amount_even_split": 200.0, "win_rate": NAN,
    })
    check(row(frame, "lead_source", "Partner"), {
        "contacts_touched": 0, "opportunities_influenced": 1, "pipeline_amount": 50.0,
        "pipeline_amount_even_split": 50.0, "win_rate": NAN,
    })
    sources = frame[frame["dimension"] == "lead_source"]
    assert sources["campaign_id"].map(lambda value: value is None).all()
    assert sources[list(COSTS)].isna().all().all()


def test_lead_source_rows_add_up_to_the_org_totals():
    sources = default_roi().query("dimension == 'lead_source'")
    totals = DealTotals.of(opportunity_facts(OPPORTUNITIES, MAPPING), utc_timestamp(START), utc_timestamp(END))
    assert (totals.won_amount, totals.pipeline_amount) == (1000.0, 750.0)
    assert (totals.won_opportunities, totals.open_opportunities) == (2, 3)  # O1, O6 won; O2, O4, O7 open
    assert sources["won_amount"].sum() == pytest.approx(totals.won_amount)
    assert sources["pipeline_amount"].sum() == pytest.approx(totals.pipeline_amount)
    assert sources["won_opportunities"].sum() == totals.won_opportunities
    assert sources["open_opportunities"].sum() == totals.open_opportunities
    for name in ("won_amount_first_touch", "won_amount_last_touch", "won_amount_even_split"):
        assert sources[name].sum() == pytest.approx(totals.won_amount)
    assert sources["pipeline_amount_even_split"].sum() == pytest.approx(totals.pipeline_amount)
    assert sources["opportunities_influenced"].sum() == 8  # O1-O9 without the deleted O5


def test_campaign_attribution_adds_up_to_the_attributed_deals_and_any_touch_does_not():
    campaigns = campaigns_of(default_roi())
    # Won in the period with a counted touch: O1 (1000, Webinar alone) and O6 (no amount, Trade Show).
    for name in ("won_amount_first_touch", "won_amount_last_touch", "won_amount_even_split"):
        assert campaigns[name].sum() == pytest.approx(1000.0)
    # Open with a touch: O2 (500, Webinar and Trade Show) and O4 (200, Banner Ads); O7 has none and credits no one.
    assert campaigns["pipeline_amount_even_split"].sum() == pytest.approx(700.0)
    assert campaigns["pipeline_amount"].sum() == pytest.approx(1200.0)  # any-touch: O2 counted twice


def test_cost_actual_overrides_budgeted_and_no_cost_gives_no_return():
    frame = default_roi()
    check(row(frame, "campaign", "Webinar"), {
        "budgeted_cost": 2000.0, "actual_cost": 400.0, "cost": 400.0,
        "return_on_cost": 1.5,  # (1000 - 400) / 400
        "cost_per_opportunity": 400.0 / 3, "cost_per_won": 400.0,
    })
    check(row(frame, "campaign", "Trade Show"), {
        "budgeted_cost": 1000.0, "actual_cost": NAN, "cost": 1000.0,
        "return_on_cost": -1.0,  # (0 - 1000) / 1000
        "cost_per_opportunity": 250.0, "cost_per_won": 1000.0,
    })
    check(row(frame, "campaign", "Banner Ads"), {name: NAN for name in COSTS})


def test_a_zero_cost_has_no_return_and_no_won_opportunity_no_cost_per_won():
    campaigns = mirror(
        CAMPAIGN_FIELDS,
        {"id": "C1", "name": "Webinar", "budgetedcost": "2000", "actualcost": "0"},
        {"id": "C2", "name": "Trade Show"},
        {"id": "C3", "name": "Banner Ads", "budgetedcost": " 300 "},
    )
    frame = roi(campaigns=campaigns)
    check(row(frame, "campaign", "Webinar"), {
        "actual_cost": 0.0, "cost": 0.0, "return_on_cost": NAN, "cost_per_opportunity": 0.0, "cost_per_won": 0.0,
    })
    check(row(frame, "campaign", "Trade Show"), {name: NAN for name in COSTS})
    check(row(frame, "campaign", "Banner Ads"), {
        "budgeted_cost": 300.0, "actual_cost": NAN, "cost": 300.0, "return_on_cost": -1.0,
        "cost_per_opportunity": 300.0, "cost_per_won": NAN,
    })


def test_a_cost_that_does_not_parse_names_the_campaign_and_field():
    campaigns = mirror(CAMPAIGN_FIELDS, {"id": "C1", "name": "Webinar", "actualcost": "a lot"})
    with pytest.raises(ValueError, match=r"campaign C1.*ActualCost.*'a lot'"):
        roi(campaigns=campaigns)


def test_an_amount_that_does_not_parse_names_the_opportunity_and_field():
    opportunities = mirror(OPPORTUNITY_FIELDS, opp("OBAD", "n/a"))
    with pytest.raises(ValueError, match=r"opportunity OBAD.*Amount.*'n/a'"):
        roi(opportunities=opportunities)


def test_a_created_date_that_does_not_parse_names_the_record():
    members = mirror(MEMBER_FIELDS, member("MBAD", "C1", "00QP1", "yesterday"))
    with pytest.raises(ValueError, match=r"campaign member MBAD.*CreatedDate.*'yesterday'"):
        roi(members=members)


def test_the_period_columns_are_the_utc_bounds():
    frame = roi(start=datetime(2026, 1, 1), end=datetime(2026, 3, 31, 23, 59, 59))  # naive: UTC
    assert (frame["period_start"] == pd.Timestamp("2026-01-01", tz="UTC")).all()
    assert (frame["period_end"] == pd.Timestamp("2026-03-31 23:59:59", tz="UTC")).all()
    assert str(frame["period_start"].dt.tz) == "UTC"
    pd.testing.assert_frame_equal(frame, default_roi())
    with pytest.raises(ValueError, match="before period_start"):
        roi(start=END, end=START)


def test_empty_inputs_give_an_empty_frame_with_the_columns():
    empty = pd.DataFrame()
    frame = build_roi(PEOPLE.iloc[0:0], LINKS.iloc[0:0], empty, empty, empty, empty, MAPPING,
                      period_start=START, period_end=END)
    assert frame.empty
    assert list(frame.columns) == list(ROI_COLUMNS)


# Rules 7-8 on small deals.

DEAL = opp("D1", "1200", closed=True, won=True, closedate="2026-03-10", createddate="2026-02-01T00:00:00.000+0000",
           leadsource="Web", campaignid="C2")  # primary Trade Show, touched when the deal was created
DEAL_ROLES = mirror(ROLE_FIELDS, {"id": "R1", "opportunityid": "D1", "contactid": "003P1"},
                    {"id": "R2", "opportunityid": "D2", "contactid": "003P2"})


def test_a_deal_touched_by_two_campaigns():
    opportunities = mirror(
        OPPORTUNITY_FIELDS, DEAL,
        opp("D2", "500", closedate="2026-04-30", createddate="2026-01-02T00:00:00.000+0000", campaignid="C1"),
    )
    members = mirror(
        MEMBER_FIELDS,
        member("M1", "C1", "00QP1", "2026-01-05T10:00:00.000+0000"),  # P1 (on D1) joins the Webinar first
        member("M2", "C2", "003P2", "2026-01-07T10:00:00.000+0000"),  # P2 (on D2) joins the Trade Show
    )
    frame = campaigns_of(roi(opportunities=opportunities, roles=DEAL_ROLES, members=members))
    check(row(frame, "campaign", "Webinar"), {
        "opportunities_influenced": 2, "won_opportunities": 1, "open_opportunities": 1, "won_amount": 1200.0,
        "pipeline_amount": 500.0, "won_amount_first_touch": 1200.0, "won_amount_last_touch": 0.0,
        "won_amount_even_split": 600.0, "pipeline_amount_even_split": 250.0,
    })
    check(row(frame, "campaign", "Trade Show"), {
        "opportunities_influenced": 2, "won_opportunities": 1, "open_opportunities": 1, "won_amount": 1200.0,
        "pipeline_amount": 500.0, "won_amount_first_touch": 0.0, "won_amount_last_touch": 1200.0,
        "won_amount_even_split": 600.0, "pipeline_amount_even_split": 250.0,
    })
    assert frame["won_amount"].sum() == pytest.approx(2400.0)  # any-touch: full credit to both
    for name in ("won_amount_first_touch", "won_amount_last_touch", "won_amount_even_split"):
        assert frame[name].sum() == pytest.approx(1200.0), name  # the deal once
    assert frame["pipeline_amount_even_split"].sum() == pytest.approx(500.0)


def test_a_touch_after_the_close_date_gets_no_attribution():
    opportunities = mirror(
        OPPORTUNITY_FIELDS, DEAL,
        opp("D2", "500", closedate="2026-01-15", campaignid=None),  # still open though its close date passed
    )
    members = mirror(
        MEMBER_FIELDS,
        member("M1", "C1", "00QP1", "2026-01-05T10:00:00.000+0000"),
        member("M2", "C4", "003P1", "2026-03-11T01:30:00.000+0200"),  # 23:30 UTC on the close date: counts, last
        member("M3", "C3", "003P1", "2026-03-11T00:00:00.000+0000"),  # the close date is over: after the deal
        member("M4", "C3", "003P2", "2026-03-11T08:00:00.000+0000"),  # on the open D2: every touch counts
    )
    frame = campaigns_of(roi(opportunities=opportunities, roles=DEAL_ROLES, members=members))
    check(row(frame, "campaign", "Banner Ads"), {
        "opportunities_influenced": 2, "won_opportunities": 1, "won_amount": 1200.0,  # any-touch ignores time
        "won_amount_first_touch": 0.0, "won_amount_last_touch": 0.0, "won_amount_even_split": 0.0,
        "pipeline_amount": 500.0, "pipeline_amount_even_split": 500.0,
    })
    check(row(frame, "campaign", "Webinar"), {
        "won_amount": 1200.0, "won_amount_first_touch": 1200.0, "won_amount_last_touch": 0.0,
        "won_amount_even_split": 400.0,
    })
    check(row(frame, "campaign", "Trade Show"), {
        "won_amount": 1200.0, "won_amount_first_touch": 0.0, "won_amount_last_touch": 0.0,
        "won_amount_even_split": 400.0,
    })
    check(row(frame, "campaign", "Idle"), {
        "won_amount": 1200.0, "won_amount_first_touch": 0.0, "won_amount_last_touch": 1200.0,
        "won_amount_even_split": 400.0,
    })
    for name in ("won_amount_first_touch", "won_amount_last_touch", "won_amount_even_split"):
        assert frame[name].sum() == pytest.approx(1200.0), name


def test_touches_without_a_time_count_and_sort_after_timed_ones():
    opportunities = mirror(OPPORTUNITY_FIELDS, DEAL)  # Trade Show touches D1 at its creation
    members = mirror(MEMBER_FIELDS, member("M1", "C1", "00QP1", None))  # Webinar: no time
    frame = campaigns_of(roi(opportunities=opportunities, roles=DEAL_ROLES, members=members))
    check(row(frame, "campaign", "Trade Show"), {"won_amount_first_touch": 1200.0, "won_amount_last_touch": 0.0,
                                                 "won_amount_even_split": 600.0})
    check(row(frame, "campaign", "Webinar"), {"won_amount_first_touch": 0.0, "won_amount_last_touch": 1200.0,
                                              "won_amount_even_split": 600.0})


def test_an_older_mirror_without_created_dates_or_costs():
    opportunities = mirror(OPPORTUNITY_FIELDS, DEAL).drop(columns="createddate")
    members = mirror(MEMBER_FIELDS, member("M1", "C1", "00QP1")).drop(columns="createddate")
    campaigns = CAMPAIGNS.drop(columns=["budgetedcost", "actualcost"])
    frame = campaigns_of(roi(opportunities=opportunities, roles=DEAL_ROLES, members=members, campaigns=campaigns))
    # Every touch lacks a time: all count, ordered by campaign Id (C1 Webinar, then C2 Trade Show).
    check(row(frame, "campaign", "Webinar"), {"won_amount_first_touch": 1200.0, "won_amount_last_touch": 0.0,
                                              "won_amount_even_split": 600.0, "cost": NAN, "return_on_cost": NAN})
    check(row(frame, "campaign", "Trade Show"), {"won_amount_first_touch": 0.0, "won_amount_last_touch": 1200.0,
                                                 "won_amount_even_split": 600.0, "cost": NAN})
    assert frame[list(COSTS)].isna().all().all()
