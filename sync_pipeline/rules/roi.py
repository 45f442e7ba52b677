"""Campaign and lead-source ROI of a period: influenced opportunities, their amounts, attribution and cost.

:func:`build_roi` takes ``all_contacts`` (``people``), ``contact_links`` (``links``), the raw mirror frames of
Opportunity, OpportunityContactRole, CampaignMember and Campaign (see ``report_inputs.py`` for how their text is
read; deleted rows are ignored everywhere) and the period [period_start, period_end] (naive datetimes are UTC).
Pipeline and won amounts follow ``deal_amounts.py``: pipeline is what is open now, won is what was won in the period.

The rules, in order (each is a test):

1. **Campaign rows**: one per live campaign that has an active member or influences an opportunity (others are left
   out); segment is the campaign name (a name several campaigns share gets `` (<Id>)`` appended), campaign_id its
   Id. A CampaignId naming a deleted or unknown campaign credits no one.
2. **Lead-source rows**: one per lead source found on a live opportunity or an active person; campaign_id None.
   An opportunity belongs to its own LeadSource (``(none)`` when empty), so the lead-source rows add up to the
   org's totals (``DealTotals.of`` over all live opportunities).
3. **contacts_touched**: distinct active people who are members of the campaign / whose lead_source equals the
   segment (a missing lead_source column or value is ``(none)``). Membership through an inactive person still
   influences opportunities (the touch happened) but is not counted as a contact touched. No period applies.
4. **Influence (any-touch, full credit)**: an opportunity is influenced by a campaign when the campaign is its
   primary campaign source (the opportunity's CampaignId), or when a person holding a contact role on it is a
   member of the campaign (through the member's Lead or Contact), whenever the membership happened.
   opportunities_influenced counts the distinct influenced opportunities, whatever their state or close date.
   Each campaign gets the full amount of every opportunity it influenced, so **campaign rows of the any-touch
   columns do not add up** to the org's totals: one deal touched by three campaigns is counted three times.
5. **Counts and amounts** over the influenced opportunities: open_opportunities (open: neither IsClosed nor won),
   won_opportunities (won in the period, ``deal_amounts`` rule 2), closed_opportunities (closed: IsClosed or won,
   with a close date inside the period, compared like ``deal_amounts`` rule 2), pipeline_amount and won_amount
   (``DealTotals.of`` of the influenced set: open amount, won-in-period amount). A missing amount counts as 0; an
   amount that does not parse raises :class:`ValueError` naming the opportunity Id and the field.
6. **win_rate** = won_opportunities / closed_opportunities, NaN when none closed in the period. A won opportunity
   closed before the period is neither won nor closed here, and in no won amount.
7. **Touches** (for attribution): each membership (CampaignMember CreatedDate, a Salesforce datetime read as UTC)
   of a person holding a contact role on the opportunity, and the opportunity's primary campaign at the
   opportunity's CreatedDate. For a won opportunity a touch counts only when its time is on or before the end (UTC)
   of the opportunity's close date (a touch after the deal closed did not influence it); for an open opportunity
   every touch counts. A touch without a time (no CreatedDate, or a mirror without the column) counts, as it
   cannot be shown to be late. Touches are ordered by time, the ones without a time after all timed ones, ties by
   campaign Id (ascending); a CreatedDate that does not parse raises :class:`ValueError` naming the record.
8. **Attributed amounts** (these DO add up over campaigns): each opportunity won in the period gives its amount
   entirely to the campaign of its first counted touch (won_amount_first_touch) and entirely to that of its last
   (won_amount_last_touch), and in equal shares to each distinct campaign with a counted touch
   (won_amount_even_split); pipeline_amount_even_split splits each open opportunity's amount the same way. An
   opportunity without a counted touch credits no campaign. On lead-source rows (rule 2) the first, last and
   even-split columns equal won_amount and pipeline_amount.
9. **Cost** (campaign rows; null on lead-source rows): budgeted_cost and actual_cost are the campaign's
   BudgetedCost and ActualCost (a missing value stays NaN; a value that does not parse raises
   :class:`ValueError` naming the campaign Id and the field); cost is actual_cost when present, else
   budgeted_cost, else NaN. return_on_cost = (won_amount_even_split - cost) / cost when cost > 0, else NaN;
   cost_per_opportunity = cost / opportunities_influenced and cost_per_won = cost / won_opportunities, NaN when
   the divisor is 0 or there is no cost.
10. **Output**: the columns of ``ROI_COLUMNS``, period_start and period_end the period's UTC timestamps (tz-aware);
    sorted by dimension, won_amount desc, pipeline_amount desc, segment; counts int64, amounts, costs and rates
    float64, campaign_id None on lead-source rows. A period_end before period_start raises :class:`ValueError`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from sync_pipeline.rules.deal_amounts import DealTotals, won_in_period
from sync_pipeline.rules.report_inputs import (
    amounts,
    campaign_labels,
    campaign_people,
    column,
    flags,
    lead_sources,
    live,
    opportunity_facts,
    opportunity_people,
    person_keys,
    texts,
    utc_times,
    utc_timestamp,
)
from sync_pipeline.settings.model import ReportMapping

ROI_COLUMNS = (
    "dimension", "segment", "campaign_id", "contacts_touched", "opportunities_influenced", "open_opportunities",
    "won_opportunities", "closed_opportunities", "pipeline_amount", "won_amount", "win_rate",
    "won_amount_first_touch", "won_amount_last_touch", "won_amount_even_split", "pipeline_amount_even_split",
    "budgeted_cost", "actual_cost", "cost", "return_on_cost", "cost_per_opportunity", "cost_per_won",
    "period_start", "period_end",
)
_COUNTS = ("contacts_touched", "opportunities_influenced", "open_opportunities", "won_opportunities",
           "closed_opportunities")
_AMOUNTS = ("pipeline_amount", "won_amount")
_ATTRIBUTED = ("won_amount_first_touch", "won_amount_last_touch", "won_amount_even_split",
               "pipeline_amount_even_split")
_COSTS = ("budgeted_cost", "actual_cost", "cost", "return_on_cost", "cost_per_opportunity", "cost_per_won")
_FLOATS = (*_AMOUNTS, "win_rate", *_ATTRIBUTED, *_COSTS)
_TOUCH_COLUMNS = ["opportunity_id", "campaign_id", "touched_at"]


def build_roi(
    people: pd.DataFrame,
    links: pd.DataFrame,
    opportunities: pd.DataFrame,
    contact_roles: pd.DataFrame,
    campaign_members: pd.DataFrame,
    campaigns: pd.DataFrame,
    mapping: ReportMapping,
    *,
    period_start: datetime,
    period_end: datetime,
) -> pd.DataFrame:
    """One row per campaign and per lead source for [period_start, period_end] (rules 1-10)."""
    start, end = utc_timestamp(period_start), utc_timestamp(period_end)
    if end < start:
        raise ValueError(f"period_end {end} is before period_start {start}")

    facts = opportunity_facts(opportunities, mapping)
    roles = opportunity_people(contact_roles, links)
    labels = campaign_labels(campaigns)
    members = campaign_people(campaign_members, links)
    members = members[members["campaign_id"].isin(labels["campaign_id"])]
    touches = _touches(facts, opportunities, roles, campaign_members, links, labels)

    active = people[flags(column(people, "is_active"))]
    active_keys = texts(column(active, "contact_key"))

    by_campaign = _campaign_rows(facts, roles, labels, members, active_keys, start, end)
    by_campaign = by_campaign.join(_attribution(facts, touches, start, end), on="campaign_id")
    by_campaign = by_campaign.join(_campaign_costs(campaigns), on="campaign_id")
    by_source = _lead_source_rows(facts, active, start, end)
    frame = pd.concat([frame for frame in (by_campaign, by_source) if not frame.empty] or [by_campaign])
    return _output(frame, start, end)


def _output(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rules 9-10: derived cost columns, order and types."""
    frame = frame.sort_values(
        ["dimension", "won_amount", "pipeline_amount", "segment"], ascending=[True, False, False, True],
        kind="mergesort",
    ).reset_index(drop=True)
    for name in _ATTRIBUTED:
        frame[name] = frame[name].fillna(0.0)
    for name in ("budgeted_cost", "actual_cost"):
        frame[name] = frame[name].astype("float64")
    frame["cost"] = frame["actual_cost"].where(frame["actual_cost"].notna(), frame["budgeted_cost"])
    cost = frame["cost"]
    frame["return_on_cost"] = ((frame["won_amount_even_split"] - cost) / cost).where(cost > 0)
    frame["cost_per_opportunity"] = _ratio(cost, frame["opportunities_influenced"])
    frame["cost_per_won"] = _ratio(cost, frame["won_opportunities"])
    for name in _COUNTS:
        frame[name] = frame[name].astype("int64")
    for name in _FLOATS:
        frame[name] = frame[name].astype("float64")
    frame["campaign_id"] = frame["campaign_id"].astype(object).where(frame["campaign_id"].notna(), None)
    frame["period_start"] = pd.Series([start] * len(frame), index=frame.index, dtype="datetime64[ns, UTC]")
    frame["period_end"] = pd.Series([end] * len(frame), index=frame.index, dtype="datetime64[ns, UTC]")
    return frame[list(ROI_COLUMNS)]


