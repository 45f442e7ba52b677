"""Push figures for `make bench`: 100,000 changed scores and 10,000 Tasks sent to an emulator in its own process,
then the same values again through the push plan, which must make no write call at all."""

from __future__ import annotations

import csv
import io
import json
import resource
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sync_pipeline.bench.common import emulator_login, emulator_process
from sync_pipeline.bench.emulator_figures import bulk_query_pages
from sync_pipeline.records.mirror import PEOPLE_OBJECTS
from sync_pipeline.rules.activities import KEY_FIELD, plan_tasks
from sync_pipeline.rules.push_plan import plan_push
from sync_pipeline.salesforce.connect import open_connection
from sync_pipeline.salesforce.push import push_records
from sync_pipeline.settings import load_settings

WRITE_ENDPOINTS = ("composite/sobjects:PATCH", "composite/sobjects:POST", "jobs/ingest", "sobjects:PATCH")


def _writes(stats: dict[str, Any]) -> int:
    return sum(n for name, n in stats["by_endpoint"].items() if name.startswith(WRITE_ENDPOINTS))


def _timed(connection: Any, emulator: Any, action: Any) -> tuple[Any, dict[str, Any]]:
    calls, writes = emulator.stats()["api_calls"], _writes(emulator.stats())
    cpu, started = time.process_time(), time.perf_counter()
    result = action()
    wall = time.perf_counter() - started
    stats = emulator.stats()
    return result, {"wall_seconds": round(wall, 2), "cpu_seconds": round(time.process_time() - cpu, 2),
                    "api_calls": stats["api_calls"] - calls, "write_calls": _writes(stats) - writes}


def run(scores: int = 100_000, tasks: int = 10_000) -> dict[str, Any]:
    settings = load_settings(Path("data/sync.yaml"))
    with emulator_process(int(scores * 1.3)) as emulator:
        connection = open_connection(emulator_login(), emulator_url=emulator.url)
        client = connection.client
        pages = bulk_query_pages(client, "Lead", "SELECT Id, Email FROM Lead WHERE IsConverted = false", wait=0.5,
                                 max_records=500_000)
        leads = [row for page in pages for row in csv.DictReader(io.StringIO(page))][:scores]
        desired = pd.DataFrame({"crm_id": [r["Id"] for r in leads], "crm_type": "Lead",
                                "contact_key": [r["Id"] for r in leads],
                                "Behavior_Score__c": [(i * 37) % 1000 + 1 for i in range(len(leads))]})
        now = datetime.now(UTC)
        empty_state = pd.DataFrame(columns=["crm_id", "field", "value", "pushed_at"])
        current = pd.DataFrame(columns=["crm_id", "field", "value", "system_modstamp"])
        plan = plan_push(desired, empty_state, current, settings, local_changed_at=None, now=now)
        outcome, score_figures = _timed(connection, emulator, lambda: push_records(
            client, connection.usage, "Lead", plan.records_for("Lead"),
            bulk_threshold=settings.salesforce.bulk_threshold))
        score_figures.update(records=len(plan.records), succeeded=outcome.succeeded, failed=outcome.failed)
        score_figures["records_per_second"] = round(len(plan.records) / score_figures["wall_seconds"])

        events = pd.DataFrame({
            "event_id": [f"bench-{i}" for i in range(tasks)], "event_type": "form_submit",
            "email": [leads[i % len(leads)]["Email"] or f"x{i}@example.com" for i in range(tasks)],
            "occurred_at": pd.Timestamp(now), "campaign": None, "email_name": None, "url": None,
            "form": "Request a Demo"})
        links = pd.DataFrame({"email": [r["Email"] for r in leads if r["Email"]],
                              "crm_id": [r["Id"] for r in leads if r["Email"]], "crm_type": "Lead"})
        planned = plan_tasks(events, links.drop_duplicates("email"), ["form_submit"], set())
        task_outcome, task_figures = _timed(connection, emulator, lambda: push_records(
            client, connection.usage, "Task", planned.to_dict("records"), operation="upsert",
            external_id_field=KEY_FIELD, bulk_threshold=settings.salesforce.bulk_threshold))
        task_figures.update(tasks=len(planned), succeeded=task_outcome.succeeded, failed=task_outcome.failed)
        task_figures["records_per_second"] = round(len(planned) / task_figures["wall_seconds"])

        pushed = plan.updates.assign(pushed_at=now)[["crm_id", "field", "value", "pushed_at"]]
        again = plan_push(desired, pushed, current, settings, local_changed_at=None, now=now)
        _, unchanged = _timed(connection, emulator, lambda: [
            push_records(client, connection.usage, name, again.records_for(name)) for name in PEOPLE_OBJECTS
            if again.records_for(name)])
        unchanged["records_planned"] = len(again.records)
    return {"scores": score_figures, "tasks": task_figures, "no_change": unchanged,
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main(output: Path) -> int:
    figures = run()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(figures, indent=2))
    s, t, n = figures["scores"], figures["tasks"], figures["no_change"]
    print("push to the emulator (its own process):")
    print(f"  {s['records']:,} changed scores: {s['records_per_second']:,} records/s, {s['wall_seconds']} s wall, "
          f"{s['cpu_seconds']} s CPU, {s['api_calls']} API calls, {s['failed']} failed")
    print(f"  {t['tasks']:,} Tasks: {t['records_per_second']:,} records/s, {t['wall_seconds']} s wall, "
          f"{t['api_calls']} API calls, {t['failed']} failed")
    print(f"  no change: {n['records_planned']} records planned, {n['write_calls']} write calls")
    print(f"  peak memory of the pipeline process: {figures['peak_memory_mb']} MB")
    print(f"  figures written to {output}")
    return 0
