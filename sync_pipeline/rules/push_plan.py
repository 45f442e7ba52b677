"""The push plan: which (record, field) values to write to Salesforce, and nothing else.

:func:`plan_push` compares what the marketing side wants in Salesforce (``desired``: one row per record, one column per
Salesforce field) with the last value pushed successfully (``pushed_state``) and with Salesforce's current value (the
mirror, ``salesforce_now``). The rules, in order (each is a test):

1. **Only pushable fields.** A field is sent only when :func:`pushable_fields` allows it on the record's object: score
   fields, ``push`` and ``two_way`` mapping fields, the opt-out field when ``opt_out.direction`` is push or both, the
   hard-bounce fields, and the ``push.update_fields`` of lists on that object (unless the mapping declares the field
   pull-only: a ``pull`` field needs ``allow_push: true`` for a list to push it). Everything else, pull fields first
   of all, is never sent (counted as ``skipped_pull_only``).
2. **Deleted records are never sent** (``is_deleted`` true in ``desired``), nor values re-targeted to them.
3. **Converted Leads are re-targeted.** A Lead with a ``converted_contact_id`` is a Contact now: its changes are
   planned for that Contact (crm_type Contact), the field translated through the mapping (the mapping entry's
   ``contact`` field for its ``lead`` field; other fields keep their name) and checked against the Contact's pushable
   fields. When the Contact has its own row in ``desired``, the Contact's own values win.
4. **Only changes.** A (crm_id, field) is sent only when the desired value differs from the last pushed value, and
   not when Salesforce already holds it. Values are compared normalized (:func:`same_value`): numbers numerically
   (42, "42" and 42.0 are equal), booleans as bools ("true" is True), date-times as instants, strings exactly,
   and missing (None, NaN, "") equals missing. Nothing changed → an empty plan and zero API calls.
   A value Salesforce refused for the record (``refused``: a validation or duplicate rule, a converted Lead) is not
   sent again while it stays the same, the record has not changed in Salesforce since (its SystemModstamp is not
   newer than the refusal's ``record_stamp``) and the refusal is less than :data:`REFUSAL_RETRY_AFTER` old
   (``refused_at``), counted as ``skipped_refused``: the answer would be the same. A changed value, a record someone
   changed in Salesforce (perhaps fixing what the rule objected to), or a day gone by (a rule lifted in Setup
   changes no record) sends it again. Which values of a refused record are held back is :func:`refused_values`'
   rule: an opt-out or a bounce never waits behind another field's refusal.
5. **Two-way conflicts.** A ``two_way`` field whose Salesforce value and desired value both differ from the last
   pushed value (and from each other) changed on both sides; ``conflict_rule`` decides: ``most_recent`` compares the
   record's SystemModstamp with the local change time (``local_changed_at`` per crm_id, else ``now``) and the newer
   side wins, a tie going to Salesforce (writing nothing is the cautious choice); ``salesforce_wins``;
   ``marketing_wins``. A value Salesforce wins is not sent (the pull keeps it). Every conflict is recorded with its
   evidence (both values and both change times, the winner, the rule and ``decided_at``).

:func:`plan_creates` decides the new Leads a list asks for (see there). Nothing here ever deletes a record.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from sync_pipeline.records.mirror import PEOPLE_OBJECTS
from sync_pipeline.records.values import checkbox
from sync_pipeline.settings.model import ListSettings, SyncSettings, same_field

OBJECTS = PEOPLE_OBJECTS
# Columns of ``desired`` that describe the record rather than a Salesforce field to push.
DESCRIPTIVE_COLUMNS = frozenset({"crm_id", "crm_type", "contact_key", "converted_contact_id", "is_deleted",
                                 "is_converted"})
UPDATE_COLUMNS = ("crm_id", "crm_type", "field", "value", "salesforce_stamp")
CONFLICT_COLUMNS = (
    "crm_id",
    "field",
    "marketing_value",
    "salesforce_value",
    "marketing_changed_at",
    "salesforce_changed_at",
    "winner",
    "rule",
    "decided_at",
)
REFUSAL_RETRY_AFTER = timedelta(hours=24)  # a refused value goes again after this, whatever else happened
PLACEHOLDER = "[not provided]"  # LastName / Company of a new Lead the marketing side does not know
CREATE_FIELDS = ("Email", "LastName", "Company")


@dataclass
class PushPlan:
    """What one push sends: the changed values, as frame and as sObject Collection records, and the conflicts."""

    updates: pd.DataFrame  # UPDATE_COLUMNS: salesforce_stamp is the record's SystemModstamp as the mirror has it
    records: list[dict[str, Any]]  # {"attributes": {"type": ...}, "Id": ..., field: value, ...} per crm_id
    conflicts: pd.DataFrame  # CONFLICT_COLUMNS
    counts: dict[str, int] = field(default_factory=dict)
    # (crm_id, lower-case field) → what the plan did with the cell, for the crm_ids the caller asked to track:
    # sent | unchanged | already_in_salesforce | held_refused | salesforce_won | not_pushable
    cell_states: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.records

    def records_for(self, object_name: str) -> list[dict[str, Any]]:
        """The records of one object (``Lead`` or ``Contact``), as a write of one object takes them."""
        return [record for record in self.records if record["attributes"]["type"] == object_name]


def _unique(fields: Iterable[str | None]) -> list[str]:
    """De-duplicated field names (case-insensitive, first spelling kept), in order."""
    seen: dict[str, str] = {}
    for name in fields:
        if name:
            seen.setdefault(name.lower(), name)
    return list(seen.values())


def pushable_fields(settings: SyncSettings, object_name: str) -> list[str]:
    """The Salesforce fields of ``Lead`` or ``Contact`` a push may write (rule 1)."""
    mapping = settings.contact_mapping
    mapped = [entry.field_on(object_name) for entry in mapping.values() if entry.type == "score" or entry.pushes]
    opt_out = [settings.opt_out.field] if settings.opt_out.direction in ("push", "both") else []
    bounce = [settings.hard_bounce.field, settings.hard_bounce.date_field]
    pull_only = {
        name.lower()
        for entry in mapping.values()
        if not entry.may_push and (name := entry.field_on(object_name)) is not None
    }
    listed = [
        name
        for item in settings.lists
        if item.object_name is not None and item.object_name.lower() == object_name.lower()
        for name in item.push.update_fields
        if name.lower() not in pull_only
    ]
    return _unique([*mapped, *opt_out, *bounce, *listed])


def _two_way_fields(settings: SyncSettings, object_name: str) -> set[str]:
    return {
        name.lower()
        for entry in settings.contact_mapping.values()
        if entry.direction == "two_way" and (name := entry.field_on(object_name)) is not None
    }


def _contact_field(settings: SyncSettings, lead_field: str) -> str:
    """The Contact field a Lead field's change goes to after conversion (rule 3)."""
    for entry in settings.contact_mapping.values():
        if same_field(entry.lead, lead_field):
            return entry.contact or lead_field
    return lead_field