def _ratio(numerator: pd.Series, divisor: pd.Series) -> pd.Series:
    """numerator / divisor, NaN where the divisor is 0 (and where the numerator is NaN)."""
    divisor = divisor.astype("float64")
    return (numerator.astype("float64") / divisor).where(divisor != 0)


def _campaign_rows(
    facts: pd.DataFrame,
    roles: pd.DataFrame,
    labels: pd.DataFrame,
    members: pd.DataFrame,
    active_keys: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """Rules 1, 3-6 for campaigns."""
    primary = facts.loc[facts["campaign_id"].isin(labels["campaign_id"]), ["campaign_id", "opportunity_id"]]
    touched = members.merge(roles, on="contact_key")[["campaign_id", "opportunity_id"]]
    # The same opportunity reached both ways (or through several members) is one influence: distinct pairs.
    influenced = pd.concat([primary, touched], ignore_index=True).drop_duplicates()
    pairs = influenced.merge(facts.drop(columns="campaign_id"), on="opportunity_id")
    stats = _opportunity_stats(pairs, "campaign_id", start, end)
    contacts = members[members["contact_key"].isin(active_keys)].groupby("campaign_id")["contact_key"].nunique()

    rows = labels.set_index("campaign_id")
    rows = rows.join(stats).join(contacts.rename("contacts_touched"))
    rows = rows.reset_index().assign(dimension="campaign")
    rows = _fill(rows)
    return rows[(rows["contacts_touched"] > 0) | (rows["opportunities_influenced"] > 0)]


def _lead_source_rows(facts: pd.DataFrame, active: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
                      ) -> pd.DataFrame:
    """Rules 2-6 and 8 for lead sources (each opportunity credits its own lead source: attribution is trivial)."""
    stats = _opportunity_stats(facts, "lead_source", start, end)
    contacts = lead_sources(active).value_counts().rename("contacts_touched")
    segments = sorted(set(stats.index) | set(contacts.index))
    rows = pd.DataFrame(index=pd.Index(segments, dtype=object, name="segment"))
    rows = rows.join(stats.rename_axis("segment")).join(contacts.rename_axis("segment"))
    rows = rows.reset_index().assign(dimension="lead_source", campaign_id=None)
    rows = _fill(rows)
    for name in ("won_amount_first_touch", "won_amount_last_touch", "won_amount_even_split"):
        rows[name] = rows["won_amount"]
    rows["pipeline_amount_even_split"] = rows["pipeline_amount"]
    for name in ("budgeted_cost", "actual_cost"):
        rows[name] = np.nan
    return rows


def _opportunity_stats(pairs: pd.DataFrame, key: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rules 4-6: per ``key``, counts and amounts of its distinct opportunities (``pairs`` holds the facts)."""
    pairs = pairs.drop_duplicates([key, "opportunity_id"]).reset_index(drop=True)
    # Closed in the period: the won-in-period test of deal_amounts rule 2 with "closed" in place of "won".
    closed = won_in_period(pairs.assign(is_won=pairs["is_closed"]), start, end)
    rows = {}
    for segment, group in pairs.groupby(key, sort=True):
        totals = DealTotals.of(group, start, end)
        rows[segment] = (len(group), totals.open_opportunities, totals.won_opportunities,
                         int(closed[group.index].sum()), totals.pipeline_amount, totals.won_amount)
    names = ["opportunities_influenced", "open_opportunities", "won_opportunities", "closed_opportunities",
             *_AMOUNTS]
    stats = pd.DataFrame.from_dict(rows, orient="index", columns=names) if rows else pd.DataFrame(columns=names)
    stats.index.name = key
    closed_count = stats["closed_opportunities"].astype("float64")
    stats["win_rate"] = (stats["won_opportunities"].astype("float64") / closed_count).where(closed_count > 0)
    return stats


def _fill(rows: pd.DataFrame) -> pd.DataFrame:
    """Segments without opportunities or contacts: zero counts and amounts, no win rate."""
    for name in (*_COUNTS, *_AMOUNTS):
        if name not in rows:
            rows[name] = 0
        rows[name] = rows[name].fillna(0)
    if "win_rate" not in rows:
        rows["win_rate"] = np.nan
    return rows


def _touch_times(values: pd.Series, ids: pd.Series, record: str) -> pd.Series:
    """Rule 7: CreatedDate as tz-aware UTC, NaT for no value; a text that does not parse raises."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return utc_times(values).astype("datetime64[ns, UTC]")
    text = texts(values)
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce").astype("datetime64[ns, UTC]")
    bad = text.notna() & parsed.isna()
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{record} {ids.iloc[position]}: CreatedDate value {text.iloc[position]!r} is not a date and time"
        )
    return parsed


def _touches(
    facts: pd.DataFrame,
    opportunities: pd.DataFrame,
    roles: pd.DataFrame,
    campaign_members: pd.DataFrame,
    links: pd.DataFrame,
    labels: pd.DataFrame,
) -> pd.DataFrame:
    """Rule 7: every (opportunity_id, campaign_id, touched_at) touch of a live campaign, before counting."""
    rows = live(opportunities)
    ids = texts(column(rows, "id"))
    created = pd.DataFrame({"opportunity_id": ids, "touched_at": _touch_times(column(rows, "createddate"), ids,
                                                                              "opportunity")})
    created = created[created["opportunity_id"].notna()].drop_duplicates("opportunity_id")
    primary = facts.loc[facts["campaign_id"].isin(labels["campaign_id"]), ["opportunity_id", "campaign_id"]]
    primary = primary.merge(created, on="opportunity_id", how="left")

    rows = live(campaign_members)
    ids = texts(column(rows, "id"))
    times = _touch_times(column(rows, "createddate"), ids, "campaign member")
    campaign_ids = texts(column(rows, "campaignid"))
    memberships = pd.concat(
        [
            pd.DataFrame({"campaign_id": campaign_ids, "contact_key": person_keys(column(rows, side), links),
                          "touched_at": times})
            for side in ("leadid", "contactid")
        ]
    )
    memberships = memberships[memberships["campaign_id"].isin(labels["campaign_id"])
                              & memberships["contact_key"].notna()]
    by_member = memberships.merge(roles, on="contact_key")
    touches = pd.concat([primary[_TOUCH_COLUMNS], by_member[_TOUCH_COLUMNS]], ignore_index=True)
    touches["touched_at"] = touches["touched_at"].astype("datetime64[ns, UTC]")
    return touches


def _attribution(facts: pd.DataFrame, touches: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
                 ) -> pd.DataFrame:
    """Rules 7-8: per campaign_id, the attributed won and pipeline amounts."""
    won = facts.loc[won_in_period(facts, start, end), ["opportunity_id", "amount", "close_date"]]
    won_touches = touches.merge(won, on="opportunity_id")
    # On or before the end of the close date (a UTC date): before the next day's midnight.
    day_after = won_touches["close_date"].astype("datetime64[ns]").dt.tz_localize(UTC) + pd.Timedelta(days=1)
    won_touches = won_touches[won_touches["touched_at"].isna() | (won_touches["touched_at"] < day_after)]
    open_touches = touches.merge(facts.loc[facts["is_open"].astype(bool), ["opportunity_id", "amount"]],
                                 on="opportunity_id")
    credits = {
        "won_amount_first_touch": _single_touch(won_touches, "first"),
        "won_amount_last_touch": _single_touch(won_touches, "last"),
        "won_amount_even_split": _even_split(won_touches),
        "pipeline_amount_even_split": _even_split(open_touches),
    }
    return pd.DataFrame(credits, columns=list(_ATTRIBUTED)).rename_axis("campaign_id")


def _single_touch(touches: pd.DataFrame, keep: str) -> pd.Series:
    """Rule 8: each opportunity's amount to the campaign of its first (``keep="first"``) or last counted touch."""
    ordered = touches.assign(untimed=touches["touched_at"].isna()).sort_values(
        ["opportunity_id", "untimed", "touched_at", "campaign_id"], kind="mergesort"
    )
    chosen = ordered.drop_duplicates("opportunity_id", keep="first" if keep == "first" else "last")
    return chosen.groupby("campaign_id")["amount"].sum().astype("float64")


def _even_split(touches: pd.DataFrame) -> pd.Series:
    """Rule 8: each opportunity's amount in equal shares to its distinct campaigns with a counted touch."""
    pairs = touches.drop_duplicates(["opportunity_id", "campaign_id"])
    campaigns = pairs.groupby("opportunity_id")["campaign_id"].transform("size")
    share = pairs["amount"].astype("float64") / campaigns.astype("float64")
    return share.groupby(pairs["campaign_id"]).sum().astype("float64")


def _campaign_costs(campaigns: pd.DataFrame) -> pd.DataFrame:
    """Rule 9: budgeted_cost and actual_cost per live campaign_id, NaN where the campaign has no value."""
    rows = live(campaigns)
    ids = texts(column(rows, "id"))
    costs = pd.DataFrame(
        {
            "campaign_id": ids,
            "budgeted_cost": amounts(column(rows, "budgetedcost"), ids, "BudgetedCost", record="campaign",
                                     missing=None),
            "actual_cost": amounts(column(rows, "actualcost"), ids, "ActualCost", record="campaign", missing=None),
        }
    )
    costs = costs[costs["campaign_id"].notna()].drop_duplicates("campaign_id")
    return costs.set_index("campaign_id")
