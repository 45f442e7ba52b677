"""The reports' narrowed inputs (``store.reports``) give each report rule the answer it gives on the whole tables.

A random org is written to the marketing database as the pipeline writes it (people, links, list members, mirror
pages); each rule then runs twice, on every row of every table and on what the narrowed queries return, and the
outputs must be equal. The narrowed reads must also read less: the counts of rows returned are asserted.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.rules.funnel import ENGAGING_EVENTS, build_funnel
from sync_pipeline.rules.hot_prospects import PERSON_COLUMNS, rank_hot_prospects
from sync_pipeline.rules.report_inputs import sales_columns
from sync_pipeline.rules.roi import build_roi
from sync_pipeline.settings.model import HotProspectSettings, ReportMapping
from sync_pipeline.steps.reporting import FUNNEL_PERSON_COLUMNS
from sync_pipeline.store.audience import ensure_columns, read_links, read_mirror, read_people
from sync_pipeline.store.mirrors import ensure_mirror_table, write_mirror_page
from sync_pipeline.store.reports import (
    active_people,
    engaged_people,
    hot_prospect_candidates,
    live_rows,
    report_links,
)
from sync_pipeline.store.tables import all_contacts, contact_links, engagement_events, list_members

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SALES = ("Opportunity", "OpportunityContactRole", "CampaignMember", "Campaign")
LISTS = {"Hot Leads": "assigned_leads", "Hot Contacts": "assigned_contacts"}
MAPPING = ReportMapping()
FIELDS = {
    "Opportunity": ["Name", "Amount", "CloseDate", "IsClosed", "IsWon", "LeadSource", "CampaignId", "StageName",
                    "CreatedDate"],
    "OpportunityContactRole": ["OpportunityId", "ContactId", "Role"],
    "CampaignMember": ["CampaignId", "LeadId", "ContactId", "Status", "CreatedDate"],
    "Campaign": ["Name", "Type", "BudgetedCost", "ActualCost"],
}
EVENT_TYPES = ("email_send", "email_open", "email_click", "form_submit", "page_visit", "unsubscribe", "hard_bounce")


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _write_org(conn: sa.Connection, seed: int, people_n: int) -> None:
    """People (some converted, some inactive, varied scores, activity and lead sources), their links, two hot lists
    and the sales objects (some deleted rows, ids no link knows)."""
    rng = random.Random(seed)
    ensure_columns(conn, all_contacts, {"lead_source": sa.Text()})
    people, links, members = [], [], []
    contacts: list[str] = []
    leads: list[str] = []
    for index in range(people_n):
        key = f"P{index:06d}"
        lead_id, contact_id = f"00Q{index:012d}AAA", f"003{index:012d}AAA"
        kind = rng.choice(["Lead", "Contact", "converted"])
        crm_type, crm_id = ("Lead", lead_id) if kind == "Lead" else ("Contact", contact_id)
        activity = rng.choice([None, NOW - timedelta(days=rng.randint(0, 200)), NOW + timedelta(hours=1)])
        people.append({
            "contact_key": key, "email": f"p{index}@example.com", "crm_type": crm_type, "crm_id": crm_id,
            "first_name": rng.choice(["Ann", None]), "last_name": f"L{index}", "company": "Acme",
            "owner_id": rng.choice(["005000000000001AAA", "005000000000002AAA", None]),
            "behavioral_score": rng.choice([None, 0.0, 1.0, 1.5, 30.0, 55.0, float(rng.randint(0, 90))]),
            "opted_out": rng.random() < 0.1, "hard_bounced": rng.random() < 0.05,
            "is_active": rng.random() < 0.85, "updated_at": NOW, "last_activity_at": activity,
            "lead_source": rng.choice(["Web", " Web ", "Partner", "", None]),
        })
        for link_type, link_id in (("Lead", lead_id), ("Contact", contact_id)):
            if kind in (link_type, "converted"):
                links.append({"crm_id": link_id, "crm_type": link_type, "contact_key": key,
                              "email": f"p{index}@example.com", "updated_at": NOW})
                (leads if link_type == "Lead" else contacts).append(link_id)
        for list_name in LISTS:
            if rng.random() < 0.4:
                members.append({"list_name": list_name, "crm_id": crm_id, "crm_type": crm_type,
                                "contact_key": key if rng.random() < 0.95 else None,
                                "is_active": rng.random() < 0.8})
    conn.execute(sa.insert(all_contacts), people)
    conn.execute(sa.insert(contact_links), links)
    conn.execute(sa.insert(list_members), members)
    events = [{"event_id": f"e{index}-{n}", "event_type": rng.choice(EVENT_TYPES),
               "email": f"p{index}@example.com" if rng.random() < 0.9 else "stranger@example.com",
               "occurred_at": NOW - timedelta(days=rng.randint(-2, 150)), "source": "test", "ingested_at": NOW}
              for index in range(people_n) for n in range(rng.randint(0, 3))]
    conn.execute(sa.insert(engagement_events), events)

    unknown = "003999999999999AAA"
    campaigns = [{"Id": f"701{c:012d}AAA", "Name": rng.choice(["Webinar", "Expo", None]), "Type": "Email",
                  "BudgetedCost": rng.choice([None, "1000", "2500.5"]), "ActualCost": rng.choice([None, "900"])}
                 for c in range(4)]
    opportunities = [{
        "Id": f"006{o:012d}AAA", "Name": f"Deal {o}", "Amount": rng.choice(["1200", "500.5", None]),
        "CloseDate": (NOW - timedelta(days=rng.randint(-30, 120))).date().isoformat(),
        "IsClosed": rng.choice(["true", "false"]), "IsWon": rng.choice(["true", "false", "false"]),
        "LeadSource": rng.choice(["Web", "Partner", None]), "StageName": "Prospecting",
        "CampaignId": rng.choice([None, *(c["Id"] for c in campaigns), "701000000000999AAA"]),
        "CreatedDate": _stamp(NOW - timedelta(days=rng.randint(10, 200))),
    } for o in range(max(3, people_n // 6))]
    roles = [{"Id": f"00K{r:012d}AAA", "OpportunityId": rng.choice(opportunities)["Id"],
              "ContactId": rng.choice([*contacts, unknown]), "Role": "Decision Maker"}
             for r in range(max(3, people_n // 4))]
    campaign_members = [{"Id": f"00v{m:012d}AAA", "CampaignId": rng.choice(campaigns)["Id"],
                         "LeadId": rng.choice([None, *leads]), "ContactId": rng.choice([None, *contacts, unknown]),
                         "Status": "Sent", "CreatedDate": _stamp(NOW - timedelta(days=rng.randint(0, 300)))}
                        for m in range(max(3, people_n // 3))]
    for object_name, rows in (("Campaign", campaigns), ("Opportunity", opportunities),
                              ("OpportunityContactRole", roles), ("CampaignMember", campaign_members)):
        for row in rows:
            row.update(IsDeleted="true" if rng.random() < 0.1 else "false", SystemModstamp=_stamp(NOW))
        names = ["Id", "SystemModstamp", "IsDeleted", *FIELDS[object_name]]
        table = ensure_mirror_table(conn, object_name, names)
        page = pa.table({name: pa.array([row.get(name) for row in rows], pa.string()) for name in names})
        write_mirror_page(conn, table, page, fresh=True)


def _whole(conn: sa.Connection) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    return read_people(conn), read_links(conn), {name: read_mirror(conn, name) for name in SALES}


def _narrowed(conn: sa.Connection, columns: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    wanted = sales_columns(MAPPING)
    return active_people(conn, columns), report_links(conn), {name: live_rows(conn, name, wanted[name])
                                                              for name in SALES}


START = NOW - timedelta(days=90)


def _funnel(people: pd.DataFrame, links: pd.DataFrame, sales: dict[str, pd.DataFrame],
            engaged: set[str]) -> pd.DataFrame:
    return build_funnel(people, engaged, links, sales["Opportunity"], sales["OpportunityContactRole"],
                        sales["CampaignMember"], sales["Campaign"], MAPPING, mql_score=30.0,
                        period_start=START, period_end=NOW)


def _roi(people: pd.DataFrame, links: pd.DataFrame, sales: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return build_roi(people, links, sales["Opportunity"], sales["OpportunityContactRole"], sales["CampaignMember"],
                     sales["Campaign"], MAPPING, period_start=START, period_end=NOW)


def _engaged_in_pandas(conn: sa.Connection) -> set[str]:
    """The funnel's engaged people computed from every row: active, with an engaging event in the period."""
    people = read_people(conn)
    events = pd.read_sql(sa.select(engagement_events), conn)
    events["occurred_at"] = pd.to_datetime(events["occurred_at"], utc=True)
    engaging = events[events["event_type"].isin(ENGAGING_EVENTS) & (events["occurred_at"] >= START)
                      & (events["occurred_at"] <= NOW)]
    active = people[people["is_active"].astype(bool)]
    return set(active.loc[active["email"].isin(engaging["email"]), "contact_key"])


