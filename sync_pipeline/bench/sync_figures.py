"""Whole-job figures for `make bench` ("sync"): the main job run four times as a user runs it, against an emulator
in its own process.

One size: the emulator at N Leads (N/4 Contacts), the seed's engagement events for N/4 people in a fresh drop
folder, a fresh marketing database (a new PostgreSQL database ``sync_bench``, dropped afterwards, or a SQLite file),
a fresh Dagster instance. Then ``dagster job execute -m sync_pipeline.definitions -j salesforce_sync``, each time a
process of its own with the environment of the README: (a) the full first run, (b) the run that reads back what
the first one pushed, (c) a run with no change, (d) a run
after 10,000 Leads changed in Salesforce (their Title, through Bulk API 2.0) and 10,000 new engagement events for
existing people in a new file. Per run: wall seconds of the whole command (start-up and code loading included), peak
memory of the job process (``wait4``'s ru_maxrss; the executor is in-process, so the steps run in it), API calls
the emulator counted, the exit status, and per-step seconds and records pulled from the run in the Dagster instance.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa
import yaml

from sync_pipeline.bench.common import Emulator, change_titles, emulator_login, emulator_process, live_ids
from sync_pipeline.emulator.app import DEFAULT_PASSWORD, DEFAULT_SECURITY_TOKEN, DEFAULT_USERNAME
from sync_pipeline.emulator.seed import event_line
from sync_pipeline.salesforce.connect import open_connection

JOB = "salesforce_sync"
# The second run reads back what the first run's push wrote to Salesforce (scores on most people): the third is the
# one with nothing changed anywhere.
RUNS = {"full": "full first run", "echo": "own writes back", "no_change": "no change", "changes": "after changes"}
BAR_LEADS = 1_000_000  # the targets are set for this size (DESIGN's bars); other sizes show them for reference
CHANGED_LEADS = 10_000
NEW_EVENTS = 10_000
BENCH_DATABASE = "sync_bench"
SETTINGS_SOURCE = Path("data/sync.yaml")
INSTANCE_SOURCE = Path("dagster.yaml")
SEED_EVENTS = "seed-7.jsonl"
STEPS_SHOWN = 3
FAILURE_LINES = 8


class SyncBenchError(RuntimeError):
    """A run of the job failed, or the bench could not set up: the message says which and why."""


@dataclass(frozen=True)
class Target:
    run: str
    figure: str
    limit: float
    unit: str


TARGETS = (
    Target("no_change", "wall_seconds", 15, "s"),
    Target("no_change", "peak_memory_mb", 400, "MB"),
    Target("changes", "wall_seconds", 60, "s"),
    Target("full", "wall_seconds", 480, "s"),
    Target("full", "peak_memory_mb", 1024, "MB"),
)


def targets(runs: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each target beside the measured figure, met or not (a run that was not measured meets nothing)."""
    rows = []
    for target in TARGETS:
        value = runs.get(target.run, {}).get(target.figure)
        rows.append({"run": target.run, "figure": target.figure, "limit": target.limit, "unit": target.unit,
                     "value": value, "met": value is not None and value <= target.limit})
    return rows


