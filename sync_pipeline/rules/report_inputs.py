"""Shared reading of mirror frames and audience tables for the analyst reports (hot prospects, funnel, ROI).

Mirror frames hold Salesforce values as Bulk CSV text (see ``mirror.py``). The rules, in order (each is a test of the
report modules that use them):

1. **Deleted rows do not exist.** A row whose ``is_deleted`` is true (bool or text ``true``) is dropped before
   anything else reads the frame.
2. **Text.** Surrounding spaces are trimmed and an empty text is no value (None), as in Salesforce.
3. **Booleans.** ``true``, ``1`` and ``yes`` (any case) are true (``records.values``); anything else is false.
4. **Numbers** (amounts) parse as floats from plain text (``12500`` or ``12500.0``); no value counts as 0; a value
   that does not parse, or is not finite, raises :class:`ValueError` naming the record Id and the Salesforce field.
5. **Dates** parse from ``YYYY-MM-DD`` (an ISO 8601 datetime is read as its UTC date); no value is NaT; a value
   that does not parse raises :class:`ValueError` naming the record Id and the field.
6. **Required columns.** A frame with rows must have the columns a report reads (:class:`ValueError` names the
   missing column and its field); a frame without rows may lack any column (an object never pulled yet is empty).
7. **Records to people.** A Salesforce Lead or Contact Id becomes a person through ``contact_links`` (crm_id →
   contact_key); an Id no link knows belongs to nobody and is left out.
8. **Campaign labels.** A campaign is labelled by its name (its Id when it has none); a name that several live
   campaigns share gets `` (<Id>)`` appended, so two campaigns never merge into one segment.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from sync_pipeline.records.mirror import mirror_column
from sync_pipeline.records.values import checkbox_flags
from sync_pipeline.settings.model import ReportMapping

NO_LEAD_SOURCE = "(none)"
# Opportunity facts the reports share, one row per live opportunity (see :func:`opportunity_facts`).
OPPORTUNITY_COLUMNS = (
    "opportunity_id", "amount", "close_date", "is_closed", "is_won", "is_open", "lead_source", "campaign_id",
)


def sales_columns(mapping: ReportMapping) -> dict[str, list[str]]:
    """The mirror columns the reports read of each sales object (besides id and is_deleted)."""
    return {
        "Opportunity": ["isclosed", mirror_column(mapping.amount), mirror_column(mapping.close_date),
                        mirror_column(mapping.won), "leadsource", "campaignid", "createddate"],
        "OpportunityContactRole": ["opportunityid", "contactid"],
        "CampaignMember": ["campaignid", "leadid", "contactid", "createddate"],
        "Campaign": ["name", "budgetedcost", "actualcost"],
    }


def column(frame: pd.DataFrame, name: str) -> pd.Series:
    """The column, or all None when the frame does not have it."""
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def require_columns(frame: pd.DataFrame, what: str, needed: Iterable[tuple[str, str]]) -> None:
    """Rule 6: ``needed`` is (column, Salesforce field) pairs; a frame without rows passes."""
    if frame.empty:
        return
    for name, field in needed:
        if name not in frame.columns:
            raise ValueError(
                f"{what} have no column {name!r} (Salesforce field {field}); pull the field into the mirror, "
                "or correct report_mapping in the sync settings"
            )


def flags(values: pd.Series) -> pd.Series:
    """Rule 3: a boolean mirror value as bool."""
    return checkbox_flags(values)


def live(frame: pd.DataFrame) -> pd.DataFrame:
    """Rule 1: the rows that are not deleted."""
    return frame[~flags(column(frame, "is_deleted"))]


def texts(values: pd.Series) -> pd.Series:
    """Rule 2: trimmed text as object values, None for no value."""
    stripped = values.astype("string").str.strip()
    stripped = stripped.mask(stripped.eq(""))
    return stripped.astype(object).where(stripped.notna(), None)


def amounts(
    values: pd.Series, ids: pd.Series, field: str, *, record: str = "opportunity", missing: float | None = 0.0
) -> pd.Series:
    """Rule 4: the numbers as float64, no value as ``missing`` (0.0; None keeps it NaN, as for campaign costs).

    ``record`` names the kind of record the error names by Id (``ids``).
    """
    text = texts(values)
    parsed = pd.to_numeric(text, errors="coerce").astype("float64")
    # "NaN" and "inf" parse, but are no amount anyone entered: reject them like any other bad text.
    bad = text.notna() & ~np.isfinite(parsed.to_numpy())
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{record} {ids.iloc[position]}: {field} value {text.iloc[position]!r} is not a number"
        )
    return parsed if missing is None else parsed.fillna(missing)


def dates(values: pd.Series, ids: pd.Series, field: str) -> pd.Series:
    """Rule 5: the dates as naive midnight timestamps (datetime64, the UTC date), NaT for no value."""
    text = texts(values)
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = text.notna() & parsed.isna()
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"opportunity {ids.iloc[position]}: {field} value {text.iloc[position]!r} is not a date")
    return parsed.dt.tz_convert(UTC).dt.tz_localize(None).dt.normalize()


def utc_timestamp(moment: datetime) -> pd.Timestamp:
    """A naive datetime is taken as UTC, as elsewhere in the pipeline."""
    if moment.tzinfo is None:
        return pd.Timestamp(moment.replace(tzinfo=UTC))
    return pd.Timestamp(moment.astimezone(UTC))


def utc_times(values: pd.Series) -> pd.Series:
    """A datetime column as tz-aware UTC (naive values are UTC)."""
    return pd.to_datetime(values, utc=True)


def is_missing(value: object) -> bool:
    return value is None or (not isinstance(value, str | bytes) and bool(pd.isna(value)))


def person_keys(ids: pd.Series, links: pd.DataFrame) -> pd.Series:
    """Rule 7: the contact_key of each Lead/Contact Id (None when no link knows it).

    Ids are compared as Salesforce sends them (18 characters, no spaces), so they are not trimmed.
    """
    if links.empty:
        return pd.Series([None] * len(ids), index=ids.index, dtype=object)
    known = links.drop_duplicates("crm_id")
    position = pd.Index(known["crm_id"]).get_indexer(ids.to_numpy(dtype=object))
    keys = np.append(known["contact_key"].to_numpy(dtype=object), np.array([None], dtype=object))  # -1 reads None
    return pd.Series(keys[position], index=ids.index, dtype=object)


def lead_sources(people: pd.DataFrame) -> pd.Series:
    """Each person's lead source; a missing column or value is ``(none)``."""
    return texts(column(people, "lead_source")).fillna(NO_LEAD_SOURCE).astype(object)


