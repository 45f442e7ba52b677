"""Checking the settings against the org's describe metadata, before a sync reads or writes anything.

A misspelt field would otherwise fail deep inside a Bulk query, and a pushed read-only field would fail record by
record; here each becomes one line naming the settings key, the object and the field. Field and relationship names
are case-insensitive, as in Salesforce. Objects missing from ``describes`` are not checked, and a relationship whose
target object is missing is accepted as far as it can be resolved.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sync_pipeline.settings.errors import join_key, list_key, problem
from sync_pipeline.settings.model import FieldMapping, SyncSettings
from sync_pipeline.settings.rules import SIDES

SUGGEST_FIX = "check the spelling, or run `sync-pipeline mapping suggest` to see the org's fields"

SCORE_PUSHED = "score fields are always pushed"

FieldInfo = Mapping[str, Any]


@dataclass(frozen=True)
class Resolved:
    """Where a field path led: the field's describe entry (None past an undescribed relationship) or a problem."""

    field: FieldInfo | None = None
    what: str | None = None
    suggestion: str | None = None


class Org:
    """The describes of some objects, indexed case-insensitively."""

    def __init__(self, describes: Mapping[str, Mapping[str, Any]]) -> None:
        self._objects = {name.lower(): describe for name, describe in describes.items()}

    def has(self, object_name: str) -> bool:
        return object_name.lower() in self._objects

    def name(self, object_name: str) -> str:
        return str(self._objects[object_name.lower()].get("name") or object_name)

    def fields(self, object_name: str) -> list[FieldInfo]:
        return list(self._objects[object_name.lower()].get("fields") or [])

    def resolve(self, object_name: str, path: str) -> Resolved:
        """Follow ``path`` (``Field`` or ``Relationship.Field``...) from ``object_name``."""
        head, _, rest = path.partition(".")
        fields = self.fields(object_name)
        if not rest:
            return self._field(object_name, head, fields)
        link = next((f for f in fields if str(f.get("relationshipName") or "").lower() == head.lower()), None)
        if link is None:
            return Resolved(what=f"{self.name(object_name)} has no relationship {head!r} (in {path!r})")
        return self._through(link, rest, path)

    def _field(self, object_name: str, name: str, fields: list[FieldInfo]) -> Resolved:
        found = next((f for f in fields if str(f.get("name", "")).lower() == name.lower()), None)
        if found is not None:
            return Resolved(field=found)
        close = difflib.get_close_matches(name, [str(f.get("name", "")) for f in fields], n=1, cutoff=0.75)
        what = f"field {name!r} does not exist on {self.name(object_name)}"
        return Resolved(what=what, suggestion=close[0] if close else None)

    def _through(self, link: FieldInfo, rest: str, path: str) -> Resolved:
        targets = [str(t) for t in link.get("referenceTo") or [] if self.has(str(t))]
        if not targets:
            return Resolved()  # the related object was not described: nothing more to check
        attempts = [self.resolve(target, rest) for target in targets]
        ok = next((a for a in attempts if a.what is None), None)
        if ok is not None:
            return ok
        first = attempts[0]
        return Resolved(what=f"{first.what} (in {path!r})", suggestion=first.suggestion)


def _unknown(key: str, resolved: Resolved) -> str:
    hint = f"did you mean {resolved.suggestion!r}? " if resolved.suggestion else ""
    return problem(key, str(resolved.what), hint + SUGGEST_FIX)


def _read_only(field: FieldInfo) -> str | None:
    """Why Salesforce will refuse to write ``field`` (None when it is updateable)."""
    if field.get("updateable", False):
        return None
    return "a formula field, read-only" if field.get("calculated") else "read-only"


@dataclass(frozen=True)
class Use:
    """One place the settings name a Salesforce field, and whether (and why) it is written."""

    key: str
    object_name: str
    field: str
    written_because: str | None = None
    write_fix: str = ""


def _mapping_uses(name: str, entry: FieldMapping) -> Iterator[Use]:
    if entry.type == "score":
        because, fix = SCORE_PUSHED, "map the score to a writable Number field"
    elif entry.pushes:
        because, fix = f"direction {entry.direction} pushes it", "set direction: pull, or map a writable field"
    elif entry.allow_push:
        because, fix = "allow_push: true lets lists push it", "set allow_push: false, or map a writable field"
    else:
        because, fix = None, ""
    for side, obj in SIDES:
        field = entry.field_on(obj)
        if field:
            yield Use(join_key("contact_mapping", name, side), obj, field, because, fix)


