"""Email consent: opt-outs on either side are propagated and never lost; only a newer explicit opt-in undoes one.

:func:`resolve_consent` decides, per person (``contact_key``), whether they are opted out, what must change on each
side so that both agree, and what the consent ledger records. Per person it runs three small steps:
:func:`opt_out_evidence` (rule 1) → :func:`decide` (rule 4) → :func:`ledger_entry` (rule 5); the updates of each side
follow from the decision (:func:`marketing_update`, :func:`salesforce_updates`, rules 2-4). The rules (each a test):

1. **Opt-out evidence.** A person is opted out when any of these says so: the marketing side's ``opted_out`` flag,
   an unsubscribe event (``opt_out_event_at``), the consent ledger's last known state (``opted_out`` since
   ``changed_at``), or (when the direction pulls: ``pull`` or ``both``) a Salesforce record with the opt-out box
   ticked, dated by its ``SystemModstamp``. A converted Lead's tick counts too (it was the person's opt-out before
   the conversion). With direction ``push``, Salesforce ticks are not taken into the marketing database (but are
   never undone either, rule 4).
2. **An opt-out wins and is propagated.** The marketing side takes every opt-out; the person's writable Salesforce
   records are ticked when the direction pushes (``push`` or ``both``); with ``pull`` nothing is written to
   Salesforce. A converted Lead is never written: Salesforce refuses it, and the person's consent lives on the Contact.
3. **A sync never undoes an opt-out.** Un-ticking the box in Salesforce does not re-subscribe: the marketing side stays
   opted out and, when the direction pushes, the record is ticked again. A marketing flag reset without an opt-in
   event is set back from the ledger.
4. **Only a newer explicit opt-in re-subscribes.** An opt-in event (``opt_in_event_at``, e.g. a resubscribe form)
   strictly newer than every dated piece of opt-out evidence re-subscribes the person: the marketing side is
   cleared and, when the direction pushes, the writable Salesforce records whose ``SystemModstamp`` is older than
   the opt-in are un-ticked. A record modified at or after the opt-in keeps its tick (it may be a newer opt-out;
   its modification time is the only date Salesforce gives). An opt-out the marketing side holds without any date
   (no ledger entry, no event) cannot be shown to be older than the opt-in and stands; rule 5 records it, which
   dates it for the next run.
5. **The ledger records each transition of a person's consent, once.** An entry (contact_key, crm_id, system,
   old_value, new_value, changed_at = ``now``, evidence) is made only when the decision differs from the ledger's
   last value for the person (never recorded counts as not opted out): ``old_value`` is that last value (None:
   never recorded), ``evidence`` the deciding piece (the newest dated opt-out, else the first; or the opt-in), and
   ``system`` / ``crm_id`` where the change was made: ``salesforce`` and the record for a tick, else ``marketing``
   and None. Bringing a side in line with a consent the ledger already holds (ticking the person's other records,
   a new duplicate record, a marketing flag the rebuild reset) is no transition and is not recorded. So a run that
   changes nothing appends nothing, and a history of changes gives the same entries whether or not a push was
   interrupted and run again; :func:`consent_state` (the latest entry per person) is the person's consent and when
   it last changed.

Timestamps without a timezone are read as UTC. Salesforce records without a contact_key (not linked to a person
yet) are left alone; people without Salesforce records only get marketing-side decisions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from sync_pipeline.records.values import checkbox

DIRECTIONS = ("push", "pull", "both")
LEDGER_COLUMNS = ("contact_key", "crm_id", "system", "old_value", "new_value", "changed_at", "evidence")
DEFAULT_FIELD = "HasOptedOutOfEmail"
MARKETING, SALESFORCE = "marketing", "salesforce"


@dataclass
class ConsentPlan:
    """What one consent resolution changes: per side, and the ledger entries that record it."""

    marketing_updates: dict[str, bool]  # contact_key → new opted_out
    salesforce_updates: dict[str, bool]  # crm_id → new value of the opt-out field
    ledger_entries: pd.DataFrame = field(default_factory=lambda: empty_ledger())


@dataclass(frozen=True)
class Evidence:
    """One reason for a person's consent; ``at`` is None when it carries no date, ``crm_id`` names a tick's record."""

    at: pd.Timestamp | None
    text: str
    system: str = MARKETING
    crm_id: str | None = None


@dataclass(frozen=True)
class SalesforceRecord:
    crm_id: str
    ticked: bool
    stamp: pd.Timestamp | None  # SystemModstamp
    writable: bool  # False for a converted Lead (Salesforce refuses the write)


@dataclass(frozen=True)
class Person:
    """What both sides and the ledger say about one person's consent."""

    contact_key: str
    flag: bool  # the marketing side's opted_out
    ledger_value: bool | None  # the ledger's last value (None: never recorded)
    ledger_at: pd.Timestamp | None
    opt_in_at: pd.Timestamp | None
    opt_out_at: pd.Timestamp | None
    records: tuple[SalesforceRecord, ...] = ()


