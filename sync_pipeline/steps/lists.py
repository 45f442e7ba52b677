"""The marketing list step: one list's members from its source (a people object, a campaign or a saved report), then
the maintained lead score into its score columns.

After its first run, a list syncs only the records whose membership or row may have changed since its watermark: the
Leads and Contacts changed in Salesforce, the records whose person (contact link) changed, and for a campaign list
the records of its changed campaign members. Every list rule decides one record at a time (``rules.lists``), so
planning those records against their own list rows gives that part of the plan over every record. The lead score is
copied for the people changed since (a new score is a changed All Contacts row). The first run, a settings change, a
change of the list's campaign or report, or a change of most records syncs every record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.records.mirror import PEOPLE_OBJECTS
from sync_pipeline.rules.lists import (
    ListSourceError,
    campaign_ids,
    list_columns,
    plan_list_sync,
    row_columns,
    score_columns,
    source_members,
)
from sync_pipeline.settings import SyncSettings
from sync_pipeline.settings.model import ListSettings
from sync_pipeline.steps.changes import StepInputs, Unchanged, step_inputs, whole_pass_cheaper
from sync_pipeline.store.audience import (
    changed_link_ids,
    changed_people,
    changed_record_ids,
    copy_lead_scores,
    links_touching,
    mirror_rows,
    read_links,
    read_list,
    read_mirror,
    write_list,
    written_list_columns,
)
from sync_pipeline.store.saved_reports import read_report_rows
from sync_pipeline.store.versions import ALL_CONTACTS, SCORES, mirror_dataset, report_dataset

CAMPAIGN_MEMBER_IDS = ("leadid", "contactid")


@dataclass(frozen=True)
class ListResult:
    """What one sync of a marketing list did: over every record (``full``) or over the records changed since."""

    list_name: str
    members_in_source: int  # of the records examined
    upserts: pd.DataFrame
    rows_written: int
    scores_copied: int
    counts: dict[str, int]
    records_examined: int
    full: bool
    people_rescored: int | None  # people whose lead score was copied again (None: every member's)

    def as_metadata(self) -> dict[str, Any]:
        return {"table": "list_members", "list": self.list_name, "members_in_source": self.members_in_source,
                "build": "every record" if self.full else "changed records",
                "keys_examined": self.records_examined, "keys_changed": len(self.upserts),
                "people_rescored": "every member" if self.people_rescored is None else self.people_rescored,
                "rows_written": self.rows_written, "lead_scores_copied": self.scores_copied, **self.counts}


def list_inputs(list_settings: ListSettings) -> list[str]:
    """The datasets a list reads: the people mirrors, its campaign or report, the people and their scores."""
    datasets = [*(mirror_dataset(name) for name in PEOPLE_OBJECTS), ALL_CONTACTS, SCORES]
    if list_settings.source.campaign:
        datasets += [mirror_dataset("Campaign"), mirror_dataset("CampaignMember")]
    if list_settings.source.report:
        datasets.append(report_dataset(list_settings.source.report))
    return datasets


@dataclass(frozen=True)
class _Source:
    """What a sync reads of the list's source: the records examined (None: every record) and their rows."""

    records: set[str] | None
    leads: pd.DataFrame
    contacts: pd.DataFrame
    campaign_members: pd.DataFrame
    campaigns: pd.DataFrame
    report_rows: pd.DataFrame

    @property
    def examined(self) -> int:
        return len(self.leads) + len(self.contacts) if self.records is None else len(self.records)


