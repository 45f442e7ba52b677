"""pandera models of pulled Salesforce rows, derived from the settings' field types and the org's describe metadata.

A row that breaks a rule is quarantined with its record id, the field, the value and the reason; the other rows
continue. Values arrive as text (Bulk CSV) or JSON scalars (REST) and are checked as the marketing side will use them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

MARKETING_TYPES = ("boolean", "date", "datetime", "text", "number", "score", "email", "multi_text")

# Deliberately simple and strict: one @, no spaces, a dot in the domain, no leading/trailing dot or double dots.
EMAIL_PATTERN = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
DATETIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})$"
BOOLEAN_VALUES = ("true", "false", "True", "False", True, False)
MAX_SCORE = 999_999  # the score fields are Number(6,0)


@dataclass(frozen=True)
class FieldRule:
    """What one pulled column must satisfy."""

    column: str
    marketing_type: str
    max_length: int | None = None
    allowed_values: tuple[str, ...] | None = None  # a restricted picklist
    required: bool = False


@dataclass(frozen=True)
class Rejection:
    """One reason a row was quarantined."""

    record_id: str | None
    field: str
    value: str | None
    reason: str


def _date_is_real(value: Any) -> bool:
    return not pd.isna(pd.to_datetime(str(value), errors="coerce", format="ISO8601"))


def _number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _score(value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return number.is_integer() and 0 <= number <= MAX_SCORE


def _checks_for(rule: FieldRule) -> list[pa.Check]:
    kind = rule.marketing_type
    checks: list[pa.Check] = []
    if kind == "email":
        checks.append(pa.Check.str_matches(EMAIL_PATTERN, error="not a valid email address"))
    elif kind == "date":
        checks.append(pa.Check.str_matches(DATE_PATTERN, error="not a date (YYYY-MM-DD)"))
        # Only well-formed dates are checked against the calendar, so a row gets one reason, not two.
        checks.append(
            pa.Check(
                lambda s: s.map(lambda v: not re.match(DATE_PATTERN, str(v)) or _date_is_real(v)),
                element_wise=False,
                error="not a real calendar date",
            )
        )
    elif kind == "datetime":
        checks.append(pa.Check.str_matches(DATETIME_PATTERN, error="not an ISO-8601 datetime"))
    elif kind == "boolean":
        checks.append(pa.Check.isin(BOOLEAN_VALUES, error="not a boolean (true/false)"))
    elif kind == "number":
        checks.append(pa.Check(lambda s: s.map(_number), element_wise=False, error="not a number"))
    elif kind == "score":
        checks.append(
            pa.Check(lambda s: s.map(_score), element_wise=False, error=f"not a whole score from 0 to {MAX_SCORE}")
        )
    if rule.max_length is not None and kind in ("text", "email", "multi_text"):
        checks.append(
            pa.Check.str_length(max_value=rule.max_length, error=f"longer than {rule.max_length} characters")
        )
    if rule.allowed_values is not None:
        allowed = set(rule.allowed_values)
        if kind == "multi_text":
            checks.append(
                pa.Check(
                    lambda s: s.map(lambda v: all(part in allowed for part in str(v).split(";"))),
                    element_wise=False,
                    error="a value outside the field's picklist",
                )
            )
        else:
            checks.append(pa.Check.isin(sorted(allowed), error="a value outside the field's picklist"))
    return checks


def build_schema(rules: Sequence[FieldRule], *, id_column: str = "Id") -> pa.DataFrameSchema:
    """A pandera schema over text-valued columns; unknown columns pass through untouched."""
    columns: dict[str, pa.Column] = {id_column: pa.Column(nullable=False, unique=True)}
    for rule in rules:
        if rule.marketing_type not in MARKETING_TYPES:
            raise ValueError(f"unknown marketing type {rule.marketing_type!r} for column {rule.column!r}")
        columns[rule.column] = pa.Column(checks=_checks_for(rule), nullable=not rule.required, required=False)
    return pa.DataFrameSchema(columns, strict=False, coerce=False)


def _reason(check: str, column: str | None) -> str:
    if check == "not_nullable":
        return "required value is missing"
    if check == "field_uniqueness":
        return "the same record id appears twice in one batch"
    return check


def split_valid(
    frame: pd.DataFrame, schema: pa.DataFrameSchema, *, id_column: str = "Id"
) -> tuple[pd.DataFrame, list[Rejection]]:
    """Rows that pass, and one Rejection per failing (row, field). Nothing is dropped without a Rejection."""
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return frame, []
    rejections: list[Rejection] = []
    bad_index: set[Any] = set()
    for case in cases.itertuples(index=False):
        index = case.index
        if index is None or (isinstance(index, float) and pd.isna(index)):
            # A whole-column failure (e.g. a missing required column): every row is affected.
            for row_index, record_id in frame[id_column].items():
                bad_index.add(row_index)
                rejections.append(Rejection(_text(record_id), str(case.column), None, _reason(str(case.check), None)))
            continue
        bad_index.add(index)
        record_id = frame.at[index, id_column] if id_column in frame.columns else None
        value = case.failure_case
        rejections.append(
            Rejection(_text(record_id), str(case.column), _text(value), _reason(str(case.check), str(case.column)))
        )
    valid = frame.loc[~frame.index.isin(list(bad_index))]
    return valid, rejections


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    return str(value)
