"""The Salesforce fields a pull selects per object, and their fingerprint.

The pull stores this fingerprint with its cursor: when the set of pulled fields changes (a mapping or a list column
added), the fingerprint changes and the next pull of that object is a full one, so the new columns get filled for
every record and not only for records modified afterwards.
"""

from __future__ import annotations

import hashlib

from sync_pipeline.settings.model import SyncSettings

# Always selected: identity, the incremental cursor, deletes, the owner (for sales users and hot prospects) and
# CreatedDate (the primary record of a person with several records is the earliest created).
ALWAYS_PULLED = ("Id", "SystemModstamp", "IsDeleted", "OwnerId", "CreatedDate")
# Per object: lead conversion, and the Account link that gives a Contact its company.
PULLED_PER_OBJECT = {
    "Lead": ("IsConverted", "ConvertedContactId", "ConvertedAccountId"),
    "Contact": ("AccountId",),
}


def _object_name(object_name: str) -> str:
    for name in PULLED_PER_OBJECT:
        if name.lower() == object_name.lower():
            return name
    raise ValueError(f"pulled fields exist for Lead and Contact only, not {object_name!r}")


def _settings_fields(settings: SyncSettings, object_name: str) -> list[str]:
    mapped = list(settings.mapped_fields(object_name).values())
    columns = [column for item in settings.lists if item.object_name == object_name for column in item.columns]
    consent = [settings.opt_out.field, settings.hard_bounce.field, settings.hard_bounce.date_field]
    return [*mapped, *columns, *consent]


def pulled_fields(settings: SyncSettings, object_name: str) -> list[str]:
    """Sorted, de-duplicated fields the pull of ``Lead`` or ``Contact`` selects (case-insensitive, first spelling)."""
    name = _object_name(object_name)
    unique: dict[str, str] = {}
    for field in (*ALWAYS_PULLED, *PULLED_PER_OBJECT[name], *_settings_fields(settings, name)):
        unique.setdefault(field.lower(), field)
    return sorted(unique.values())


def mapped_fields_hash(settings: SyncSettings, object_name: str) -> str:
    """sha256 (hex) of the comma-joined ``pulled_fields``; a different value means the next pull must be full."""
    return hashlib.sha256(",".join(pulled_fields(settings, object_name)).encode("utf-8")).hexdigest()
