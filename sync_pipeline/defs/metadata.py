"""What the assets tell an operator: a short Markdown preview of what they wrote, and the rules of the asset checks.

Every asset's materialization carries the same keys where they apply: ``table`` (the table it writes),
a row count (``rows`` or ``rows_written``), ``preview`` (at most 5 rows x 8 columns), ``api_calls`` (the Salesforce
API calls the asset made), ``records_pulled``, ``records_pushed``, ``records_rejected``, ``records_quarantined`` and
``mode`` (full or incremental). The checks' pass/fail rules are small pure functions, tested on their own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandas as pd
import pyarrow as pa

from sync_pipeline.rules.export_schemas import description
from sync_pipeline.salesforce.push import (
    DEFERRED,
    LOCKED_KIND,
    REFUSED,
    UNSENT,
    RecordOutcome,
    outcome_counts,
)
from sync_pipeline.steps.changes import Unchanged
from sync_pipeline.store.audience import first_rows

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

PREVIEW_ROWS = 5
PREVIEW_COLUMNS = 8
PREVIEW_CELL_CHARS = 60  # a longer cell is cut, so the preview stays a glance
ORG_USAGE_WARN_SHARE = 0.8  # api_budget warns from 80% of the org's daily API allocation
REPORT_ROW_LIMIT = 2000  # the synchronous Reports API returns at most this many detail rows

PUSH_REJECTIONS = "push_rejections"
PUSH_DELIVERED = "push_delivered"
LIST_SOURCES = "list_sources"
API_BUDGET = "api_budget"
REPORT_COMPLETE = "report_complete"

PUSH_REJECTIONS_DESCRIPTION = (
    "Salesforce accepted every record this run sent. It warns when Salesforce refused some (a validation rule, a "
    "duplicate, a converted Lead, a row still locked after three tries...): the count per error code is in the "
    "check's metadata, each refused record with its error in the push_results table."
)
PUSH_DELIVERED_DESCRIPTION = (
    "Every record the push sent reached Salesforce and got its answer. It fails, and fails the run, when records "
    "were left unsent by the connection, an expired or refused login, a server error or the org's daily API limit "
    "(the cause is in the description); what did go through is kept, and the unsent records go with the next run."
)
LIST_SOURCES_DESCRIPTION = (
    "Every campaign and saved report the lists name exists in the org. It warns, naming the settings key, when one "
    "does not: that list's step fails with the same message, while All Contacts, scores, consent and the push go on."
)
API_BUDGET_DESCRIPTION = (
    "The org's daily API usage stays under 80% of its allocation, and the push did not stop early to spare API "
    "calls. It warns before the sync (and every other integration of the org) runs out of API calls for the day."
)
API_BUDGET_CONNECTION_DESCRIPTION = (
    "The org's daily API usage stays under 80% of its allocation when the run connects. It warns before the sync "
    "(and every other integration of the org) runs out of API calls for the day."
)
REPORT_COMPLETE_DESCRIPTION = (
    "Every row of the saved report arrived. It warns when Salesforce cut the report at 2,000 rows: narrow the "
    "report's filters, or split it, so no member is missed."
)


# --- previews --------------------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None or (not isinstance(value, (list, dict, tuple)) and pd.isna(value)):
        return ""
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= PREVIEW_CELL_CHARS else text[: PREVIEW_CELL_CHARS - 1] + "…"


def markdown_preview(frame: pd.DataFrame, rows: int = PREVIEW_ROWS, columns: int = PREVIEW_COLUMNS) -> str:
    """The first rows of a table as a Markdown table, for the asset's metadata in the UI."""
    shown = frame.iloc[:rows, :columns]
    if not len(shown.columns):
        return "_no rows_"
    lines = ["| " + " | ".join(_cell(c) for c in shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    if shown.empty:
        lines.append("\n_no rows_")
    return "\n".join(lines)


def records_preview(records: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """The first records (dicts) as a Markdown table: ``columns`` or the keys of the first record."""
    head = list(records[:PREVIEW_ROWS])
    names = list(columns) if columns is not None else [k for k in (head[0] if head else {}) if k != "attributes"]
    return markdown_preview(pd.DataFrame([{n: r.get(n) for n in names} for r in head], columns=names))


def preview_metadata(frame: pd.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_preview(frame))


def table_preview(engine: Engine, table: str, columns: Sequence[str], order_by: str) -> dg.MetadataValue:
    """The first rows of a table by its key (cheap at any size), as a Markdown table."""
    return dg.MetadataValue.md(markdown_preview(first_rows(engine, table, columns, order_by, PREVIEW_ROWS)))


def table_metadata(frame: pd.DataFrame) -> dg.TableMetadataValue:
    """A small frame as Dagster table metadata (shown as a table in the UI, not behind a Markdown link)."""
    kinds = {"b": "bool", "i": "int", "u": "int", "f": "float"}
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kinds.get(frame[name].dtype.kind, "string"))
                                     for name in frame.columns])
    records = [dg.TableRecord({name: _plain(value) for name, value in row.items()})
               for row in frame.to_dict("records")]
    return dg.MetadataValue.table(records, schema)