def opportunity_facts(opportunities: pd.DataFrame, mapping: ReportMapping) -> pd.DataFrame:
    """One row per live opportunity: the columns of ``OPPORTUNITY_COLUMNS``.

    ``is_closed`` is IsClosed or the won field (a won opportunity is closed even if a custom won field says so
    alone); ``is_open`` is its negation; ``lead_source`` is ``(none)`` when empty; ``campaign_id`` None when empty.
    """
    amount_column = mirror_column(mapping.amount)
    close_column = mirror_column(mapping.close_date)
    won_column = mirror_column(mapping.won)
    require_columns(
        opportunities,
        "opportunities",
        [("id", "Id"), ("isclosed", "IsClosed"), (amount_column, mapping.amount),
         (close_column, mapping.close_date), (won_column, mapping.won)],
    )
    rows = live(opportunities)
    ids = texts(column(rows, "id"))
    is_won = flags(column(rows, won_column))
    is_closed = flags(column(rows, "isclosed")) | is_won
    facts = pd.DataFrame(
        {
            "opportunity_id": ids,
            "amount": amounts(column(rows, amount_column), ids, mapping.amount),
            "close_date": dates(column(rows, close_column), ids, mapping.close_date),
            "is_closed": is_closed,
            "is_won": is_won,
            "is_open": ~is_closed,
            "lead_source": texts(column(rows, "leadsource")).fillna(NO_LEAD_SOURCE).astype(object),
            "campaign_id": texts(column(rows, "campaignid")),
        },
        columns=list(OPPORTUNITY_COLUMNS),
    )
    return facts[facts["opportunity_id"].notna()].drop_duplicates("opportunity_id").reset_index(drop=True)


def opportunity_people(contact_roles: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    """Distinct (opportunity_id, contact_key) pairs: the people with a live contact role on each opportunity."""
    require_columns(contact_roles, "opportunity contact roles",
                    [("opportunityid", "OpportunityId"), ("contactid", "ContactId")])
    rows = live(contact_roles)
    pairs = pd.DataFrame(
        {
            "opportunity_id": texts(column(rows, "opportunityid")),
            "contact_key": person_keys(column(rows, "contactid"), links),
        }
    )
    return _distinct_pairs(pairs)


def campaign_people(campaign_members: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    """Distinct (campaign_id, contact_key) pairs of live campaign members, through their Lead and their Contact."""
    require_columns(campaign_members, "campaign members", [("campaignid", "CampaignId")])
    rows = live(campaign_members)
    campaign_ids = texts(column(rows, "campaignid"))
    # A member of a converted Lead carries both Ids; both lead to the same person, and either alone suffices.
    pairs = pd.concat(
        [
            pd.DataFrame({"campaign_id": campaign_ids, "contact_key": person_keys(column(rows, side), links)})
            for side in ("leadid", "contactid")
        ]
    )
    return _distinct_pairs(pairs)


def campaign_labels(campaigns: pd.DataFrame) -> pd.DataFrame:
    """Rule 8: one row per live campaign, columns campaign_id and segment, ordered by segment then Id."""
    require_columns(campaigns, "campaigns", [("id", "Id"), ("name", "Name")])
    rows = live(campaigns)
    labels = pd.DataFrame({"campaign_id": texts(column(rows, "id")), "name": texts(column(rows, "name"))})
    labels = labels[labels["campaign_id"].notna()].drop_duplicates("campaign_id")
    labels["name"] = labels["name"].where(labels["name"].notna(), labels["campaign_id"])
    shared = labels["name"].duplicated(keep=False)
    labels["segment"] = labels["name"].where(~shared, labels["name"] + " (" + labels["campaign_id"] + ")")
    labels = labels.sort_values(["segment", "campaign_id"], kind="mergesort")
    return labels[["campaign_id", "segment"]].astype(object).reset_index(drop=True)


def _distinct_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    pairs = pairs.dropna().drop_duplicates()
    return pairs.astype(object).reset_index(drop=True)