# --- value normalization (rule 4) -------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and other containers
        return False


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal | np.number) and not _is_bool(value)


def _is_time(value: Any) -> bool:
    return isinstance(value, datetime | date | pd.Timestamp | np.datetime64)


def _as_bool(value: Any) -> bool | None:
    return checkbox(value)


def _as_number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _as_time(value: Any) -> pd.Timestamp | None:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def same_value(left: Any, right: Any) -> bool:
    """Whether two field values are the same once normalized (rule 4)."""
    if _missing(left) or _missing(right):
        return _missing(left) and _missing(right)
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if _is_bool(left) or _is_bool(right):
        return _as_bool(left) is not None and _as_bool(left) == _as_bool(right)
    if _is_number(left) or _is_number(right):
        a, b = _as_number(left), _as_number(right)
        return a is not None and a == b
    if _is_time(left) or _is_time(right):
        a_time, b_time = _as_time(left), _as_time(right)
        return a_time is not None and a_time == b_time
    return bool(left == right)


def json_value(value: Any) -> Any:
    """A value as the REST API takes it: None for missing, plain Python numbers, ISO text for dates and times."""
    if _missing(value):
        return None
    if _is_bool(value):
        return bool(value)
    if _is_number(value):
        number = float(value)
        return int(number) if number.is_integer() else number
    if isinstance(value, pd.Timestamp | np.datetime64):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# --- the plan ----------------------------------------------------------------------------------------------------


