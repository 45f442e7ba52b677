"""`sync-pipeline demo`: the main job, end to end, against the emulator's demo org, on embedded defaults.

What it does: starts the emulator with the demo seed (and writes the seed's marketing engagement events to
``data/events/``), runs the `salesforce_sync` job once with the same connection code a real org uses (marketing
database: ``data/demo.db``, SQLite; Dagster instance: ``DAGSTER_HOME`` when set, else a temporary one), and prints
what each step did and what the tables hold. Running it again is an incremental sync of the same org.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa

from sync_pipeline.emulator.testing import running_emulator

DEMO_SEED = 7
EVENTS_PATH = Path("data/events/demo-seed-7.jsonl")
DEMO_DATABASE = Path("data/demo.db")
SHOWN_METADATA = {
    "sf_": ("mode", "changed_records", "rows_written", "api", "api_calls"),
    "report_": ("rows", "total_rows", "truncated"),
    "all_contacts": ("people", "active", "inactive", "duplicates_merged", "converted", "quarantined_records"),
    "list_": ("members_in_source", "added", "updated", "removed", "unchanged", "missing_key"),
    "sales_users": ("rows", "active"),
    "salesforce_connection": ("org_id", "api_calls"),
    "engagement_events": ("files_read", "new_events", "malformed_events_quarantined"),
    "lead_score_maintenance": ("people_with_score", "lead_scores_changed", "list_rows_updated"),
    "salesforce_push": ("records_planned", "fields_planned", "consent_changes", "conflicts",
                        "records_rejected_or_not_sent"),
    "activity_tasks": ("tasks_planned", "succeeded", "failed", "api", "api_calls"),
}


def _instance() -> dg.DagsterInstance:
    home = os.environ.get("DAGSTER_HOME")
    if home and Path(home, "dagster.yaml").exists():
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def _shown(asset: str, metadata: dict[str, Any]) -> str:
    keys = next((keys for prefix, keys in SHOWN_METADATA.items() if asset.startswith(prefix)), ())
    return ", ".join(f"{k} {metadata[k].value}" for k in keys if k in metadata)


def run_demo() -> int:
    DEMO_DATABASE.parent.mkdir(parents=True, exist_ok=True)
    print(f"Starting the Salesforce emulator with the demo org (seed {DEMO_SEED})...")
    with running_emulator(seed=DEMO_SEED, scale="demo", events_path=EVENTS_PATH) as emulator:
        print(f"Emulator at {emulator.url}; {emulator.summary['events']:,} engagement events in {EVENTS_PATH}")
        os.environ.update(emulator.env())
        os.environ["MARKETING_DB_URL"] = f"sqlite:///{DEMO_DATABASE}"
        from sync_pipeline.definitions import defs

        job = defs.resolve_job_def("salesforce_sync")
        print(f"Running the job salesforce_sync into {DEMO_DATABASE}...\n")
        with _instance() as instance:
            result = job.execute_in_process(instance=instance, raise_on_error=False)
        for event in result.all_events:
            if event.event_type_value == "ASSET_MATERIALIZATION":
                materialization = event.event_specific_data.materialization
                asset = materialization.asset_key.to_user_string()
                print(f"  {asset:<42} {_shown(asset, materialization.metadata)}")
            elif event.event_type_value == "STEP_FAILURE":
                print(f"  FAILED {event.step_key}: {event.event_specific_data.error.message.strip()}")
            elif event.event_type_value == "ASSET_CHECK_EVALUATION":
                evaluation = event.event_specific_data
                print(f"  check {evaluation.check_name}: {'passed' if evaluation.passed else 'WARNING'}")
        stats = emulator.admin("GET", "stats")
    engine = sa.create_engine(f"sqlite:///{DEMO_DATABASE}")
    with engine.connect() as conn:
        counts = {table: conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                  for table in ("all_contacts", "list_members", "quarantine", "sales_users", "report_rows",
                                "engagement_events", "push_results", "consent_ledger", "pushed_activities")}
        reasons = conn.execute(sa.text(
            "SELECT field, reason, COUNT(*) FROM quarantine GROUP BY field, reason ORDER BY 3 DESC LIMIT 3")).all()
    engine.dispose()
    print("\nTables: " + ", ".join(f"{table} {count:,}" for table, count in counts.items()))
    for field, reason, count in reasons:
        print(f"  quarantined: {count} x {field}: {reason}")
    print(f"Salesforce API calls of this run: {stats['api_calls']} (logins not counted)")
    print("\nEmulator stopped." if result.success else "\nThe job failed; see the messages above.")
    return 0 if result.success else 1
