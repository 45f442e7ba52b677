"""The analyst outputs: hot prospects, the funnel and ROI. Each step reads what its pure rule uses from the marketing
database (narrowed in SQL: ``store.reports``), calls the rule, then publishes the rows three ways: the table
(replaced in one transaction), a Parquet file and a PNG chart under the exports folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.rules.charts import (
    funnel_chart,
    funnel_trend_chart,
    hot_prospects_chart,
    roi_chart,
    roi_trend_chart,
)
from sync_pipeline.rules.deal_amounts import DealTotals
from sync_pipeline.rules.export_schemas import (
    FUNNEL_SCHEMA,
    HOT_PROSPECTS_SCHEMA,
    ROI_SCHEMA,
    data_dictionary,
    to_arrow,
)
from sync_pipeline.rules.funnel import ENGAGING_EVENTS, FUNNEL_COLUMNS, build_funnel
from sync_pipeline.rules.hot_prospects import PERSON_COLUMNS, rank_hot_prospects
from sync_pipeline.rules.report_inputs import opportunity_facts, sales_columns, utc_timestamp
from sync_pipeline.rules.roi import ROI_COLUMNS, build_roi
from sync_pipeline.settings import SyncSettings
from sync_pipeline.steps.changes import StepInputs, Unchanged, step_inputs
from sync_pipeline.store.audience import read_sales_users
from sync_pipeline.store.outputs import (
    exports_dir,
    read_history,
    replace_output,
    replace_snapshot,
    write_chart,
    write_parquet,
    write_snapshot_file,
    write_text,
)
from sync_pipeline.store.reports import (
    active_people,
    engaged_people,
    hot_prospect_candidates,
    live_rows,
    report_links,
)
from sync_pipeline.store.tables import funnel as funnel_table
from sync_pipeline.store.tables import funnel_history, roi_history
from sync_pipeline.store.tables import hot_prospects as hot_prospects_table
from sync_pipeline.store.tables import roi as roi_table
from sync_pipeline.store.versions import (
    ALL_CONTACTS,
    CONSENT,
    ENGAGEMENT_EVENTS,
    SALES_USERS,
    SCORES,
    list_dataset,
    mirror_dataset,
)

DATA_DICTIONARY = "data_dictionary.md"  # beside the exports: every report's columns and what they mean
SALES_OBJECTS = ("Opportunity", "OpportunityContactRole", "CampaignMember", "Campaign")
SALES_INPUTS = [ALL_CONTACTS, SCORES, *(mirror_dataset(name) for name in SALES_OBJECTS)]
FUNNEL_PERSON_COLUMNS = ["lead_source", "behavioral_score", "opted_out", "hard_bounced"]
# A change of a report's columns (its rules) rebuilds it, whatever its inputs did.
_COLUMNS = {"funnel": FUNNEL_COLUMNS, "roi": ROI_COLUMNS}


@dataclass(frozen=True)
class Published:
    """One analyst output as written: its rows, table, files and chart."""

    name: str
    frame: pd.DataFrame
    table: str
    rows: int
    parquet: Path
    chart_file: Path
    png: bytes
    # The org's pipeline and won amounts over the report's period (deal_amounts), the same in every report.
    totals: DealTotals | None = None
    trend_png: bytes | None = None  # the trend over the daily snapshots (funnel and ROI)
    trend_file: Path | None = None


@dataclass(frozen=True)
class Snapshot:
    """Where a report keeps its day's snapshot (the history table, the day, the oldest day kept) and how its trend is
    drawn (from the snapshots' rows of one dimension)."""

    table: sa.Table
    as_of: date
    keep_from: date
    trend: Callable[[pd.DataFrame], bytes]
    dimension: str

    @classmethod
    def of(cls, table: sa.Table, settings: SyncSettings, end: datetime, trend: Callable[[pd.DataFrame], bytes],
           dimension: str) -> Snapshot:
        as_of = end.astimezone(UTC).date()
        return cls(table, as_of, as_of - timedelta(days=settings.funnel.history_days - 1), trend, dimension)


def _publish(engine: Engine, inputs: StepInputs, run_id: str, table: sa.Table, frame: pd.DataFrame,
             schema: pa.Schema, chart: Callable[[pd.DataFrame], bytes], totals: DealTotals | None = None,
             snapshot: Snapshot | None = None) -> Published:
    """Write the Parquet files and the chart, then replace the table (and the day's snapshot) with the step's
    watermark (a run killed in between writes the files again next time)."""
    rows = to_arrow(frame, schema)
    folder = exports_dir()
    parquet = write_parquet(rows, folder / f"{table.name}.parquet")
    if snapshot is not None:
        write_snapshot_file(rows, folder / table.name, snapshot.as_of, snapshot.keep_from)
    png = chart(frame)
    chart_file = write_chart(png, folder / f"{table.name}.png")
    write_text(data_dictionary(), folder / DATA_DICTIONARY)
    with engine.begin() as conn:
        written = replace_output(conn, table, rows)
        if snapshot is not None:
            replace_snapshot(conn, snapshot.table, rows, snapshot.as_of, snapshot.keep_from)
        inputs.done(conn, run_id)
    trend_png, trend_file = None, None
    if snapshot is not None:
        with engine.connect() as conn:
            history = read_history(conn, snapshot.table, snapshot.dimension)
        trend_file = folder / f"{table.name}_trend.png"
        if history["as_of"].nunique() >= 2:
            trend_png = snapshot.trend(history)
            write_chart(trend_png, trend_file)
        else:  # a trend needs two days: none yet (or no more, after old days were dropped)
            trend_file.unlink(missing_ok=True)
            trend_file = None
    return Published(table.name, frame, table.name, written, parquet, chart_file, png, totals, trend_png, trend_file)


def _inputs_of(engine: Engine, step: str, datasets: list[str], settings: SyncSettings,
               **extra: Any) -> tuple[StepInputs, Unchanged | None]:
    """An analyst output is rebuilt when what it reads changed, where its files go (EXPORTS_DIR), or when one of
    its files is gone."""
    folder = exports_dir().resolve()
    present = all((folder / f"{step}.{suffix}").exists() for suffix in ("parquet", "png"))
    return step_inputs(engine, step, datasets, settings, exports=folder, files_present=present,
                       columns=_COLUMNS.get(step, ()), **extra)


def hot_prospect_lists(settings: SyncSettings | None) -> dict[str, str]:
    """Source label → list name, for the lists the settings name that exist."""
    if settings is None:
        return {}
    hot = settings.hot_prospects
    named = {"assigned_leads": hot.assigned_leads, "active_opportunities": hot.active_opportunities,
             "assigned_contacts": hot.assigned_contacts}
    return {label: name for label, name in named.items() if name and settings.list_named(name)}


def publish_hot_prospects(engine: Engine, settings: SyncSettings, run_id: str) -> Published | Unchanged:
    """Per owner, the top prospects by score among the active members of the lists the settings name."""
    lists = hot_prospect_lists(settings)
    now = datetime.now(UTC)
    inputs, unchanged = _inputs_of(engine, "hot_prospects", [ALL_CONTACTS, SCORES, CONSENT, SALES_USERS,
                                                             *(list_dataset(name) for name in lists.values())],
                                   settings, day=now.date())
    if unchanged:
        return unchanged
    hot = settings.hot_prospects
    with engine.connect() as conn:
        people, members = hot_prospect_candidates(
            conn, list(lists.values()), min_score=hot.min_score, since=now - timedelta(days=hot.activity_days),
            columns=[*PERSON_COLUMNS, "owner_id", "opted_out", "hard_bounced"])
        users = read_sales_users(conn)
    label_of = {name: label for label, name in lists.items()}
    sources = pd.DataFrame({"contact_key": members["contact_key"], "source": members["list_name"].map(label_of)})
    frame = rank_hot_prospects(people, sources, users, hot, now)
    return _publish(engine, inputs, run_id, hot_prospects_table, frame, HOT_PROSPECTS_SCHEMA, hot_prospects_chart)


def _inputs(engine: Engine, settings: SyncSettings,
            person_columns: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    """The active people with ``person_columns``, the links the reports resolve, and the live sales rows."""
    wanted = sales_columns(settings.report_mapping)
    with engine.connect() as conn:
        return (active_people(conn, person_columns), report_links(conn),
                {name: live_rows(conn, name, wanted[name]) for name in SALES_OBJECTS})


def report_period(settings: SyncSettings, end: datetime) -> tuple[datetime, datetime]:
    """The period the funnel and ROI count engagement and won deals over: the last ``funnel.period_days``."""
    return end - timedelta(days=settings.funnel.period_days), end


def org_totals(sales: dict[str, pd.DataFrame], settings: SyncSettings, start: datetime, end: datetime
               ) -> DealTotals:
    """The pipeline and won amounts of every live opportunity over the period: the one figure every report shows."""
    return DealTotals.of(opportunity_facts(sales["Opportunity"], settings.report_mapping), utc_timestamp(start),
                         utc_timestamp(end))


def publish_funnel(engine: Engine, settings: SyncSettings, run_id: str, now: datetime | None = None
                   ) -> Published | Unchanged:
    """People and conversion per funnel stage, overall, by lead source and by campaign, over the period that ends
    ``now`` (default: the current time); the day's snapshot is kept in funnel_history."""
    start, end = report_period(settings, now or datetime.now(UTC))
    inputs, unchanged = _inputs_of(engine, "funnel", [*SALES_INPUTS, ENGAGEMENT_EVENTS, CONSENT], settings,
                                   day=end.date())
    if unchanged:
        return unchanged
    people, links, sales = _inputs(engine, settings, FUNNEL_PERSON_COLUMNS)
    with engine.connect() as conn:
        engaged = engaged_people(conn, ENGAGING_EVENTS, start, end)
    frame = build_funnel(people, engaged, links, sales["Opportunity"], sales["OpportunityContactRole"],
                         sales["CampaignMember"], sales["Campaign"], settings.report_mapping,
                         mql_score=settings.funnel.mql_score, period_start=start, period_end=end)
    return _publish(engine, inputs, run_id, funnel_table, frame, FUNNEL_SCHEMA, funnel_chart,
                    org_totals(sales, settings, start, end),
                    Snapshot.of(funnel_history, settings, end, funnel_trend_chart, "overall"))


def publish_roi(engine: Engine, settings: SyncSettings, run_id: str, now: datetime | None = None
                ) -> Published | Unchanged:
    """Campaign and lead-source return over the period that ends ``now``: any-touch influence, first-touch,
    last-touch and even-split attribution, and campaign cost; the day's snapshot is kept in roi_history."""
    start, end = report_period(settings, now or datetime.now(UTC))
    inputs, unchanged = _inputs_of(engine, "roi", SALES_INPUTS, settings, day=end.date())
    if unchanged:
        return unchanged
    people, links, sales = _inputs(engine, settings, ["lead_source"])
    frame = build_roi(people, links, sales["Opportunity"], sales["OpportunityContactRole"], sales["CampaignMember"],
                      sales["Campaign"], settings.report_mapping, period_start=start, period_end=end)
    return _publish(engine, inputs, run_id, roi_table, frame, ROI_SCHEMA, roi_chart,
                    org_totals(sales, settings, start, end),
                    Snapshot.of(roi_history, settings, end, roi_trend_chart, "campaign"))


def funnel_headline(frame: pd.DataFrame) -> str:
    """One line: the overall count per stage, the conversion from the stage before (of those who passed both), and
    how many reached the stage without the one before."""
    overall = frame[frame["dimension"] == "overall"].sort_values("stage_order")
    parts = []
    for row in overall.itertuples():
        rate = "" if pd.isna(row.conversion_rate) else f" ({_percent(row.conversion_rate)})"
        direct = f" +{int(row.entered_directly):,} directly" if row.entered_directly else ""
        parts.append(f"{row.stage.replace('_', ' ')} {int(row.people):,}{rate}{direct}")
    return " → ".join(parts)


def _percent(rate: float) -> str:
    """A rate as a whole percent, or with one decimal below 1% (so 0.3% does not read as 0%)."""
    return f"{rate:.1%}" if 0 < rate < 0.01 else f"{rate:.0%}"


def top_by_return(campaigns: pd.DataFrame) -> str:
    """The campaign with the highest return on cost, with its figures; say so when no campaign has a cost."""
    costed = campaigns[campaigns["return_on_cost"].notna()]
    if costed.empty:
        return "no campaign has a cost (BudgetedCost or ActualCost)"
    best = costed.sort_values(["return_on_cost", "segment"], ascending=[False, True], kind="mergesort").iloc[0]
    return (f"{best['segment']}: {best['return_on_cost']:+.0%} on cost {best['cost']:,.0f} "
            f"(won {best['won_amount_even_split']:,.0f}, even split)")


# The figures each chart draws, as a small table the report's materialization shows.
KEY_FIGURES = {
    "hot_prospects": ["first_name", "last_name", "owner_name", "score", "sources"],
    "funnel": ["stage", "people", "from_previous", "entered_directly", "conversion_rate", "small_sample", "amount"],
    "roi": ["segment", "opportunities_influenced", "won_amount", "won_amount_even_split", "cost", "return_on_cost"],
}
KEY_ROWS = 10


def key_figures(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The chart's figures: the funnel's overall stages, ROI's top campaigns by even-split won amount, the top
    prospects by score."""
    if name == "funnel":
        rows = frame[frame["dimension"] == "overall"].sort_values("stage_order")
    elif name == "roi":
        rows = frame[frame["dimension"] == "campaign"].sort_values(
            ["won_amount_even_split", "segment"], ascending=[False, True], kind="mergesort")
    else:
        rows = frame.sort_values("score", ascending=False, kind="mergesort")
    return rows[KEY_FIGURES[name]].head(KEY_ROWS).reset_index(drop=True)


def hot_prospects_metadata(published: Published, lists: dict[str, str]) -> dict[str, Any]:
    frame = published.frame
    return {"owners": int(frame["owner_id"].nunique(dropna=False)) if len(frame) else 0,
            "flagged_opted_out_or_bounced": int((frame["opted_out"] | frame["hard_bounced"]).sum()) if len(frame)
            else 0,
            "lists": ", ".join(f"{label}: {name}" for label, name in lists.items()) or "none"}
