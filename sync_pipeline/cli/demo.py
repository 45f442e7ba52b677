"""`sync-pipeline demo`: the main job, end to end, against the emulator's demo org, on embedded defaults.

What it does: starts the emulator with the demo seed (and writes the seed's marketing engagement events to
``data/events/``), runs the `salesforce_sync` job once through Dagster with the same connection code a real org uses
(marketing database: ``data/demo.db``, SQLite; Dagster instance: ``DAGSTER_HOME`` when it holds a dagster.yaml, so
``make dev`` shows the run, else a temporary one), prints a summary a person reads in ten seconds, and stops the
emulator. Running it again is an incremental sync of the same org.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa

from sync_pipeline.emulator.testing import running_emulator

DEMO_SEED = 7
EVENTS_PATH = Path("data/events/demo-seed-7.jsonl")
DEMO_DATABASE = Path("data/demo.db")
TOP_PROSPECTS_SHOWN = 5


@dataclass
class RunFacts:
    """What one run did, gathered from its materializations and the tables it wrote (see :func:`summary_lines`)."""

    success: bool
    pulled: dict[str, tuple[int, str]] = field(default_factory=dict)  # object → (records, mode)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)
    # "object operation" → records per outcome kind (pushed, refused, locked, deferred, unsent) in this run
    pushed: dict[str, dict[str, int]] = field(default_factory=dict)
    quarantine_reasons: list[tuple[str, str, int]] = field(default_factory=list)
    opted_out: int = 0
    bounced: int = 0
    consent_changes: int = 0  # ledger entries of this run
    prospects: list[tuple[Any, ...]] = field(default_factory=list)
    prospect_count: int = 0
    funnel_headline: str = ""
    top_campaign: tuple[Any, ...] | None = None
    exports: list[str] = field(default_factory=list)
    api_calls: int = 0
    login: str = ""  # the login mode and API version, e.g. "jwt at API 65.0"


def _instance() -> dg.DagsterInstance:
    home = os.environ.get("DAGSTER_HOME")
    if home and Path(home, "dagster.yaml").exists():
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def _number(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, (int, float)) else str(value)


def summary_lines(facts: RunFacts) -> list[str]:
    """The demo's summary: pulled, quarantined, pushed, consent, Tasks, hot prospects, funnel, exports."""
    lines = [f"salesforce_sync {'succeeded' if facts.success else 'FAILED'} "
             f"({facts.api_calls} Salesforce API calls, logins not counted"
             f"{f'; logged in by {facts.login}' if facts.login else ''})", ""]
    lines += [f"  FAILED {failure}" for failure in facts.failures]
    lines += [f"  warning: {warning}" for warning in facts.warnings]
    pulled = ", ".join(f"{name} {count:,}" for name, (count, _) in facts.pulled.items())
    modes = sorted({mode for _, mode in facts.pulled.values()})
    lines.append(f"Pulled ({'/'.join(modes) or 'nothing'}):  {pulled or 'nothing'}")
    reasons = "; ".join(f"{count} × {fld}: {reason}" for fld, reason, count in facts.quarantine_reasons)
    lines.append(f"Audience:   {facts.tables.get('all_contacts', 0):,} people in all_contacts, "
                 f"{facts.tables.get('list_members', 0):,} list memberships; "
                 f"{facts.tables.get('quarantine', 0):,} values quarantined{f' ({reasons})' if reasons else ''}")
    updates = _kinds(*(counts for name, counts in facts.pushed.items() if name.endswith("update")))
    lines.append(f"Pushed:     {updates['pushed']:,} Lead/Contact updates (scores, consent, bounces, edits), "
                 f"{_not_pushed(updates)}")
    tasks, created = _kinds(facts.pushed.get("Task upsert", {})), _kinds(facts.pushed.get("Lead create", {}))
    lines.append(f"Activities: {tasks['pushed']:,} Tasks upserted ({_not_pushed(tasks)}); "
                 f"{created['pushed']:,} new Leads created")
    lines.append(f"Consent:    {facts.opted_out:,} people opted out, {facts.bounced:,} hard-bounced; "
                 f"{facts.consent_changes:,} consent changes recorded in consent_ledger this run")
    lines.append(f"Hot prospects ({facts.prospect_count:,} in hot_prospects; the top {len(facts.prospects)}):")
    for name, owner, score, sources, flagged in facts.prospects:
        lines.append(f"    {score:5.1f}  {name:<24} owner {owner or '(none)':<16} {sources}"
                     f"{'  [opted out/bounced]' if flagged else ''}")
    lines.append(f"Funnel:     {facts.funnel_headline or 'no funnel yet'}")
    if facts.top_campaign:
        campaign, returned, cost, won = facts.top_campaign
        lines.append(f"ROI:        top campaign by return {campaign}: {returned:+.0%} on cost {_number(cost)} "
                     f"(won {_number(won)}, even split)")
    else:
        lines.append("ROI:        no campaign has a cost yet (BudgetedCost or ActualCost), so no return")
    lines.append(f"Exports:    {', '.join(facts.exports) or 'none'}")
    return lines


