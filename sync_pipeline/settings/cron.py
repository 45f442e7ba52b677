"""Cron expressions of the settings, validated the way Dagster will read them.

Schedules built from these strings are Dagster schedules, so Dagster's own check is the authority: a string it
accepts runs, one it rejects would fail when the definitions load. Dagster keeps that check in a private module;
if a future version moves it, a small five-field parser of our own takes over so loading still works.
"""

from __future__ import annotations

import re
from collections.abc import Callable

CRON_HELP = (
    "use 5 fields 'minute hour day-of-month month day-of-week', "
    'e.g. "0 */4 * * *" (every 4 hours) or "0 2 * * 0" (Sundays at 02:00)'
)

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (lowest, highest, names in order from `lowest`) per field; day-of-week 7 is Sunday again.
_FIELDS: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (0, 59, ()),
    (0, 23, ()),
    (1, 31, ()),
    (1, 12, _MONTHS),
    (0, 7, _DAYS),
)
_ITEM = re.compile(r"^(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?$")


def _value(token: str, lowest: int, highest: int, names: tuple[str, ...]) -> int | None:
    if token.isdigit():
        number = int(token)
    elif token in names:
        number = names.index(token) + lowest
    else:
        return None
    return number if lowest <= number <= highest else None


def _item_is_valid(item: str, lowest: int, highest: int, names: tuple[str, ...]) -> bool:
    match = _ITEM.match(item)
    if match is None or match["step"] == "0":
        return False
    if match["range"] == "*":
        return True
    # A reversed range such as fri-mon wraps around, as in Dagster's parser.
    return all(_value(token, lowest, highest, names) is not None for token in match["range"].split("-"))


def is_valid_cron_fallback(expression: str) -> bool:
    """A five-field cron check (lists, ranges, steps, month and weekday names), used when Dagster's is unavailable."""
    parts = expression.lower().split()
    if len(parts) != len(_FIELDS):
        return False
    return all(
        _item_is_valid(item, lowest, highest, names)
        for part, (lowest, highest, names) in zip(parts, _FIELDS, strict=True)
        for item in part.split(",")
    )


def _checker() -> Callable[[str], bool]:
    try:
        from dagster._utils.schedules import is_valid_cron_string
    except ImportError:  # pragma: no cover - depends on the installed Dagster version
        return is_valid_cron_fallback
    return is_valid_cron_string


def is_valid_cron(expression: str) -> bool:
    """True when Dagster would accept ``expression`` as a schedule's cron string."""
    return bool(expression.strip()) and _checker()(expression)
