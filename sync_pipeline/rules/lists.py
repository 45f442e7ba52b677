"""Marketing list membership: who belongs to a list's source in Salesforce, and what a sync writes to ``list_members``.

``list_members`` holds one row per (list_name, crm_id): contact_key, crm_type (``Lead``/``Contact``), is_active,
added_at, updated_at, removed_at, and one text column per list column, named ``mirror_column(field)`` (``Email`` →
``email``, ``Account.Name`` → ``account__name``). Input frames are raw mirror frames (see ``mirror.py``): ``id``,
``is_deleted`` and text columns.

Source rules (:func:`source_members`; each is a test):

1. **A live Lead** is a Lead that is neither deleted nor converted: a converted Lead's person continues as its Contact,
   so the Lead leaves Lead lists and the Contact is a member of Contact lists. **A live Contact** is not deleted.
2. ``{object: Lead}`` / ``{object: Contact}``: every live Lead / live Contact.
3. ``{campaign: name}``: the live members of the live Campaign whose name matches, ignoring case and surrounding
   spaces. A member is its Lead when that Lead is live, otherwise its Contact when live (a member whose Lead was
   converted counts through the Contact); deleted members and members with no live record are left out. When several
   live campaigns match, the one whose name matches exactly (case included) is used; if that does not single one
   out, or no live campaign matches, :class:`ListSourceError` names the campaign and the fix.
4. ``{report: name}``: the report's ``crm_id`` values, read as a Lead (Id prefix ``00Q``) or a Contact (``003``); Ids
   of other objects and Ids with no live record are left out.
5. Every member appears once, with its values taken from its Lead or Contact; a list column the record's object does
   not carry (say ``Account.Name`` on a Lead) is NULL.

Plan rules (:func:`plan_list_sync`; each is a test):

6. **New members** (not in the list) are added, active, with added_at = updated_at = now and every column filled
   from Salesforce, only when ``pull.add_new`` is true; otherwise they are counted in ``skipped_new``. A new member
   without a contact_key (not in All Contacts, e.g. quarantined) is never added and is counted in ``missing_key``.
7. **Members already in the list**: a column named in ``pull.update_fields`` takes the Salesforce value; every other
   column keeps its marketing-side value, even when Salesforce differs. Exception: a column that has not been
   written yet — absent from ``current``, or NULL in every row of it, which is how a column added to the list's
   settings after its rows were written looks — is filled from Salesforce. So new columns fill on the next sync.
8. **Gone from the source**: with ``pull.remove_missing`` an active row is marked is_active false with
   removed_at = now (rows are never deleted; they stay as history); without it the row stays as it is.
9. **Coming back**: an inactive row whose record is back in the source is re-activated (is_active true,
   removed_at NULL, counted in ``added``, rule 7 for its columns) only when ``pull.add_new`` is true; otherwise it
   stays inactive, untouched, and is counted in ``skipped_new``.
10. **Keys**: the contact_key of every existing row is refreshed from ``contact_keys`` (a converted Lead's person keeps
    its key); a row whose record has no key now keeps the key it has.
11. **Only changes are written**: a row is in ``upserts`` (with updated_at = now) only when a written value changes
    (contact_key, crm_type, is_active, removed_at or a column; NULLs compare equal). Rows not written are counted
    ``unchanged``, so a re-sync with no change writes nothing, and planning again on the result writes nothing.

Counts: ``added`` (new and re-activated rows), ``updated`` (existing rows written, other than removals and
re-activations), ``removed``, ``unchanged`` (rows of ``current`` not written), ``skipped_new`` and ``missing_key``
(records of the source that were not added). ``added + updated + removed + unchanged`` equals the rows of
``current`` plus the new rows.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from sync_pipeline.records.mirror import PEOPLE_OBJECTS, mirror_column
from sync_pipeline.records.values import checkbox_flags
from sync_pipeline.settings.model import ListSettings, SyncSettings

LEAD_ID_PREFIX = "00Q"
CONTACT_ID_PREFIX = "003"
STATE_COLUMNS = ("list_name", "contact_key", "crm_id", "crm_type", "is_active", "added_at", "updated_at", "removed_at")


class ListSourceError(Exception):
    """A list's source cannot be read (e.g. its campaign does not exist); the message names the list and the fix."""

    def __init__(self, list_name: str, message: str) -> None:
        super().__init__(f"list {list_name!r}: {message}")
        self.list_name = list_name
        self.message = message


@dataclass(frozen=True)
class ListSyncPlan:
    """What one sync of a list writes: the full rows to upsert into ``list_members`` and the counts per outcome."""

    upserts: pd.DataFrame
    added: int
    updated: int
    removed: int
    unchanged: int
    skipped_new: int
    missing_key: int