def _kinds(*counts: dict[str, int]) -> dict[str, int]:
    """Records per outcome kind, summed over ``counts``; every kind present."""
    return {kind: sum(c.get(kind, 0) for c in counts) for kind in ("pushed", "refused", "locked", "deferred",
                                                                  "unsent")}


def _not_pushed(kinds: dict[str, int]) -> str:
    """'3 refused, 12 unsent' (refused and locked are Salesforce's answers; unsent never reached it)."""
    said = [f"{kinds['refused'] + kinds['locked']:,} refused"]
    said += [f"{kinds[kind]:,} {label}" for kind, label in (("unsent", "unsent"), ("deferred", "left for the API "
                                                                                   "budget")) if kinds[kind]]
    return ", ".join(said)


def _gather_from_events(result: dg.ExecuteInProcessResult, facts: RunFacts) -> None:
    for event in result.all_events:
        if event.is_step_materialization:
            _gather_materialization(event.materialization, facts)
        elif event.is_step_failure:
            error = event.step_failure_data.error
            facts.failures.append(f"{event.step_key}: {error.message.strip() if error else 'failed'}")
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.asset_check_evaluation_data
            if not evaluation.passed:
                facts.warnings.append(f"check {evaluation.check_name} on "
                                      f"{evaluation.asset_key.to_user_string()} did not pass")


def _gather_materialization(materialization: dg.AssetMaterialization, facts: RunFacts) -> None:
    """A pull's records and mode (the sf_ assets), the funnel's headline and how the run logged in."""
    asset = materialization.asset_key.to_user_string()
    metadata = materialization.metadata
    changed = metadata.get("changed_records")
    if asset.startswith("sf_") and isinstance(changed, dg.IntMetadataValue) and changed.value is not None:
        facts.pulled[asset.removeprefix("sf_")] = (changed.value, _text(metadata, "mode"))
    if asset == "funnel":
        facts.funnel_headline = _text(metadata, "headline")
    if asset == "salesforce_connection":
        facts.login = f"{_text(metadata, 'login')} at API {_text(metadata, 'api_version')}"


def _text(metadata: Mapping[str, dg.MetadataValue], key: str) -> str:
    """A metadata entry's value as text; "" when there is no such entry."""
    entry = metadata.get(key)
    return "" if entry is None else str(entry.value)


def _gather_from_tables(database: Path, run_id: str, started: datetime, facts: RunFacts) -> None:
    """What the tables say of this run (nothing when the run failed before creating them)."""
    engine = sa.create_engine(f"sqlite:///{database}")
    meta = sa.MetaData()
    try:
        with engine.connect() as conn:
            meta.reflect(conn)
            _read_facts(conn, meta.tables, run_id, started, facts)
    except (sa.exc.OperationalError, KeyError) as error:
        facts.warnings.append(f"the tables could not be summarized ({error})")
    finally:
        engine.dispose()


