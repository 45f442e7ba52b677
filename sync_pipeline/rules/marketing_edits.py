"""Field edits made on the marketing side, laid over All Contacts for the push, and how each one settles.

All Contacts is rebuilt from Salesforce on every sync, so a marketing-side edit is kept apart (``marketing_edits``)
until the push has dealt with it. The rules, in order (each is a test):

1. **The latest edit counts.** Per (contact_key, column) the edit with the latest ``changed_at`` (then the highest
   ``edit_id``) is laid over the person's row; earlier pending edits of that cell are superseded and settle with it.
2. **Only known people and columns.** An edit of a contact_key All Contacts does not hold, or of a column it does not
   have, settles as ``not_pushable`` with the reason (nothing to send it to).
3. **Only pushable columns.** An edit of a column no pushable Salesforce field reads (a pull field, say) settles as
   ``not_pushable``: the settings do not let the marketing side change it in Salesforce. So does an edit of a
   column with its own path (:data:`MANAGED_COLUMNS`: scores, consent, bounces), which would bypass its rules.
4. **The change time is evidence.** A person's ``local_changed_at`` is their latest laid-over edit, per crm_id of
   each of their records: the two-way conflict rule compares it with Salesforce's SystemModstamp.
5. **The value before the edit is the baseline.** Each laid-over edit gives ``baselines`` rows (crm_id, field,
   value = the edit's ``old_value``) for every record of the person and every field the column maps to: the push
   plan compares Salesforce with them, so Salesforce holding anything else means it changed there too (a two-way
   conflict), and an edit back to the old value sends nothing.
6. **Settling.** After the push, by the plan's fate of the edit's cells (``PushPlan.cell_states``): ``not_pushable``
   when no live record of the person takes the column; ``salesforce_won`` when the conflict rule gave any cell to
   Salesforce; ``rejected`` when Salesforce refused a record it was sent on, or holds back a value it refused
   before; ``pushed`` when every cell sent was accepted and the others already held the value (or the edit
   changed nothing); and it stays ``pending`` otherwise (sent but unanswered, as when the API budget stopped the
   push): the next run sends it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

EDIT_COLUMNS = ("edit_id", "contact_key", "column_name", "value", "old_value", "changed_at")
# Columns with their own path to Salesforce: an edit of them would bypass the consent ledger or the scoring.
MANAGED_COLUMNS = {
    "lead_score": "the lead score comes from the scoring step",
    "behavioral_score": "the behavioral score comes from the scoring step",
    "opted_out": "consent changes come from unsubscribe events and explicit opt-ins (the consent ledger)",
    "hard_bounced": "bounces come from hard_bounce events",
    "hard_bounce_reason": "bounces come from hard_bounce events",
    "hard_bounced_at": "bounces come from hard_bounce events",
}


@dataclass
class EditedPeople:
    """People with the pending edits applied, the change time per crm_id, and the edits settled at once."""

    people: pd.DataFrame
    local_changed_at: pd.Series  # crm_id → latest edit time of the person
    baselines: pd.DataFrame  # crm_id, field, value: what the edited cells held when edited (rule 5)
    live: pd.DataFrame  # the edits laid over (one per cell), with superseded edit ids in ``edit_ids``
    settled: dict[int, tuple[str, str]]  # edit_id → (status, reason)


def overlay_edits(people: pd.DataFrame, links: pd.DataFrame, edits: pd.DataFrame,
             column_fields: Mapping[str, Iterable[str]]) -> EditedPeople:
    """Apply the pending ``edits`` (EDIT_COLUMNS) to ``people`` (All Contacts rows) for the push (rules 1-5).

    ``column_fields``: each pushable all_contacts column → the Salesforce fields that carry it."""
    people = people.copy()
    settled: dict[int, tuple[str, str]] = {}
    no_baselines = pd.DataFrame(columns=["crm_id", "field", "value"])
    if edits.empty:
        return EditedPeople(people, pd.Series(dtype="datetime64[ns, UTC]"), no_baselines, edits.assign(edit_ids=[]),
                        settled)
    ordered = edits.sort_values(["changed_at", "edit_id"])
    groups = ordered.groupby(["contact_key", "column_name"], sort=False)
    live = groups.tail(1).copy()
    live["edit_ids"] = live.apply(
        lambda row: list(groups.get_group((row["contact_key"], row["column_name"]))["edit_id"]), axis=1)
    known = set(people["contact_key"])
    pushable = set(column_fields)
    keep = []
    for row in live.itertuples():
        if row.contact_key not in known:
            reason = f"no person with contact_key {row.contact_key!r} in all_contacts"
        elif row.column_name not in people.columns:
            reason = f"all_contacts has no column {row.column_name!r}"
        elif row.column_name in MANAGED_COLUMNS:
            reason = f"{row.column_name!r} is not edited directly: {MANAGED_COLUMNS[row.column_name]}"
        elif row.column_name not in pushable:
            reason = (f"the settings do not push {row.column_name!r} (map it with direction push or two_way, or "
                      "allow_push on a list's push.update_fields)")
        else:
            keep.append(row.Index)
            continue
        for edit_id in row.edit_ids:
            settled[int(edit_id)] = ("not_pushable", reason)
    live = live.loc[keep]
    index = pd.Series(people.index, index=people["contact_key"])
    for row in live.itertuples():
        people.loc[index[row.contact_key], row.column_name] = row.value
    latest = live.groupby("contact_key")["changed_at"].max()
    records = links[links["contact_key"].isin(latest.index)]
    changed_at = pd.Series(records["contact_key"].map(latest).to_numpy(), index=records["crm_id"].to_numpy())
    old = live.get("old_value", pd.Series(None, index=live.index, dtype=object))
    records_of = _records_of(live, links)
    baselines = pd.DataFrame(
        [{"crm_id": crm_id, "field": field, "value": old[row.Index]}
         for row in live.itertuples()
         for crm_id in records_of.get(row.contact_key, [])
         for field in column_fields[row.column_name]],
        columns=["crm_id", "field", "value"])
    return EditedPeople(people, changed_at, baselines, live, settled)


def _records_of(live: pd.DataFrame, links: pd.DataFrame) -> dict[str, list[str]]:
    """contact_key → the crm_ids of its records, for the edited people only (links may hold millions of rows)."""
    mine = links[links["contact_key"].isin(live["contact_key"])]
    return {key: list(group) for key, group in mine.groupby("contact_key")["crm_id"]}


def edit_outcomes(live: pd.DataFrame, links: pd.DataFrame, column_fields: Mapping[str, Iterable[str]],
           cell_states: Mapping[tuple[str, str], str], accepted: set[str],
           refused: set[str]) -> dict[int, tuple[str, str]]:
    """edit_id → (status, reason) for the laid-over edits after the push (rule 6).

    ``column_fields``: all_contacts column → the Salesforce fields that carry it; ``cell_states``: the plan's fate of
    each (crm_id, lower-case field) of the edited people (``PushPlan.cell_states``); ``accepted``/``refused``:
    crm_ids whose record Salesforce accepted/refused. A sent record in neither set was not answered (yet).
    """
    out: dict[int, tuple[str, str]] = {}
    records_of = _records_of(live, links)
    for row in live.itertuples():
        crm_ids = records_of.get(row.contact_key, [])
        fields = [f.lower() for f in column_fields.get(row.column_name, ())]
        states = {(crm_id, field): cell_states[(crm_id, field)] for crm_id in crm_ids for field in fields
                  if (crm_id, field) in cell_states}
        sent = [crm_id for (crm_id, _), state in states.items() if state == "sent"]
        if not states or set(states.values()) == {"not_pushable"}:
            status = ("not_pushable", f"no live Salesforce record of this person takes {row.column_name!r} (the "
                                      "record is deleted, or only the other object maps the column)")
        elif "salesforce_won" in states.values():
            status = ("salesforce_won", "changed in Salesforce too, and the conflict rule kept Salesforce's value")
        elif "held_refused" in states.values() or any(crm_id in refused for crm_id in sent):
            status = ("rejected", "Salesforce refused the record; push_results has its error")
        elif all(crm_id in accepted for crm_id in sent):
            status = ("pushed", "")  # sent and accepted, or Salesforce holds the value already
        else:
            continue  # sent but not answered (a push stopped by the API budget): the next run sends it
        for edit_id in row.edit_ids:
            out[int(edit_id)] = status
    return out
