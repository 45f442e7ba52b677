"""The Salesforce fields a pull selects per object, and their fingerprint (the one home of both).

Leads and Contacts: what the settings need (mapped fields, list columns, opt-out and bounce fields) plus identity,
conversion and the Account link. The related objects: the fields the audience, the lists, the sales-user table and
the reports need, plus whatever the report mapping names on Opportunity.

The pull stores this fingerprint with its cursor: when the set of pulled fields changes (a mapping or a list column
added), the fingerprint changes and the next pull of that object is a full one, so the new columns get filled for
every record and not only for records modified afterwards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sync_pipeline.records.mirror import SYSTEM_FIELDS
from sync_pipeline.settings.model import SyncSettings

# Always selected: identity, the incremental cursor, deletes, the owner (for sales users and hot prospects) and
# CreatedDate (the primary record of a person with several records is the earliest created).
ALWAYS_PULLED = ("Id", "SystemModstamp", "IsDeleted", "OwnerId", "CreatedDate")
# Per object: lead conversion, and the Account link that gives a Contact its company.
PULLED_PER_OBJECT = {
    "Lead": ("IsConverted", "ConvertedContactId", "ConvertedAccountId"),
    "Contact": ("AccountId",),
}


RELATED_FIELDS: dict[str, tuple[str, ...]] = {
    "Account": ("Name", "Industry", "AnnualRevenue", "NumberOfEmployees", "Type", "OwnerId"),
    "Opportunity": ("AccountId", "Name", "StageName", "Amount", "CloseDate", "IsClosed", "IsWon", "LeadSource",
                    "CampaignId", "OwnerId", "Probability"),
    "OpportunityContactRole": ("OpportunityId", "ContactId", "Role", "IsPrimary"),
    "Campaign": ("Name", "Type", "Status", "IsActive", "StartDate", "EndDate", "BudgetedCost", "ActualCost"),
    "CampaignMember": ("CampaignId", "LeadId", "ContactId", "Status", "HasResponded"),
    "User": ("Name", "FirstName", "LastName", "Email", "Username", "IsActive", "Title", "Department"),
}
PULLED_OBJECTS = (*PULLED_PER_OBJECT, *RELATED_FIELDS)


def _object_name(object_name: str) -> str:
    for name in PULLED_OBJECTS:
        if name.lower() == object_name.lower():
            return name
    raise ValueError(f"no pull is defined for {object_name!r}; pulled objects: {', '.join(PULLED_OBJECTS)}")


def _settings_fields(settings: SyncSettings, object_name: str) -> list[str]:
    mapped = list(settings.mapped_fields(object_name).values())
    columns = [column for item in settings.lists if item.object_name == object_name for column in item.columns]
    consent = [settings.opt_out.field, settings.hard_bounce.field, settings.hard_bounce.date_field]
    return [*mapped, *columns, *consent]


def _wanted(settings: SyncSettings, name: str) -> list[str]:
    if name in PULLED_PER_OBJECT:
        return [*ALWAYS_PULLED, *PULLED_PER_OBJECT[name], *_settings_fields(settings, name)]
    wanted = [*SYSTEM_FIELDS, *RELATED_FIELDS[name]]
    if name == "Opportunity":
        mapping = settings.report_mapping
        wanted += [field for field in (mapping.amount, mapping.stage, mapping.close_date, mapping.won) if field]
    return wanted


def pulled_fields(settings: SyncSettings, object_name: str) -> list[str]:
    """Sorted, de-duplicated fields the pull of ``object_name`` selects (case-insensitive, first spelling)."""
    unique: dict[str, str] = {}
    for field in _wanted(settings, _object_name(object_name)):
        unique.setdefault(field.lower(), field)
    return sorted(unique.values())


def fields_hash(fields: Iterable[str]) -> str:
    """sha256 (hex) of the sorted, comma-joined fields: the same set gives the same value, in any order."""
    return hashlib.sha256(",".join(sorted(set(fields))).encode("utf-8")).hexdigest()


def mapped_fields_hash(settings: SyncSettings, object_name: str) -> str:
    """The fingerprint of ``pulled_fields``; a different value means the next pull must be full."""
    return fields_hash(pulled_fields(settings, object_name))