@dataclass(frozen=True)
class Decision:
    opted_out: bool
    resubscribed: bool
    cause: Evidence | None  # the deciding evidence (the opt-in when resubscribed); None when nothing is known


def empty_ledger() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="object") for name in LEDGER_COLUMNS})


def _time(value: Any) -> pd.Timestamp | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _flag(value: Any) -> bool | None:
    """A checkbox as a bool, or Bulk CSV text; None when unknown."""
    return checkbox(value)


def _iso(stamp: pd.Timestamp | None) -> str:
    return "unknown time" if stamp is None else stamp.isoformat()


def _rows(frame: pd.DataFrame | None) -> Iterable[dict[str, Any]]:
    return [] if frame is None else frame.to_dict("records")


def consent_state(ledger: pd.DataFrame) -> pd.DataFrame:
    """The last known consent per contact_key (opted_out, changed_at) from ledger entries (rule 5)."""
    if ledger.empty:
        return pd.DataFrame({"contact_key": [], "opted_out": [], "changed_at": []})
    latest = ledger.sort_values("changed_at", kind="mergesort").drop_duplicates("contact_key", keep="last")
    state = latest.rename(columns={"new_value": "opted_out"})[["contact_key", "opted_out", "changed_at"]]
    return state.sort_values("contact_key").reset_index(drop=True)


def people_of(marketing: pd.DataFrame, salesforce: pd.DataFrame, ledger_state: pd.DataFrame) -> list[Person]:
    """Every person the marketing side or a linked record names, in contact_key order, records in crm_id order."""
    marketing_rows = {str(row["contact_key"]): row for row in _rows(marketing)}
    known = {str(row["contact_key"]): row for row in _rows(ledger_state)}
    records: dict[str, list[SalesforceRecord]] = {}
    for row in _rows(salesforce):
        if row.get("contact_key") is None or pd.isna(row["contact_key"]):
            continue  # not linked to a person yet
        records.setdefault(str(row["contact_key"]), []).append(SalesforceRecord(
            str(row["crm_id"]), bool(_flag(row.get("has_opted_out"))), _time(row.get("system_modstamp")),
            not _flag(row.get("is_converted"))))
    people = []
    for key in sorted(set(marketing_rows) | set(records)):
        person, ledger_row = marketing_rows.get(key, {}), known.get(key, {})
        people.append(Person(
            key, bool(_flag(person.get("opted_out"))), _flag(ledger_row.get("opted_out")),
            _time(ledger_row.get("changed_at")), _time(person.get("opt_in_event_at")),
            _time(person.get("opt_out_event_at")), tuple(sorted(records.get(key, []), key=lambda r: r.crm_id))))
    return people


def opt_out_evidence(person: Person, *, pulls: bool, field_name: str = DEFAULT_FIELD) -> list[Evidence]:
    """Rule 1: every piece of opt-out evidence of one person, dated where possible."""
    evidence: list[Evidence] = []
    if person.ledger_value:
        evidence.append(Evidence(person.ledger_at, f"consent ledger: opted out since {_iso(person.ledger_at)}"))
    if person.opt_out_at is not None:
        evidence.append(Evidence(person.opt_out_at, f"unsubscribe event {_iso(person.opt_out_at)}"))
    if person.flag and not person.ledger_value:
        evidence.append(Evidence(person.opt_out_at, "opted out in the marketing database"))
    if pulls:
        evidence += [Evidence(record.stamp, f"{field_name} ticked in Salesforce on {record.crm_id} "
                              f"(SystemModstamp {_iso(record.stamp)})", SALESFORCE, record.crm_id)
                     for record in person.records if record.ticked]
    return evidence


