"""Rules that span settings blocks (mapping, lists, opt-out, hot prospects).

Each rule names the blocks it reads, so a rule still runs when an unrelated block of the file is broken: the engineer
sees every problem of the file at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sync_pipeline.settings.errors import join_key, list_key, problem
from sync_pipeline.settings.model import (
    FieldMapping,
    HotProspectSettings,
    ListSettings,
    OptOutSettings,
    SyncSettings,
    same_field,
)

SIDES = (("lead", "Lead"), ("contact", "Contact"))
# opt_out.direction spelled as a contact_mapping direction.
OPT_OUT_AS_MAPPING = {"push": "push", "pull": "pull", "both": "two_way"}


def email_is_mapped(mapping: Mapping[str, FieldMapping]) -> list[str]:
    """People are matched by email, so an email field must be mapped on both Leads and Contacts."""
    emails = {name: entry for name, entry in mapping.items() if entry.type == "email"}
    if not emails:
        return [
            problem(
                "contact_mapping",
                "no field of type email is mapped; people are matched by email",
                "add email: {lead: Email, contact: Email, type: email}",
            )
        ]
    if any(entry.lead and entry.contact for entry in emails.values()):
        return []
    name, entry = next(iter(emails.items()))
    side = "contact" if entry.lead else "lead"
    return [
        problem(
            join_key("contact_mapping", name, side),
            f"the email field is not mapped on {side.capitalize()}s",
            f"set {side}: Email so that {side.capitalize()}s can be matched",
        )
    ]


def score_is_mapped(mapping: Mapping[str, FieldMapping]) -> list[str]:
    """The maintenance step copies the behavioral score into a score field, so one must exist."""
    if any(entry.type == "score" for entry in mapping.values()):
        return []
    return [
        problem(
            "contact_mapping",
            "no field of type score is mapped; the behavioral score has nowhere to go",
            "add lead_score: {lead: Behavior_Score__c, contact: Behavior_Score__c, type: score} "
            "(with your org's score field)",
        )
    ]


def _direction_conflict(first: tuple[str, FieldMapping], second: tuple[str, FieldMapping]) -> str | None:
    (_, a), (_, b) = first, second
    if a.direction != b.direction:
        return f"directions {a.direction} and {b.direction}"
    if a.pushes and b.pushes:
        return f"direction {a.direction} on both, so two values would be pushed into one field"
    return None


def mapping_directions_agree(mapping: Mapping[str, FieldMapping]) -> list[str]:
    """One Salesforce field cannot flow one way for one marketing field and another way for a second one."""
    problems = []
    for side, obj in SIDES:
        seen: dict[str, tuple[str, FieldMapping]] = {}
        for name, entry in mapping.items():
            field = entry.field_on(obj)
            if not field:
                continue
            earlier = seen.setdefault(field.lower(), (name, entry))
            conflict = None if earlier[0] == name else _direction_conflict(earlier, (name, entry))
            if conflict:
                problems.append(
                    problem(
                        join_key("contact_mapping", name, side),
                        f"{obj}.{field} is also mapped by {join_key('contact_mapping', earlier[0], side)} with "
                        f"{conflict}",
                        "map the field once, or give both mappings the same direction (pull for all but one)",
                    )
                )
    return problems


def _pull_only_mapping(mapping: Mapping[str, FieldMapping], obj: str | None, field: str) -> str | None:
    objects = [obj] if obj else ["Lead", "Contact"]
    for name, entry in mapping.items():
        if not entry.may_push and any(same_field(entry.field_on(o), field) for o in objects):
            return name
    return None


def list_pushes_agree_with_mapping(lists: tuple[ListSettings, ...], mapping: Mapping[str, FieldMapping]) -> list[str]:
    """A list may not push a field the mapping declares as pull-only (it would undo the org's value every sync)."""
    problems = []
    for item in lists:
        for field in item.push.update_fields:
            owner = _pull_only_mapping(mapping, item.object_name, field)
            if owner is None:
                continue
            mapping_key = join_key("contact_mapping", owner)
            problems.append(
                problem(
                    f"{list_key(item.name)}.push.update_fields",
                    f"{field!r} is mapped by {mapping_key} with direction pull, so it must not be pushed",
                    f"set direction: two_way (or allow_push: true) on {mapping_key}, "
                    f"or remove {field} from this list's push.update_fields",
                )
            )
    return problems


def list_pushes_are_possible(lists: tuple[ListSettings, ...], mapping: Mapping[str, FieldMapping]) -> list[str]:
    """A list pushes only what the marketing side holds a value for, and creates only Leads.

    The value a list pushes lives in All Contacts, so the field must be mapped on the list's object; campaign and
    report lists mix Leads and Contacts, so fields are pushed from a list of {object: Lead} or {object: Contact}.
    New records are always Leads (a Contact needs an Account the marketing side does not own).
    """
    problems = []
    for item in lists:
        key = f"{list_key(item.name)}.push"
        if item.push.add_new and item.object_name != "Lead":
            problems.append(problem(
                f"{key}.add_new", "new records are created as Leads, and this list is not a list of Leads",
                "set add_new: true on a list with source {object: Lead}, or set it to false here"))
        if item.push.update_fields and item.object_name is None:
            problems.append(problem(
                f"{key}.update_fields", f"a {item.source.kind} list holds Leads and Contacts alike, so it cannot push "
                "fields", "push fields from a list with source {object: Lead} or {object: Contact}, or empty this"))
            continue
        for field in item.push.update_fields:
            if item.object_name and not any(same_field(e.field_on(item.object_name), field) for e in mapping.values()):
                problems.append(problem(
                    f"{key}.update_fields",
                    f"{field!r} is not mapped on {item.object_name} in contact_mapping, so the marketing database "
                    "holds no value to push",
                    f"map it (contact_mapping.<name>: {{{item.object_name.lower()}: {field}, allow_push: true}}), "
                    f"or remove {field} from this list's push.update_fields"))
    return problems


def opt_out_agrees_with_mapping(opt_out: OptOutSettings, mapping: Mapping[str, FieldMapping]) -> list[str]:
    """The opt-out field is synced by the opt_out block; a mapping may repeat it only with the same direction."""
    expected = OPT_OUT_AS_MAPPING[opt_out.direction]
    return [
        problem(
            join_key("contact_mapping", name, "direction"),
            f"maps the opt-out field {opt_out.field} with direction {entry.direction}, "
            f"but opt_out.direction is {opt_out.direction}",
            f"remove this mapping (opt_out already syncs {opt_out.field}) or set direction: {expected}",
        )
        for name, entry in mapping.items()
        if entry.direction != expected and any(same_field(entry.field_on(obj), opt_out.field) for _, obj in SIDES)
    ]


def list_names_are_unique(lists: tuple[ListSettings, ...]) -> list[str]:
    """Lists are referred to by name (hot prospects, schedules, list_members), so names must be unique."""
    first_index: dict[str, int] = {}
    problems = []
    for index, item in enumerate(lists):
        earlier = first_index.setdefault(item.name.casefold(), index)
        if earlier != index:
            problems.append(
                problem(
                    f"lists[{index}].name",
                    f"list name {item.name!r} is already used by lists[{earlier}] (names are case-insensitive)",
                    "give each list its own name",
                )
            )
    return problems


def _unknown_list(key: str, name: str, names: list[str], source_hint: str) -> str:
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return problem(
        f"hot_prospects.{key}",
        f"no list is named {name!r}",
        f"{hint}name one of the lists ({', '.join(repr(n) for n in names) or 'none defined'}), "
        f"or add a list with {source_hint}",
    )


def hot_prospect_lists_exist(hot: HotProspectSettings, lists: tuple[ListSettings, ...]) -> list[str]:
    """Hot prospects are read from named lists; a wrong name would silently give an empty ranking."""
    by_name = {item.name: item for item in lists}
    names = list(by_name)
    wanted = (
        ("assigned_leads", hot.assigned_leads, "source: {object: Lead}"),
        ("active_opportunities", hot.active_opportunities, "source: {report: <the active opportunities report>}"),
        ("assigned_contacts", hot.assigned_contacts, "source: {object: Contact}"),
    )
    problems = [_unknown_list(key, name, names, hint) for key, name, hint in wanted if name and name not in by_name]
    report_list = by_name.get(hot.active_opportunities or "")
    if report_list is not None and report_list.source.kind != "report":
        made_from = {"object": f"all {report_list.source.name}s", "campaign": "a campaign"}[report_list.source.kind]
        problems.append(
            problem(
                "hot_prospects.active_opportunities",
                f"list {report_list.name!r} is made from {made_from}, not from a report",
                "name the list made from the active opportunities report (source: {report: ...})",
            )
        )
    return problems


@dataclass(frozen=True)
class CrossRule:
    """A rule and the top-level blocks it reads."""

    blocks: frozenset[str]
    check: Callable[[SyncSettings], list[str]]


CROSS_RULES: tuple[CrossRule, ...] = (
    CrossRule(frozenset({"contact_mapping"}), lambda s: email_is_mapped(s.contact_mapping)),
    CrossRule(frozenset({"contact_mapping"}), lambda s: score_is_mapped(s.contact_mapping)),
    CrossRule(frozenset({"contact_mapping"}), lambda s: mapping_directions_agree(s.contact_mapping)),
    CrossRule(frozenset({"lists"}), lambda s: list_names_are_unique(s.lists)),
    CrossRule(
        frozenset({"lists", "contact_mapping"}), lambda s: list_pushes_agree_with_mapping(s.lists, s.contact_mapping)
    ),
    CrossRule(
        frozenset({"lists", "contact_mapping"}), lambda s: list_pushes_are_possible(s.lists, s.contact_mapping)
    ),
    CrossRule(
        frozenset({"opt_out", "contact_mapping"}), lambda s: opt_out_agrees_with_mapping(s.opt_out, s.contact_mapping)
    ),
    CrossRule(frozenset({"hot_prospects", "lists"}), lambda s: hot_prospect_lists_exist(s.hot_prospects, s.lists)),
)


def cross_block_problems(settings: SyncSettings, broken_blocks: frozenset[str] = frozenset()) -> list[str]:
    """Problems between blocks, skipping rules that read a block which failed its own validation."""
    return [line for rule in CROSS_RULES if not rule.blocks & broken_blocks for line in rule.check(settings)]
