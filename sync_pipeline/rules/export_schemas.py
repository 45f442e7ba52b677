"""The Arrow schemas of the three analyst outputs (hot prospects, funnel, ROI) and the cast of a frame to them.

The rules, in order (each is a test):

1. **Stable types.** Text is ``string``, counts and ranks ``int64``, amounts, scores and rates ``float64``, instants
   ``timestamp[us, UTC]``, flags ``bool``. Every field carries a ``description`` in its metadata, and the column order
   is that of the report functions' output.
2. **to_arrow** takes the schema's columns, in the schema's order, from the frame (other columns are dropped) and casts
   each to its field type. A missing column, or a value that cannot be cast without loss (text in a count, 1.5 in an
   int64), raises :class:`ValueError` naming the column.
3. **Nulls.** None/NaN/NaT become nulls (a float column of whole numbers with NaN casts to int64 with nulls); naive
   datetimes are taken as UTC; datetimes are truncated to microseconds, the precision the schema stores.
4. **Round trip.** A table written with ``pyarrow.parquet.write_table`` reads back with the same schema (metadata
   included) and values.
5. **Data dictionary.** :func:`data_dictionary` renders every report's columns, types and descriptions from these
   same schemas as Markdown, so the file next to the exports can never disagree with them.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

_TIMESTAMP = pa.timestamp("us", tz="UTC")


def _field(name: str, kind: pa.DataType, description: str) -> pa.Field:
    return pa.field(name, kind, metadata={"description": description})


HOT_PROSPECTS_SCHEMA = pa.schema(
    [
        _field("owner_id", pa.string(), "Salesforce User Id of the owner; null for people without an owner"),
        _field("owner_name", pa.string(), "the owner's name; null when the owner is unknown"),
        _field("owner_email", pa.string(), "the owner's email"),
        _field("owner_active", pa.bool_(), "the owner is an active user (false when unknown)"),
        _field("rank", pa.int64(), "1..n per owner, no gaps (row_number)"),
        _field("contact_key", pa.string(), "the person's stable key"),
        _field("crm_type", pa.string(), "Lead or Contact"),
        _field("crm_id", pa.string(), "Salesforce Id of the person's primary record"),
        _field("email", pa.string(), "email address"),
        _field("first_name", pa.string(), "first name"),
        _field("last_name", pa.string(), "last name"),
        _field("company", pa.string(), "company"),
        _field("score", pa.float64(), "behavioral score"),
        _field("last_activity_at", _TIMESTAMP, "latest engagement event"),
        _field("sources", pa.string(), "comma-separated: assigned_leads, active_opportunities, assigned_contacts"),
        _field("opted_out", pa.bool_(), "opted out of email (kept, flagged)"),
        _field("hard_bounced", pa.bool_(), "email hard-bounced (kept, flagged)"),
    ]
)

FUNNEL_SCHEMA = pa.schema(
    [
        _field("dimension", pa.string(), "overall, lead_source or campaign"),
        _field("segment", pa.string(), "all, the lead source, or the campaign name"),
        _field("stage", pa.string(), "in_audience, engaged, marketing_qualified, sales_accepted or won"),
        _field("stage_order", pa.int64(), "1..5"),
        _field("people", pa.int64(), "people who meet this stage's own criterion"),
        _field("from_previous", pa.int64(), "of them, people who also met the previous stage's (stage 1: all)"),
        _field("entered_directly", pa.int64(), "of them, people who reached this stage without the previous one"),
        _field("conversion_rate", pa.float64(), "from_previous / people of the previous stage"),
        _field("rate_from_audience", pa.float64(), "people of this stage in the audience / people in the audience"),
        _field("small_sample", pa.bool_(), "the rate's base (previous stage; audience at stage 1) is under 20"),
        _field("amount", pa.float64(), "pipeline of open opportunities (sales_accepted) or amount won in the "
                                       "period (won); each opportunity once"),
        _field("period_start", _TIMESTAMP, "start of the period, included"),
        _field("period_end", _TIMESTAMP, "end of the period, included"),
    ]
)

ROI_SCHEMA = pa.schema(
    [
        _field("dimension", pa.string(), "campaign or lead_source"),
        _field("segment", pa.string(), "campaign name or lead source"),
        _field("campaign_id", pa.string(), "Salesforce Campaign Id; null for lead sources"),
        _field("contacts_touched", pa.int64(), "distinct active people"),
        _field("opportunities_influenced", pa.int64(), "distinct opportunities (any-touch)"),
        _field("open_opportunities", pa.int64(), "influenced opportunities still open"),
        _field("won_opportunities", pa.int64(), "influenced opportunities won in the period"),
        _field("closed_opportunities", pa.int64(), "influenced opportunities closed (won or lost) in the period"),
        _field("pipeline_amount", pa.float64(), "amount of the influenced open opportunities (any-touch: full "
                                                "credit to every campaign, rows do not add up)"),
        _field("won_amount", pa.float64(), "amount of the influenced opportunities won in the period (any-touch)"),
        _field("win_rate", pa.float64(), "won_opportunities / closed_opportunities"),
        _field("won_amount_first_touch", pa.float64(), "won amount credited to the campaign of each deal's first "
                                                       "touch"),
        _field("won_amount_last_touch", pa.float64(), "won amount credited to the campaign of each deal's last "
                                                      "touch before it closed"),
        _field("won_amount_even_split", pa.float64(), "won amount split evenly among each deal's campaigns"),
        _field("pipeline_amount_even_split", pa.float64(), "open pipeline split evenly among each deal's "
                                                           "campaigns"),
        _field("budgeted_cost", pa.float64(), "the campaign's BudgetedCost; null when not set"),
        _field("actual_cost", pa.float64(), "the campaign's ActualCost; null when not set"),
        _field("cost", pa.float64(), "actual_cost, else budgeted_cost; null when neither is set"),
        _field("return_on_cost", pa.float64(), "(won_amount_even_split - cost) / cost"),
        _field("cost_per_opportunity", pa.float64(), "cost / opportunities_influenced"),
        _field("cost_per_won", pa.float64(), "cost / won_opportunities"),
        _field("period_start", _TIMESTAMP, "start of the period, included"),
        _field("period_end", _TIMESTAMP, "end of the period, included"),
    ]
)


REPORT_SCHEMAS = {"hot_prospects": HOT_PROSPECTS_SCHEMA, "funnel": FUNNEL_SCHEMA, "roi": ROI_SCHEMA}
REPORT_FILES = {
    "hot_prospects": "hot_prospects.parquet (the latest)",
    "funnel": "funnel.parquet (the latest); funnel/as_of=YYYY-MM-DD/part-0.parquet (one snapshot a day)",
    "roi": "roi.parquet (the latest); roi/as_of=YYYY-MM-DD/part-0.parquet (one snapshot a day)",
}


def description(field: pa.Field) -> str:
    """A field's description (rule 1), "" when it has none."""
    return (field.metadata or {}).get(b"description", b"").decode("utf-8")


