"""New people the marketing side knows and Salesforce does not: who they are, and which become new Leads.

The rules, in order (each is a test):

1. **A new person is a form submitter.** Only a ``form_submit`` event names someone who asked to be known; opens,
   clicks and visits of an address no one holds are not reasons to create a record. Emails are compared normalized
   (trimmed, lower-case).
2. **Unknown to Salesforce.** An email that any All Contacts row or any linked Lead or Contact holds is not new.
3. **Never re-create what Salesforce deleted.** An email whose Lead or Contact is deleted in the mirror is marked
   ``deleted_in_salesforce`` (someone removed that person there on purpose); :func:`plan_creates` skips it.
4. **A stable key per person.** ``contact_key`` is ``"mk"`` plus the first 16 hex digits of the SHA-1 of the email:
   the same person gets the same key in every run, and the Lead is upserted on it (``Marketing_Id__c``), so a
   retried or re-run create updates the Lead it made instead of making a second one.
5. **One row per person**: contact_key, Email, first_seen_at (the earliest form submit), form (of that submit),
   deleted_in_salesforce; sorted by contact_key.
6. **Once.** :func:`plan_new_leads` leaves out people whose Lead was created before, and people whose create
   Salesforce refused (a validation or duplicate rule: sending the same Lead again gives the same answer; deleting
   the person's row in ``push_refusals`` sends it again). Several lists asking for new Leads create each person
   once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from sync_pipeline.rules.audience import normalize_email
from sync_pipeline.rules.push_plan import plan_creates
from sync_pipeline.settings.model import ListSettings

NEW_PERSON_EVENT = "form_submit"
LEAD_KEY_FIELD = "Marketing_Id__c"  # an external-id field on Lead: new Leads are upserted on it (rule 4)
KEY_PREFIX = "mk"
NEW_PERSON_COLUMNS = ("contact_key", "Email", "first_seen_at", "form", "deleted_in_salesforce")


def new_person_key(email: str) -> str:
    """The stable 18-character key of a person the marketing side found (rule 4)."""
    return KEY_PREFIX + hashlib.sha1(email.encode("utf-8")).hexdigest()[:16]


def _emails(values: Iterable[object]) -> set[str]:
    return set(normalize_email(pd.Series(list(values), dtype=object)).dropna())


def new_people(events: pd.DataFrame, known_emails: Iterable[object], deleted_emails: Iterable[object]) -> pd.DataFrame:
    """The people who submitted a form and whom Salesforce does not hold (see the module rules)."""
    if events.empty:
        return pd.DataFrame(columns=list(NEW_PERSON_COLUMNS))
    submits = events[events["event_type"] == NEW_PERSON_EVENT].copy()
    submits["Email"] = normalize_email(submits["email"])
    known = _emails(known_emails)
    submits = submits[submits["Email"].notna() & ~submits["Email"].isin(known)]
    if submits.empty:
        return pd.DataFrame(columns=list(NEW_PERSON_COLUMNS))
    form = submits["form"] if "form" in submits else pd.Series(None, index=submits.index, dtype=object)
    first = (submits.assign(form=form).sort_values(["occurred_at", "event_id"])
             .drop_duplicates("Email", keep="first"))
    deleted = _emails(deleted_emails)
    out = pd.DataFrame({
        "contact_key": first["Email"].map(new_person_key),
        "Email": first["Email"],
        "first_seen_at": first["occurred_at"],
        "form": first["form"],
        "deleted_in_salesforce": first["Email"].isin(deleted),
    })
    return out.sort_values("contact_key").reset_index(drop=True)[list(NEW_PERSON_COLUMNS)]


def plan_new_leads(lists: Sequence[ListSettings], events: pd.DataFrame, known_emails: Iterable[object],
                   deleted_emails: Iterable[object], done_keys: set[str]) -> list[dict[str, Any]]:
    """The Lead records to upsert on ``Marketing_Id__c`` for the lists that ask (``push.add_new``), rule 6."""
    asking = [item for item in lists if item.push.add_new]
    if not asking:
        return []
    candidates = new_people(events, known_emails, deleted_emails)
    candidates = candidates[~candidates["contact_key"].isin(done_keys)].assign(crm_id=None)
    creates = pd.concat([plan_creates(item, candidates) for item in asking]).drop_duplicates("contact_key")
    fields = creates.drop(columns=["contact_key", "object"])
    return [{"attributes": {"type": "Lead"}, LEAD_KEY_FIELD: key, **values}
            for key, values in zip(creates["contact_key"], fields.to_dict("records"), strict=True)]
