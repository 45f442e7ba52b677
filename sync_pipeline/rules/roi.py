"""Campaign and lead-source ROI: the opportunities each campaign or lead source influenced, and their amounts.

:func:`build_roi` takes ``all_contacts`` (``people``), ``contact_links`` (``links``) and the raw mirror frames of
Opportunity, OpportunityContactRole, CampaignMember and Campaign (see ``report_inputs.py`` for how their text is
read; deleted rows are ignored everywhere).

Attribution rule (any-touch, full credit): an opportunity is influenced by a campaign when the campaign is its
primary campaign source (the opportunity's CampaignId), or when any contact on the opportunity (its contact roles)
belongs to a person who is a member of the campaign (through the member's Lead or Contact). Each influenced
opportunity counts once per campaign, with its full amount, so one opportunity can be credited in full to several
campaigns and the campaign rows do not add up to the total pipeline. Per lead source, an opportunity belongs to its
own LeadSource ("(none)" when empty), so the lead-source rows do add up.

The rules, in order (each is a test):

1. **Campaign rows**: one per live campaign that has an active member or influences an opportunity (others are left
   out); segment is the campaign name (a name several campaigns share gets `` (<Id>)`` appended), campaign_id its
   Id. A CampaignId naming a deleted or unknown campaign credits no one.
2. **Lead-source rows**: one per lead source found on a live opportunity or an active person; campaign_id None.
3. **contacts_touched**: distinct active people who are members of the campaign / whose lead_source equals the
   segment (a missing lead_source column or value is "(none)"). Membership through an inactive person still
   influences opportunities (the touch happened) but is not counted as a contact touched.
4. **Counts and amounts** over the distinct influenced opportunities: opportunities_influenced, open_opportunities
   (IsClosed not true and the won field not true), won_opportunities (``mapping.won`` true), pipeline_amount (sum of
   ``mapping.amount`` over the open ones), won_amount (over the won ones). A missing amount counts as 0; an amount
   that does not parse raises :class:`ValueError` naming the opportunity Id and the field. ROI has no period: every
   live opportunity counts, whatever its close date.
5. **win_rate** = won / closed influenced opportunities (closed: IsClosed or won), NaN when none is closed.
6. **Output**: the columns of ``ROI_COLUMNS``, sorted by dimension, won_amount desc, pipeline_amount desc, segment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sync_pipeline.rules.report_inputs import (
    campaign_labels,
    campaign_people,
    column,
    flags,
    lead_sources,
    opportunity_facts,
    opportunity_people,
    texts,
)
from sync_pipeline.settings.model import ReportMapping

ROI_COLUMNS = (
    "dimension", "segment", "campaign_id", "contacts_touched", "opportunities_influenced", "open_opportunities",
    "won_opportunities", "pipeline_amount", "won_amount", "win_rate",
)
_COUNTS = ("contacts_touched", "opportunities_influenced", "open_opportunities", "won_opportunities")


def build_roi(
    people: pd.DataFrame,
    links: pd.DataFrame,
    opportunities: pd.DataFrame,
    contact_roles: pd.DataFrame,
    campaign_members: pd.DataFrame,
    campaigns: pd.DataFrame,
    mapping: ReportMapping,
) -> pd.DataFrame:
    """One row per campaign and per lead source (rules 1-6)."""
    facts = opportunity_facts(opportunities, mapping)
    roles = opportunity_people(contact_roles, links)
    labels = campaign_labels(campaigns)
    members = campaign_people(campaign_members, links)
    members = members[members["campaign_id"].isin(labels["campaign_id"])]

    active = people[flags(column(people, "is_active"))]
    active_keys = texts(column(active, "contact_key"))

    by_campaign = _campaign_rows(facts, roles, labels, members, active_keys)
    by_source = _lead_source_rows(facts, active)
    frame = pd.concat([frame for frame in (by_campaign, by_source) if not frame.empty] or [by_campaign])
    frame = frame.sort_values(
        ["dimension", "won_amount", "pipeline_amount", "segment"], ascending=[True, False, False, True],
        kind="mergesort",
    ).reset_index(drop=True)
    for name in _COUNTS:
        frame[name] = frame[name].astype("int64")
    for name in ("pipeline_amount", "won_amount", "win_rate"):
        frame[name] = frame[name].astype("float64")
    frame["campaign_id"] = frame["campaign_id"].astype(object).where(frame["campaign_id"].notna(), None)
    return frame[list(ROI_COLUMNS)]


def _campaign_rows(
    facts: pd.DataFrame,
    roles: pd.DataFrame,
    labels: pd.DataFrame,
    members: pd.DataFrame,
    active_keys: pd.Series,
) -> pd.DataFrame:
    """Rules 1, 3-5 for campaigns."""
    primary = facts.loc[facts["campaign_id"].isin(labels["campaign_id"]), ["campaign_id", "opportunity_id"]]
    touched = members.merge(roles, on="contact_key")[["campaign_id", "opportunity_id"]]
    # The same opportunity reached both ways (or through several members) is one influence: distinct pairs.
    influenced = pd.concat([primary, touched], ignore_index=True).drop_duplicates()
    stats = _opportunity_stats(influenced.merge(facts.drop(columns="campaign_id"), on="opportunity_id"), "campaign_id")
    contacts = members[members["contact_key"].isin(active_keys)].groupby("campaign_id")["contact_key"].nunique()

    rows = labels.set_index("campaign_id")
    rows = rows.join(stats).join(contacts.rename("contacts_touched"))
    rows = rows.reset_index().assign(dimension="campaign")
    rows = _fill(rows)
    return rows[(rows["contacts_touched"] > 0) | (rows["opportunities_influenced"] > 0)]


def _lead_source_rows(facts: pd.DataFrame, active: pd.DataFrame) -> pd.DataFrame:
    """Rules 2-5 for lead sources."""
    stats = _opportunity_stats(facts, "lead_source")
    contacts = lead_sources(active).value_counts().rename("contacts_touched")
    segments = sorted(set(stats.index) | set(contacts.index))
    rows = pd.DataFrame(index=pd.Index(segments, dtype=object, name="segment"))
    rows = rows.join(stats.rename_axis("segment")).join(contacts.rename_axis("segment"))
    rows = rows.reset_index().assign(dimension="lead_source", campaign_id=None)
    return _fill(rows)


def _opportunity_stats(pairs: pd.DataFrame, key: str) -> pd.DataFrame:
    """Rules 4-5: per ``key``, counts and amounts of its distinct opportunities (``pairs`` holds the facts)."""
    pairs = pairs.drop_duplicates([key, "opportunity_id"])
    amount = pairs["amount"].astype("float64")
    data = pd.DataFrame(
        {
            key: pairs[key],
            "opportunities_influenced": 1,
            "open_opportunities": pairs["is_open"].astype("int64"),
            "won_opportunities": pairs["is_won"].astype("int64"),
            "closed": pairs["is_closed"].astype("int64"),
            "pipeline_amount": amount.where(pairs["is_open"].astype(bool), 0.0),
            "won_amount": amount.where(pairs["is_won"].astype(bool), 0.0),
        }
    )
    stats = data.groupby(key).sum()
    closed = stats.pop("closed").astype("float64")
    stats["win_rate"] = (stats["won_opportunities"] / closed).where(closed > 0)
    return stats


def _fill(rows: pd.DataFrame) -> pd.DataFrame:
    """Segments without opportunities or contacts: zero counts and amounts, no win rate."""
    for name in (*_COUNTS, "pipeline_amount", "won_amount"):
        if name not in rows:
            rows[name] = 0
        rows[name] = rows[name].fillna(0)
    if "win_rate" not in rows:
        rows["win_rate"] = np.nan
    return rows
