"""`sync-pipeline org show` and `org reset`: the Salesforce org the marketing database is bound to."""

from __future__ import annotations

from sync_pipeline.cli.db import migrated_engine
from sync_pipeline.store.sync_state import read_org_state, reset_org


def show_org_command() -> int:
    with migrated_engine().connect() as conn:
        state = read_org_state(conn)
    if state is None:
        print("no org bound yet: the first sync binds the database to the org it connects to")
    else:
        print(f"bound to org {state.org_id} ({state.org_name}), first connected {state.first_connected_at}")
    return 0


def reset_org_command() -> int:
    with migrated_engine().begin() as conn:
        reset_org(conn)
    print("org binding reset: the next sync binds to the org it connects to and runs a full sync")
    return 0
