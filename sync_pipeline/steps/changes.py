"""When a derived step has nothing to do: its inputs' versions and settings are those its last complete run consumed.

Every writer bumps its dataset's version (``store.versions``) in the transaction that changes it; a derived step
reads the versions of its inputs (plus the settings' fingerprint, and the day for steps that depend on the date),
and when they equal its watermark it reads and writes nothing and says so (:class:`Unchanged`). After a complete run
the step stores what it consumed in the transaction of its last write, so a step killed midway runs again.

A step that can work on the changed keys only asks :meth:`StepInputs.since` for the version its last run consumed,
and reads the rows stamped after it (``store.versions.changed_keys``). A write that changes nothing moves no
version, so a page the pull reads again as it was leaves every step after it with nothing to do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.settings import SyncSettings
from sync_pipeline.store.versions import read_watermark, remember_report, versions, write_watermark

# Above this many changed keys, and this share of all, one pass over everything costs less than reading the rows of
# each changed key by IN lists (measured at 200,000 Leads: 242,605 changed records took 89 s by their links, 34 s
# all at once).
WHOLE_PASS_ABOVE, WHOLE_PASS_SHARE = 10_000, 0.2


def whole_pass_cheaper(changed: int, total: int) -> bool:
    """Whether a step should go over every key rather than the ``changed`` ones of ``total``."""
    return changed > WHOLE_PASS_ABOVE and changed > WHOLE_PASS_SHARE * total


def settings_fingerprint(settings: SyncSettings) -> str:
    """The settings as one hash: any change of them makes every step run."""
    return hashlib.sha256(settings.model_dump_json().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Unchanged:
    """A step that had nothing to do: what its last complete run reported, and which run that was."""

    step: str
    since_run: str
    report: dict[str, Any]

    def as_metadata(self) -> dict[str, Any]:
        return {"unchanged": True, "unchanged_since_run": self.since_run, "keys_examined": 0, "rows_written": 0}


@dataclass(frozen=True)
class StepInputs:
    """What a step consumes this run: ``values`` is stored as its watermark after a complete run."""

    step: str
    values: dict[str, Any]
    previous: dict[str, Any] | None = None  # what the step's last complete run consumed (None: it never ran)

    def since(self, dataset: str) -> int | None:
        """The version of ``dataset`` the last complete run consumed, when only the changes after it are news: the
        step ran before with the same settings. None: the step must look at everything."""
        if self.previous is None or self.previous.get("settings") != self.values.get("settings"):
            return None
        version = self.previous.get(dataset)
        return int(version) if isinstance(version, int) else None

    def own_write(self, conn: sa.Connection, dataset: str) -> None:
        """The step changed one of its own inputs: that change is its own, not news to its next run (unless
        another writer changed the dataset too, which the version then shows)."""
        now = versions(conn, [dataset])[dataset]
        if self.values.get(dataset) == now - 1:
            self.values[dataset] = now

    def done(self, conn: sa.Connection, run_id: str, report: Mapping[str, Any] | None = None) -> None:
        """Store the watermark, in the transaction of the step's last write."""
        write_watermark(conn, self.step, self.values, report or {}, run_id)


def step_inputs(engine: Engine, step: str, datasets: Iterable[str], settings: SyncSettings,
                **extra: Any) -> tuple[StepInputs, Unchanged | None]:
    """The step's inputs now, and :class:`Unchanged` when they are what its last complete run consumed."""
    with engine.connect() as conn:
        values = {**versions(conn, datasets), "settings": settings_fingerprint(settings),
                  **{name: str(value) for name, value in extra.items()}}
        watermark = read_watermark(conn, step)
    values = json.loads(json.dumps(values, sort_keys=True, default=str))
    inputs = StepInputs(step, values, watermark.inputs if watermark is not None else None)
    if watermark is not None and watermark.inputs == values:
        return inputs, Unchanged(step, watermark.run_id, watermark.report)
    return inputs, None


def report_checks(engine: Engine, step: str, report: Mapping[str, Any]) -> None:
    """Keep what the step's checks said, to show again while the step has nothing to do."""
    with engine.begin() as conn:
        remember_report(conn, step, report)
