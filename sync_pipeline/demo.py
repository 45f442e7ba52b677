"""`sync-pipeline demo`: start the emulator with the demo seed and show, through the real client, what the org holds.

This is what the demo does today: it generates the demo org and its marketing-side engagement events (written to
``data/events/``), then reads the org (record counts per object, the saved reports, the first rows of the
"Prospects in Active Opportunities" report) with the same connection code a real org uses. It does not yet run the
sync job.
"""

from __future__ import annotations

from pathlib import Path

from simple_salesforce import Salesforce, format_soql

from sync_pipeline.emulator.testing import running_emulator
from sync_pipeline.salesforce.connect import SalesforceConnection, open_connection
from sync_pipeline.salesforce.reports import find_report_id, run_report

DEMO_SEED = 7
DEMO_OBJECTS = (
    "Lead",
    "Contact",
    "Account",
    "Opportunity",
    "OpportunityContactRole",
    "Campaign",
    "CampaignMember",
    "User",
    "Task",
)
SHOWCASE_REPORT = "Prospects in Active Opportunities"
EVENTS_PATH = Path("data/events/demo-seed-7.jsonl")


def _count(client: Salesforce, soql: str, *, include_deleted: bool = False) -> int:
    # query(), not query_all(): query_all recounts the records it fetched, and COUNT() fetches none.
    return int(client.query(soql, include_deleted=include_deleted)["totalSize"])


def print_org_summary(connection: SalesforceConnection) -> None:
    client = connection.client
    print(f"Org {connection.org_id} \"{connection.org_name}\" (sandbox: {'yes' if connection.is_sandbox else 'no'})")
    print()
    print(f"  {'object':<24}{'records':>10}{'in recycle bin':>16}")
    for name in DEMO_OBJECTS:
        live = _count(client, f"SELECT COUNT() FROM {name}")  # object names are our constants, not input
        deleted = _count(client, f"SELECT COUNT() FROM {name} WHERE IsDeleted = true", include_deleted=True)
        print(f"  {name:<24}{live:>10,}{deleted:>16,}")
    print()
    reports = client.query("SELECT Id, Name FROM Report ORDER BY Name")["records"]
    print("Saved reports: " + ", ".join(str(r["Name"]) for r in reports))
    result = run_report(client, find_report_id(client, SHOWCASE_REPORT))
    shown = result.rows[:5]
    print(f"\n\"{result.name}\": {len(result.rows):,} rows{' (truncated at 2,000)' if result.truncated else ''}")
    if shown:
        header = result.columns[:5]
        print("  " + " | ".join(result.labels[c] for c in header))
        for row in shown:
            print("  " + " | ".join("" if row[c] is None else str(row[c]) for c in header))
    hot = client.query(
        format_soql("SELECT COUNT() FROM Lead WHERE IsConverted = {} AND HasOptedOutOfEmail = {}", False, False)
    )["totalSize"]
    print(f"\nLeads not converted and not opted out: {hot:,}")
    print(f"API calls used by this demo: {connection.usage.calls}"
          + (f" (org usage {connection.usage.org_used}/{connection.usage.org_limit})" if connection.usage.org_limit else ""))


def run_demo() -> int:
    print(f"Starting the Salesforce emulator with the demo org (seed {DEMO_SEED})...")
    with running_emulator(seed=DEMO_SEED, scale="demo", events_path=EVENTS_PATH) as emulator:
        print(f"Emulator at {emulator.url}, login {emulator.username}")
        print(f"Wrote {emulator.summary['events']:,} marketing engagement events to {EVENTS_PATH}\n")
        connection = open_connection(
            username=emulator.username,
            password=emulator.password,
            security_token=emulator.security_token,
            domain=emulator.domain,
            emulator_url=emulator.url,
        )
        print_org_summary(connection)
    print("\nEmulator stopped.")
    return 0