def _truthy(value: Any) -> bool:
    return not _missing(value) and bool(_as_bool(value))


def _lookup(frame: pd.DataFrame, columns: tuple[str, ...]) -> dict[tuple[str, str], tuple[Any, ...]]:
    """(crm_id, lower-case field) → the values of ``columns`` (the last row wins)."""
    if frame is None or frame.empty:
        return {}
    rows = zip(frame["crm_id"], frame["field"], *(frame[column] for column in columns), strict=True)
    return {(str(crm_id), str(name).lower()): tuple(values) for crm_id, name, *values in rows}


def _cells(desired: pd.DataFrame, settings: SyncSettings, counts: dict[str, int]) -> list[dict[str, Any]]:
    """``desired`` as (crm_id, crm_type, field, value, source_id) cells after rules 2 and 3."""
    fields = [column for column in desired.columns if column not in DESCRIPTIVE_COLUMNS]
    own: list[dict[str, Any]] = []
    moved: list[dict[str, Any]] = []
    deleted: set[str] = set()
    retargeted: set[str] = set()
    for row in desired.to_dict("records"):
        crm_id = str(row["crm_id"])
        if _truthy(row.get("is_deleted")):
            deleted.add(crm_id)
            continue
        target = row.get("converted_contact_id")
        if row.get("crm_type") == "Lead" and not _missing(target):
            retargeted.add(crm_id)
            for name in fields:
                moved.append(
                    {"crm_id": str(target), "crm_type": "Contact", "field": _contact_field(settings, name),
                     "value": row[name], "source_id": crm_id}
                )
            continue
        for name in fields:
            own.append(
                {"crm_id": crm_id, "crm_type": row["crm_type"], "field": name, "value": row[name], "source_id": crm_id}
            )
    counts["skipped_deleted"] = len(deleted)
    counts["retargeted"] = len(retargeted)
    taken = {(cell["crm_id"], cell["field"].lower()) for cell in own}
    cells = own
    for cell in moved:  # the Contact's own values win over its converted Lead's
        key = (cell["crm_id"], cell["field"].lower())
        if key not in taken:
            taken.add(key)
            cells.append(cell)
    return [cell for cell in cells if cell["crm_id"] not in deleted]


def plan_push(
    desired: pd.DataFrame,
    pushed_state: pd.DataFrame,
    salesforce_now: pd.DataFrame,
    settings: SyncSettings,
    *,
    local_changed_at: pd.Series | None,
    now: datetime,
    refused: pd.DataFrame | None = None,
    track: set[str] | None = None,
) -> PushPlan:
    """The values to write to Salesforce (see the module rules).

    ``desired``: crm_id, crm_type (Lead/Contact), contact_key, optional converted_contact_id and is_deleted, and one
    column per Salesforce field. ``pushed_state``: crm_id, field, value, pushed_at. ``salesforce_now``: crm_id, field,
    value, system_modstamp. ``local_changed_at``: crm_id → when the marketing side last changed the record.
    ``refused``: crm_id, field, value, record_stamp of the values Salesforce refused. ``track``: crm_ids whose
    cells' fate goes to ``cell_states`` (the marketing edits need it; tracking every record would cost memory).
    """
    counts: dict[str, int] = {}
    known = _known_values(settings, pushed_state, salesforce_now, local_changed_at, refused, now)
    tracked = track or set()
    states: dict[tuple[str, str], str] = {}
    fates: Counter[str] = Counter()
    updates: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    for cell in _cells(desired, settings, counts):
        key = (cell["crm_id"], cell["field"].lower())
        fate, conflict = _fate(cell, key, known, settings.conflict_rule, now)
        if conflict is not None:  # recorded whoever won: it is the evidence of the decision
            conflicts.append(conflict)
        if fate == "sent":
            updates.append(_update(cell, key, known))
        fates[fate] += 1
        if key[0] in tracked:
            states[key] = fate
    return _push_plan(updates, conflicts, counts, fates, states)


