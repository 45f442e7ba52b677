"""All Contacts: one row per person, built from Salesforce Leads and Contacts.

The rules, in order (each is a test):

1. **Stable keys.** Every Salesforce record is linked to a person's ``contact_key``. A record keeps the key it was
   linked to before.
2. **Conversion keeps the person.** A Contact that a Lead was converted into takes the Lead's key, so the person keeps
   their score and history.
3. **Duplicates by email are one person.** A record without a key joins the person that already owns its normalized
   email (trimmed, lower-case); among new records sharing an email, all join one new person.
4. **New people** get the Salesforce Id of their primary record as key (deterministic, so a re-run gives the same keys).
5. **The primary record** (whose fields the person shows) is chosen among the person's records: live before deleted,
   Contact before Lead (a Contact is the more advanced record), not-converted before converted, earliest
   CreatedDate (records without one after those with one), then lowest Id. Every criterion is Salesforce data our
   own writes never change: SystemModstamp is not one (our push writes all of a person's records in one batch, so
   the latest would follow the timing of our writes).
6. **Active means writable.** A person is active while one of their records is live and not a converted Lead (a
   record Salesforce lets us write: it refuses writes and Tasks on a converted Lead). A person whose records are all
   deleted, or who is left with only converted Leads (their Contact deleted in Salesforce, or not the person's),
   stays as inactive history: nothing is planned for them.
   Records arriving later with an older SystemModstamp never overwrite newer data: the mirror writes keep the newer
   copy (``store.mirrors``, ``bulk_upsert(only_if_newer=...)``).
"""

from __future__ import annotations

import pandas as pd

# Columns every input record frame carries (marketing-side names; mapped fields come in addition).
RECORD_COLUMNS = ("crm_id", "crm_type", "email", "system_modstamp", "created_date", "is_deleted", "is_converted",
                  "converted_contact_id")
CRM_TYPE_ORDER = {"Contact": 0, "Lead": 1}


def normalize_email(emails: pd.Series) -> pd.Series:
    """Trimmed and lower-cased; empty becomes missing."""
    normalized = emails.astype("string").str.strip().str.lower()
    return normalized.mask(normalized == "", pd.NA)


def assign_keys(records: pd.DataFrame, known_links: pd.DataFrame) -> pd.Series:
    """The contact_key of every record (index aligned with ``records``).

    ``known_links`` has columns crm_id, contact_key, email (the person's current email) from earlier syncs.
    """
    records = records.copy()
    records["email"] = normalize_email(records["email"])
    link_by_id = dict(zip(known_links["crm_id"], known_links["contact_key"], strict=True))
    keys = records["crm_id"].map(link_by_id)

    # Rule 2: a converted Lead's Contact inherits the Lead's key (known or assigned in this batch).
    converted = records[records["is_converted"].fillna(False).astype(bool) & records["converted_contact_id"].notna()]
    lead_key_by_contact: dict[str, str] = {}
    for lead_id, contact_id in zip(converted["crm_id"], converted["converted_contact_id"], strict=True):
        lead_key = link_by_id.get(lead_id)
        lead_key_by_contact[str(contact_id)] = lead_key if lead_key is not None else str(lead_id)
    inherited = records["crm_id"].map(lead_key_by_contact)
    keys = keys.fillna(inherited.where(keys.isna()))

    # Rule 3: join the person that owns this email (known people first, then new groups in this batch).
    known_by_email = (
        known_links.assign(email=normalize_email(known_links["email"]))
        .dropna(subset=["email"])
        .drop_duplicates("email")
        .set_index("email")["contact_key"]
    )
    by_known_email = records["email"].map(known_by_email)
    keys = keys.fillna(by_known_email.where(keys.isna()))

    # Within this batch, records that share an email share the key of the group's first keyed record, or else the
    # Id of the group's primary record (rule 4).
    ordered = _primary_order(records.assign(_key=keys))
    with_email = ordered[ordered["email"].notna()]
    group_key = with_email.groupby("email", sort=False)["_key"].transform("first")  # first non-missing
    first_id = with_email.groupby("email", sort=False)["crm_id"].transform("first")
    email_keys = group_key.fillna(first_id)
    keys = keys.fillna(email_keys.reindex(records.index))
    # Records without email and without key are their own person.
    return keys.fillna(records["crm_id"]).astype("string")


def _primary_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort so that, within any group, the first row is the primary record (rule 5); keyed rows first."""
    ranked = frame.assign(
        _deleted=frame["is_deleted"].fillna(False).astype(bool),
        _type_rank=frame["crm_type"].map(CRM_TYPE_ORDER).fillna(9),
        _converted=frame["is_converted"].fillna(False).astype(bool),
        _no_key=frame["_key"].isna() if "_key" in frame else False,
    )
    return ranked.sort_values(
        by=["_no_key", "_deleted", "_type_rank", "_converted", "created_date", "crm_id"],
        ascending=True,
        kind="mergesort",
        na_position="last",
    )


def build_audience(records: pd.DataFrame, keys: pd.Series) -> pd.DataFrame:
    """One row per contact_key from its primary record, with is_active (rule 6) and the normalized email."""
    frame = records.assign(_key=keys.values, email=normalize_email(records["email"]))
    ordered = _primary_order(frame)
    primary = ordered.drop_duplicates("_key", keep="first")
    writable = ~frame["is_deleted"].fillna(False).astype(bool) & ~frame["is_converted"].fillna(False).astype(bool)
    any_writable = frame.assign(_writable=writable).groupby("_key")["_writable"].any()
    audience = primary.drop(
        columns=[c for c in primary.columns if c.startswith("_") and c != "_key"]
    ).rename(columns={"_key": "contact_key"})
    audience["is_active"] = audience["contact_key"].map(any_writable).astype(bool)
    return audience.reset_index(drop=True)
