"""The inputs of the push plan, from the marketing database's frames: what each Salesforce record should hold.

Rules (each a test):
1. Every live Lead and Contact linked to an active person gets the person's score, consent and bounce: a person with
   several records (duplicates by email, a converted Lead and its Contact) keeps all of them in agreement. Mapped
   push and two-way fields go to the person's primary record only: the other records keep their own names and
   titles (their current Salesforce value is what is "desired" for them, so nothing is sent). Nothing is desired
   for an inactive person (no live record Salesforce lets us write), nor through a converted Lead whose Contact is
   not a live record of the same person in the mirror (the plan sends a converted Lead's values to its Contact: there
   is none to take them, or the Contact's own person decides what it holds). So a person's desired values depend on
   their own rows only, and the push may plan people page by page.
2. Values per Salesforce field: the lead-score field(s) carry ``lead_score``; push and two-way mapped fields carry their
   All Contacts column (relationship paths such as ``Account.Name`` are never pushed); the opt-out field carries the
   person's consent; the hard-bounce fields carry the reason and the date when the person bounced.
3. Marketing-side consent evidence comes from engagement events: the latest ``unsubscribe`` is an opt-out event.
   Marketing-side bounces: the latest ``hard_bounce`` event marks the person bounced, with its reason and time.
4. ``salesforce_now`` is the mirror's current value of each desired field, with the record's SystemModstamp.
"""

from __future__ import annotations

import pandas as pd

from sync_pipeline.records.mirror import PEOPLE_OBJECTS, mirror_column
from sync_pipeline.records.values import checkbox_flags
from sync_pipeline.settings import SyncSettings

OBJECTS = PEOPLE_OBJECTS
# Columns every record of a person carries; other mapped columns only go to the person's primary record.
PERSON_WIDE = frozenset({"lead_score", "opted_out", "hard_bounce_reason", "hard_bounced_at"})
SF_PREFIX = "sf__"


def field_columns(settings: SyncSettings, object_name: str) -> dict[str, str]:
    """Salesforce field → All Contacts column whose value the marketing side wants in it: score, push and two-way
    fields, and the allow-push fields a list of this object names in push.update_fields."""
    listed = {name.lower() for item in settings.lists if item.object_name == object_name
              for name in item.push.update_fields}
    out: dict[str, str] = {}
    for column, mapping in settings.contact_mapping.items():
        field = mapping.field_on(object_name)
        if not field or "." in field:
            continue
        if mapping.type == "score":
            out[field] = "lead_score"
        elif mapping.direction in ("push", "two_way") or (mapping.allow_push and field.lower() in listed):
            out[field] = column
    if settings.opt_out.direction in ("push", "both"):
        out[settings.opt_out.field] = "opted_out"
    out[settings.hard_bounce.field] = "hard_bounce_reason"
    if settings.hard_bounce.date_field:
        out[settings.hard_bounce.date_field] = "hard_bounced_at"
    return out


