"""The Dagster definitions of sync_pipeline: assets, jobs and resources (see README for what each does)."""

from __future__ import annotations

import dagster as dg

from sync_pipeline.defs.resources import default_resources
from sync_pipeline.defs.salesforce import salesforce_connection

# Every run that talks to Salesforce carries this tag; dagster.yaml allows one such run at a time.
SALESFORCE_RUN_TAG = {"sync_pipeline/salesforce": "sync"}

salesforce_sync = dg.define_asset_job(
    "salesforce_sync",
    selection=dg.AssetSelection.all(),
    tags=SALESFORCE_RUN_TAG,
    description="The main job: connect to the org, pull, score, push and report, once.",
)

defs = dg.Definitions(
    assets=[salesforce_connection],
    jobs=[salesforce_sync],
    resources=default_resources(),
    executor=dg.in_process_executor,
)
