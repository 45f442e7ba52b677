"""Salesforce values as they arrive (Bulk CSV text, REST JSON) and as people type them: the one home of parsing.

A checkbox is ``true``/``false`` in Bulk CSV and a JSON bool over REST; a person may also write yes/no or 1/0.
Any case and surrounding spaces are accepted everywhere, so every reader gives the same answer.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

TRUE_TEXT = frozenset({"true", "1", "yes"})
FALSE_TEXT = frozenset({"false", "0", "no"})


def is_missing(value: Any) -> bool:
    """None, NaN/NaT or an empty text: no value."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, float):
        return math.isnan(value)
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # containers
        return False


def checkbox(value: Any) -> bool | None:
    """A checkbox value as a bool; None when missing or not a checkbox value (``maybe``, 2...)."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        return True if text in TRUE_TEXT else False if text in FALSE_TEXT else None
    if hasattr(value, "item"):  # numpy scalars
        return checkbox(value.item())
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    return None


def checkbox_flags(values: pd.Series) -> pd.Series:
    """A column of checkbox values as bools, vectorized; missing or unknown is False."""
    if values.dtype == bool:
        return values
    text = values.astype("string").str.strip().str.lower()
    return pd.Series(text.isin(TRUE_TEXT).fillna(False).to_numpy(dtype=bool), index=values.index)