def score_columns(settings: SyncSettings, list_settings: ListSettings) -> list[str]:
    """The list's columns that carry the lead score: its push.update_fields that a score mapping names. The list
    step copies All Contacts' lead score into them, so the list shows (and would push) the maintained score."""
    score_fields = {m.field_on(obj) for m in settings.contact_mapping.values() if m.type == "score"
                    for obj in PEOPLE_OBJECTS if m.field_on(obj)}
    return [mirror_column(f) for f in list_settings.push.update_fields if f in score_fields]


def list_columns(list_settings: ListSettings) -> list[str]:
    """The ``list_members`` column of each of the list's columns, in settings order."""
    return [mirror_column(field) for field in list_settings.columns]


def member_columns(list_settings: ListSettings) -> list[str]:
    """The columns of a :func:`source_members` frame."""
    return ["crm_id", "crm_type", *list_columns(list_settings)]


def row_columns(list_settings: ListSettings) -> list[str]:
    """The columns of a ``list_members`` row of this list (and of :attr:`ListSyncPlan.upserts`)."""
    return [*STATE_COLUMNS, *list_columns(list_settings)]


# --- source ------------------------------------------------------------------------------------------------------


def source_members(
    list_settings: ListSettings,
    *,
    leads: pd.DataFrame,
    contacts: pd.DataFrame,
    campaign_members: pd.DataFrame,
    campaigns: pd.DataFrame,
    report_rows: pd.DataFrame,
) -> pd.DataFrame:
    """The records that are members of the list's source right now (rules 1-5).

    Columns: crm_id, crm_type and the list's columns (mirror names), one row per record, ordered by crm_id.
    ``leads``/``contacts`` are mirror frames (id, is_deleted, and for Leads isconverted, plus the pulled fields);
    ``campaign_members`` has id, is_deleted, campaignid, leadid, contactid; ``campaigns`` id, name, is_deleted;
    ``report_rows`` a crm_id column. Frames the source does not need may be empty.
    """
    columns = list_columns(list_settings)
    live_leads = _records(_live_leads(leads), "Lead", columns)
    live_contacts = _records(_live(contacts), "Contact", columns)
    source = list_settings.source
    if source.kind == "object":
        members = live_leads if source.object == "Lead" else live_contacts
    elif source.kind == "campaign":
        ids = campaign_ids(list_settings, campaigns)
        members = _campaign_records(ids, campaign_members, live_leads, live_contacts)
    else:
        members = _report_records(report_rows, live_leads, live_contacts)
    return _one_per_record(members, member_columns(list_settings))


