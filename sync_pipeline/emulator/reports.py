"""Saved reports of the emulated org and the Reports API's synchronous run (tabular format, 2,000-row cap)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from simple_salesforce import format_soql

from sync_pipeline.emulator.org import Org, to_api
from sync_pipeline.emulator.soql import compile_query

SYNC_ROW_CAP = 2000
_OPERATORS = {"equals": "=", "notEqual": "!=", "lessThan": "<", "greaterThan": ">", "lessOrEqual": "<=",
              "greaterOrEqual": ">="}


@dataclass(frozen=True)
class ReportColumn:
    name: str  # report column name, e.g. EMAIL or Contact.Behavior_Score__c
    label: str
    data_type: str  # string, email, id, date, datetime, currency, double, boolean, picklist
    value_field: str  # SOQL path of the value
    label_field: str | None = None  # SOQL path of the display label (name columns show a name, carry an id)


@dataclass(frozen=True)
class ReportDefinition:
    id: str
    name: str
    developer_name: str
    folder: str
    report_type: tuple[str, str]  # (type, label)
    object_name: str
    columns: tuple[ReportColumn, ...]
    where: str = ""
    order_by: str = "Id"
    filters: tuple[dict[str, str], ...] = field(default_factory=tuple)  # as reportFilters shows them


def _soql(report: ReportDefinition, extra: list[dict[str, Any]]) -> str:
    fields: list[str] = []
    for column in report.columns:
        for path in (column.value_field, column.label_field):
            if path and path not in fields:
                fields.append(path)
    conditions = [report.where] if report.where else []
    by_name = {c.name: c for c in report.columns}
    for item in extra:
        filtered = by_name.get(str(item.get("column")))
        operator = str(item.get("operator"))
        if filtered is None:
            raise ValueError(f"unknown report column in filter: {item.get('column')}")
        value = _typed(filtered.data_type, item.get("value"))
        if operator in _OPERATORS:
            conditions.append(format_soql(f"{filtered.value_field} {_OPERATORS[operator]} {{}}", value))
        elif operator == "contains":
            conditions.append(format_soql(f"{filtered.value_field} LIKE '%{{:like}}%'", str(value)))
        elif operator == "startsWith":
            conditions.append(format_soql(f"{filtered.value_field} LIKE '{{:like}}%'", str(value)))
        else:
            raise ValueError(f"unsupported filter operator: {operator}")
    where = " WHERE " + " AND ".join(f"({c})" for c in conditions) if conditions else ""
    return f"SELECT {', '.join(fields)} FROM {report.object_name}{where} ORDER BY {report.order_by}"


def _typed(data_type: str, value: Any) -> Any:
    if value is None:
        return None
    if data_type == "date":
        return date.fromisoformat(str(value)[:10])
    if data_type == "datetime":
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if data_type in ("currency", "double", "int", "percent"):
        return float(value)
    if data_type == "boolean":
        return str(value).lower() == "true"
    return str(value)


def _label(data_type: str, value: Any) -> str:
    if value is None:
        return "-"
    if data_type == "date":
        day = date.fromisoformat(value)
        return f"{day.month}/{day.day}/{day.year}"
    if data_type == "currency":
        return f"${value:,.2f}"
    if data_type == "boolean":
        return "true" if value else "false"
    return str(value)


def _metadata(report: ReportDefinition, version: str, filters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "aggregates": ["RowCount"], "currency": None, "detailColumns": [c.name for c in report.columns],
        "developerName": report.developer_name, "groupingsAcross": [], "groupingsDown": [],
        "historicalSnapshotDates": [], "id": report.id, "name": report.name, "reportBooleanFilter": None,
        "reportFilters": [*report.filters, *filters], "reportFormat": "TABULAR",
        "reportType": {"label": report.report_type[1], "type": report.report_type[0]},
        "hasDetailRows": True, "showGrandTotal": True,
    }


def _extended(report: ReportDefinition) -> dict[str, Any]:
    return {
        "aggregateColumnInfo": {"RowCount": {"acrossGroupingContext": None, "dataType": "int",
                                             "downGroupingContext": None, "label": "Record Count"}},
        "detailColumnInfo": {c.name: {"dataType": c.data_type, "label": c.label} for c in report.columns},
        "groupingColumnInfo": {},
    }


def describe_report(report: ReportDefinition, version: str) -> dict[str, Any]:
    return {"reportMetadata": _metadata(report, version, []), "reportExtendedMetadata": _extended(report),
            "reportTypeMetadata": {"categories": [], "dataTypeFilterOperatorMap": {}}}


def run_report(org: Org, report: ReportDefinition, version: str, *, include_details: bool,
               filters: list[dict[str, Any]]) -> dict[str, Any]:
    """A synchronous run: at most 2,000 detail rows, ``allData`` false when there were more."""
    compiled = compile_query(_soql(report, filters))
    total = org.count(compiled, include_deleted=False)
    rows: list[dict[str, Any]] = []
    if include_details:
        base, params = compiled.base_sql(include_deleted=False)
        cursor = org.db.execute(
            f"SELECT {', '.join(compiled.select_sql)} {base} ORDER BY {compiled.order_clause()} LIMIT {SYNC_ROW_CAP}",
            params)
        index = {c.key: c for c in compiled.columns}
        for raw in cursor:
            cells = []
            for column in report.columns:
                value_column = (index[column.value_field] if column.value_field in index
                                else _find(index, column.value_field))
                value = to_api(value_column.spec, raw[value_column.index])
                if column.label_field:
                    label_column = _find(index, column.label_field)
                    label = raw[label_column.index] or "-"
                else:
                    label = _label(column.data_type, value)
                if column.data_type == "currency" and value is not None:
                    value = {"amount": value, "currency": None}
                cells.append({"label": label, "value": value})
            rows.append({"dataCells": cells})
    base_url = f"/services/data/v{version}/analytics/reports/{report.id}"
    return {
        "attributes": {"describeUrl": f"{base_url}/describe", "instancesUrl": f"{base_url}/instances",
                       "reportId": report.id, "reportName": report.name, "type": "Report"},
        "allData": total <= SYNC_ROW_CAP,
        "factMap": {"T!T": {"aggregates": [{"label": f"{total:,}", "value": total}], "rows": rows}},
        "groupingsAcross": {"groupings": []}, "groupingsDown": {"groupings": []}, "hasDetailRows": True,
        "reportExtendedMetadata": _extended(report), "reportMetadata": _metadata(report, version, filters),
    }


def _find(index: dict[str, Any], path: str) -> Any:
    for key, column in index.items():
        if key.lower() == path.lower():
            return column
    raise KeyError(path)
