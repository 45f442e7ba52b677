"""Binding the marketing database to one Salesforce org, and the `sync-pipeline org` commands."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from sync_pipeline.salesforce.connect import SalesforceConnection
from sync_pipeline.store.engine import default_database_url, make_engine
from sync_pipeline.store.migrate import upgrade_to_head
from sync_pipeline.store.sync_state import read_org_state, remember_org, reset_org
from sync_pipeline.sync.org_binding import check_org_binding


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


def _engine() -> Engine:
    engine = make_engine(default_database_url())
    upgrade_to_head(engine)
    return engine


def show_org_command() -> int:
    with _engine().connect() as conn:
        state = read_org_state(conn)
    if state is None:
        print("no org bound yet: the first sync binds the database to the org it connects to")
    else:
        print(f"bound to org {state.org_id} ({state.org_name}), first connected {state.first_connected_at}")
    return 0


def reset_org_command() -> int:
    with _engine().begin() as conn:
        reset_org(conn)
    print("org binding reset: the next sync binds to the org it connects to and runs a full sync")
    return 0