@pytest.fixture
def org(migrated_engine: Engine, request: pytest.FixtureRequest) -> Engine:
    with migrated_engine.begin() as conn:
        _write_org(conn, seed=getattr(request, "param", 1), people_n=240)
    return migrated_engine


@pytest.mark.parametrize("org", [1, 2, 3], indirect=True)
def test_funnel_and_roi_from_the_narrowed_reads_equal_them_from_whole_tables(org: Engine) -> None:
    with org.connect() as conn:
        whole = _whole(conn)
        funnel_inputs = _narrowed(conn, FUNNEL_PERSON_COLUMNS)
        roi_inputs = _narrowed(conn, ["lead_source"])
        engaged = engaged_people(conn, ENGAGING_EVENTS, START, NOW)
        expected_engaged = _engaged_in_pandas(conn)
    assert engaged == expected_engaged and 0 < len(engaged) < len(whole[0])
    expected_funnel, expected_roi = _funnel(*whole, expected_engaged), _roi(*whole)
    assert expected_funnel["people"].sum() > 0 and expected_roi["opportunities_influenced"].sum() > 0
    pd.testing.assert_frame_equal(_funnel(*funnel_inputs, engaged), expected_funnel)
    pd.testing.assert_frame_equal(_roi(*roi_inputs), expected_roi)

    people, links, sales = funnel_inputs
    assert len(people) == int(whole[0]["is_active"].sum()) < len(whole[0])
    assert set(people.columns) == {"contact_key", "is_active", *FUNNEL_PERSON_COLUMNS}
    assert len(links) < len(whole[1])
    for name in SALES:
        assert len(sales[name]) == int((~whole[2][name]["is_deleted"]).sum())
        assert set(sales[name].columns) <= {"id", "is_deleted", *sales_columns(MAPPING)[name]}


