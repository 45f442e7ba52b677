"""Hot prospects: each sales owner's best-scoring recently active people from the hot-prospect lists.

:func:`rank_hot_prospects` takes ``all_contacts`` (``people``), the resolved members of the hot-prospect lists
(``sources``: contact_key, source), ``sales_users`` and the settings. The rules, in order (each is a test):

1. **Candidates** are active people (``is_active``) listed under at least one source, whose score (the
   behavioral_score) is strictly above ``min_score`` (a missing score is not) and whose last_activity_at lies within
   the last ``activity_days`` days: ``now - activity_days <= last_activity_at``; the boundary instant is inside, a
   missing activity is outside, and an activity after ``now`` (clock skew) is inside.
2. **Per owner** (owner_id; people without an owner form one group whose owner_id is None) the ``top_n``
   candidates by score are kept; an owner with fewer candidates keeps them all.
3. **Deterministic order.** Ties are broken by the later last_activity_at, then contact_key ascending. ``rank`` is
   1..n per owner with no gaps and no shared ranks (row_number semantics: equal scores still get distinct ranks, in
   the tie-break order).
4. **Flagged, not hidden.** Opted-out and hard-bounced people stay in the ranking with ``opted_out`` /
   ``hard_bounced`` true: sales may still call them, only email is off.
5. **Owner columns** come from ``users`` (user_id): owner_name, owner_email, owner_active. An owner id unknown to
   ``users`` (and the no-owner group) has name and email None and owner_active false.
6. **Sources** lists the distinct source labels of the person, joined with "," in the fixed order
   assigned_leads, active_opportunities, assigned_contacts. A label outside these raises :class:`ValueError`; a
   contact_key of ``sources`` unknown to ``people`` is ignored.
7. **Output**: the columns of ``HOT_PROSPECT_COLUMNS``, sorted by owner_name (None last), owner_id (None last), rank.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from sync_pipeline.rules.report_inputs import column, flags, is_missing, texts, utc_times, utc_timestamp
from sync_pipeline.settings.model import HotProspectSettings

SOURCE_LABELS = ("assigned_leads", "active_opportunities", "assigned_contacts")
HOT_PROSPECT_COLUMNS = (
    "owner_id", "owner_name", "owner_email", "owner_active", "rank", "contact_key", "crm_type", "crm_id", "email",
    "first_name", "last_name", "company", "score", "last_activity_at", "sources", "opted_out", "hard_bounced",
)
_BITS = {label: 1 << order for order, label in enumerate(SOURCE_LABELS)}
_JOINED = {
    mask: ",".join(label for label, bit in _BITS.items() if mask & bit) for mask in range(1, 1 << len(SOURCE_LABELS))
}
# The person's columns an output row carries (besides score, activity, owner and flags).
PERSON_COLUMNS = ("contact_key", "crm_type", "crm_id", "email", "first_name", "last_name", "company")


def rank_hot_prospects(
    people: pd.DataFrame,
    sources: pd.DataFrame,
    users: pd.DataFrame,
    settings: HotProspectSettings,
    now: datetime,
) -> pd.DataFrame:
    """The ranked hot prospects per owner (rules 1-7). A naive ``now`` is taken as UTC."""
    people = people.reset_index(drop=True)
    source_labels = _source_labels(sources)
    since = utc_timestamp(now) - timedelta(days=settings.activity_days)

    activity = utc_times(column(people, "last_activity_at"))
    score = pd.to_numeric(column(people, "behavioral_score"), errors="coerce").astype("float64")
    candidate = (
        flags(column(people, "is_active"))
        & people["contact_key"].isin(source_labels.index)
        & (score > settings.min_score)  # NaN compares false: no score, no candidate
        & (activity >= since)  # NaT compares false: no activity, no candidate
    )
    # Rank on the few columns the order needs; the person's other columns are read for the kept rows only.
    ranked = pd.DataFrame(
        {
            "contact_key": people.loc[candidate, "contact_key"],
            "owner_id": texts(column(people, "owner_id"))[candidate],
            "score": score[candidate],
            "last_activity_at": activity[candidate],
        }
    )
    # Rule 3 in one stable sort: score desc, activity desc, key asc; groupby keeps that order within each owner.
    ranked = ranked.sort_values(
        ["score", "last_activity_at", "contact_key"], ascending=[False, False, True], kind="mergesort"
    )
    owner_group = ranked["owner_id"].where(ranked["owner_id"].notna(), "")  # no owner: a group of its own
    ranked["rank"] = ranked.groupby(owner_group, sort=False).cumcount().astype("int64") + 1
    ranked = ranked[ranked["rank"] <= settings.top_n]

    chosen = people.loc[ranked.index]
    frame = ranked.assign(**{name: _text_or_none(column(chosen, name)) for name in PERSON_COLUMNS})
    frame["sources"] = frame["contact_key"].map(source_labels).astype(object)
    frame["opted_out"] = flags(column(chosen, "opted_out"))
    frame["hard_bounced"] = flags(column(chosen, "hard_bounced"))

    frame = _with_owners(frame, users)
    frame = frame.sort_values(
        ["owner_name", "owner_id", "rank"], na_position="last", kind="mergesort"
    ).reset_index(drop=True)
    return frame[list(HOT_PROSPECT_COLUMNS)]


def _source_labels(sources: pd.DataFrame) -> pd.Series:
    """Rule 6: contact_key → the person's labels, joined in the fixed order."""
    labels = texts(column(sources, "source"))
    unknown = sorted(str(label) for label in labels[labels.notna() & ~labels.isin(SOURCE_LABELS)].unique())
    if unknown:
        raise ValueError(f"unknown hot-prospect source {', '.join(map(repr, unknown))}; expected one of "
                         f"{', '.join(SOURCE_LABELS)}")
    # Each label is one bit; the distinct labels of a person sum to a mask, and each mask has its joined text.
    pairs = pd.DataFrame({"contact_key": texts(column(sources, "contact_key")), "source": labels}).dropna()
    pairs = pairs.drop_duplicates()
    masks = pairs["source"].map(_BITS).astype("int64").groupby(pairs["contact_key"]).sum()
    return masks.map(_JOINED)


def _with_owners(frame: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    """Rule 5."""
    known = pd.DataFrame(
        {
            "user_id": texts(column(users, "user_id")),
            "owner_name": texts(column(users, "name")),
            "owner_email": texts(column(users, "email")),
            "owner_active": flags(column(users, "is_active")),
        }
    )
    known = known[known["user_id"].notna()].drop_duplicates("user_id").set_index("user_id")
    result = frame.copy()
    owner = result["owner_id"]
    for name in ("owner_name", "owner_email"):
        values = owner.map(known[name])
        result[name] = values.astype(object).where(values.notna(), None)
    result["owner_active"] = owner.map(known["owner_active"]).eq(True).astype(bool)
    return result


def _text_or_none(values: pd.Series) -> pd.Series:
    return pd.Series([None if is_missing(value) else value for value in values], index=values.index, dtype=object)
