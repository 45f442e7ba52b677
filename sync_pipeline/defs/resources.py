"""Dagster resources: the Salesforce connection, the marketing database and the sync settings.

Configuration is read when a run starts, never at import: secrets through ``dagster.EnvVar``, the rest from the
environment with the defaults of the README.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field, PrivateAttr

from sync_pipeline.salesforce.connect import CREDENTIAL_VARIABLES, SalesforceResource
from sync_pipeline.settings import SyncSettings, load_settings
from sync_pipeline.store.engine import default_database_url, make_engine
from sync_pipeline.store.migrate import upgrade_to_head

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

DEFAULT_SETTINGS_PATH = "data/sync.yaml"


class MarketingDatabase(dg.ConfigurableResource):
    """The marketing database (SQLAlchemy URL from MARKETING_DB_URL; SQLite file under data/ by default).

    The schema is migrated to the latest version the first time a run uses it.
    """

    url: str = Field(default="", description="SQLAlchemy URL; empty means MARKETING_DB_URL or the SQLite default.")
    _engine: Engine | None = PrivateAttr(default=None)

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url or default_database_url())
            upgrade_to_head(self._engine)
        return self._engine


class SyncSettingsResource(dg.ConfigurableResource):
    """The sync settings file (SYNC_SETTINGS, default data/sync.yaml), validated on load."""

    path: str = Field(default="", description="Path of the settings YAML; empty means SYNC_SETTINGS or data/sync.yaml.")

    def load(self) -> SyncSettings:
        return load_settings(Path(self.path or os.environ.get("SYNC_SETTINGS", DEFAULT_SETTINGS_PATH)))


def salesforce_resource() -> SalesforceResource:
    """The connection, each credential through ``dagster.EnvVar`` (its value is read when a run starts).

    Only the variables set in this process are wired: each mode needs some of them, and Dagster refuses a run whose
    resource names an unset variable. The login then says which variable its mode still lacks."""
    return SalesforceResource(**{name: dg.EnvVar(variable) for name, variable in CREDENTIAL_VARIABLES.items()
                                 if variable in os.environ})


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources wired to the environment variables of the README."""
    return {
        "salesforce": salesforce_resource(),
        "marketing_db": MarketingDatabase(),
        "sync_settings": SyncSettingsResource(),
    }
