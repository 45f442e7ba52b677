"""Which fields the pull reads of each mirrored object.

Leads and Contacts: what the settings need (``settings.pulled_fields``: mapped fields, list columns, opt-out and
bounce fields, conversion fields). The related objects: the fields the audience, the lists, the sales-user table
and the reports need, plus whatever the settings' report mapping names on Opportunity.
"""

from __future__ import annotations

from sync_pipeline.settings import SyncSettings, pulled_fields
from sync_pipeline.records.mirror import SYSTEM_FIELDS

RELATED_FIELDS: dict[str, tuple[str, ...]] = {
    "Account": ("Name", "Industry", "AnnualRevenue", "NumberOfEmployees", "Type", "OwnerId"),
    "Opportunity": ("AccountId", "Name", "StageName", "Amount", "CloseDate", "IsClosed", "IsWon", "LeadSource",
                    "CampaignId", "OwnerId", "Probability"),
    "OpportunityContactRole": ("OpportunityId", "ContactId", "Role", "IsPrimary"),
    "Campaign": ("Name", "Type", "Status", "IsActive", "StartDate", "EndDate"),
    "CampaignMember": ("CampaignId", "LeadId", "ContactId", "Status", "HasResponded"),
    "User": ("Name", "FirstName", "LastName", "Email", "Username", "IsActive", "Title", "Department"),
}
PULLED_OBJECTS = ("Lead", "Contact", *RELATED_FIELDS)


def fields_for(settings: SyncSettings, object_name: str) -> list[str]:
    """The pulled fields of one object, system fields first, each once, in a stable order."""
    if object_name in ("Lead", "Contact"):
        fields = pulled_fields(settings, object_name)
    else:
        fields = list(RELATED_FIELDS[object_name])
        if object_name == "Opportunity":
            mapping = settings.report_mapping
            fields += [name for name in (mapping.amount, mapping.stage, mapping.close_date, mapping.won) if name]
    rest = sorted({f for f in fields if f not in SYSTEM_FIELDS}, key=str.lower)
    return [*SYSTEM_FIELDS, *rest]
