"""How a pulled Salesforce record is held in its raw mirror table (``sf_lead``, ``sf_contact``, ...).

A mirror row keeps the record as Salesforce sent it: ``id`` (18 characters), ``system_modstamp`` (UTC datetime),
``is_deleted`` (bool), and one text column per pulled field, holding the value in Bulk API CSV form: booleans
``true``/``false``, datetimes ISO 8601 in UTC, dates ``YYYY-MM-DD``, numbers as plain text, no value as NULL.
Typing happens downstream, where pandera can quarantine a bad value with its reason instead of failing the pull.
"""

from __future__ import annotations

import csv
import io

import pyarrow as pa
import pyarrow.csv as pa_csv

MIRRORED_OBJECTS = {
    "Lead": "sf_lead",
    "Contact": "sf_contact",
    "Account": "sf_account",
    "Opportunity": "sf_opportunity",
    "OpportunityContactRole": "sf_opportunity_contact_role",
    "Campaign": "sf_campaign",
    "CampaignMember": "sf_campaign_member",
    "User": "sf_user",
}
SYSTEM_FIELDS = ("Id", "SystemModstamp", "IsDeleted")
PEOPLE_OBJECTS = ("Lead", "Contact")  # the objects whose records are people (All Contacts, lists, the push)


def mirror_column(field: str) -> str:
    """The mirror column of a Salesforce field: ``Email`` → ``email``, ``Account.Name`` → ``account__name``."""
    return field.lower().replace(".", "__")


def mirror_table(object_name: str) -> str:
    return MIRRORED_OBJECTS[object_name]


def parse_bulk_csv(page: str) -> pa.Table:
    """One Bulk result page: every column text, an empty value NULL (Salesforce quotes every value)."""
    header_line = page.split("\n", 1)[0]
    names = next(csv.reader([header_line])) if header_line else []
    if not names:
        return pa.table({})
    options = pa_csv.ConvertOptions(column_types={name: pa.string() for name in names},
                                    strings_can_be_null=True, quoted_strings_can_be_null=True)
    return pa_csv.read_csv(io.BytesIO(page.encode("utf-8")), convert_options=options,
                           read_options=pa_csv.ReadOptions(block_size=8 << 20))