def _plain(value: Any) -> str | int | float | bool | None:
    """A cell as a JSON value: numpy scalars to Python, NaN and missing to None."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    return value if isinstance(value, str | int | float | bool) else str(value)


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    """Dagster's column schema of an Arrow schema: names, types and the fields' descriptions."""
    return dg.TableSchema(columns=[dg.TableColumn(field.name, str(field.type), description=description(field))
                                   for field in schema])


# --- push outcomes ---------------------------------------------------------------------------------------------------
# The kinds are RecordOutcome.kind's (salesforce/push.py): pushed, refused, locked, deferred, unsent.


def push_counts(outcomes: Iterable[RecordOutcome]) -> dict[str, int]:
    """The push keys of the materialization (``salesforce.push.outcome_counts``)."""
    return outcome_counts(outcomes)


def codes_of(outcomes: Iterable[RecordOutcome], *kinds: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.kind in kinds:
            code = outcome.error_code or "UNKNOWN"
            counts[code] = counts.get(code, 0) + 1
    return dict(sorted(counts.items()))


def _failed_records_query(run_id: str, operation: str) -> dg.MetadataValue:
    return dg.MetadataValue.text(
        f"SELECT object_name, record_key, crm_id, outcome, error_code, error_message FROM push_results "
        f"WHERE run_id = '{run_id}' AND operation = '{operation}' AND success = false")


def push_rejections_check(asset: str, outcomes: Iterable[RecordOutcome], *, run_id: str,
                          operation: str) -> dg.AssetCheckResult:
    """Passes when Salesforce refused no record of this run's push (and none stayed locked); the codes and where to
    find the records. Unsent records are counted here too, but they fail the step (see ``push_delivered_check``)."""
    items = list(outcomes)
    counts = push_counts(items)
    by_code = codes_of(items, REFUSED, LOCKED_KIND)
    count = sum(by_code.values())
    said = (f"Salesforce refused {count} record(s): " + ", ".join(f"{c} × {n}" for c, n in by_code.items())
            if count else f"Salesforce refused none of the {counts['records_sent']} record(s) sent")
    if counts["records_unsent"]:
        said += f"; {counts['records_unsent']} record(s) unsent (see push_delivered)"
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=PUSH_REJECTIONS,
        passed=count == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            **counts,
            "rejected_by_code": dg.MetadataValue.json(by_code),
            "unsent_by_code": dg.MetadataValue.json(codes_of(items, UNSENT)),
            "deferred_by_code": dg.MetadataValue.json(codes_of(items, DEFERRED)),
            "table": "push_results",
            "query": _failed_records_query(run_id, operation),
        },
        description=said,
    )


def push_delivered_check(asset: str, causes: Sequence[str], unsent: int) -> dg.AssetCheckResult:
    """Fails (ERROR) when records never reached Salesforce or got no answer; ``causes`` says why, one line each."""
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=PUSH_DELIVERED,
        passed=not causes,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"records_unsent": unsent, "causes": dg.MetadataValue.json(list(causes))},
        description="; ".join(causes) if causes else "every record sent got Salesforce's answer",
    )


# --- API budget ------------------------------------------------------------------------------------------------------


def org_usage_share(org_used: int | None, org_limit: int | None) -> float | None:
    """The share of the org's daily API allocation used, as Salesforce last reported it (None: not reported)."""
    if org_used is None or not org_limit:
        return None
    return org_used / org_limit