def _count(conn: sa.Connection, table: sa.Table, *where: Any) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def _read_facts(conn: sa.Connection, tables: Any, run_id: str, started: datetime, facts: RunFacts) -> None:
    people, results, ledger = tables["all_contacts"], tables["push_results"], tables["consent_ledger"]
    facts.tables = {name: _count(conn, tables[name])
                    for name in ("all_contacts", "list_members", "quarantine", "hot_prospects")}
    quarantine = tables["quarantine"]
    facts.quarantine_reasons = [tuple(r) for r in conn.execute(
        sa.select(quarantine.c.field, quarantine.c.reason, sa.func.count()).group_by(quarantine.c.field,
                  quarantine.c.reason).order_by(sa.func.count().desc()).limit(2))]
    for name, operation, kind, count in conn.execute(
            sa.select(results.c.object_name, results.c.operation, results.c.outcome, sa.func.count())
            .where(results.c.run_id == run_id)
            .group_by(results.c.object_name, results.c.operation, results.c.outcome)):
        facts.pushed.setdefault(f"{name} {operation}", {})[str(kind)] = int(count)
    facts.opted_out = _count(conn, people, people.c.is_active, people.c.opted_out)
    facts.bounced = _count(conn, people, people.c.is_active, people.c.hard_bounced)
    facts.consent_changes = _count(conn, ledger, ledger.c.changed_at >= started)
    facts.prospect_count = facts.tables["hot_prospects"]
    hot = tables["hot_prospects"]
    name = sa.func.coalesce(hot.c.first_name + " ", "") + sa.func.coalesce(hot.c.last_name, "")
    facts.prospects = [tuple(r) for r in conn.execute(
        sa.select(name, hot.c.owner_name, hot.c.score, hot.c.sources, sa.or_(hot.c.opted_out, hot.c.hard_bounced))
        .order_by(hot.c.score.desc(), hot.c.last_activity_at.desc(), hot.c.contact_key).limit(TOP_PROSPECTS_SHOWN))]
    roi = tables["roi"]
    top = conn.execute(sa.select(roi.c.segment, roi.c.return_on_cost, roi.c.cost, roi.c.won_amount_even_split)
                       .where(roi.c.dimension == "campaign", roi.c.return_on_cost.is_not(None))
                       .order_by(roi.c.return_on_cost.desc(), roi.c.segment).limit(1)).first()
    facts.top_campaign = tuple(top) if top else None


def run_demo() -> int:
    DEMO_DATABASE.parent.mkdir(parents=True, exist_ok=True)
    print(f"Starting the Salesforce emulator with the demo org (seed {DEMO_SEED})...")
    with running_emulator(seed=DEMO_SEED, scale="demo", events_path=EVENTS_PATH) as emulator:
        print(f"Emulator at {emulator.url}; {emulator.summary['events']:,} engagement events in {EVENTS_PATH}")
        os.environ.update(emulator.env())
        os.environ["MARKETING_DB_URL"] = f"sqlite:///{DEMO_DATABASE}"
        os.environ.setdefault("ENGAGEMENT_EVENTS_DIR", str(EVENTS_PATH.parent))
        from sync_pipeline.definitions import defs
        from sync_pipeline.store.outputs import exports_dir

        job = defs.resolve_job_def("salesforce_sync")
        print(f"Running the job salesforce_sync into {DEMO_DATABASE} (the run's log is in Dagster)...\n")
        started = datetime.now(UTC)
        with _instance() as instance:
            result = job.execute_in_process(instance=instance, raise_on_error=False)
        facts = RunFacts(success=result.success, api_calls=emulator.admin("GET", "stats")["api_calls"])
    _gather_from_events(result, facts)
    _gather_from_tables(DEMO_DATABASE, result.run_id, started, facts)
    facts.exports = sorted(str(path) for path in exports_dir().glob("*.parquet"))
    print("\n".join(summary_lines(facts)))
    print("\nEmulator stopped. Explore the same run in the Dagster UI: make dev" if result.success
          else "\nThe job failed; see the messages above.")
    return 0 if result.success else 1
