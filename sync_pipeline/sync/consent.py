"""Email consent: opt-outs on either side are propagated and never lost; only a newer explicit opt-in undoes one.

:func:`resolve_consent` decides, per person (``contact_key``), whether they are opted out, and what must change on
each side so that both agree. The rules, in order (each is a test):

1. **Opt-out evidence.** A person is opted out when any of these says so: the marketing side's ``opted_out`` flag,
   an unsubscribe event (``opt_out_event_at``), the consent ledger's last known state (``opted_out`` at
   ``changed_at``), or (when the direction pulls: ``pull`` or ``both``) a Salesforce record with the opt-out box
   ticked, dated by its ``SystemModstamp``. With direction ``push``, Salesforce ticks are not taken into the
   marketing database (but are never undone either, rule 4).
2. **An opt-out wins and is propagated.** The marketing side takes every opt-out; Salesforce records are ticked
   when the direction pushes (``push`` or ``both``); with ``pull`` nothing is written to Salesforce.
3. **A sync never undoes an opt-out.** Un-ticking the box in Salesforce does not re-subscribe: the marketing side stays
   opted out and, when the direction pushes, the record is ticked again. A marketing flag reset without an opt-in
   event is set back from the ledger.
4. **Only a newer explicit opt-in re-subscribes.** An opt-in event (``opt_in_event_at``, e.g. a resubscribe form)
   strictly newer than every dated piece of opt-out evidence re-subscribes the person: the marketing side is
   cleared and, when the direction pushes, the Salesforce records whose ``SystemModstamp`` is older than the opt-in
   are un-ticked. A record modified at or after the opt-in keeps its tick (it may be a newer opt-out; its
   modification time is the only date Salesforce gives). An opt-out the marketing side holds without any date
   (no ledger entry, no event) cannot be shown to be older than the opt-in and stands; rule 5 records it, which
   dates it for the next run.
5. **Every change is in the ledger.** Each update of either side gives one entry (contact_key, crm_id or None,
   system ``marketing`` | ``salesforce``, old_value, new_value, changed_at = ``now``, evidence). A marketing-side
   consent the ledger does not know yet (say an unsubscribe processed elsewhere) is recorded too, with the ledger's
   last value (None: never recorded) as old_value. All entries of one person in one run carry the same new_value,
   so :func:`consent_state` (the latest entry per person) is the person's consent after the run.

Timestamps without a timezone are read as UTC. Salesforce records without a contact_key (not linked to a person
yet) are left alone; people without Salesforce records only get marketing-side decisions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

DIRECTIONS = ("push", "pull", "both")
LEDGER_COLUMNS = ("contact_key", "crm_id", "system", "old_value", "new_value", "changed_at", "evidence")
DEFAULT_FIELD = "HasOptedOutOfEmail"


@dataclass
class ConsentPlan:
    """What one consent resolution changes: per side, and the ledger entries that record it."""

    marketing_updates: dict[str, bool]  # contact_key → new opted_out
    salesforce_updates: dict[str, bool]  # crm_id → new value of the opt-out field
    ledger_entries: pd.DataFrame = field(default_factory=lambda: empty_ledger())


@dataclass(frozen=True)
class _Evidence:
    """One reason to believe a person is opted out; ``at`` is None when it carries no date."""

    at: pd.Timestamp | None
    text: str


def empty_ledger() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="object") for name in LEDGER_COLUMNS})


def _time(value: Any) -> pd.Timestamp | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _flag(value: Any) -> bool | None:
    """A checkbox as a bool, or Bulk CSV text; None when unknown."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1"}
    return bool(value)


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


