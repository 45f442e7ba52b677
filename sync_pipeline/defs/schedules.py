"""Schedules: one per marketing list (its cron in the settings) and the periodic full sync.

Every run these start carries the Salesforce tag, so the run queue lets one Salesforce sync run at a time
(dagster.yaml); a run that finds another one running waits in the queue instead of competing for the org.
"""

from typing import Any

import dagster as dg

from sync_pipeline.defs.names import list_asset_name
from sync_pipeline.defs.pull import FULL_SYNC_TAG
from sync_pipeline.settings import SyncSettings

SALESFORCE_RUN_TAG = {"sync_pipeline/salesforce": "sync"}
SCORE_AND_PUSH = ("engagement_events", "lead_score_maintenance", "salesforce_push", "activity_tasks", "new_leads")


def list_job_name(list_name: str) -> str:
    return list_asset_name(list_name) + "_sync"


def list_jobs_and_schedules(settings: SyncSettings | None) -> tuple[list[Any], list[dg.ScheduleDefinition]]:
    """A job per list: the list and everything upstream of it (pull, All Contacts), run on the list's cron."""
    jobs, schedules = [], []
    for item in settings.lists if settings else ():
        job = dg.define_asset_job(
            list_job_name(item.name),
            selection=dg.AssetSelection.assets(list_asset_name(item.name)).upstream()
            | dg.AssetSelection.assets(*SCORE_AND_PUSH),
            tags=SALESFORCE_RUN_TAG,
            description=f"Sync the marketing list \"{item.name}\": pull what it needs from Salesforce, rebuild All "
                        "Contacts and the list, then the maintenance step (scores), then the push: the push "
                        "depends on the maintenance, so it never sends a stale score and does not run if the "
                        "maintenance failed.",
        )
        jobs.append(job)
        if item.schedule:
            schedules.append(dg.ScheduleDefinition(
                name=f"{list_job_name(item.name)}_schedule", job=job, cron_schedule=item.schedule,
                execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.STOPPED,
                description=f"Syncs the list \"{item.name}\" on its schedule from the settings ({item.schedule}, "
                            "UTC)."))
    return jobs, schedules


def full_sync_schedule(job: Any, settings: SyncSettings | None) -> dg.ScheduleDefinition:
    cron = settings.full_sync_schedule if settings else "0 2 * * 0"
    return dg.ScheduleDefinition(
        name="full_sync_schedule", job=job, cron_schedule=cron, execution_timezone="UTC",
        tags={**SALESFORCE_RUN_TAG, FULL_SYNC_TAG: "true"}, default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"A full pull of every object ({cron}, UTC): catches what incremental pulls cannot see, such as "
                    "a renamed Account's name on its Contacts, and reconciles deleted records.",
    )
