"""Engagement events as Salesforce Tasks on the person's Lead or Contact: which events, and what each Task says.

:func:`plan_tasks` turns engagement events (``event_id``, ``event_type``, ``email``, ``occurred_at`` (UTC),
``campaign``, ``email_name``, ``url``, ``form``) into the Task records to upsert by ``Marketing_Activity_Key__c``.
The rules, in order (each is a test):

1. **Types.** The activity types are ``form_submit``, ``email_send``, ``email_open``, ``email_click`` and
   ``page_visit``; each is switched on by naming it in ``enabled``. An unknown name in ``enabled`` is a ValueError
   (a settings mistake, not a silent no-op). Events of a type that is not enabled, or of no known type, make no Task.
2. **First click only.** Of the ``email_click`` events of one (email, email_name) only the earliest (by occurred_at,
   then event_id) makes a Task; the later clicks make none. Emails compare trimmed and case-insensitive; a missing
   email_name is one group of its own. The first click is found among the events given, so ``events`` is the whole
   event history (the events already pushed included: rule 4 skips those).
3. **Stable key.** ``Marketing_Activity_Key__c`` is ``"ev-" + sha1(event_id)[:32]`` (35 characters; the field holds
   80): the same event always gives the same key, so upserting by it after a retry or in a re-run updates the Task
   it created instead of creating a second one. An event listed twice (same event_id) is one Task.
4. **Already pushed, or refused.** Events whose key is in ``already_pushed`` are skipped; so are those whose key
   ``refused`` maps to the WhoId the Task would carry now (Salesforce refused that Task for that record: the same
   Task gets the same answer), counted as ``refused_before``. A Task refused for a record the person no longer
   has (a new WhoId) is planned again.
5. **Who.** ``links`` maps an email to the person's primary live Salesforce record (``crm_id``, ``crm_type``);
   emails compare trimmed and case-insensitive. When an email has several rows, a Contact wins over a Lead, then
   the lowest crm_id. An event with no email or no linked record is skipped and counted (``no_salesforce_record``).
6. **Fields.** ``WhoId`` = crm_id; ``Subject`` says what happened and on what ("Email opened: <email_name>",
   "Form submitted: <form>", "Page visited: <url>"...; at most 255 characters, cut with "..."); ``ActivityDate`` =
   the UTC day of occurred_at (YYYY-MM-DD); ``Status`` = "Completed"; ``Type`` = "Email" for email events, "Other"
   otherwise; ``Description`` = what happened, when (UTC), the campaign, the page or form, and the event id.
7. **Deterministic.** The Tasks are sorted by occurred_at then event_id. The returned frame carries only the Task
   fields above; ``frame.attrs["counts"]`` holds the counts of the plan: ``events``, ``tasks``, ``disabled_type``,
   ``later_clicks``, ``already_pushed``, ``no_salesforce_record``, ``refused_before``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import pandas as pd

ACTIVITY_TYPES = ("form_submit", "email_send", "email_open", "email_click", "page_visit")
EMAIL_TYPES = frozenset({"email_send", "email_open", "email_click"})
KEY_FIELD = "Marketing_Activity_Key__c"
TASK_COLUMNS = [KEY_FIELD, "WhoId", "Subject", "ActivityDate", "Status", "Type", "Description"]
SUBJECT_MAX = 255
DESCRIPTION_MAX = 32_000

# Subject prefix and the event column naming what the event was about.
_SUBJECTS: dict[str, tuple[str, str]] = {
    "form_submit": ("Form submitted", "form"),
    "email_send": ("Email sent", "email_name"),
    "email_open": ("Email opened", "email_name"),
    "email_click": ("Email link clicked", "email_name"),
    "page_visit": ("Page visited", "url"),
}
_EVENT_COLUMNS = ["event_id", "event_type", "email", "occurred_at", "campaign", "email_name", "url", "form"]


def activity_key(event_id: str) -> str:
    """The Task's ``Marketing_Activity_Key__c`` for an event: the same event always gives the same key."""
    return "ev-" + hashlib.sha1(str(event_id).encode("utf-8")).hexdigest()[:32]