def resolve_consent(
    marketing: pd.DataFrame,
    salesforce: pd.DataFrame,
    ledger_state: pd.DataFrame,
    direction: str,
    now: datetime,
    *,
    field_name: str = DEFAULT_FIELD,
) -> ConsentPlan:
    """Decide every person's consent and the updates of both sides (see the module rules).

    ``marketing``: contact_key, opted_out, opt_in_event_at, opt_out_event_at (one row per person).
    ``salesforce``: crm_id, contact_key, has_opted_out, system_modstamp (one row per record).
    ``ledger_state``: contact_key, opted_out, changed_at (the last ledger entry per person).
    ``direction``: ``push`` (marketing → Salesforce), ``pull`` (Salesforce → marketing) or ``both``.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    pulls, pushes = direction in ("pull", "both"), direction in ("push", "both")
    changed_at = _time(now)

    people: dict[str, dict[str, Any]] = {str(row["contact_key"]): row for row in _rows(marketing)}
    known: dict[str, dict[str, Any]] = {str(row["contact_key"]): row for row in _rows(ledger_state)}
    records: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(salesforce):
        if row.get("contact_key") is None or pd.isna(row["contact_key"]):
            continue
        records.setdefault(str(row["contact_key"]), []).append(row)

    plan = ConsentPlan(marketing_updates={}, salesforce_updates={})
    entries: list[dict[str, Any]] = []
    for key in sorted(set(people) | set(records)):
        person = people.get(key, {})
        flag = bool(_flag(person.get("opted_out")))
        ledger_row = known.get(key)
        ledger_value = _flag(ledger_row["opted_out"]) if ledger_row is not None else None
        ledger_at = _time(ledger_row["changed_at"]) if ledger_row is not None else None
        opt_in_at = _time(person.get("opt_in_event_at"))
        person_records = sorted(records.get(key, []), key=lambda row: str(row["crm_id"]))

        # Rule 1: every piece of opt-out evidence, dated where possible.
        evidence: list[_Evidence] = []
        if ledger_value:
            evidence.append(_Evidence(ledger_at, f"consent ledger: opted out since {_iso(ledger_at)}"))
        opt_out_at = _time(person.get("opt_out_event_at"))
        if opt_out_at is not None:
            evidence.append(_Evidence(opt_out_at, f"unsubscribe event {_iso(opt_out_at)}"))
        if flag and not ledger_value:
            evidence.append(_Evidence(opt_out_at, "opted out in the marketing database"))
        if pulls:
            for row in person_records:
                if _flag(row.get("has_opted_out")):
                    stamp = _time(row.get("system_modstamp"))
                    text = f"{field_name} ticked in Salesforce on {row['crm_id']} (SystemModstamp {_iso(stamp)})"
                    evidence.append(_Evidence(stamp, text))

        # Rule 4: a newer explicit opt-in beats every dated opt-out; an undated one stands.
        resubscribed = (
            opt_in_at is not None
            and bool(evidence)
            and all(item.at is not None and opt_in_at > item.at for item in evidence)
        )
        opted_out = bool(evidence) and not resubscribed
        if resubscribed:
            newest = max(item.at for item in evidence if item.at is not None)
            reason = f"opt-in event {_iso(opt_in_at)} (newer than the latest opt-out, {_iso(newest)})"
        elif opted_out:
            dated = [item for item in evidence if item.at is not None]
            reason = (max(dated, key=lambda item: item.at) if dated else evidence[0]).text
        else:
            reason = ""

        def entry(crm_id: str | None, system: str, old: bool | None, text: str = reason) -> None:
            entries.append(
                {
                    "contact_key": key,
                    "crm_id": crm_id,
                    "system": system,
                    "old_value": old,
                    "new_value": opted_out,
                    "changed_at": changed_at,
                    "evidence": text,
                }
            )

        # Rules 2, 3 and 5 on the marketing side.
        if flag != opted_out:
            plan.marketing_updates[key] = opted_out
            entry(None, "marketing", flag)
        elif opted_out and not ledger_value:
            entry(None, "marketing", ledger_value)
        elif not opted_out and ledger_value:
            entry(None, "marketing", ledger_value)

        # Rules 2, 3 and 4 on the Salesforce side.
        if not pushes:
            continue
        for row in person_records:
            ticked = bool(_flag(row.get("has_opted_out")))
            crm_id = str(row["crm_id"])
            if opted_out and not ticked:
                plan.salesforce_updates[crm_id] = True
                entry(crm_id, "salesforce", False)
            elif resubscribed and ticked:
                stamp = _time(row.get("system_modstamp"))
                if stamp is not None and opt_in_at is not None and stamp < opt_in_at:
                    plan.salesforce_updates[crm_id] = False
                    entry(crm_id, "salesforce", True)

    if entries:
        plan.ledger_entries = pd.DataFrame(entries, columns=list(LEDGER_COLUMNS))
    return plan
