"""Raw mirror frames for the report tests (hot prospects, funnel, ROI), as the mirror tables hold them."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

OPPORTUNITY_FIELDS = ("accountid", "name", "stagename", "amount", "closedate", "isclosed", "iswon", "leadsource",
                      "campaignid", "ownerid", "probability", "createddate")
ROLE_FIELDS = ("opportunityid", "contactid", "role", "isprimary")
MEMBER_FIELDS = ("campaignid", "leadid", "contactid", "status", "hasresponded", "createddate")
CAMPAIGN_FIELDS = ("name", "type", "status", "isactive", "startdate", "enddate", "budgetedcost", "actualcost")


def mirror(fields, *rows):
    """A raw mirror frame: id, is_deleted, system_modstamp and one text column per field (None when not given)."""
    return pd.DataFrame(
        [
            {
                "id": row["id"],
                "is_deleted": row.get("is_deleted", False),
                "system_modstamp": datetime(2026, 1, 1, tzinfo=UTC),
                **{field: row.get(field) for field in fields},
            }
            for row in rows
        ],
        columns=["id", "is_deleted", "system_modstamp", *fields],
    )