def plan_tasks(events: pd.DataFrame, links: pd.DataFrame, enabled: Sequence[str],
               already_pushed: set[str], refused: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The Tasks to upsert by ``Marketing_Activity_Key__c`` for ``events`` (rules in the module docstring)."""
    unknown = sorted(set(enabled) - set(ACTIVITY_TYPES))
    if unknown:
        raise ValueError(f"unknown activity type(s) {', '.join(unknown)}; known types: {', '.join(ACTIVITY_TYPES)}")
    frame = _distinct_events(events)
    counts = {"events": len(frame), "tasks": 0, "disabled_type": 0, "later_clicks": 0, "already_pushed": 0,
              "no_salesforce_record": 0, "refused_before": 0}
    # Each rule drops the events it rules out and counts them, in the order of the module docstring.
    frame, counts["disabled_type"] = _without(frame, ~frame["event_type"].isin(set(enabled)))
    frame, counts["later_clicks"] = _without(frame, _later_clicks(frame))
    frame = frame.assign(**{KEY_FIELD: frame["event_id"].map(activity_key)})
    frame, counts["already_pushed"] = _without(frame, frame[KEY_FIELD].isin(already_pushed))
    frame = frame.join(_primary_records(links), on="email_key")
    frame, counts["no_salesforce_record"] = _without(frame, frame["crm_id"].isna())
    if refused:  # refused for the record it would go to now: the same Task would get the same answer
        frame, counts["refused_before"] = _without(frame, frame[KEY_FIELD].map(refused) == frame["crm_id"].astype(str))
    tasks = _task_fields(frame)
    counts["tasks"] = len(tasks)
    tasks.attrs["counts"] = counts
    return tasks


def _distinct_events(events: pd.DataFrame) -> pd.DataFrame:
    """The events with an id, each once (rule 3), typed, with their normalized email, in time order (rule 7)."""
    frame = events.reindex(columns=_EVENT_COLUMNS).copy()
    frame = frame[frame["event_id"].notna()].drop_duplicates("event_id")
    frame["event_id"] = frame["event_id"].astype(str)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    frame["email_key"] = _normal_email(frame["email"])
    return frame.sort_values(["occurred_at", "event_id"], kind="mergesort")


def _without(frame: pd.DataFrame, dropped: pd.Series) -> tuple[pd.DataFrame, int]:
    """``frame`` without the ``dropped`` rows, and how many they were."""
    return frame[~dropped], int(dropped.sum())


def _later_clicks(frame: pd.DataFrame) -> pd.Series:
    """The clicks after the first of their (email, email_name) (rule 2); ``frame`` is in time order."""
    clicks = frame["event_type"] == "email_click"
    group = frame["email_key"].fillna("") + "\x00" + frame["email_name"].fillna("").astype(str)
    return clicks & group.where(clicks).duplicated()


def _task_fields(frame: pd.DataFrame) -> pd.DataFrame:
    """The Task of each event, TASK_COLUMNS only (rule 6)."""
    return pd.DataFrame({
        KEY_FIELD: frame[KEY_FIELD],
        "WhoId": frame["crm_id"].astype(str),
        "Subject": [_subject(row) for row in frame.itertuples(index=False)],
        "ActivityDate": frame["occurred_at"].dt.strftime("%Y-%m-%d"),
        "Status": "Completed",
        "Type": frame["event_type"].map(lambda kind: "Email" if kind in EMAIL_TYPES else "Other"),
        "Description": [_description(row) for row in frame.itertuples(index=False)],
    }, columns=TASK_COLUMNS).reset_index(drop=True)


def _normal_email(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip().str.lower()
    return text.where(text.notna() & (text != ""), None).astype(object)


def _primary_records(links: pd.DataFrame) -> pd.DataFrame:
    """One (crm_id, crm_type) per normalized email: a Contact before a Lead, then the lowest crm_id."""
    frame = links.reindex(columns=["email", "crm_id", "crm_type"]).copy()
    frame["email_key"] = _normal_email(frame["email"])
    frame = frame[frame["email_key"].notna() & frame["crm_id"].notna()]
    frame["rank"] = (frame["crm_type"] != "Contact").astype(int)
    frame = frame.sort_values(["email_key", "rank", "crm_id"], kind="mergesort").drop_duplicates("email_key")
    return frame.set_index("email_key")[["crm_id", "crm_type"]]


def _text(value: object) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _subject(row: tuple) -> str:
    prefix, column = _SUBJECTS[row.event_type]  # type: ignore[attr-defined]
    what = _text(getattr(row, column))
    return _cut(f"{prefix}: {what}" if what else prefix, SUBJECT_MAX)


def _description(row: tuple) -> str:
    prefix, _ = _SUBJECTS[row.event_type]  # type: ignore[attr-defined]
    lines = [f"{prefix} on {row.occurred_at.strftime('%Y-%m-%d %H:%M:%S')} UTC."]  # type: ignore[attr-defined]
    for label, column in (("Email", "email_name"), ("Form", "form"), ("Page", "url"), ("Campaign", "campaign")):
        value = _text(getattr(row, column))
        if value:
            lines.append(f"{label}: {value}")
    lines.append(f"Marketing event: {row.event_id}")  # type: ignore[attr-defined]
    return _cut("\n".join(lines), DESCRIPTION_MAX)
