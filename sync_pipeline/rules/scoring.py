"""The behavioral score per contact, and the maintenance step that copies it into the synced lead-score field.

The rules, in order (each is a test):

1. **Points decay.** An event is worth ``rules[event_type] * 0.5 ** (age_days / half_life_days)``, its age measured
   from ``occurred_at`` to ``now`` (fractional days). An event dated after ``now`` counts as age 0, never more than
   its full points. Event types without a rule are worth 0 (they still count as activity).
2. **Events find contacts by email** (normalized: trimmed, lower-case). Events whose email belongs to no contact are
   ignored and counted (``attrs["unmatched_events"]`` of the result). An email shared by several contact rows (two
   people the audience could not merge) credits each of them in full: the event cannot tell which one acted.
3. **One row per contact**: contact_key, behavioral_score (rounded to 2 decimals, 0.0 without events),
   last_activity_at (latest occurred_at of any matched event, missing when none) and event_count (matched events).
4. **Never negative.** Rules may give negative points (say for an unsubscribe); a contact's total is floored at 0,
   since a score below zero has no meaning to sales and cannot be written to the score field.
5. **Lead score value.** The synced lead-score field is a Number(6,0): the behavioral score is rounded half up to a
   whole number and clamped to 0..999,999, because Salesforce rejects a value with more digits (failing the whole
   record) and a negative score is meaningless (see rule 4). A missing score is 0.
6. **Maintenance.** Before any push, every contact's behavioral_score is set from the latest scores (0.0 for a
   contact the scores do not list) and lead_score := the lead score value of it; ``lead_score_changed`` marks the
   contacts whose lead_score differs from the previous one (a missing previous value counts as changed), which is
   what the push diff will send.
7. **What a score write changes.** A person whose lead_score or last_activity_at changed is a changed person (the
   lists and the push look at them again); one whose behavioral_score alone moved (a day's decay of its decimals)
   is written but is no news to anyone: nothing after scoring reads those decimals person by person.
8. **Who decay can move.** All events of a person decay by the same factor, so a total's sign never changes with
   time and a score of 0 stays 0, unless an event was counted at age 0 for being dated after the day it was
   scored at (rule 1). A new day therefore re-scores only the people with a score above 0 and those with an event
   dated at or after the day they were last scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from sync_pipeline.rules.audience import normalize_email
from sync_pipeline.schemas.contact_fields import MAX_SCORE

SCORE_COLUMNS = ("contact_key", "behavioral_score", "last_activity_at", "event_count")
SECONDS_PER_DAY = 86_400.0


def behavioral_scores(
    events: pd.DataFrame,
    contacts: pd.DataFrame,
    rules: Mapping[str, float],
    half_life_days: float,
    now: datetime,
) -> pd.DataFrame:
    """One row per contact_key of ``contacts`` (columns contact_key, email) with its score from ``events``.

    ``events`` has at least event_type, email and occurred_at (as :func:`sync_pipeline.rules.events.read_event_lines`
    gives them). A naive ``now`` is taken as UTC.
    """
    if half_life_days <= 0:
        raise ValueError(f"half_life_days must be positive, got {half_life_days}")
    reference = pd.Timestamp(now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC))
    occurred = pd.to_datetime(events["occurred_at"], utc=True)
    weighted = _decayed_points(events["event_type"], occurred, rules, half_life_days, reference)
    # Events are grouped by normalized email as integer codes, so that the sums per group are bincounts.
    groups, emails = _email_groups(events["email"])
    return _per_contact(contacts, emails, _email_totals(groups, weighted, occurred, slots=len(emails) + 1),
                        events_without_email=int((groups < 0).sum()))


@dataclass(frozen=True)
class _EmailTotals:
    """Per distinct normalized email, then one extra "no events" slot for contacts without any (rule 3)."""

    score: np.ndarray  # the summed decayed points
    count: np.ndarray  # the events
    last: np.ndarray  # the latest occurred_at, naive UTC (NaT without events)


def _decayed_points(event_types: pd.Series, occurred: pd.Series, rules: Mapping[str, float], half_life_days: float,
                    reference: pd.Timestamp) -> np.ndarray:
    """Each event's points after decay (rule 1): a future event is age 0, an event type without a rule is worth 0."""
    age_days = ((reference - occurred).dt.total_seconds() / SECONDS_PER_DAY).clip(lower=0)
    points = event_types.map(dict(rules)).astype("float64").fillna(0.0)
    return points.to_numpy() * np.power(0.5, age_days.to_numpy(dtype="float64") / half_life_days)


def _email_totals(groups: np.ndarray, weighted: np.ndarray, occurred: pd.Series, slots: int) -> _EmailTotals:
    """The totals per email group (``slots`` is one more than the groups: the last stays empty, "no events")."""
    has_email = groups >= 0
    score = np.bincount(groups[has_email], weights=weighted[has_email], minlength=slots)
    count = np.bincount(groups[has_email], minlength=slots)
    naive_utc = occurred.dt.tz_localize(None).to_numpy()  # datetime64 without the per-element Timestamp boxing
    last = pd.Series(naive_utc[has_email]).groupby(groups[has_email]).max().reindex(range(slots))
    return _EmailTotals(score, count, last.to_numpy())