def sync_list(engine: Engine, settings: SyncSettings, list_settings: ListSettings,
              run_id: str) -> ListResult | Unchanged:
    """One marketing list from its source, then the maintained lead score into its score columns; nothing to do
    while none of :func:`list_inputs` nor the settings changed.

    Raises :class:`ListSourceError` when the list's campaign or report cannot be resolved."""
    inputs, unchanged = step_inputs(engine, f"list:{list_settings.name}", list_inputs(list_settings), settings)
    if unchanged:
        return unchanged
    columns = row_columns(list_settings)
    with engine.begin() as conn:  # begin: reading the list adds its new columns to list_members
        source = _read_source(conn, list_settings, inputs)
        ids = None if source.records is None else sorted(source.records)
        current = read_list(conn, list_settings.name, columns, ids)
        links = read_links(conn) if ids is None else links_touching(conn, crm_ids=ids)
        written_columns = written_list_columns(conn, list_settings.name, list_columns(list_settings))
        people_since = inputs.since(ALL_CONTACTS)
        rescored = None if ids is None or people_since is None else changed_people(conn, people_since)
    members = source_members(list_settings, leads=source.leads, contacts=source.contacts,
                             campaign_members=source.campaign_members, campaigns=source.campaigns,
                             report_rows=source.report_rows)
    if source.records is not None:
        members = members[members["crm_id"].isin(source.records)]
    keys = dict(zip(links["crm_id"], links["contact_key"], strict=True))
    plan = plan_list_sync(list_settings, current, members, keys, datetime.now(UTC), written_columns=written_columns)
    with engine.begin() as conn:
        written = write_list(conn, plan.upserts)
        score_keys = None if rescored is None else sorted(rescored | {str(k) for k in plan.upserts["contact_key"]})
        scores = copy_lead_scores(conn, list_settings.name, score_columns(settings, list_settings), score_keys)
        inputs.done(conn, run_id)
    counts = {"added": plan.added, "updated": plan.updated, "removed": plan.removed, "unchanged": plan.unchanged,
              "skipped_new": plan.skipped_new, "missing_key": plan.missing_key}
    return ListResult(list_settings.name, len(members), plan.upserts, written, scores, counts, source.examined,
                      source.records is None, None if score_keys is None else len(score_keys))


def _read_source(conn: sa.Connection, list_settings: ListSettings, inputs: StepInputs) -> _Source:
    """The list's source rows: of every record, or of the records changed since the last complete sync and the
    records their membership depends on (a campaign member's Lead and Contact)."""
    source = list_settings.source
    campaigns = read_mirror(conn, "Campaign") if source.campaign else pd.DataFrame({"id": []})
    members = (read_mirror(conn, "CampaignMember", campaign_ids(list_settings, campaigns), by="campaignid")
               if source.campaign else pd.DataFrame({"id": []}))
    report = read_report_rows(conn, source.report) if source.report else pd.DataFrame({"crm_id": []})
    records = _changed_records(conn, list_settings, inputs)
    read = _source_objects(list_settings)

    def rows(object_name: str, ids: list[str] | None) -> pd.DataFrame:
        """The object's mirror rows (of ``ids``); none of an object the source does not read."""
        return read_mirror(conn, object_name, ids if object_name in read else [])

    if records is None:
        return _Source(None, rows("Lead", None), rows("Contact", None), members, campaigns, report)
    # A campaign member counts through its Lead, or its Contact when the Lead is not live: deciding a record needs
    # the other record of each of its campaign members.
    touching = members[members[[c for c in CAMPAIGN_MEMBER_IDS if c in members]].isin(records).any(axis=1)] \
        if source.campaign and not members.empty else members.iloc[0:0]
    partners = {str(v) for c in CAMPAIGN_MEMBER_IDS if c in touching for v in touching[c].dropna()}
    wanted = sorted(records | partners)
    return _Source(records, rows("Lead", wanted), rows("Contact", wanted), members, campaigns, report)


def _source_objects(list_settings: ListSettings) -> list[str]:
    """The people objects the list's source reads: its object, or both for a campaign or a report."""
    source = list_settings.source
    return [source.object] if source.kind == "object" and source.object else list(PEOPLE_OBJECTS)


def _changed_records(conn: sa.Connection, list_settings: ListSettings, inputs: StepInputs) -> set[str] | None:
    """The records whose membership or list row may differ since the last complete sync; None: every record."""
    since = {dataset: inputs.since(dataset) for dataset in list_inputs(list_settings)}
    if any(version is None for version in since.values()):
        return None
    for dataset in (mirror_dataset("Campaign"), *(report_dataset(r) for r in [list_settings.source.report] if r)):
        if dataset in since and since[dataset] != inputs.values.get(dataset):
            return None  # the campaign or the report itself changed: every member may have
    source = list_settings.source
    objects = _source_objects(list_settings)
    records = {crm_id for name in objects
               for crm_id in changed_record_ids(conn, name, int(since[mirror_dataset(name)] or 0))}
    records |= changed_link_ids(conn, int(since[ALL_CONTACTS] or 0), objects)
    if source.campaign:
        changed = sorted(changed_record_ids(conn, "CampaignMember", int(since[mirror_dataset("CampaignMember")] or 0)))
        rows = read_mirror(conn, "CampaignMember", changed)
        records |= {str(v) for c in CAMPAIGN_MEMBER_IDS if c in rows for v in rows[c].dropna()}
    if whole_pass_cheaper(len(records), sum(mirror_rows(conn, name) for name in PEOPLE_OBJECTS)):
        return None
    return records


__all__ = ["ListResult", "ListSourceError", "list_inputs", "sync_list"]
