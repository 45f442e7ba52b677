"""The sync settings (``data/sync.yaml``): model, loading with clear messages, and checks against the org.

Every problem is reported as ``<key.path>: <what is wrong> — <the fix>``, all of a file's problems at once.
"""

from sync_pipeline.settings.describe import check_against_describe, check_sources
from sync_pipeline.settings.errors import SettingsError
from sync_pipeline.settings.fields import PULLED_OBJECTS, fields_hash, mapped_fields_hash, pulled_fields
from sync_pipeline.settings.loader import load_settings, parse_settings
from sync_pipeline.settings.model import (
    ACTIVITY_TYPES,
    EVENT_TYPES,
    FIELD_TYPES,
    ActivitySettings,
    FieldMapping,
    HardBounceSettings,
    HotProspectSettings,
    ListPull,
    ListPush,
    ListSettings,
    ListSource,
    OptOutSettings,
    ReportMapping,
    SalesforceSettings,
    ScoringSettings,
    SyncSettings,
)

__all__ = [
    "ACTIVITY_TYPES",
    "EVENT_TYPES",
    "PULLED_OBJECTS",
    "FIELD_TYPES",
    "ActivitySettings",
    "FieldMapping",
    "HardBounceSettings",
    "HotProspectSettings",
    "ListPull",
    "ListPush",
    "ListSettings",
    "ListSource",
    "OptOutSettings",
    "ReportMapping",
    "SalesforceSettings",
    "ScoringSettings",
    "SettingsError",
    "SyncSettings",
    "check_against_describe",
    "check_sources",
    "fields_hash",
    "load_settings",
    "mapped_fields_hash",
    "parse_settings",
    "pulled_fields",
]
