"""Connecting a run: the database is bound to one Salesforce org, and the settings are checked against it.

:func:`bind_org` remembers the org on the first connection and refuses another one (``OrgSwitchError``) until
`sync-pipeline org reset`; :func:`check_org` checks the settings against the org's describe metadata (fatal) and the
campaigns and reports the lists name (a warning: only those lists fail).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from sync_pipeline.rules.org_binding import check_org_binding
from sync_pipeline.salesforce.connect import SalesforceConnection
from sync_pipeline.salesforce.query import names_in_org
from sync_pipeline.settings import SyncSettings, check_against_describe, check_sources
from sync_pipeline.store.sync_state import read_org_state, remember_org

# Objects whose describe the settings are checked against when the run connects.
DESCRIBED_OBJECTS = ("Lead", "Contact", "Account")


def bind_org(engine: Engine, connection: SalesforceConnection) -> None:
    """Remember the org on first connection; refuse another org (OrgSwitchError) until `org reset`."""
    with engine.begin() as conn:
        state = read_org_state(conn)
        check_org_binding(state.org_id if state else None, connection.org_id)
        remember_org(
            conn,
            org_id=connection.org_id,
            org_name=connection.org_name,
            is_sandbox=connection.is_sandbox,
            instance_host=connection.instance_host,
        )


@dataclass(frozen=True)
class OrgCheck:
    """What the org says of the settings: ``problems`` stop the run; ``missing_sources`` fail only their lists."""

    problems: list[str]
    missing_sources: list[str]


def check_org(connection: SalesforceConnection, settings: SyncSettings) -> OrgCheck:
    """The settings against the org: describes of DESCRIBED_OBJECTS, then (if they match) the lists' sources."""
    client = connection.client
    describes = {name: connection.describe(name) for name in DESCRIBED_OBJECTS}
    problems = check_against_describe(settings, describes)
    if problems:
        return OrgCheck(problems, [])
    sources = check_sources(settings, names_in_org(client, "Campaign", settings.campaign_names()),
                            names_in_org(client, "Report", settings.report_names()))
    return OrgCheck([], sources)