def _flag(values: pd.Series) -> pd.Series:
    """A boolean mirror value as bool: True/False or text ``true``/``false``; missing is False."""
    return checkbox_flags(values)


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, str | bytes) and bool(pd.isna(value)))


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _live(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[~_flag(_column(frame, "is_deleted"))]


def _live_leads(leads: pd.DataFrame) -> pd.DataFrame:
    live = _live(leads)
    return live[~_flag(_column(live, "isconverted"))]


def _records(frame: pd.DataFrame, crm_type: str, columns: list[str]) -> pd.DataFrame:
    """Mirror rows as member rows: crm_id, crm_type and the list's columns (NULL where the object lacks one)."""
    data: dict[str, pd.Series] = {
        "crm_id": _column(frame, "id").astype(object),
        "crm_type": pd.Series([crm_type] * len(frame), index=frame.index, dtype=object),
    }
    for name in columns:
        data[name] = _column(frame, name)
    return pd.DataFrame(data, index=frame.index)


def _one_per_record(members: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    if members.empty:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
    members = members.reindex(columns=columns).astype(object)
    members = members.where(members.notna(), None)
    deduplicated = members.drop_duplicates("crm_id", keep="first")
    return deduplicated.sort_values("crm_id", kind="mergesort").reset_index(drop=True)


def campaign_ids(list_settings: ListSettings, campaigns: pd.DataFrame) -> list[str]:
    """The Id of the live campaign the list names (rule 3)."""
    wanted = (list_settings.source.campaign or "").strip()
    live = _live(campaigns)
    names = pd.Series([_name(name) for name in _column(live, "name")], index=live.index, dtype=object)
    matching = live[names.map(str.casefold) == wanted.casefold()]
    exact = matching[names[matching.index] == wanted]
    if len(matching) > 1 and len(exact) == 1:
        matching = exact
    ids = [str(value) for value in _column(matching, "id")]
    if len(ids) == 1:
        return ids
    if not ids:
        deleted = _column(campaigns[~campaigns.index.isin(live.index)], "name")
        deleted_hint = (
            " (only a deleted campaign has this name)"
            if any(_name(name).casefold() == wanted.casefold() for name in deleted)
            else ""
        )
        raise ListSourceError(
            list_settings.name,
            f"campaign {wanted!r} matches no live campaign in Salesforce{deleted_hint}; check the campaign's name in "
            "Salesforce, or correct source: {campaign: ...} in the sync settings",
        )
    raise ListSourceError(
        list_settings.name,
        f"campaign {wanted!r} matches {len(ids)} live campaigns in Salesforce ({', '.join(sorted(ids))}); give the "
        "campaign a unique name in Salesforce and use that name in source: {campaign: ...} in the sync settings",
    )


def _name(value: object) -> str:
    return "" if _missing(value) else str(value).strip()


def _campaign_records(
    ids: list[str], campaign_members: pd.DataFrame, live_leads: pd.DataFrame, live_contacts: pd.DataFrame
) -> pd.DataFrame:
    rows = _live(campaign_members)
    rows = rows[_column(rows, "campaignid").isin(ids)]
    lead_ids = set(live_leads["crm_id"])
    via_lead = _column(rows, "leadid").isin(lead_ids)
    member_leads = set(_column(rows, "leadid")[via_lead])
    member_contacts = set(_column(rows, "contactid")[~via_lead].dropna())
    return _concat(live_leads[live_leads["crm_id"].isin(member_leads)], live_contacts, member_contacts)


def _report_records(report_rows: pd.DataFrame, live_leads: pd.DataFrame, live_contacts: pd.DataFrame) -> pd.DataFrame:
    ids = _column(report_rows, "crm_id").dropna().astype(str).str.strip()
    lead_ids = set(ids[ids.str.startswith(LEAD_ID_PREFIX)])
    contact_ids = set(ids[ids.str.startswith(CONTACT_ID_PREFIX)])
    return _concat(live_leads[live_leads["crm_id"].isin(lead_ids)], live_contacts, contact_ids)


def _concat(member_leads: pd.DataFrame, live_contacts: pd.DataFrame, contact_ids: set[str]) -> pd.DataFrame:
    member_contacts = live_contacts[live_contacts["crm_id"].isin(contact_ids)]
    return pd.concat([frame for frame in (member_leads, member_contacts) if not frame.empty] or [member_leads])


# --- plan --------------------------------------------------------------------------------------------------------


def plan_list_sync(
    list_settings: ListSettings,
    current: pd.DataFrame,
    members: pd.DataFrame,
    contact_keys: Mapping[str, str],
    now: datetime,
    *,
    written_columns: Collection[str] | None = None,
) -> ListSyncPlan:
    """What to write to ``list_members`` for one sync of the list (rules 6-11).

    ``current`` is the list's existing ``list_members`` rows (any order; columns the list gained since may be
    absent), ``members`` the output of :func:`source_members`, ``contact_keys`` crm_id → contact_key from All
    Contacts, ``now`` the run's timestamp (UTC).

    Every rule decides one record at a time, so a plan over some records (their rows of ``current`` and of
    ``members``) is that part of the plan over all of them, given ``written_columns``: the list's columns that
    hold a value in some row of the whole list (rule 7's unwritten columns are the others; None: judged from
    ``current``).
    """
    add_new = list_settings.pull.add_new
    old = _rows(current, list_settings).set_index("crm_id", drop=False)
    source = _one_per_record(members, member_columns(list_settings)).set_index("crm_id", drop=False)
    from_salesforce = _salesforce_columns(list_settings, current, written_columns)
    existing = _existing_rows(old, source, list_settings, from_salesforce, contact_keys, now)
    new_ids = source.index[~source.index.isin(old.index)]
    if add_new:
        added_rows, missing_key = _new_rows(source.loc[new_ids].copy(), list_settings, contact_keys, now)
    else:  # rule 6: without pull.add_new nobody joins (counted in skipped_new)
        added_rows, missing_key = _rows(pd.DataFrame(), list_settings), 0
    n_removed = int(existing.removed.sum())
    n_reactivated = int(existing.reactivated.sum())
    return ListSyncPlan(
        upserts=_upserts(added_rows, existing.written),
        added=len(added_rows) + n_reactivated,
        updated=int(existing.changed.sum()) - n_removed - n_reactivated,
        removed=n_removed,
        unchanged=int((~existing.changed).sum()),
        skipped_new=0 if add_new else existing.returning + len(new_ids),
        missing_key=missing_key,
    )


@dataclass(frozen=True)
class _ExistingRows:
    """The list's existing rows after one sync: those to write, and the masks (over all of them) the counts need."""

    written: pd.DataFrame  # the changed rows, with updated_at = now
    changed: pd.Series
    reactivated: pd.Series
    removed: pd.Series
    returning: int  # inactive rows whose record is in the source again (re-activated only with pull.add_new)


def _salesforce_columns(list_settings: ListSettings, current: pd.DataFrame,
                        written_columns: Collection[str] | None) -> list[str]:
    """The columns an existing member takes from Salesforce (rule 7): pull.update_fields and the unwritten ones."""
    columns = list_columns(list_settings)
    update_columns = {mirror_column(field) for field in list_settings.pull.update_fields}
    # A column absent or NULL in every row was added to the settings after the rows were written: it fills now.
    if written_columns is None:
        written_columns = {name for name in columns if name in current.columns and current[name].notna().any()}
    unwritten = {name for name in columns if name not in written_columns}
    return [name for name in columns if name in update_columns or name in unwritten]


def _existing_rows(old: pd.DataFrame, source: pd.DataFrame, list_settings: ListSettings, from_salesforce: list[str],
                   contact_keys: Mapping[str, str], now: datetime) -> _ExistingRows:
    """The existing rows as this sync leaves them (rules 7-10), and which of them change (rule 11)."""
    pull = list_settings.pull
    in_source = old.index.isin(source.index)
    was_active = old["is_active"].astype(bool)
    reactivated = in_source & ~was_active & pull.add_new
    removed = ~in_source & was_active & pull.remove_missing
    new = old.copy()
    keys = _keys(old["crm_id"], contact_keys)
    new["contact_key"] = keys.where(keys.notna(), old["contact_key"])  # a record without a key now keeps its own
    # Only members that stay or come back take Salesforce's values; a row left inactive is untouched (rule 9).
    taking = in_source & (was_active | reactivated)
    taken = source.reindex(old.index[taking])
    new.loc[taking, "crm_type"] = taken["crm_type"]
    for name in from_salesforce:
        new.loc[taking, name] = taken[name]
    new.loc[reactivated, "is_active"] = True
    new.loc[reactivated, "removed_at"] = None
    new.loc[removed, "is_active"] = False
    new.loc[removed, "removed_at"] = now
    changed = _changed(old, new, list_columns(list_settings)) | reactivated | removed
    written = new[changed].copy()
    written["updated_at"] = _constant(now, written.index)
    return _ExistingRows(written, changed, reactivated, removed, returning=int((in_source & ~was_active).sum()))


def _changed(old: pd.DataFrame, new: pd.DataFrame, columns: list[str]) -> pd.Series:
    """The rows where a written value differs between ``old`` and ``new`` (rule 11; NULLs compare equal)."""
    changed = pd.Series(False, index=old.index)
    for name in ["contact_key", "crm_type", "is_active", *columns]:
        changed |= ~_same(old[name], new[name])
    return changed


def _new_rows(arriving: pd.DataFrame, list_settings: ListSettings, contact_keys: Mapping[str, str],
              now: datetime) -> tuple[pd.DataFrame, int]:
    """The rows of the source's records new to the list (rule 6), and how many were left out for want of a key."""
    keys = _keys(arriving["crm_id"], contact_keys)
    has_key = keys.notna()
    arriving = arriving[has_key].reset_index(drop=True)
    arriving["contact_key"] = keys[has_key].to_numpy()
    arriving["is_active"] = True
    for name, value in (("added_at", now), ("updated_at", now), ("removed_at", None)):
        arriving[name] = _constant(value, arriving.index)
    return _rows(arriving, list_settings), int((~has_key).sum())


def _keys(crm_ids: pd.Series, contact_keys: Mapping[str, str]) -> pd.Series:
    """Each record's contact_key in All Contacts (missing when it has none)."""
    return crm_ids.map(lambda crm_id: contact_keys.get(str(crm_id)))


def _upserts(added_rows: pd.DataFrame, written: pd.DataFrame) -> pd.DataFrame:
    """The new and the changed rows together, in crm_id order."""
    parts = [frame for frame in (added_rows, written.reset_index(drop=True)) if not frame.empty]
    upserts = pd.concat(parts, ignore_index=True) if parts else added_rows
    return upserts.sort_values("crm_id", kind="mergesort").reset_index(drop=True)


def _rows(frame: pd.DataFrame, list_settings: ListSettings) -> pd.DataFrame:
    """``frame`` as list_members rows of this list: every column present (missing ones NULL), object dtype."""
    columns = row_columns(list_settings)
    rows = frame.reindex(columns=columns).astype(object)
    rows = rows.where(rows.notna(), None)
    rows["list_name"] = list_settings.name
    active = rows["is_active"]
    rows["is_active"] = active.where(active.notna(), False).astype(bool).astype(object)
    return rows


def _constant(value: object, index: pd.Index) -> pd.Series:
    """``value`` in every row, as Python objects (a datetime stays a datetime, None stays None)."""
    return pd.Series([value] * len(index), index=index, dtype=object)


def _same(left: pd.Series, right: pd.Series) -> pd.Series:
    """Elementwise equality where two NULLs are equal; values compare as text (mirror values are text)."""
    left_text = left.astype("string")
    right_text = right.astype("string")
    both_missing = left_text.isna() & right_text.isna()
    return (left_text == right_text).fillna(False).astype(bool) | both_missing