@dataclass(frozen=True)
class _Known:
    """What each cell of the plan is compared with, looked up by (crm_id, lower-case field)."""

    pushable: dict[str, set[str]]  # object → lower-case fields a push may write (rule 1)
    two_way: dict[str, set[str]]  # object → lower-case two_way fields (rule 5)
    pushed: dict[tuple[str, str], tuple[Any, ...]]  # (value,) last pushed successfully
    current: dict[tuple[str, str], tuple[Any, ...]]  # (value, system_modstamp) in Salesforce now
    refusals: dict[tuple[str, str], tuple[Any, ...]]  # (value, record_stamp) refused and still held back
    changed_at: dict[Any, Any]  # crm_id → when the marketing side last changed the record


def _known_values(settings: SyncSettings, pushed_state: pd.DataFrame, salesforce_now: pd.DataFrame,
                  local_changed_at: pd.Series | None, refused: pd.DataFrame | None, now: datetime) -> _Known:
    """The lookups :func:`plan_push` compares cells with, built once per plan rather than once per cell."""
    return _Known(
        pushable={obj: {name.lower() for name in pushable_fields(settings, obj)} for obj in OBJECTS},
        two_way={obj: _two_way_fields(settings, obj) for obj in OBJECTS},
        pushed=_lookup(pushed_state, ("value",)),
        current=_lookup(salesforce_now, ("value", "system_modstamp")),
        refusals=_lookup(_still_held(refused, now), ("value", "record_stamp")) if refused is not None else {},
        changed_at={} if local_changed_at is None else local_changed_at.to_dict(),
    )


def _fate(cell: dict[str, Any], key: tuple[str, str], known: _Known, conflict_rule: str,
          now: datetime) -> tuple[str, dict[str, Any] | None]:
    """What the plan does with one cell (a ``cell_states`` value) and the conflict it records, if any."""
    skipped = _skip_reason(cell, key, known)
    if skipped is not None:
        return skipped, None
    conflict = _conflict(cell, key, known, conflict_rule, now)
    if conflict is not None and conflict["winner"] == "salesforce":
        return "salesforce_won", conflict  # not sent: the pull keeps Salesforce's value
    return "sent", conflict


def _skip_reason(cell: dict[str, Any], key: tuple[str, str], known: _Known) -> str | None:
    """Why a cell is not sent (rules 1 and 4), or None when it may be; the first test that holds names the state."""
    value = cell["value"]
    if key[1] not in known.pushable.get(cell["crm_type"], set()):
        return "not_pushable"
    if same_value(value, known.pushed.get(key, (None,))[0]):
        return "unchanged"
    sf_value, sf_stamp = known.current.get(key, (None, None))
    if key in known.current and same_value(value, sf_value):
        return "already_in_salesforce"
    refusal = known.refusals.get(key)
    # The same value refused for an unchanged record would be refused again.
    if refusal is not None and same_value(value, refusal[0]) and not _newer(sf_stamp, refusal[1]):
        return "held_refused"
    return None


