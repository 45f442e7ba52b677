"""How settings problems are reported: one line per problem, naming the key, what is wrong and the fix.

A data engineer reads these in a terminal or in the Dagster UI when a run refuses to start, so every problem is
``<key.path>: <what is wrong> — <the fix>``, and all problems of a file are reported together rather than one per
attempt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

Loc = tuple[str | int, ...]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def problem(key: str, what: str, fix: str) -> str:
    """The one-line form of a problem."""
    return f"{key}: {what} — {fix}"


def key_part(name: str) -> str:
    """A mapping key as it appears in a key path: ``.name``, or ``["odd name"]`` when it is not an identifier."""
    return f".{name}" if _IDENTIFIER.match(name) else f"[{json.dumps(name)}]"


def list_key(name: str) -> str:
    """The key path of a marketing list, by name (names are what people recognise, indexes shift)."""
    return f"lists[{json.dumps(name)}]"


def join_key(prefix: str, *parts: str | int) -> str:
    """``prefix`` followed by mapping keys and list indexes."""
    text = prefix
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else key_part(part)
    return text


class SettingsError(Exception):
    """The settings file cannot be used; ``problems`` holds one ``key: what — fix`` line per problem."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems: list[str] = list(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        count = len(self.problems)
        header = f"the sync settings in {self.source} cannot be used ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([header, *(f"- {line}" for line in self.problems)])

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[type[SettingsError], tuple[str, list[str]]]:
        # Keeps the error intact when it crosses a process boundary (pickled by multiprocess executors).
        return (SettingsError, (self.source, self.problems))


@dataclass(frozen=True)
class Violation:
    """One broken rule inside a settings block; ``at`` is the key path below the block."""

    at: Loc
    what: str
    fix: str


class RuleViolation(ValueError):
    """Raised by model validators so that pydantic collects it with the other errors of the file.

    It carries several violations with their own sub-paths, which a plain ``ValueError`` could not.
    """

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = tuple(violations)
        super().__init__("; ".join(f"{v.what} — {v.fix}" for v in self.violations))

    @classmethod
    def single(cls, what: str, fix: str, at: Loc = ()) -> RuleViolation:
        return cls([Violation(at, what, fix)])