def decide(person: Person, evidence: list[Evidence]) -> Decision:
    """Rule 4: opted out on any evidence, unless an opt-in is newer than every piece (an undated one stands)."""
    if not evidence:
        return Decision(opted_out=False, resubscribed=False, cause=None)
    dated = [(item.at, item) for item in evidence if item.at is not None]
    opt_in = person.opt_in_at
    if opt_in is not None and len(dated) == len(evidence) and all(opt_in > at for at, _ in dated):
        newest = max(at for at, _ in dated)
        text = f"opt-in event {_iso(opt_in)} (newer than the latest opt-out, {_iso(newest)})"
        return Decision(opted_out=False, resubscribed=True, cause=Evidence(opt_in, text))
    cause = max(dated, key=lambda pair: pair[0])[1] if dated else evidence[0]
    return Decision(opted_out=True, resubscribed=False, cause=cause)


def marketing_update(person: Person, decision: Decision) -> bool | None:
    """Rules 2 and 3 on the marketing side: the new opted_out, or None when the flag already agrees."""
    return decision.opted_out if person.flag != decision.opted_out else None


def salesforce_updates(person: Person, decision: Decision) -> dict[str, bool]:
    """Rules 2-4 on the Salesforce side (when the direction pushes): crm_id → the new value of the opt-out field."""
    updates: dict[str, bool] = {}
    opt_in = person.opt_in_at
    for record in person.records:
        if not record.writable:
            continue
        if decision.opted_out and not record.ticked:
            updates[record.crm_id] = True
        elif (decision.resubscribed and record.ticked and record.stamp is not None and opt_in is not None
              and record.stamp < opt_in):
            updates[record.crm_id] = False
    return updates


def ledger_entry(person: Person, decision: Decision, changed_at: pd.Timestamp | None) -> dict[str, Any] | None:
    """Rule 5: the entry of a transition of the person's consent, or None when the ledger already holds it."""
    if decision.opted_out == bool(person.ledger_value):
        return None
    cause = decision.cause or Evidence(None, "")
    return {"contact_key": person.contact_key, "crm_id": cause.crm_id, "system": cause.system,
            "old_value": person.ledger_value, "new_value": decision.opted_out, "changed_at": changed_at,
            "evidence": cause.text}


def resolve_consent(
    marketing: pd.DataFrame,
    salesforce: pd.DataFrame,
    ledger_state: pd.DataFrame,
    direction: str,
    now: datetime,
    *,
    field_name: str = DEFAULT_FIELD,
) -> ConsentPlan:
    """Decide every person's consent, the updates of both sides and the ledger entries (see the module rules).

    ``marketing``: contact_key, opted_out, opt_in_event_at, opt_out_event_at (one row per person).
    ``salesforce``: crm_id, contact_key, has_opted_out, system_modstamp and, optionally, is_converted (a converted
    Lead; missing: false), one row per record.
    ``ledger_state``: contact_key, opted_out, changed_at (the last ledger entry per person).
    ``direction``: ``push`` (marketing → Salesforce), ``pull`` (Salesforce → marketing) or ``both``.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    pulls, pushes = direction in ("pull", "both"), direction in ("push", "both")
    changed_at = _time(now)
    plan = ConsentPlan(marketing_updates={}, salesforce_updates={})
    entries: list[dict[str, Any]] = []
    for person in people_of(marketing, salesforce, ledger_state):
        decision = decide(person, opt_out_evidence(person, pulls=pulls, field_name=field_name))
        if (new_flag := marketing_update(person, decision)) is not None:
            plan.marketing_updates[person.contact_key] = new_flag
        if pushes:
            plan.salesforce_updates.update(salesforce_updates(person, decision))
        if (entry := ledger_entry(person, decision, changed_at)) is not None:
            entries.append(entry)
    if entries:
        plan.ledger_entries = pd.DataFrame(entries, columns=list(LEDGER_COLUMNS))
    return plan
