"""The marketing funnel of a period: how many people reached each stage, overall, per lead source and per campaign.

:func:`build_funnel` takes ``all_contacts`` (``people``), ``contact_links`` (``links``) and the raw mirror frames of
Opportunity, OpportunityContactRole, CampaignMember and Campaign (see ``report_inputs.py`` for how their text is
read; deleted rows are ignored). The rules, in order (each is a test):

1. **Who is in the funnel**: active people (``is_active``) only; inactive people are in no stage and no segment.
2. **Stages**, in order: in_audience (1) → engaged (2) → marketing_qualified (3) → sales_accepted (4) → won (5).
   A person *reaches* a stage when its condition holds:
   - in_audience: every active person;
   - engaged: last_activity_at inside [period_start, period_end] (both ends included);
   - marketing_qualified: behavioral_score >= ``mql_score`` (a missing score does not qualify);
   - sales_accepted: the person has both a Lead and a Contact link (a converted Lead), or holds a contact role
     (contactid → links) on an open opportunity (IsClosed not true and the won field not true);
   - won: the person holds a contact role on an opportunity whose won field (``mapping.won``) is true and whose
     close date (``mapping.close_date``) lies inside the period, compared as UTC dates, both ends included.
3. **"At least" counts.** A person's stage is the highest stage reached; a stage counts every person whose stage is
   that one or a later one. So a won person also counts as engaged even without activity in the period, and counts
   never increase down the funnel.
4. **Segments.** ``overall``/``all``: every person of rule 1. ``lead_source``: people grouped by their lead_source
   column (a missing column or value is ``(none)``), one segment per value present. ``campaign``: the people who are
   live members of a live campaign (leadid/contactid → links → contact_key), labelled by campaign name (a name that
   several campaigns share gets `` (<Id>)`` appended); a person in several campaigns counts in each, and a campaign
   without an active member is left out.
5. **Rates.** conversion_rate = people / people of the previous stage of the same segment (NaN for in_audience, and
   when the previous stage has no one); rate_from_audience = people / in_audience people (NaN when that is 0).
6. **Amounts.** sales_accepted: the sum of ``mapping.amount`` over the distinct open opportunities on which the
   segment's sales_accepted people (stage 4 or 5) hold a contact role; won: the sum over the distinct
   won-in-the-period opportunities of the segment's won people; NaN for the other stages. An opportunity counts once
   per segment however many of its people are in it. A missing amount counts as 0; an amount that does not parse
   raises :class:`ValueError` naming the opportunity Id and the field.
7. **Output**: long format, the columns of ``FUNNEL_COLUMNS``; every segment has all five stage rows (zero counts
   included), ordered overall, lead_source (by value, ``(none)`` last), campaign (by label), then stage_order.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from sync_pipeline.rules.report_inputs import (
    NO_LEAD_SOURCE,
    campaign_labels,
    campaign_people,
    column,
    flags,
    lead_sources,
    opportunity_facts,
    opportunity_people,
    texts,
    utc_times,
    utc_timestamp,
)
from sync_pipeline.settings.model import ReportMapping

STAGES = ("in_audience", "engaged", "marketing_qualified", "sales_accepted", "won")
SALES_ACCEPTED = STAGES.index("sales_accepted") + 1
WON = STAGES.index("won") + 1
DIMENSIONS = ("overall", "lead_source", "campaign")
FUNNEL_COLUMNS = (
    "dimension", "segment", "stage", "stage_order", "people", "conversion_rate", "rate_from_audience", "amount",
    "period_start", "period_end",
)


def build_funnel(
    people: pd.DataFrame,
    links: pd.DataFrame,
    opportunities: pd.DataFrame,
    contact_roles: pd.DataFrame,
    campaign_members: pd.DataFrame,
    campaigns: pd.DataFrame,
    mapping: ReportMapping,
    *,
    mql_score: float,
    period_start: datetime,
    period_end: datetime,
) -> pd.DataFrame:
    """The funnel of [period_start, period_end] (rules 1-7). Naive datetimes are taken as UTC."""
    start, end = utc_timestamp(period_start), utc_timestamp(period_end)
    if end < start:
        raise ValueError(f"period_end {end} is before period_start {start}")

    facts = opportunity_facts(opportunities, mapping)
    roles = opportunity_people(contact_roles, links).merge(facts, on="opportunity_id")  # live opportunities only
    close_day = roles["close_date"]  # dates at midnight, NaT without one
    in_period = (close_day >= pd.Timestamp(start.date())) & (close_day <= pd.Timestamp(end.date()))
    open_roles = roles.loc[roles["is_open"], ["opportunity_id", "contact_key"]]
    won_roles = roles.loc[roles["is_won"] & in_period, ["opportunity_id", "contact_key"]]

    persons = _stages(people, links, open_roles, won_roles, mql_score, start, end)
    members = _segments(persons, campaign_members, campaigns, links)
    stage_of = persons.set_index("contact_key")["stage"]
    members["stage"] = members["contact_key"].map(stage_of).astype("int64")

    frame = _counts(members)
    amount = opportunity_amounts(facts)
    frame = _with_amount(frame, members, open_roles, SALES_ACCEPTED, amount)
    frame = _with_amount(frame, members, won_roles, WON, amount)
    frame["period_start"] = start
    frame["period_end"] = end
    return frame[list(FUNNEL_COLUMNS)]


def opportunity_amounts(facts: pd.DataFrame) -> pd.Series:
    """opportunity_id → amount (float)."""
    return facts.set_index("opportunity_id")["amount"]


def _stages(
    people: pd.DataFrame,
    links: pd.DataFrame,
    open_roles: pd.DataFrame,
    won_roles: pd.DataFrame,
    mql_score: float,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """Rules 1-3: one row per active person with contact_key, lead_source and stage (1..5, the highest reached)."""
    active = people[flags(column(people, "is_active"))]
    active = active.assign(contact_key=texts(column(active, "contact_key")))
    active = active[active["contact_key"].notna()].drop_duplicates("contact_key")
    keys = active["contact_key"]

    activity = utc_times(column(active, "last_activity_at"))
    score = pd.to_numeric(column(active, "behavioral_score"), errors="coerce").astype("float64")
    link_type = column(links, "crm_type")
    link_key = column(links, "contact_key")
    converted = keys.isin(link_key[link_type == "Lead"]) & keys.isin(link_key[link_type == "Contact"])
    reached = [
        pd.Series(True, index=active.index),
        (activity >= start) & (activity <= end),
        score >= mql_score,
        converted | keys.isin(open_roles["contact_key"]),
        keys.isin(won_roles["contact_key"]),
    ]
    stage = np.ones(len(active), dtype="int64")
    for order, condition in enumerate(reached, start=1):
        stage = np.where(condition.to_numpy(dtype=bool), order, stage)  # later stages overwrite: the highest wins
    return pd.DataFrame(
        {"contact_key": keys.to_numpy(), "lead_source": lead_sources(active).to_numpy(), "stage": stage}
    )


def _segments(
    persons: pd.DataFrame, campaign_members: pd.DataFrame, campaigns: pd.DataFrame, links: pd.DataFrame
) -> pd.DataFrame:
    """Rule 4: (dimension, segment, contact_key) rows, one per person per segment it belongs to."""
    overall = pd.DataFrame({"dimension": "overall", "segment": "all", "contact_key": persons["contact_key"]})
    by_source = pd.DataFrame(
        {"dimension": "lead_source", "segment": persons["lead_source"], "contact_key": persons["contact_key"]}
    )
    labels = campaign_labels(campaigns)
    in_campaign = campaign_people(campaign_members, links)
    in_campaign = in_campaign[in_campaign["contact_key"].isin(persons["contact_key"])]
    by_campaign = labels.merge(in_campaign, on="campaign_id")[["segment", "contact_key"]].assign(dimension="campaign")
    members = pd.concat([overall, by_source, by_campaign], ignore_index=True)
    # Campaign labels are unique (rule 4), so (dimension, segment) identifies a segment.
    members = members.drop_duplicates(["dimension", "segment", "contact_key"])
    return members.reset_index(drop=True)


def _segment_order(members: pd.DataFrame) -> pd.DataFrame:
    """The segments in output order (rule 7); overall is always there, even with no one in it."""
    segments = members[["dimension", "segment"]].drop_duplicates()
    segments = pd.concat(
        [pd.DataFrame({"dimension": ["overall"], "segment": ["all"]}), segments], ignore_index=True
    ).drop_duplicates()
    segments["dimension_order"] = segments["dimension"].map({name: order for order, name in enumerate(DIMENSIONS)})
    segments["none_last"] = (segments["dimension"] == "lead_source") & (segments["segment"] == NO_LEAD_SOURCE)
    segments = segments.sort_values(["dimension_order", "none_last", "segment"], kind="mergesort")
    return segments[["dimension", "segment"]].reset_index(drop=True)


def _counts(members: pd.DataFrame) -> pd.DataFrame:
    """Rules 3 and 5: the five stage rows of every segment with people and rates."""
    segments = _segment_order(members)
    grid = segments.merge(
        pd.DataFrame({"stage": list(STAGES), "stage_order": np.arange(1, len(STAGES) + 1, dtype="int64")}),
        how="cross",
    )
    orders = range(1, len(STAGES) + 1)
    per_stage = (
        members.groupby(["dimension", "segment", "stage"]).size().unstack("stage", fill_value=0)
        .reindex(columns=orders, fill_value=0)
    )
    # "At least" (rule 3): the people at a stage or later are a cumulative sum from the last stage backwards.
    at_least = per_stage[per_stage.columns[::-1]].cumsum(axis=1)[per_stage.columns]
    counted = at_least.rename_axis(columns="stage_order").stack().rename("people").reset_index()
    frame = grid.merge(counted, on=["dimension", "segment", "stage_order"], how="left")
    frame["people"] = frame["people"].fillna(0).astype("int64")

    by_segment = frame.groupby(["dimension", "segment"], sort=False)["people"]
    previous = by_segment.shift(1).astype("float64")
    audience = by_segment.transform("first").astype("float64")
    count = frame["people"].astype("float64")
    frame["conversion_rate"] = (count / previous).where(previous > 0)  # NaN: first stage, or no one before
    frame["rate_from_audience"] = (count / audience).where(audience > 0)
    return frame


def _with_amount(
    frame: pd.DataFrame, members: pd.DataFrame, roles: pd.DataFrame, order: int, amount: pd.Series
) -> pd.DataFrame:
    """Rule 6 for one stage: the distinct opportunities of the segment's people at that stage or later."""
    reached = members.loc[members["stage"] >= order, ["dimension", "segment", "contact_key"]]
    pairs = reached.merge(roles, on="contact_key").drop_duplicates(["dimension", "segment", "opportunity_id"])
    pairs = pairs.assign(amount=pairs["opportunity_id"].map(amount).astype("float64"))
    totals = pairs.groupby(["dimension", "segment"])["amount"].sum()
    result = frame.copy()
    if "amount" not in result:
        result["amount"] = np.nan
    at_stage = result["stage_order"] == order
    keys = pd.MultiIndex.from_frame(result.loc[at_stage, ["dimension", "segment"]])
    result.loc[at_stage, "amount"] = totals.reindex(keys).fillna(0.0).to_numpy()
    return result

