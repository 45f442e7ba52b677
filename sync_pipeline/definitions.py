"""The Dagster definitions of sync_pipeline: assets, jobs and resources (see README for what each does).

The asset graph has one asset per marketing list and per saved report the settings name, so the settings file
(SYNC_SETTINGS, default data/sync.yaml) is read when the code location loads; credentials and every other value
are read when a run starts. Invalid settings do not stop the location from loading: the lists are left out and the
first asset of any run reports every problem.
"""

import os
from pathlib import Path

import dagster as dg

from sync_pipeline.defs.audience import all_contacts, list_assets, sales_users
from sync_pipeline.defs.pull import MIRROR_ASSETS
from sync_pipeline.defs.push import activity_tasks, new_leads, salesforce_push
from sync_pipeline.defs.report_freshness import (
    report_freshness_checks,
    report_freshness_job_and_schedule,
    report_refresh_sensor,
)
from sync_pipeline.defs.reporting import reporting_assets
from sync_pipeline.defs.resources import DEFAULT_SETTINGS_PATH, default_resources
from sync_pipeline.defs.salesforce import salesforce_connection
from sync_pipeline.defs.saved_reports import report_asset
from sync_pipeline.defs.schedules import SALESFORCE_RUN_TAG, full_sync_schedule, list_jobs_and_schedules
from sync_pipeline.defs.scoring import engagement_events, lead_score_maintenance
from sync_pipeline.defs.sensors import marketing_changes_sensor, new_engagement_events_sensor, push_job, scoring_job
from sync_pipeline.settings import SettingsError, SyncSettings, load_settings


def _settings_at_load() -> SyncSettings | None:
    try:
        return load_settings(Path(os.environ.get("SYNC_SETTINGS", DEFAULT_SETTINGS_PATH)))
    except SettingsError:
        return None


_settings = _settings_at_load()
_lists = list_assets(_settings)
_reports = [report_asset(name) for name in (_settings.report_names() if _settings else [])]
_analyst_outputs = reporting_assets(_settings)
_freshness = report_freshness_checks(_analyst_outputs)
_freshness_job, _freshness_schedule = report_freshness_job_and_schedule(_freshness)
assets = [salesforce_connection, *MIRROR_ASSETS, *_reports,
          all_contacts, sales_users, *_lists, engagement_events,
          lead_score_maintenance, salesforce_push, activity_tasks,
          new_leads, *_analyst_outputs]

salesforce_sync = dg.define_asset_job(
    "salesforce_sync",
    selection=dg.AssetSelection.all(),
    tags=SALESFORCE_RUN_TAG,
    description="The main job, end to end: connect to the org, pull, build All Contacts and the lists, score and "
                "maintain the lead score, push scores, consent, bounces, edits, new Leads and activity Tasks, then "
                "the analyst outputs (hot prospects, funnel, ROI).",
)

list_jobs, list_schedules = list_jobs_and_schedules(_settings)

defs = dg.Definitions(
    assets=assets,
    jobs=[salesforce_sync, *list_jobs, scoring_job, push_job, _freshness_job],
    asset_checks=[_freshness],
    sensors=[new_engagement_events_sensor, marketing_changes_sensor, report_refresh_sensor],
    schedules=[*list_schedules, full_sync_schedule(salesforce_sync, _settings),
               _freshness_schedule],
    resources=default_resources(),
    executor=dg.in_process_executor,
)