def _per_contact(contacts: pd.DataFrame, emails: pd.Index, totals: _EmailTotals,
                 events_without_email: int) -> pd.DataFrame:
    """The email totals fanned out to the contacts that own each email (rules 2-4; several may share one)."""
    contact_emails = normalize_email(contacts["email"]).to_numpy(dtype=object, na_value=None)
    matched = emails.isin(contact_emails)
    position = emails.get_indexer(contact_emails)
    position[position < 0] = len(emails)  # the "no events" slot
    result = pd.DataFrame(
        {
            "contact_key": contacts["contact_key"].to_numpy(),
            "behavioral_score": np.round(np.clip(totals.score[position], 0.0, None), 2),
            "last_activity_at": totals.last[position],
            "event_count": totals.count[position].astype("int64"),
        }
    )
    result["last_activity_at"] = pd.to_datetime(result["last_activity_at"]).dt.tz_localize(UTC)
    result.attrs["unmatched_events"] = int(totals.count[:-1][~matched].sum()) + events_without_email
    result.attrs["unmatched_emails"] = int((~matched).sum())
    return result


def _email_groups(raw: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """A group code per event (-1 without an email) and the distinct normalized emails the codes point into."""
    raw_codes, raw_uniques = pd.factorize(raw.to_numpy(dtype=object))
    normalized = normalize_email(pd.Series(raw_uniques, dtype=object))
    norm_codes, norm_uniques = pd.factorize(normalized.to_numpy(dtype=object, na_value=None))
    lookup = np.append(norm_codes, -1)  # raw code -1 (no email) indexes the last entry
    return lookup[raw_codes].astype("int64"), pd.Index(norm_uniques, dtype=object)


def lead_score_value(behavioral_score: float | None) -> int:
    """The value written to the Number(6,0) lead-score field: rounded half up, clamped to 0..999,999."""
    if behavioral_score is None or math.isnan(behavioral_score):
        return 0
    return int(min(max(math.floor(behavioral_score + 0.5), 0), MAX_SCORE))


def lead_score_values(behavioral_scores: pd.Series) -> pd.Series:
    """:func:`lead_score_value` for a whole column."""
    values = np.floor(pd.to_numeric(behavioral_scores, errors="coerce").fillna(0.0).astype("float64") + 0.5)
    return values.clip(0, MAX_SCORE).astype("int64")


def maintenance(all_contacts: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """All Contacts with behavioral_score from ``scores``, lead_score := its lead score value, and lead_score_changed.

    Runs before every push so the synced lead-score field always carries the behavioral score.
    """
    result = all_contacts.copy()
    by_key = scores.drop_duplicates("contact_key").set_index("contact_key")["behavioral_score"]
    result["behavioral_score"] = result["contact_key"].map(by_key).astype("float64").fillna(0.0)
    new_lead_score = lead_score_values(result["behavioral_score"])
    if "lead_score" in result:
        previous = pd.to_numeric(result["lead_score"], errors="coerce")
        changed = previous.isna() | (previous != new_lead_score)
    else:
        changed = pd.Series(True, index=result.index)
    result["lead_score"] = new_lead_score
    result["lead_score_changed"] = changed.astype(bool)
    return result


@dataclass(frozen=True)
class ScoreWrites:
    """Rule 7: the rows of a score write, split by whether they change the person for the steps after scoring."""

    changed: pd.DataFrame  # contact_key, behavioral_score, lead_score, last_activity_at
    decimals_only: pd.DataFrame  # contact_key, behavioral_score


def score_writes(previous: pd.DataFrame, maintained: pd.DataFrame, scores: pd.DataFrame) -> ScoreWrites:
    """Rule 7 for the people of ``previous`` (contact_key, behavioral_score, lead_score, last_activity_at as stored),
    given :func:`maintenance` of them and their :func:`behavioral_scores`."""
    new = maintained[["contact_key", "behavioral_score", "lead_score", "lead_score_changed"]].merge(
        scores[["contact_key", "last_activity_at"]], on="contact_key", how="left")
    before = previous.drop_duplicates("contact_key").set_index("contact_key")
    old_activity = pd.to_datetime(new["contact_key"].map(before["last_activity_at"]), utc=True)
    old_score = pd.to_numeric(new["contact_key"].map(before["behavioral_score"]), errors="coerce")
    changed = new["lead_score_changed"].to_numpy(dtype=bool) | _moved(old_activity, new["last_activity_at"])
    decimals_only = ~changed & _moved(old_score, new["behavioral_score"])
    return ScoreWrites(
        changed=new.loc[changed, ["contact_key", "behavioral_score", "lead_score", "last_activity_at"]]
        .reset_index(drop=True),
        decimals_only=new.loc[decimals_only, ["contact_key", "behavioral_score"]].reset_index(drop=True),
    )


def _moved(before: pd.Series, after: pd.Series) -> np.ndarray:
    """Where a value differs, a missing value being equal only to a missing one."""
    same = (before == after) | (before.isna() & after.isna())
    return ~same.to_numpy(dtype=bool)