def _list_uses(settings: SyncSettings) -> Iterator[Use]:
    for item in settings.lists:
        obj = item.object_name
        if obj is None:
            continue  # campaign and report rows are checked when the campaign or report is read
        for column in item.columns:
            yield Use(f"{list_key(item.name)}.columns", obj, column)
        for field in item.push.update_fields:
            yield Use(
                f"{list_key(item.name)}.push.update_fields",
                obj,
                field,
                "this list pushes it",
                f"remove {field} from push.update_fields",
            )


def _consent_uses(settings: SyncSettings) -> Iterator[Use]:
    opt_out = settings.opt_out
    pushed = None if opt_out.direction == "pull" else f"opt_out.direction {opt_out.direction} pushes opt-outs"
    bounce = settings.hard_bounce
    for _, obj in SIDES:
        yield Use("opt_out.field", obj, opt_out.field, pushed, "set opt_out.direction: pull, or name a writable field")
        for key, field in (("hard_bounce.field", bounce.field), ("hard_bounce.date_field", bounce.date_field)):
            yield Use(key, obj, field, "hard bounces are always pushed", "name a writable field")


def _report_uses(settings: SyncSettings) -> Iterator[Use]:
    for key, field in settings.report_mapping.model_dump().items():
        yield Use(f"report_mapping.{key}", "Opportunity", str(field))


def field_uses(settings: SyncSettings) -> Iterator[Use]:
    """Every Salesforce field the settings name, with the settings key that names it."""
    for name, entry in settings.contact_mapping.items():
        yield from _mapping_uses(name, entry)
    yield from _list_uses(settings)
    yield from _consent_uses(settings)
    yield from _report_uses(settings)


def _check_use(org: Org, use: Use) -> str | None:
    resolved = org.resolve(use.object_name, use.field)
    if resolved.what is not None:
        return _unknown(use.key, resolved)
    if use.written_because is None or resolved.field is None:
        return None
    reason = _read_only(resolved.field)
    if reason is None:
        return None
    what = f"field {use.field!r} on {org.name(use.object_name)} is {reason}, but {use.written_because}"
    return problem(use.key, what, use.write_fix)


def check_against_describe(settings: SyncSettings, describes: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One problem per named field the org does not have, or pushed field it will not let us write.

    A missing field is reported once, at the first key that names it (the mapping before the lists), with the other
    keys that name it in brackets: one fix, one line."""
    org = Org(describes)
    uses = [use for use in field_uses(settings) if org.has(use.object_name)]
    missing: dict[tuple[str, str], list[Use]] = {}
    for use in uses:
        if org.resolve(use.object_name, use.field).what is not None:
            missing.setdefault((use.object_name.lower(), use.field.lower()), []).append(use)
    lines = []
    for use in uses:
        named = missing.get((use.object_name.lower(), use.field.lower()))
        if named is None:
            lines.append(_check_use(org, use))
        elif named[0] is use:
            lines.append(_missing_field(org, named))
    return list(dict.fromkeys(line for line in lines if line))


def _missing_field(org: Org, uses: list[Use]) -> str:
    first = uses[0]
    resolved = org.resolve(first.object_name, first.field)
    others = list(dict.fromkeys(use.key for use in uses[1:] if use.key != first.key))
    what = str(resolved.what) + (f" (also named by {', '.join(others)})" if others else "")
    if first.written_because == SCORE_PUSHED and "." not in first.field:
        fix = (f"create a writable Number(6, 0) field {first.field} on {org.name(first.object_name)} (Setup > Object "
               "Manager > Fields & Relationships), or map the score to an existing Number field")
        return problem(first.key, what, fix)
    return _unknown(first.key, Resolved(what=what, suggestion=resolved.suggestion))


def check_sources(settings: SyncSettings, campaigns: set[str], reports: set[str]) -> list[str]:
    """One problem per list whose campaign or saved report the org does not have (``campaigns``, ``reports``: the
    names the org has, of those the settings name; compared case-insensitively, as Salesforce does). Such a list
    fails on its own; everything else in the sync goes on."""
    have_campaigns = {name.casefold() for name in campaigns}
    have_reports = {name.casefold() for name in reports}
    problems = []
    for item in settings.lists:
        source = item.source
        if source.campaign and source.campaign.strip().casefold() not in have_campaigns:
            problems.append(problem(f"{list_key(item.name)}.source.campaign",
                                    f"no campaign named {source.campaign!r} in the org",
                                    "check the campaign's name in Salesforce or correct the settings; until then "
                                    "this list is not synced, the rest of the sync goes on"))
        if source.report and source.report.strip().casefold() not in have_reports:
            problems.append(problem(f"{list_key(item.name)}.source.report",
                                    f"no saved report named {source.report!r} that the integration user can see",
                                    "check the report's name, or share its folder with the integration user; until "
                                    "then this list is not synced, the rest of the sync goes on"))
    return problems
