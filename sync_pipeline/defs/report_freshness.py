"""Keeping the analyst reports fresh: rebuilt after any sync that changed their inputs, and checked for lag.

``report_refresh`` is Dagster's automation sensor over the reports (each carries ``REFRESH_AFTER_SYNC``): after a
list job, the scoring job or the push job updates what a report reads, it requests the report. ``report_fresh`` is
an asset check per report, run by the ``report_freshness`` job every 15 minutes (and with the reports themselves):
it fails when a report is older than its newest input by more than ``funnel.stale_after_minutes``.
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from sync_pipeline.defs.reporting import REPORTING_GROUP
from sync_pipeline.defs.resources import SyncSettingsResource
from sync_pipeline.rules.freshness import report_freshness

REPORT_FRESH = "report_fresh"
REPORT_FRESH_DESCRIPTION = ("the report is at most funnel.stale_after_minutes older than the newest materialization "
                            "of what it is built from")

report_refresh_sensor = dg.AutomationConditionSensorDefinition(
    "report_refresh",
    target=dg.AssetSelection.groups(REPORTING_GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Rebuilds a report once what it reads was updated by any run (none of its inputs missing or in "
                "progress), so list syncs, scoring and pushes refresh the analyst outputs too.",
)


def _materialized_at(instance: dg.DagsterInstance, key: dg.AssetKey) -> datetime | None:
    event = instance.get_latest_materialization_event(key)
    return None if event is None else datetime.fromtimestamp(event.timestamp, UTC)


def report_freshness_checks(reports: Sequence[dg.AssetsDefinition]) -> dg.AssetChecksDefinition:
    """One report_fresh check per report, over the report's own dependencies."""
    inputs = {report.key: sorted(report.dependency_keys, key=lambda key: key.to_user_string()) for report in reports}

    @dg.multi_asset_check(
        specs=[dg.AssetCheckSpec(REPORT_FRESH, asset=key, description=REPORT_FRESH_DESCRIPTION) for key in inputs],
        can_subset=True,
    )
    def report_fresh(context: dg.AssetCheckExecutionContext,
                     sync_settings: SyncSettingsResource) -> Iterator[dg.AssetCheckResult]:
        allowed = timedelta(minutes=sync_settings.load().funnel.stale_after_minutes)
        now = datetime.now(UTC)
        for check in context.selected_asset_check_keys:
            key = check.asset_key
            verdict = report_freshness(
                key.to_user_string(), _materialized_at(context.instance, key),
                {dep.to_user_string(): _materialized_at(context.instance, dep) for dep in inputs[key]}, allowed, now)
            yield dg.AssetCheckResult(
                asset_key=key, check_name=REPORT_FRESH, passed=verdict.fresh, description=verdict.describe(),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"lag_minutes": round(verdict.lag.total_seconds() / 60, 1),
                          "newest_input": verdict.newest_input or "",
                          "allowed_minutes": round(allowed.total_seconds() / 60, 1)})

    return report_fresh


def report_freshness_job_and_schedule(checks: dg.AssetChecksDefinition) -> tuple[Any, dg.ScheduleDefinition]:
    """The job that runs the checks alone, and its schedule every 15 minutes (running from the start: it calls no
    Salesforce API and writes nothing)."""
    job = dg.define_asset_job("report_freshness", selection=dg.AssetSelection.checks(checks),
                              description="Checks that each analyst report is not older than its inputs.")
    schedule = dg.ScheduleDefinition(name="report_freshness_schedule", job=job, cron_schedule="*/15 * * * *",
                                     default_status=dg.DefaultScheduleStatus.RUNNING,
                                     description="Every 15 minutes: are the analyst reports as new as their inputs?")
    return job, schedule