def _conflict(cell: dict[str, Any], key: tuple[str, str], known: _Known, conflict_rule: str,
              now: datetime) -> dict[str, Any] | None:
    """The conflict of a two_way cell that changed on both sides since the last push, decided (rule 5); else None."""
    if key[1] not in known.two_way[cell["crm_type"]] or key not in known.current:
        return None
    sf_value, sf_stamp = known.current[key]
    if same_value(sf_value, known.pushed.get(key, (None,))[0]):
        return None  # Salesforce did not change it: only the marketing side did
    # A re-targeted cell is dated by its converted Lead's change time, else by the Contact's (rule 3).
    local = known.changed_at.get(cell["source_id"], known.changed_at.get(cell["crm_id"]))
    local_time = _as_time(now if _missing(local) else local)
    sf_time = None if _missing(sf_stamp) else _as_time(sf_stamp)
    return {
        "crm_id": cell["crm_id"],
        "field": cell["field"],
        "marketing_value": json_value(cell["value"]),
        "salesforce_value": json_value(sf_value),
        "marketing_changed_at": local_time,
        "salesforce_changed_at": sf_time,
        "winner": _winner(conflict_rule, local_time, sf_time),
        "rule": conflict_rule,
        "decided_at": _as_time(now),
    }


def _update(cell: dict[str, Any], key: tuple[str, str], known: _Known) -> dict[str, Any]:
    """One UPDATE_COLUMNS row; the record's stamp goes along so that a refusal can tell a later change in Salesforce."""
    sf_stamp = known.current.get(key, (None, None))[1]
    return {"crm_id": cell["crm_id"], "crm_type": cell["crm_type"], "field": cell["field"],
            "value": json_value(cell["value"]), "salesforce_stamp": None if _missing(sf_stamp) else _as_time(sf_stamp)}


def _push_plan(updates: list[dict[str, Any]], conflicts: list[dict[str, Any]], counts: dict[str, int],
               fates: Counter[str], states: dict[tuple[str, str], str]) -> PushPlan:
    """The plan from the cells sent and the conflicts, with the counts of what was skipped and why."""
    update_frame = pd.DataFrame(updates, columns=list(UPDATE_COLUMNS)).sort_values(["crm_id", "field"])
    records = _records(update_frame)
    counts.update(
        records=len(records),
        fields=len(update_frame),
        conflicts=len(conflicts),
        skipped_pull_only=fates["not_pushable"],
        already_in_salesforce=fates["already_in_salesforce"],
        skipped_refused=fates["held_refused"],
    )
    return PushPlan(
        updates=update_frame.reset_index(drop=True),
        records=records,
        conflicts=pd.DataFrame(conflicts, columns=list(CONFLICT_COLUMNS)),
        counts=counts,
        cell_states=states,
    )


def _newer(stamp: Any, than: Any) -> bool:
    """Salesforce's record changed after ``than`` (both SystemModstamps; unknown is not newer)."""
    if _missing(stamp) or _missing(than):
        return False
    left, right = _as_time(stamp), _as_time(than)
    return left is not None and right is not None and bool(left > right)


