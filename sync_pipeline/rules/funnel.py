"""The marketing funnel of a period: how many people reached each stage, overall, per lead source and per campaign.

:func:`build_funnel` takes ``all_contacts`` (``people``), the people with a person-initiated engagement in the period
(``engaged``: their contact_keys), ``contact_links`` (``links``) and the raw mirror frames of Opportunity,
OpportunityContactRole, CampaignMember and Campaign (see ``report_inputs.py`` for how their text is read; deleted
rows are ignored). The rules, in order (each is a test):

1. **Who is in the funnel**: active people (``is_active``) only; inactive people are in no stage and no segment.
2. **Stages**, each by its own criterion (a person may meet a later stage's and not an earlier one's):
   in_audience (1): active and emailable (neither opted out nor hard-bounced) → engaged (2): a person-initiated
   engagement in the period (an email open or click, a form submit, a page visit; not a send, a bounce or an
   unsubscribe: the caller selects them) → marketing_qualified (3): behavioral_score >= ``mql_score`` (a missing
   score does not qualify) → sales_accepted (4): the person has both a Lead and a Contact link (a converted Lead),
   or holds a contact role on an open opportunity or on one won in the period (a won deal went through sales) →
   won (5): the person holds a contact role on an opportunity won in the period (``deal_amounts`` rule 2).
3. **Counts.** ``people``: the segment's people who meet the stage's criterion. ``from_previous``: of those, the
   people who also met the previous stage's (stage 1: all of them); ``entered_directly``: the others, who reached
   the stage without the one before (0 at stage 1). So a sales-accepted person below the MQL score is counted at
   sales_accepted as entered directly, never as qualified.
4. **Rates.** conversion_rate = from_previous / people of the previous stage (NaN at stage 1 and when the previous
   stage has no one): only people who passed both stages. rate_from_audience = people of the stage who are also
   in the audience / people in the audience (NaN when that is 0). ``small_sample`` is true when the rate's base
   (the previous stage's people; the audience at stage 1) is below ``min_base``: a rate to read with care.
5. **Segments.** ``overall``/``all``: every person of rule 1. ``lead_source``: people grouped by their lead_source
   column (a missing column or value is ``(none)``), one segment per value present. ``campaign``: the people who are
   live members of a live campaign (leadid/contactid → links → contact_key), labelled by campaign name (a name that
   several campaigns share gets `` (<Id>)`` appended); a person in several campaigns counts in each, and a campaign
   without an active member is left out.
6. **Amounts** (``deal_amounts``): sales_accepted: the pipeline of the distinct open opportunities on which the
   segment's sales-accepted people hold a contact role; won: the won amount of the distinct opportunities won in
   the period on which the segment's won people hold one; NaN at the other stages. An opportunity counts once per
   segment however many of its people are in it; an opportunity without a contact role of an active person is in
   no funnel amount (ROI's lead-source rows count every opportunity).
7. **Output**: long format, the columns of ``FUNNEL_COLUMNS``; every segment has all five stage rows (zero counts
   included), ordered overall, lead_source (by value, ``(none)`` last), campaign (by label), then stage_order.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import numpy as np
import pandas as pd

from sync_pipeline.rules.deal_amounts import DealTotals, won_in_period
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
    utc_timestamp,
)
from sync_pipeline.settings.model import ReportMapping

STAGES = ("in_audience", "engaged", "marketing_qualified", "sales_accepted", "won")
SALES_ACCEPTED = STAGES.index("sales_accepted") + 1
WON = STAGES.index("won") + 1
DIMENSIONS = ("overall", "lead_source", "campaign")
MIN_BASE = 20  # a rate over fewer people than this is flagged small_sample
# The engagements a person initiates (rule 2's "engaged"); sends, bounces and unsubscribes are not among them.
ENGAGING_EVENTS = ("email_open", "email_click", "form_submit", "page_visit")
FUNNEL_COLUMNS = (
    "dimension", "segment", "stage", "stage_order", "people", "from_previous", "entered_directly",
    "conversion_rate", "rate_from_audience", "small_sample", "amount", "period_start", "period_end",
)
_REACHED = [f"stage_{order}" for order in range(1, len(STAGES) + 1)]


def build_funnel(
    people: pd.DataFrame,
    engaged: Collection[str],
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
    min_base: int = MIN_BASE,
) -> pd.DataFrame:
    """The funnel of [period_start, period_end] (rules 1-7). Naive datetimes are taken as UTC."""
    start, end = utc_timestamp(period_start), utc_timestamp(period_end)
    if end < start:
        raise ValueError(f"period_end {end} is before period_start {start}")

    facts = opportunity_facts(opportunities, mapping)
    roles = opportunity_people(contact_roles, links).merge(facts, on="opportunity_id")  # live opportunities only
    open_roles = roles.loc[roles["is_open"], ["opportunity_id", "contact_key"]]
    won_roles = roles.loc[won_in_period(roles, start, end), ["opportunity_id", "contact_key"]]

    persons = _stages(people, set(engaged), links, open_roles, won_roles, mql_score)
    members = _segments(persons, campaign_members, campaigns, links)
    members = members.merge(persons.drop(columns="lead_source"), on="contact_key")

    frame = _counts(members, min_base)
    frame = _with_amount(frame, members, open_roles, SALES_ACCEPTED, facts, start, end)
    frame = _with_amount(frame, members, won_roles, WON, facts, start, end)
    frame["period_start"] = start
    frame["period_end"] = end
    return frame[list(FUNNEL_COLUMNS)]


def _stages(
    people: pd.DataFrame,
    engaged: set[str],
    links: pd.DataFrame,
    open_roles: pd.DataFrame,
    won_roles: pd.DataFrame,
    mql_score: float,
) -> pd.DataFrame:
    """Rules 1-2: one row per active person with contact_key, lead_source and one bool column per stage."""
    active = people[flags(column(people, "is_active"))]
    active = active.assign(contact_key=texts(column(active, "contact_key")))
    active = active[active["contact_key"].notna()].drop_duplicates("contact_key")
    keys = active["contact_key"]

    score = pd.to_numeric(column(active, "behavioral_score"), errors="coerce").astype("float64")
    emailable = ~(flags(column(active, "opted_out")) | flags(column(active, "hard_bounced")))
    link_type = column(links, "crm_type")
    link_key = column(links, "contact_key")
    converted = keys.isin(link_key[link_type == "Lead"]) & keys.isin(link_key[link_type == "Contact"])
    reached = [
        emailable,
        keys.isin(engaged),
        score >= mql_score,
        converted | keys.isin(open_roles["contact_key"]) | keys.isin(won_roles["contact_key"]),
        keys.isin(won_roles["contact_key"]),
    ]
    frame = pd.DataFrame({"contact_key": keys.to_numpy(), "lead_source": lead_sources(active).to_numpy()})
    for name, condition in zip(_REACHED, reached, strict=True):
        frame[name] = condition.to_numpy(dtype=bool)
    return frame


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


def _counts(members: pd.DataFrame, min_base: int) -> pd.DataFrame:
    """Rules 3-4: the five stage rows of every segment with their counts and rates."""
    reached = members[_REACHED].to_numpy(dtype=bool)
    previous = np.column_stack([reached[:, 0], reached[:, :-1]])  # stage 1 is its own "previous"
    counts = pd.DataFrame(
        np.hstack([reached, reached & previous, reached & reached[:, [0]]]).astype("int64"),
        columns=[*(f"people_{i}" for i in range(1, 6)), *(f"both_{i}" for i in range(1, 6)),
                 *(f"audience_{i}" for i in range(1, 6))],
    )
    counts[["dimension", "segment"]] = members[["dimension", "segment"]].to_numpy()
    totals = counts.groupby(["dimension", "segment"], sort=False).sum()
    segments = _segment_order(members)
    rows = []
    for order, stage in enumerate(STAGES, start=1):
        part = segments.join(totals, on=["dimension", "segment"]).fillna(0)
        people = part[f"people_{order}"].astype("int64")
        both = part[f"both_{order}"].astype("int64")
        base = part[f"people_{max(order - 1, 1)}"].astype("float64")
        audience = part["people_1"].astype("float64")
        rows.append(pd.DataFrame({
            "dimension": part["dimension"], "segment": part["segment"], "stage": stage, "stage_order": order,
            "people": people, "from_previous": both, "entered_directly": people - both,
            "conversion_rate": (both / base).where(base > 0) if order > 1 else np.nan,
            "rate_from_audience": (part[f"audience_{order}"] / audience).where(audience > 0),
            "small_sample": base < min_base,
            "segment_order": np.arange(len(part)),
        }))
    frame = pd.concat(rows, ignore_index=True).sort_values(["segment_order", "stage_order"], kind="mergesort")
    frame["conversion_rate"] = frame["conversion_rate"].astype("float64")
    return frame.drop(columns="segment_order").reset_index(drop=True)


def _with_amount(frame: pd.DataFrame, members: pd.DataFrame, roles: pd.DataFrame, order: int,
                 facts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rule 6 for one stage: the pipeline (sales_accepted) or won amount (won) of the distinct opportunities of the
    segment's people who meet the stage."""
    reached = members.loc[members[f"stage_{order}"], ["dimension", "segment", "contact_key"]]
    pairs = reached.merge(roles, on="contact_key")[["dimension", "segment", "opportunity_id"]]
    pairs = pairs.merge(facts, on="opportunity_id")
    totals = {key: DealTotals.of(group, start, end) for key, group in pairs.groupby(["dimension", "segment"])}
    result = frame.copy()
    if "amount" not in result:
        result["amount"] = np.nan
    at_stage = result["stage_order"] == order
    amounts = [totals.get((d, s)) for d, s in zip(result.loc[at_stage, "dimension"], result.loc[at_stage, "segment"],
                                                   strict=True)]
    won = order == WON
    result.loc[at_stage, "amount"] = [0.0 if t is None else (t.won_amount if won else t.pipeline_amount)
                                      for t in amounts]
    return result