def marketing_events(people: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Per contact_key: opt_out_event_at (latest unsubscribe), bounce_reason and bounced_at (latest hard bounce)."""
    columns = ["contact_key", "opt_out_event_at", "bounce_reason", "bounced_at"]
    if events.empty or people.empty:
        return pd.DataFrame(columns=columns)
    keyed = events.merge(people[["contact_key", "email"]].dropna(subset=["email"]), on="email")
    unsubscribed = (keyed[keyed["event_type"] == "unsubscribe"].groupby("contact_key")["occurred_at"].max()
                    .rename("opt_out_event_at"))
    bounces = keyed[keyed["event_type"] == "hard_bounce"].sort_values("occurred_at").groupby("contact_key").last()
    bounced = bounces[["reason", "occurred_at"]].rename(columns={"reason": "bounce_reason",
                                                                 "occurred_at": "bounced_at"})
    return pd.concat([unsubscribed, bounced], axis=1).reset_index().rename(columns={"index": "contact_key"})[columns]


def with_marketing_evidence(people: pd.DataFrame, evidence: pd.DataFrame) -> pd.DataFrame:
    """People with their marketing-side evidence: opt_out_event_at, and a hard bounce recorded from the latest
    hard_bounce event when Salesforce has none (the reason and time go to the bounce fields)."""
    people = people.merge(evidence, on="contact_key", how="left")
    bounced = people["bounce_reason"].notna() & ~people["hard_bounced"].astype(bool)
    people.loc[bounced, "hard_bounce_reason"] = people.loc[bounced, "bounce_reason"]
    # Both as UTC times (the stored column reads back as objects or naive values, depending on the backend).
    people["hard_bounced_at"] = pd.to_datetime(people["hard_bounced_at"], utc=True).where(
        ~bounced, pd.to_datetime(people["bounced_at"], utc=True))
    people.loc[bounced, "hard_bounced"] = True
    return people


def _is_true(values: pd.Series) -> pd.Series:
    """A mirror checkbox (``true``/``false`` text, or a bool) as bools; missing is false."""
    return checkbox_flags(values)


def salesforce_consent(mirrors: dict[str, pd.DataFrame], links: pd.DataFrame, field: str) -> pd.DataFrame:
    """Per live linked record: crm_id, contact_key, has_opted_out (the opt-out field), system_modstamp and
    is_converted (a converted Lead, which the consent rules read but never write)."""
    frames = []
    column = mirror_column(field)
    for mirror in mirrors.values():
        if mirror.empty or column not in mirror:
            continue
        live = mirror[~mirror["is_deleted"]].merge(links, left_on="id", right_on="crm_id")
        converted = _is_true(live["isconverted"]) if "isconverted" in live else pd.Series(False, index=live.index)
        frames.append(pd.DataFrame({"crm_id": live["id"], "contact_key": live["contact_key"],
                                    "has_opted_out": _is_true(live[column]),
                                    "system_modstamp": live["system_modstamp"], "is_converted": converted}))
    if not frames:
        return pd.DataFrame(columns=["crm_id", "contact_key", "has_opted_out", "system_modstamp", "is_converted"])
    return pd.concat(frames, ignore_index=True)


def desired_values(settings: SyncSettings, people: pd.DataFrame, links: pd.DataFrame,
                   mirrors: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per live linked record of an active person (rule 1): crm_id, crm_type, contact_key, is_deleted,
    converted_contact_id and one column per Salesforce field the marketing side wants set (see the module rules)."""
    frames = []
    if "is_active" in people:
        people = people[people["is_active"].fillna(False).astype(bool)]
    contacts = mirrors["Contact"]
    live_contacts = set(contacts.loc[~contacts["is_deleted"], "id"]) if not contacts.empty else set()
    # A converted Lead sends its values to its Contact only when that Contact is a live record of the same person
    # (the person of the Contact decides what it holds): so a page of people decides alone, as everyone would.
    own_contacts = links.loc[(links["crm_type"] == "Contact") & links["crm_id"].isin(live_contacts),
                             ["contact_key", "crm_id"]].rename(columns={"crm_id": "convertedcontactid"})
    for object_name in OBJECTS:
        mirror = mirrors[object_name]
        if mirror.empty:
            continue
        fields = [mirror_column(f) for f in field_columns(settings, object_name) if mirror_column(f) in mirror]
        conversion = ["isconverted", "convertedcontactid"] if object_name == "Lead" else []
        # Mirror columns get a prefix: a marketing column may share a mirror column's name (``title``, ``phone``).
        current = mirror[list(dict.fromkeys(["id", "is_deleted", *conversion, *fields]))].rename(
            columns={name: SF_PREFIX + name for name in fields})
        records = links[links["crm_type"] == object_name].merge(current, left_on="crm_id", right_on="id")
        records = records[~records["is_deleted"]]
        merged = records.merge(people, on="contact_key", how="inner", suffixes=("", "_person"))
        out = pd.DataFrame({"crm_id": merged["crm_id"], "crm_type": object_name, "contact_key": merged["contact_key"],
                            "is_deleted": False})
        if object_name == "Lead":
            converted = _is_true(merged["isconverted"]).to_numpy()
            out["converted_contact_id"] = merged["convertedcontactid"].where(converted, None).to_numpy()
            # A converted Lead whose Contact is gone, or is another person's, has nowhere to send its values
            # (Salesforce refuses the Lead).
            pairs = pd.MultiIndex.from_frame(merged[["contact_key", "convertedcontactid"]].astype(object))
            kept = ~converted | pairs.isin(pd.MultiIndex.from_frame(own_contacts.astype(object)))
            merged, out = merged[kept].reset_index(drop=True), out[kept].reset_index(drop=True)
        primary = (merged["crm_id"] == merged["crm_id_person"]).to_numpy() if "crm_id_person" in merged else None
        for field, column in field_columns(settings, object_name).items():
            if column in merged:
                values = merged[column]
                if primary is not None and column not in PERSON_WIDE and SF_PREFIX + mirror_column(field) in merged:
                    values = values.where(primary, merged[SF_PREFIX + mirror_column(field)])
                if column == "lead_score":
                    values = values.map(lambda v: None if pd.isna(v) else int(v))
                if column in ("hard_bounce_reason", "hard_bounced_at"):
                    values = values.where(merged["hard_bounced"].fillna(False).astype(bool), None)
                out[field] = values.to_numpy()
        frames.append(out)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["crm_id", "crm_type"])


def salesforce_now(desired: pd.DataFrame, mirrors: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """crm_id, field, value (mirror text), system_modstamp for every desired field."""
    rows = []
    fixed = {"crm_id", "crm_type", "contact_key", "is_deleted", "converted_contact_id"}
    for object_name in OBJECTS:
        subset = desired[desired["crm_type"] == object_name]
        mirror = mirrors[object_name]
        if subset.empty or mirror.empty:
            continue
        fields = [c for c in subset.columns if c not in fixed and mirror_column(c) in mirror]
        current = mirror.set_index("id").loc[subset["crm_id"].unique()]
        for field in fields:
            rows.append(pd.DataFrame({"crm_id": current.index, "field": field,
                                      "value": current[mirror_column(field)].to_numpy(),
                                      "system_modstamp": current["system_modstamp"].to_numpy()}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["crm_id", "field", "value", "system_modstamp"])