def _still_held(refused: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The refusals younger than REFUSAL_RETRY_AFTER (a refusal without a time is held)."""
    if refused.empty or "refused_at" not in refused:
        return refused
    at = pd.to_datetime(refused["refused_at"], utc=True)
    return refused[at.isna() | (at > pd.Timestamp(now).tz_convert("UTC") - REFUSAL_RETRY_AFTER)]


def consent_fields(settings: SyncSettings) -> frozenset[str]:
    """The opt-out and hard-bounce fields (lower case): values that must never wait behind another refusal."""
    names = (settings.opt_out.field, settings.hard_bounce.field, settings.hard_bounce.date_field)
    return frozenset(name.lower() for name in names if name)


def refused_values(updates: pd.DataFrame, refused: dict[str, tuple[str, tuple[str, ...]]],
                   apart: frozenset[str] = frozenset()) -> pd.DataFrame:
    """The values to hold back after Salesforce refused records: crm_id, field, value, error_code, record_stamp.

    ``refused``: crm_id → (error code, the fields the error names); ``apart``: lower-case fields sent on their own
    when the record as a whole was refused (:func:`consent_fields`). The rule, per refused record:

    - the error names fields that were sent: only those are held back; the record's other values go alone next run;
    - else (a validation rule on the record as a whole or on a field we never send, a converted Lead, a Bulk error
      without fields): every value sent is held back except those in ``apart``, which go alone next run, so an
      opt-out never waits behind a refused score or title; when only such values were sent, they are held too.

    A held value goes again when it changes, when the record changes in Salesforce, or a day after the refusal.
    """
    columns = ["crm_id", "field", "value", "error_code", "record_stamp"]
    if updates.empty or not refused:
        return pd.DataFrame(columns=columns)
    sent = updates[updates["crm_id"].isin(refused)]
    rows = []
    for crm_id, group in sent.groupby("crm_id", sort=True):
        code, named = refused[crm_id]
        lower = group["field"].str.lower()
        culprits = group[lower.isin({name.lower() for name in named})]
        if culprits.empty:
            others = group[~lower.isin(apart)]
            culprits = others if not others.empty else group
        for row in culprits.itertuples():
            rows.append({"crm_id": crm_id, "field": row.field, "value": row.value, "error_code": code,
                         "record_stamp": row.salesforce_stamp})
    return pd.DataFrame(rows, columns=columns)


def _winner(rule: str, local_time: pd.Timestamp | None, salesforce_time: pd.Timestamp | None) -> str:
    if rule == "salesforce_wins":
        return "salesforce"
    if rule == "marketing_wins":
        return "marketing"
    if salesforce_time is None:  # no date on the Salesforce side: the dated local change is the known newer one
        return "marketing"
    if local_time is None:
        return "salesforce"
    return "marketing" if local_time > salesforce_time else "salesforce"


def _records(updates: pd.DataFrame) -> list[dict[str, Any]]:
    """One sObject Collections record per crm_id: attributes.type, Id, then the changed fields."""
    records: list[dict[str, Any]] = []
    for (crm_id, crm_type), group in updates.groupby(["crm_id", "crm_type"], sort=True):
        record: dict[str, Any] = {"attributes": {"type": crm_type}, "Id": crm_id}
        record.update(zip(group["field"], group["value"], strict=True))
        records.append(record)
    return records


def plan_creates(list_settings: ListSettings, candidates: pd.DataFrame) -> pd.DataFrame:
    """The Leads to create in Salesforce for a list's members that have no Salesforce record.

    Only when the list asks (``push.add_new``). A candidate is a member without a crm_id that is not marked
    ``deleted_in_salesforce`` (someone deleted its record in Salesforce: re-creating it would undo that). New records
    are always Leads (a Contact needs an Account, which the marketing side does not own). ``candidates`` holds
    contact_key, crm_id, optionally deleted_in_salesforce, and Salesforce field columns (Email, LastName, Company and
    any the list pushes). Salesforce requires LastName and Company on a Lead, so a missing one is filled with
    ``"[not provided]"`` — visible to sales, and replaced by the first real value a pull or push brings. Returns
    contact_key, object ("Lead"), Email, LastName, Company and the list's ``push.update_fields`` present in
    ``candidates``, sorted by contact_key.
    """
    extra = [
        name for name in list_settings.push.update_fields if name in candidates.columns and name not in CREATE_FIELDS
    ]
    columns = ["contact_key", "object", *CREATE_FIELDS, *extra]
    if not list_settings.push.add_new or candidates.empty:
        return pd.DataFrame(columns=columns)
    no_id = candidates["crm_id"].map(_missing) if "crm_id" in candidates else pd.Series(True, index=candidates.index)
    deleted = (
        candidates["deleted_in_salesforce"].map(_truthy)
        if "deleted_in_salesforce" in candidates
        else pd.Series(False, index=candidates.index)
    )
    chosen = candidates[no_id & ~deleted]
    rows = []
    for row in chosen.to_dict("records"):
        new = {"contact_key": row["contact_key"], "object": "Lead", "Email": json_value(row.get("Email"))}
        for name in ("LastName", "Company"):
            value = json_value(row.get(name))
            new[name] = PLACEHOLDER if value is None else value
        new.update({name: json_value(row.get(name)) for name in extra})
        rows.append(new)
    return pd.DataFrame(rows, columns=columns).sort_values("contact_key").reset_index(drop=True)