def api_budget_passed(org_used: int | None, org_limit: int | None, stopped_reason: str | None = None) -> bool:
    """The api_budget rule: the org used less than 80% of its daily API allocation and the push did not stop for the
    budget. A usage Salesforce did not report cannot warn (the stop rule of the push needs it too)."""
    if stopped_reason:
        return False
    share = org_usage_share(org_used, org_limit)
    return share is None or share < ORG_USAGE_WARN_SHARE


def api_budget_check(asset: str, usage: Any, *, api_calls: int, max_share_per_run: float,
                     stopped_reasons: Iterable[str | None] = ()) -> dg.AssetCheckResult:
    """The api_budget check from the connection's usage (``ApiUsage``) and the push's stop reasons, if any."""
    stops = [r for r in stopped_reasons if r]
    share = org_usage_share(usage.org_used, usage.org_limit)
    passed = api_budget_passed(usage.org_used, usage.org_limit, stops[0] if stops else None)
    if stops:
        said = "the push stopped early: " + "; ".join(stops)
    elif share is None:
        said = "Salesforce did not report the org's API usage"
    else:
        said = (f"the org has used {usage.org_used} of its {usage.org_limit} daily API calls ({share:.0%}; "
                f"warns from {ORG_USAGE_WARN_SHARE:.0%})")
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=API_BUDGET,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "org_used": usage.org_used if usage.org_used is not None else -1,
            "org_limit": usage.org_limit if usage.org_limit is not None else -1,
            "share": round(share, 4) if share is not None else -1.0,
            "warn_share": ORG_USAGE_WARN_SHARE,
            "max_api_share_per_run": max_share_per_run,
            "api_calls": api_calls,
            "stopped_reason": "; ".join(stops),
        },
        description=said,
    )


def list_sources_check(asset: str, problems: Sequence[str]) -> dg.AssetCheckResult:
    """Warns when a list names a campaign or report the org does not have (one line per list)."""
    return dg.AssetCheckResult(
        asset_key=asset, check_name=LIST_SOURCES, passed=not problems, severity=dg.AssetCheckSeverity.WARN,
        metadata={"problems": dg.MetadataValue.json(list(problems))},
        description="\n".join(problems) if problems else "every campaign and report the lists name exists")


# --- reports ---------------------------------------------------------------------------------------------------------


def report_complete_check(asset: str, report_name: str, *, rows: int, total_rows: int | None,
                          truncated: bool) -> dg.AssetCheckResult:
    """Fails (WARN) when Salesforce cut the saved report at 2,000 rows."""
    of = f"{total_rows}" if total_rows is not None else "more"
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=REPORT_COMPLETE,
        passed=not truncated,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"report": report_name, "rows": rows, "total_rows": total_rows if total_rows is not None else -1,
                  "truncated": truncated, "row_limit": REPORT_ROW_LIMIT, "table": "report_rows"},
        description=(f"the report \"{report_name}\" was cut at {rows} of {of} rows: narrow its filters or "
                     "split it" if truncated else f"all {rows} rows of the report \"{report_name}\" arrived"),
    )


# --- steps with nothing to do ----------------------------------------------------------------------------------------


def checks_report(checks: Sequence[dg.AssetCheckResult]) -> dict[str, Any]:
    """What the checks said, as JSON, to show again while the step has nothing to do."""
    return {"checks": {c.check_name: {"passed": c.passed, "severity": c.severity.value if c.severity else "WARN",
                                      "description": c.description or ""} for c in checks if c.check_name}}


def replayed_checks(asset: str, unchanged: Unchanged, names: Sequence[str]) -> list[dg.AssetCheckResult]:
    """The checks of a step that had nothing to do: what they said after the run that last did the work."""
    said = unchanged.report.get("checks", {})
    results = []
    for name in names:
        last = said.get(name, {"passed": True, "severity": "WARN", "description": ""})
        results.append(dg.AssetCheckResult(
            asset_key=asset, check_name=name, passed=bool(last["passed"]),
            severity=dg.AssetCheckSeverity(last.get("severity", "WARN")),
            metadata={"unchanged_since_run": unchanged.since_run},
            description=f"unchanged since run {unchanged.since_run}: {last.get('description') or 'nothing to do'}"))
    return results