def data_dictionary() -> str:
    """Rule 5: the reports' columns as Markdown, one table per report."""
    lines = ["# Data dictionary of the analyst exports", "",
             "Generated from the files' own schemas (each Parquet field carries the same description).", ""]
    for name, schema in REPORT_SCHEMAS.items():
        lines += [f"## {name}", "", f"Files: {REPORT_FILES[name]}", "", "| column | type | meaning |",
                  "|---|---|---|"]
        lines += [f"| {field.name} | {field.type} | {description(field)} |" for field in schema]
        lines.append("")
    return "\n".join(lines)


def to_arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """The frame's columns of ``schema``, in its order, cast to its types (rules 2-3)."""
    missing = [field.name for field in schema if field.name not in frame.columns]
    if missing:
        raise ValueError(f"column {missing[0]!r} is missing from the frame (the schema needs {', '.join(missing)})")
    arrays = [_array(frame[field.name], field) for field in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _array(values: pd.Series, field: pa.Field) -> pa.Array:
    try:
        if pa.types.is_timestamp(field.type):
            # Through pandas so that naive values, Python datetimes and text all become UTC instants first.
            instants = pd.to_datetime(values, utc=True).dt.floor("us")
            return pa.array(instants, from_pandas=True).cast(field.type)
        return pa.array(values, from_pandas=True).cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError, TypeError) as error:
        raise ValueError(f"column {field.name!r} cannot be cast to {field.type}: {error}") from error