@pytest.mark.parametrize("org", [1, 2, 3], indirect=True)
def test_hot_prospects_from_the_candidates_equal_them_from_whole_tables(org: Engine) -> None:
    hot = HotProspectSettings(top_n=5, min_score=1, activity_days=90)
    users = pd.DataFrame([{"user_id": "005000000000001AAA", "name": "Sofia", "email": "s@example.com",
                           "is_active": True}])
    with org.connect() as conn:
        people = read_people(conn)
        members = pd.read_sql(sa.select(list_members), conn)
        candidates, memberships = hot_prospect_candidates(
            conn, list(LISTS), min_score=hot.min_score, since=NOW - timedelta(days=hot.activity_days),
            columns=[*PERSON_COLUMNS, "owner_id", "opted_out", "hard_bounced"])
    active = members[members["is_active"].astype(bool) & members["contact_key"].notna()]
    sources: dict[str, Any] = {"contact_key": active["contact_key"], "source": active["list_name"].map(LISTS)}
    expected = rank_hot_prospects(people, pd.DataFrame(sources), users, hot, NOW)
    narrowed = pd.DataFrame({"contact_key": memberships["contact_key"],
                             "source": memberships["list_name"].map(LISTS)})
    assert len(expected) > 0
    pd.testing.assert_frame_equal(rank_hot_prospects(candidates, narrowed, users, hot, NOW), expected)
    assert len(candidates) < len(people) / 2