def merge_entry(document: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` (the figures file as read; may be empty) with ``entry`` replacing the one of its size and backend.

    Entries of other sizes or backends are kept; entries are ordered by backend, then size."""
    key = (entry["backend"], entry["leads"])
    kept = [e for e in document.get("entries", []) if (e.get("backend"), e.get("leads")) != key]
    return {"entries": sorted([*kept, dict(entry)], key=lambda e: (str(e.get("backend")), int(e.get("leads", 0))))}


def summary_lines(entry: Mapping[str, Any]) -> list[str]:
    """A short table of one entry: the three runs, then the targets, met or not."""
    lines = [f"sync: {JOB} as `dagster job execute`, {entry['leads']:,} Leads + {entry['contacts']:,} Contacts, "
             f"{entry['events']:,} engagement events of {entry['people_with_events']:,} people, "
             f"into {entry['database']}",
             f"  {'run':<16}{'wall s':>8}{'run s':>7}{'peak MB':>9}{'API calls':>11}{'pulled':>10}{'exit':>6}  "
             "slowest steps (s)"]
    for name, label in RUNS.items():
        run = entry["runs"].get(name)
        if run is None:
            continue
        slowest = sorted(run.get("steps", {}).items(), key=lambda item: -item[1])[:STEPS_SHOWN]
        run_seconds = "" if run.get("run_seconds") is None else f"{run['run_seconds']:.1f}"
        lines.append(f"  {label:<16}{run['wall_seconds']:>8.1f}{run_seconds:>7}{run['peak_memory_mb']:>9,}"
                     f"{run['api_calls']:>11,}"
                     f"{sum(run.get('pulled', {}).values()):>10,}{run['exit_status']:>6}  "
                     f"{', '.join(f'{step} {seconds:.1f}' for step, seconds in slowest)}")
    changed = entry["runs"].get("changes", {}).get("changed")
    if changed:
        lines.append(f"  before the third run: {changed['leads_changed']:,} Leads changed in Salesforce (Title), "
                     f"{changed['events_added']:,} new engagement events")
    scale = "" if entry["leads"] == BAR_LEADS else f"; set for {BAR_LEADS:,} Leads, shown here for reference"
    lines.append(f"  targets{scale}:")
    for row in entry["targets"]:
        value = "not measured" if row["value"] is None else f"{row['value']:,} {row['unit']}"
        lines.append(f"    {RUNS[row['run']]:<16} {row['figure']:<15} <= {row['limit']:,} {row['unit']:<3} "
                     f"{value:>12}  {'met' if row['met'] else 'NOT MET'}")
    return lines


@contextmanager
def marketing_database(database: str, folder: Path) -> Iterator[str]:
    """A fresh marketing database: a SQLite file in ``folder`` ('sqlite'), or ``sync_bench`` on a PostgreSQL server
    (``database`` is the server's URL), created here and dropped afterwards. Yields its URL (with any password)."""
    if database == "sqlite":
        yield f"sqlite:///{folder / 'marketing.db'}"
        return
    server = sa.make_url(database)
    if not server.drivername.startswith("postgresql"):
        raise SyncBenchError(f"--database must be 'sqlite' or a PostgreSQL server URL, not {server.drivername} "
                             f"({server.render_as_string(hide_password=True)})")
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:  # an earlier bench that was killed may have left it
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
            conn.execute(sa.text(f"CREATE DATABASE {BENCH_DATABASE}"))
        yield server.set(database=BENCH_DATABASE).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
        admin.dispose()


def write_settings(source: Path, target: Path) -> None:
    """The settings of ``source`` with no pull lookback (``lookback_minutes: 0``)."""
    settings = yaml.safe_load(source.read_text(encoding="utf-8"))
    # The three runs follow each other within minutes, and the first run's push rewrites (so restamps) nearly every
    # Lead and Contact: a lookback window reaching back before the previous run would re-read all of them once more,
    # and the later runs would measure that re-read rather than their change. Scheduled runs are hours apart.
    settings["salesforce"]["lookback_minutes"] = 0
    target.write_text(f"# {source} for the sync bench, with no pull lookback\n"
                      + yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")


def job_environment(emulator: Emulator, database_url: str, folder: Path) -> dict[str, str]:
    """The environment of the README for a run against the emulator; Salesforce variables of ours are not passed on."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("SALESFORCE_")}
    return {**inherited, "SALESFORCE_EMULATOR_URL": emulator.url, "SALESFORCE_AUTH": "password",
            "SALESFORCE_USERNAME": DEFAULT_USERNAME,
            "SALESFORCE_PASSWORD": DEFAULT_PASSWORD, "SALESFORCE_SECURITY_TOKEN": DEFAULT_SECURITY_TOKEN,
            "SALESFORCE_DOMAIN": "login", "MARKETING_DB_URL": database_url,
            "SYNC_SETTINGS": str(folder / "sync.yaml"), "ENGAGEMENT_EVENTS_DIR": str(folder / "events"),
            "EXPORTS_DIR": str(folder / "exports"), "DAGSTER_HOME": str(folder / "dagster_home")}


def _dagster_command() -> list[str]:
    beside = Path(sys.executable).with_name("dagster")  # the CLI of the environment we run in
    return [str(beside) if beside.exists() else "dagster", "job", "execute", "-m", "sync_pipeline.definitions",
            "-j", JOB]


def _run_process(env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run the job once as a process; wall seconds, peak memory (ru_maxrss of wait4, KB on Linux) and exit status."""
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(_dagster_command(), env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen, so it does not wait again
    return {"wall_seconds": round(time.perf_counter() - started, 1), "peak_memory_mb": round(usage.ru_maxrss / 1024),
            "exit_status": process.returncode}


def _int_metadata(stats: Any, key: str) -> dict[str, int]:
    """Per asset the step materialized, its whole-number metadata ``key``: ``changed_records`` (records a pull
    read), ``keys_examined`` (keys a derived step examined; 0 for a step that had nothing to do)."""
    found = {}
    for event in stats.materialization_events:
        materialization = event.asset_materialization
        value = materialization.metadata.get(key) if materialization else None
        if isinstance(value, dg.IntMetadataValue) and value.value is not None:
            found[materialization.asset_key.to_user_string()] = value.value
    return found


def _run_in_instance(home: Path, previous: str | None) -> dict[str, Any]:
    """The latest run of the job in the instance at ``home``: id, status, seconds per step and records pulled."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records(dg.RunsFilter(job_name=JOB), limit=1)
        if not records or records[0].dagster_run.run_id == previous:
            return {"run_id": None, "run_status": "no run was recorded", "run_seconds": None, "steps": {}, "pulled": {},
                    "keys_examined": {}}
        record, run = records[0], records[0].dagster_run
        stats = instance.get_run_step_stats(run.run_id)
        failures = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    steps = {s.step_key: round(s.end_time - s.start_time, 2) for s in stats if s.start_time and s.end_time}
    pulled = {asset: n for s in stats for asset, n in _int_metadata(s, "changed_records").items()}
    examined = {asset: n for s in stats for asset, n in _int_metadata(s, "keys_examined").items()}
    failed = {r.event_log_entry.step_key or "?": _failure_message(r.event_log_entry) for r in failures}
    # The run as Dagster timed it: the wall seconds less the command's start-up and code loading.
    seconds = round(record.end_time - record.start_time, 1) if record.start_time and record.end_time else None
    return {"run_id": run.run_id, "run_status": run.status.value, "run_seconds": seconds, "steps": steps,
            "pulled": pulled, "keys_examined": examined,
            **({"failed_steps": failed} if failed else {})}


def _failure_message(entry: Any) -> str:
    """The error a failed step ended with (its first lines: a settings error lists its problems there)."""
    error = entry.dagster_event.step_failure_data.error if entry.dagster_event else None
    lines = error.message.strip().splitlines()[:FAILURE_LINES] if error else []
    return "\n    ".join(lines) or "failed"


def run_job(name: str, emulator: Emulator, env: dict[str, str], previous: str | None) -> dict[str, Any]:
    """One run of the job, measured; raises :class:`SyncBenchError` (with the end of its output) when it fails."""
    home, log = Path(env["DAGSTER_HOME"]), Path(env["DAGSTER_HOME"]) / f"{name}.log"
    before = emulator.stats()
    figures = _run_process(env, log)
    after = emulator.stats()
    figures.update(api_calls=after["api_calls"] - before["api_calls"],
                   logins=after.get("logins", 0) - before.get("logins", 0), **_run_in_instance(home, previous))
    if figures["exit_status"] != 0 or figures["run_status"] != dg.DagsterRunStatus.SUCCESS.value:
        raise SyncBenchError(f"run '{RUNS[name]}' of {JOB} failed (exit status {figures['exit_status']}, run status "
                             f"{figures['run_status']}):\n" + _failure_report(figures.get("failed_steps", {}), log))
    return figures


def _failure_report(failed: Mapping[str, str], log: Path) -> str:
    """The failed steps with their errors; the end of the job's output when no step failed (it did not start)."""
    if failed:
        return "\n".join(f"  {step}: {message}" for step, message in failed.items())
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-20:])


def _people_emails(conn: sa.Connection, count: int) -> list[str]:
    return [row[0] for row in conn.execute(sa.text(
        "SELECT email FROM all_contacts WHERE is_active AND email IS NOT NULL ORDER BY contact_key LIMIT :n"),
        {"n": count})]


def write_new_events(path: Path, emails: list[str], count: int, now: datetime) -> int:
    """``count`` new engagement events (opens and page visits of the last hour) for these people, in turn."""
    with path.open("w", encoding="utf-8") as out:
        for number in range(count):
            email, when = emails[number % len(emails)], now - timedelta(seconds=number % 3600)
            if number % 2:
                out.write(event_line(f"bench-{number:06d}", "page_visit", email, when,
                                     {"url": "https://www.example.com/pricing"}))
            else:
                out.write(event_line(f"bench-{number:06d}", "email_open", email, when,
                                     {"campaign": "Monthly Newsletter", "email_name": "Monthly Newsletter #bench"}))
    return count


def change_org(emulator: Emulator, database_url: str, events_dir: Path) -> dict[str, int]:
    """10,000 Leads changed in Salesforce (Title, through Bulk API 2.0) and 10,000 new events in a new file."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            ids, emails = live_ids(conn, "Lead", CHANGED_LEADS), _people_emails(conn, NEW_EVENTS)
    finally:
        engine.dispose()
    if not ids or not emails:
        raise SyncBenchError("the first run left no live Lead or no person to change")
    connection = open_connection(emulator_login(), emulator_url=emulator.url)
    change_titles(connection.client, "Lead", ids)
    events = write_new_events(events_dir / "bench-changes.jsonl", emails, NEW_EVENTS, datetime.now(UTC))
    time.sleep(1.0)  # a pull reads up to the last whole second before it starts (SOQL datetimes are seconds)
    return {"leads_changed": len(ids), "events_added": events}


def _prepare(folder: Path) -> None:
    (folder / "events").mkdir()
    (folder / "dagster_home").mkdir()
    shutil.copyfile(INSTANCE_SOURCE, folder / "dagster_home" / "dagster.yaml")  # as `make dev` sets DAGSTER_HOME up
    write_settings(SETTINGS_SOURCE, folder / "sync.yaml")


def _lines(path: Path) -> int:
    with path.open("rb") as file:
        return sum(1 for _ in file)


def run(leads: int, database: str) -> dict[str, Any]:
    """The figures of one size and backend: one entry of ``sync.json``."""
    with tempfile.TemporaryDirectory(prefix="sync-bench-") as temporary:
        folder = Path(temporary)
        _prepare(folder)
        with marketing_database(database, folder) as database_url, \
                emulator_process(leads, events=folder / "events" / SEED_EVENTS, events_people=leads // 4) as emulator:
            env = job_environment(emulator, database_url, folder)
            runs: dict[str, dict[str, Any]] = {}
            runs["full"] = run_job("full", emulator, env, None)
            runs["echo"] = run_job("echo", emulator, env, runs["full"]["run_id"])
            runs["no_change"] = run_job("no_change", emulator, env, runs["echo"]["run_id"])
            changed = change_org(emulator, database_url, folder / "events")
            runs["changes"] = {**run_job("changes", emulator, env, runs["no_change"]["run_id"]), "changed": changed}
            events = _lines(folder / "events" / SEED_EVENTS)
    return {"backend": sa.make_url(database_url).get_backend_name(), "leads": leads, "contacts": max(leads // 4, 5),
            "people_with_events": leads // 4, "events": events, "bar_leads": BAR_LEADS,
            "database": sa.make_url(database_url).render_as_string(hide_password=True).replace(temporary, "<temp>"),
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "runs": runs, "targets": targets(runs)}


def main(leads: int, database: str, output: Path) -> int:
    try:
        entry = run(leads, database)
    except SyncBenchError as error:
        print(f"sync bench failed: {error}", file=sys.stderr)
        return 1
    document = json.loads(output.read_text(encoding="utf-8")) if output.exists() else {}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(merge_entry(document, entry), indent=2) + "\n", encoding="utf-8")
    print("\n".join(summary_lines(entry)))
    print(f"  figures written to {output}")
    return 0
