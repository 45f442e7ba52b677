"""Pull figures for `make bench`: a full pull of 1,000,000 Leads+Contacts into PostgreSQL, then 1% changed and an
incremental pull, against an emulator running in its own process (as a real org would be: not sharing our CPU).

For each pull: records/s, wall and CPU seconds, API calls (counted by the emulator), peak memory of this process,
and the floor: the time a bare HTTP download of the same Bulk result pages takes (no parsing, no database).
"""

from __future__ import annotations

import json
import math
import os
import resource
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from simple_salesforce import format_soql

from sync_pipeline.bench.common import Emulator, change_titles, emulator_login, emulator_process, live_ids, session
from sync_pipeline.records.mirror import PEOPLE_OBJECTS, mirror_table
from sync_pipeline.salesforce.connect import open_connection
from sync_pipeline.salesforce.query import BULK_PAGE_RECORDS
from sync_pipeline.settings import load_settings, pulled_fields
from sync_pipeline.steps.pull import PullOptions, pull_object, select_fields
from sync_pipeline.store.engine import make_engine
from sync_pipeline.store.migrate import upgrade_to_head

OBJECTS = PEOPLE_OBJECTS
BARS = {"records_per_second": 50_000, "floor_ratio": 2.0, "peak_memory_mb": 512, "calls_per_100k": 10,
        "incremental_seconds": 5.0}


def _bare_download(emulator: Emulator, client: Any, soql: str) -> float:
    """Seconds to fetch the Bulk result pages of ``soql`` with plain HTTP: the floor of any pull."""
    base = f"{emulator.url}/services/data/v62.0/jobs/query"
    http = session()
    headers = {"Authorization": f"Bearer {client.session_id}"}
    started = time.perf_counter()
    job = http.post(base, json={"operation": "queryAll", "query": soql}, headers=headers, timeout=600).json()
    http.get(f"{base}/{job['id']}", headers=headers, timeout=60)
    locator = ""
    while True:
        params: dict[str, str | int] = {"maxRecords": BULK_PAGE_RECORDS, **({"locator": locator} if locator else {})}
        response = http.get(f"{base}/{job['id']}/results", params=params, headers=headers, timeout=600)
        locator = response.headers.get("Sforce-Locator", "null")
        if locator == "null":
            break
    return time.perf_counter() - started


def _pull_all(client: Any, engine: sa.Engine, settings: Any, emulator: Emulator) -> dict[str, Any]:
    before = emulator.stats()["api_calls"]
    cpu_before = time.process_time()
    started = time.perf_counter()
    run_started_at = datetime.now(UTC)
    results = {}
    for name in OBJECTS:
        result = pull_object(client, engine, name, pulled_fields(settings, name),
                             run_started_at=run_started_at,
                             options=PullOptions(settings.salesforce.full_sync_every_days,
                                                 settings.salesforce.lookback_minutes,
                                                 settings.salesforce.bulk_threshold))
        results[name] = result
    wall = time.perf_counter() - started
    records = sum(r.rows_written for r in results.values())
    calls = emulator.stats()["api_calls"] - before
    return {
        "records": records, "wall_seconds": round(wall, 2), "cpu_seconds": round(time.process_time() - cpu_before, 2),
        "records_per_second": round(records / wall) if wall else None, "api_calls": calls,
        "per_object": {name: {"changed": r.changed, "rows_written": r.rows_written, "pages": r.pages,
                              "api": "bulk" if r.used_bulk else "rest", "mode": r.plan.mode.value,
                              "seconds": round(r.seconds, 2)} for name, r in results.items()},
    }


def _change_one_percent(client: Any, engine: sa.Engine) -> dict[str, int]:
    """Change 1% of the Leads and Contacts through Bulk API 2.0 ingest (a real write path of the org)."""
    changed = {}
    with engine.connect() as conn:
        for name in OBJECTS:
            live = sa.text(f"SELECT COUNT(*) FROM {mirror_table(name)} WHERE NOT is_deleted")
            ids = live_ids(conn, name, conn.execute(live).scalar_one() // 100)
            change_titles(client, name, ids)
            changed[name] = len(ids)
    return changed


def run(leads: int, database_url: str) -> dict[str, Any]:
    settings = load_settings(Path(os.environ.get("SYNC_SETTINGS", "data/sync.yaml")))
    engine = make_engine(database_url)
    upgrade_to_head(engine)
    with engine.begin() as conn:  # the bench measures a first full pull: start from empty mirrors and cursors
        for table in ("sf_lead", "sf_contact"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(sa.text("DELETE FROM sync_state"))
    generation_started = time.perf_counter()
    with emulator_process(leads) as emulator:
        generation = time.perf_counter() - generation_started
        connection = open_connection(emulator_login(), emulator_url=emulator.url)
        client = connection.client
        floor = 0.0
        upper = format_soql("SystemModstamp < {}", datetime.now(UTC))
        for name in OBJECTS:  # the very query the full pull sends
            soql = f"SELECT {', '.join(select_fields(pulled_fields(settings, name)))} FROM {name} WHERE {upper}"
            floor += _bare_download(emulator, client, soql)
        full = _pull_all(client, engine, settings, emulator)
        full["floor_seconds"] = round(floor, 2)
        full["floor_ratio"] = round(full["wall_seconds"] / floor, 2)
        changed = _change_one_percent(client, engine)
        time.sleep(1.0)  # a pull reads up to the last whole second before it starts (SOQL datetimes are seconds)
        incremental = _pull_all(client, engine, settings, emulator)
        incremental["changed"] = changed
        incremental["call_budget"] = sum(math.ceil(n / 2000) + 1 for n in changed.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"leads": leads, "contacts": leads // 4, "emulator_start_seconds": round(generation, 1),
            "full": full, "incremental": incremental, "peak_memory_mb": round(peak_mb), "bars": BARS,
            "database": engine.url.render_as_string(hide_password=True)}


def main(leads: int, database_url: str, output: Path) -> int:
    figures = run(leads, database_url)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(figures, indent=2))
    full, incremental = figures["full"], figures["incremental"]
    print(f"pull into {figures['database']}: {full['records']:,} Leads+Contacts")
    print(f"  full:        {full['records_per_second']:,} records/s, {full['wall_seconds']} s wall, "
          f"{full['cpu_seconds']} s CPU, {full['api_calls']} API calls "
          f"({full['api_calls'] / max(full['records'], 1) * 100_000:.1f} per 100,000); floor (bare Bulk download) "
          f"{full['floor_seconds']} s, ratio {full['floor_ratio']}")
    print(f"  incremental: {sum(incremental['changed'].values()):,} changed, {incremental['wall_seconds']} s wall, "
          f"{incremental['cpu_seconds']} s CPU, {incremental['api_calls']} API calls "
          f"(budget {incremental['call_budget']})")
    print(f"  peak memory of the pipeline process: {figures['peak_memory_mb']} MB")
    print("  bars: >= 50,000 records/s, <= 2x floor, < 512 MB, <= 10 calls per 100,000, incremental < 5 s")
    print(f"  figures written to {output}")
    return 0
