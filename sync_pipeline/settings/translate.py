"""Turning pydantic's validation errors into settings problems a data engineer can act on.

Pydantic's own report names internal types and locations like ``lists.2.source.object``; here each error becomes
``lists["SFDC Master Leads"].source.object: <what> — <fix>``, unknown keys list the allowed ones (with a "did you
mean"), and the rule violations raised by the model's validators keep their own wording.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping, Sequence
from inspect import isclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from sync_pipeline.settings.errors import Loc, RuleViolation, key_part, list_key, problem
from sync_pipeline.settings.model import FIELD_TYPES, SyncSettings

README_FIX = "see the settings section of the README"
KEY_MARKER = "[key]"  # pydantic's marker for an error in a mapping's key rather than its value

_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "dict_type": "a block of keys and values",
    "model_type": "a block of keys and values",
    "model_attributes_type": "a block of keys and values",
    "list_type": "a list, e.g. [A, B]",
    "tuple_type": "a list, e.g. [A, B]",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "greater than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}
_MISSING_HINTS = {
    "type": f"add type: one of {', '.join(FIELD_TYPES)}",
    "source": "add source: {object: Lead}, {object: Contact}, {campaign: <name>} or {report: <name>}",
    "name": "add name: <a unique list name>",
}


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a block of keys and values"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated[...]`` and ``X | None`` down to the type that holds the next keys."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _child(annotation: Any, part: str | int) -> Any:
    annotation = _unwrap(annotation)
    if isclass(annotation) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(part) if isinstance(part, str) else None
        return field.annotation if field else None
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (tuple, list) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def allowed_keys(loc: Loc) -> list[str]:
    """The keys the settings block at ``loc`` accepts (empty when ``loc`` is not a block)."""
    annotation: Any = SyncSettings
    for part in loc:
        annotation = _child(annotation, part)
    annotation = _unwrap(annotation)
    if isclass(annotation) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _list_names(data: Mapping[str, Any]) -> list[str | None]:
    raw = data.get("lists")
    if not isinstance(raw, list):
        return []
    return [
        item.get("name") if isinstance(item, Mapping) and isinstance(item.get("name"), str) else None for item in raw
    ]


def format_loc(loc: Loc, data: Mapping[str, Any]) -> str:
    """A dotted key path; lists are named by their ``name`` when it is present and unique."""
    parts = [part for part in loc if part != KEY_MARKER]
    if not parts:
        return "(top level)"
    head, rest = parts[0], parts[1:]
    text = str(head)
    if head == "lists" and rest and isinstance(rest[0], int):
        names = _list_names(data)
        index = rest[0]
        name = names[index] if index < len(names) else None
        folded = [n.casefold() for n in names if n]
        if name and folded.count(name.casefold()) == 1:
            text, rest = list_key(name.strip()), rest[1:]
    for part in rest:
        text += f"[{part}]" if isinstance(part, int) else key_part(part)
    return text


def _literal(error: ErrorDetails, is_key: bool) -> tuple[str, str]:
    options = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
    given = error["input"]
    close = difflib.get_close_matches(str(given), options, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    what = f"unknown key {given!r}" if is_key else f"{_show(given)} is not allowed here"
    return what, f"{hint}use one of {', '.join(options)}"


def _extra_key(error: ErrorDetails) -> tuple[str, str]:
    key = str(error["loc"][-1])
    allowed = allowed_keys(error["loc"][:-1])
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {key!r}", f"{hint}remove it or fix the spelling; allowed here: {', '.join(allowed)}"


def _what_and_fix(error: ErrorDetails) -> tuple[str, str]:
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "missing":
        return "required key is missing", _MISSING_HINTS.get(str(error["loc"][-1]), "add it")
    if kind == "extra_forbidden":
        return _extra_key(error)
    if kind in ("literal_error", "enum"):
        return _literal(error, is_key=KEY_MARKER in error["loc"])
    if kind in _EXPECTED:
        expected = _EXPECTED[kind]
        return f"expected {expected}, got {_show(error['input'])}", f"write {expected} here"
    if kind in _BOUNDS:
        name, words = _BOUNDS[kind]
        return f"must be {words} {ctx.get(name)}, got {_show(error['input'])}", f"set a value {words} {ctx.get(name)}"
    if kind == "string_too_short":
        return "is empty", "write a value, or remove the key to use the default"
    return str(error.get("msg", kind)), README_FIX


def _problems_of(error: ErrorDetails, data: Mapping[str, Any]) -> list[str]:
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, RuleViolation):
        return [problem(format_loc((*error["loc"], *v.at), data), v.what, v.fix) for v in cause.violations]
    what, fix = _what_and_fix(error)
    return [problem(format_loc(error["loc"], data), what, fix)]


def translate(exc: ValidationError, data: Mapping[str, Any]) -> tuple[list[str], frozenset[str]]:
    """The problems of a failed validation, and the top-level blocks they were found in."""
    errors: Sequence[ErrorDetails] = exc.errors()
    problems = [line for error in errors for line in _problems_of(error, data)]
    broken = frozenset(str(error["loc"][0]) for error in errors if error["loc"])
    return problems, broken
