"""Change tracking in the marketing database: dataset versions and step watermarks.

A writer calls :func:`bump` in the transaction that changes a dataset, so the version and the data never disagree
(a killed write leaves both as they were). A derived step reads its inputs' versions, compares them with its
watermark, and after a complete run stores what it consumed with :func:`write_watermark`. The store only keeps
these numbers; what a step consumes, and so when it has nothing to do, is the step's rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from sync_pipeline.records.mirror import mirror_table
from sync_pipeline.store.tables import data_versions, step_watermarks
from sync_pipeline.store.types import utc_now
from sync_pipeline.store.upsert import bulk_upsert

CHANGE_SEQ = "change_seq"  # a row's stamp: the version of its dataset that last changed it


def bump(conn: sa.Connection, dataset: str) -> int:
    """Increase the dataset's version by one (the first change makes it 1); returns the new version."""
    current = conn.execute(sa.select(data_versions.c.version).where(data_versions.c.dataset == dataset)
                           ).scalar_one_or_none()
    version = (current or 0) + 1
    bulk_upsert(conn, data_versions, [{"dataset": dataset, "version": version, "changed_at": utc_now()}],
                ["dataset"])
    return version


def next_version(conn: sa.Connection, dataset: str) -> int:
    """The version the dataset's next change will have: a writer stamps the rows it changes with it."""
    return versions(conn, [dataset])[dataset] + 1


def record_stamped_change(conn: sa.Connection, dataset: str, table: sa.Table, stamp: int) -> int:
    """The rows a write stamped with ``stamp`` (:func:`next_version`) are the dataset's change: when there are any,
    the dataset takes that version. Returns how many rows changed. Salesforce runs are one at a time (the run
    queue's tag limit), so no other writer takes the same stamp meanwhile."""
    changed = int(conn.execute(sa.select(sa.func.count()).select_from(table)
                               .where(table.c[CHANGE_SEQ] == stamp)).scalar_one())
    if changed:
        bulk_upsert(conn, data_versions, [{"dataset": dataset, "version": stamp, "changed_at": utc_now()}],
                    ["dataset"])
    return changed


def changed_keys(conn: sa.Connection, table: sa.Table, key: str, since: int) -> list[Any]:
    """The keys of the rows changed after version ``since`` (rows stamped before change tracking are older)."""
    return [row[0] for row in conn.execute(sa.select(table.c[key]).where(table.c[CHANGE_SEQ] > since))]


def versions(conn: sa.Connection, datasets: Iterable[str]) -> dict[str, int]:
    """The version of each dataset (0: never changed)."""
    names = list(dict.fromkeys(datasets))
    found = dict(conn.execute(sa.select(data_versions.c.dataset, data_versions.c.version)
                              .where(data_versions.c.dataset.in_(names))).all())
    return {name: int(found.get(name, 0)) for name in names}


@dataclass(frozen=True)
class Watermark:
    inputs: dict[str, Any]
    report: dict[str, Any]
    run_id: str
    updated_at: datetime


def read_watermark(conn: sa.Connection, step: str) -> Watermark | None:
    row = conn.execute(sa.select(step_watermarks).where(step_watermarks.c.step == step)).mappings().first()
    if row is None:
        return None
    return Watermark(json.loads(row["inputs"]), json.loads(row["report"]), row["run_id"], row["updated_at"])


def write_watermark(conn: sa.Connection, step: str, inputs: Mapping[str, Any], report: Mapping[str, Any],
                    run_id: str) -> None:
    bulk_upsert(conn, step_watermarks, [{"step": step, "inputs": json.dumps(dict(inputs), sort_keys=True, default=str),
                                         "report": json.dumps(dict(report), sort_keys=True, default=str),
                                         "run_id": run_id, "updated_at": utc_now()}], ["step"])


def remember_report(conn: sa.Connection, step: str, report: Mapping[str, Any]) -> None:
    """Replace what the step's last complete run reported (its checks), keeping its inputs."""
    conn.execute(sa.update(step_watermarks).where(step_watermarks.c.step == step)
                 .values(report=json.dumps(dict(report), sort_keys=True, default=str)))


# Dataset names: a mirror, a list or a saved report each has its own version.
ALL_CONTACTS = "all_contacts"
ENGAGEMENT_EVENTS = "engagement_events"
SCORES = "scores"
# The consent columns of All Contacts as the push decides them (opt-outs, hard bounces): a dataset of its own, so the
# push's write-back, which comes after the lists and the maintenance step in a run, wakes only the steps that read
# consent, not everyone downstream of All Contacts.
CONSENT = "consent"
MARKETING_EDITS = "marketing_edits"
SALES_USERS = "sales_users"


def mirror_dataset(object_name: str) -> str:
    """A mirror's dataset is its table (``sf_lead``...)."""
    return mirror_table(object_name)


def list_dataset(list_name: str) -> str:
    return f"list:{list_name}"


def report_dataset(report_name: str) -> str:
    return f"report:{report_name}"
