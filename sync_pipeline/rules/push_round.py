"""One push round, planned: consent resolved, marketing edits laid over, the diff against the pushed state.

:func:`plan_round` chains the pure steps the push asset needs, in this order (each step's rules are in its module):

1. the marketing side's evidence (unsubscribe and hard-bounce events) on each person (``push_inputs``);
2. consent resolved between the two systems and the ledger (``consent``): an opt-out is never undone;
3. pending marketing edits laid over All Contacts, their old values as the baseline (``marketing_edits``);
4. the values each Salesforce record should hold (``push_inputs.desired_values``);
5. the plan: only what differs from the pushed state and from Salesforce, two-way conflicts decided, refused values
   held back (``push_plan``).

:meth:`PushRound.edit_settlement` keeps what says how each edit ended once Salesforce answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from sync_pipeline.rules.consent import ConsentPlan, consent_state, resolve_consent
from sync_pipeline.rules.marketing_edits import EditedPeople, edit_outcomes, overlay_edits
from sync_pipeline.rules.push_inputs import (
    OBJECTS,
    desired_values,
    field_columns,
    marketing_events,
    salesforce_consent,
    salesforce_now,
    with_marketing_evidence,
)
from sync_pipeline.rules.push_plan import PushPlan, plan_push
from sync_pipeline.settings import SyncSettings

# The All Contacts columns the push itself may change (consent and bounces), written back before anything is sent.
CONSENT_COLUMNS = ["contact_key", "opted_out", "hard_bounced", "hard_bounce_reason", "hard_bounced_at"]


def consent_changes(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """The CONSENT_COLUMNS rows of ``after`` that differ from ``before`` (both by contact_key): the only ones the push
    writes back, so a push that decided nothing new writes nothing."""
    old = before[CONSENT_COLUMNS].set_index("contact_key")
    new = after[CONSENT_COLUMNS].set_index("contact_key")
    old = old.reindex(new.index)
    differs = pd.Series(False, index=new.index)
    for column in new.columns:
        left, right = new[column].astype(object), old[column].astype(object)
        both_missing = left.isna() & right.isna()
        differs |= ~both_missing & (left.isna() | right.isna() | (left.astype(str) != right.astype(str)))
    return new[differs].reset_index()


@dataclass(frozen=True)
class PushInputs:
    """What the push reads from the marketing database."""

    people: pd.DataFrame  # all_contacts, with its run-time columns
    links: pd.DataFrame  # contact_links: crm_id, crm_type, contact_key
    mirrors: dict[str, pd.DataFrame]  # Lead and Contact mirrors
    events: pd.DataFrame
    pushed: pd.DataFrame  # pushed_state
    ledger: pd.DataFrame  # consent_ledger
    edits: pd.DataFrame  # pending marketing_edits
    refusals: pd.DataFrame  # push_refusals


@dataclass(frozen=True)
class EditSettlement:
    """What a round's edits need to settle once Salesforce answered: only the edits' own rows, so a step can keep one
    per page of people while the pages' frames are gone."""

    live: pd.DataFrame  # the edits laid over
    links: pd.DataFrame  # the links of the edited people
    column_fields: dict[str, list[str]]
    cell_states: dict[tuple[str, str], str]
    settled: dict[int, tuple[str, str]]  # the edits settled at once (no such person or column...)

    @property
    def records(self) -> set[str]:
        """The crm_ids whose answers settle the edits."""
        return {str(crm_id) for crm_id in self.links["crm_id"]}

    def outcomes(self, accepted: set[str], refused: set[str]) -> dict[int, tuple[str, str]]:
        """edit_id → (status, reason) for every edit of the round (``marketing_edits`` rule 6)."""
        return {**self.settled, **edit_outcomes(self.live, self.links, self.column_fields, self.cell_states, accepted,
                                                refused)}


@dataclass(frozen=True)
class PushRound:
    people: pd.DataFrame  # All Contacts after consent and bounce evidence (CONSENT_COLUMNS are written back)
    consent: ConsentPlan
    edited: EditedPeople
    column_fields: dict[str, list[str]]  # all_contacts column → the Salesforce fields that carry it
    plan: PushPlan

    def edit_settlement(self, links: pd.DataFrame) -> EditSettlement:
        """The round's edits with what settles them (``links``: the round's links)."""
        edited = links[links["contact_key"].isin(self.edited.live["contact_key"])].reset_index(drop=True)
        return EditSettlement(self.edited.live, edited, self.column_fields, self.plan.cell_states,
                              dict(self.edited.settled))

    def edit_outcomes(self, links: pd.DataFrame, accepted: set[str], refused: set[str]) -> dict[int, tuple[str, str]]:
        """edit_id → (status, reason) for every edit this round decided (``marketing_edits`` rule 6)."""
        return self.edit_settlement(links).outcomes(accepted, refused)


def plan_round(settings: SyncSettings, inputs: PushInputs, now: datetime) -> PushRound:
    """Steps 1-5 of the module docstring."""
    people = with_marketing_evidence(inputs.people, marketing_events(inputs.people, inputs.events))
    consent = resolve_consent(
        people.assign(opt_in_event_at=None)[["contact_key", "opted_out", "opt_in_event_at", "opt_out_event_at"]],
        salesforce_consent(inputs.mirrors, inputs.links, settings.opt_out.field), consent_state(inputs.ledger),
        settings.opt_out.direction, now, field_name=settings.opt_out.field)
    if consent.marketing_updates:  # one vectorized assignment: a scan of every person per update is quadratic
        updated = people["contact_key"].isin(list(consent.marketing_updates))
        people.loc[updated, "opted_out"] = people.loc[updated, "contact_key"].map(consent.marketing_updates)
        people["opted_out"] = people["opted_out"].infer_objects()

    column_fields: dict[str, list[str]] = {}
    for object_name in OBJECTS:
        for field, column in field_columns(settings, object_name).items():
            column_fields.setdefault(column, []).append(field)
    edited = overlay_edits(people, inputs.links, inputs.edits, column_fields)
    desired = desired_values(settings, edited.people, inputs.links, inputs.mirrors)
    baseline = pd.concat([inputs.pushed, edited.baselines], ignore_index=True)  # an edited cell: its old value
    edited_records = set(inputs.links.loc[inputs.links["contact_key"].isin(edited.live["contact_key"]), "crm_id"])
    plan = plan_push(desired, baseline, salesforce_now(desired, inputs.mirrors), settings,
                     local_changed_at=edited.local_changed_at, now=now, refused=inputs.refusals,
                     track=edited_records)
    return PushRound(people, consent, edited, column_fields, plan)
