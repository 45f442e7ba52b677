"""Reporting assets for analysts: hot prospects per owner, the funnel and campaign ROI.

Each asset reads the marketing database, calls a pure function of ``rules/``, replaces its table, writes the same
rows as a Parquet file and a PNG chart under the exports folder, and shows the chart and a preview in the UI.
"""


import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from sync_pipeline.defs.names import list_asset_name
from sync_pipeline.defs.metadata import markdown_preview
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.settings import SyncSettings
from sync_pipeline.store.audience import as_stored, read_mirror, read_people
from sync_pipeline.store.outputs import exports_dir, replace_output, write_chart, write_parquet
from sync_pipeline.store.tables import contact_links, list_members, sales_users
from sync_pipeline.store.tables import funnel as funnel_table
from sync_pipeline.store.tables import hot_prospects as hot_prospects_table
from sync_pipeline.store.tables import roi as roi_table
from sync_pipeline.rules.charts import funnel_chart, hot_prospects_chart, roi_chart
from sync_pipeline.rules.export_schemas import FUNNEL_SCHEMA, HOT_PROSPECTS_SCHEMA, ROI_SCHEMA, to_arrow
from sync_pipeline.rules.funnel import build_funnel
from sync_pipeline.rules.hot_prospects import rank_hot_prospects
from sync_pipeline.rules.roi import build_roi

REPORTING_GROUP = "reporting"
REPORTING_KINDS = {"pandas", "parquet"}
SALES_OBJECTS = ("Opportunity", "OpportunityContactRole", "CampaignMember", "Campaign")
SALES_MIRRORS = ["sf_opportunity", "sf_opportunity_contact_role", "sf_campaign_member", "sf_campaign"]


def _read(conn: sa.Connection, table: sa.Table,
          where: "Callable[[sa.Table], sa.ColumnElement[bool]] | None" = None) -> pd.DataFrame:
    stored = as_stored(conn, table)  # with the columns added at run time
    return pd.read_sql(sa.select(stored) if where is None else sa.select(stored).where(where(stored)), conn)


def _chart_markdown(title: str, png: bytes) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})")


def _publish(engine: sa.Engine, name: str, table: sa.Table, frame: pd.DataFrame, schema: pa.Schema,
             chart: Callable[[pd.DataFrame], bytes], title: str) -> dict[str, object]:
    """Replace the table, write the Parquet file and the chart; the metadata every reporting asset shows."""
    rows = to_arrow(frame, schema)
    with engine.begin() as conn:
        written = replace_output(conn, table, rows)
    folder = exports_dir()
    parquet = write_parquet(rows, folder / f"{name}.parquet")
    png = chart(frame)
    chart_file = write_chart(png, folder / f"{name}.png")
    return {"table": table.name, "rows": written, "parquet": dg.MetadataValue.path(str(parquet)),
            "chart_file": dg.MetadataValue.path(str(chart_file)), "chart": _chart_markdown(title, png),
            "preview": dg.MetadataValue.md(markdown_preview(frame))}


def _hot_prospect_lists(settings: SyncSettings | None) -> dict[str, str]:
    """Source label → list name, for the lists the settings name."""
    if settings is None:
        return {}
    hot = settings.hot_prospects
    named = {"assigned_leads": hot.assigned_leads, "active_opportunities": hot.active_opportunities,
             "assigned_contacts": hot.assigned_contacts}
    return {label: name for label, name in named.items() if name and settings.list_named(name)}


def hot_prospects_asset(settings: SyncSettings | None) -> dg.AssetsDefinition:
    """The hot-prospects asset, depending on the lists the settings name (read at definition load)."""
    list_deps = [list_asset_name(name) for name in _hot_prospect_lists(settings).values()]

    @dg.asset(
        name="hot_prospects",
        group_name=REPORTING_GROUP,
        kinds=REPORTING_KINDS,
        # salesforce_push: it records this run's opt-outs and bounces in all_contacts, which the flags read.
        deps=["all_contacts", "sales_users", "lead_score_maintenance", "salesforce_push", *list_deps],
        description=("Hot prospects for sales: per owner, the top prospects by behavioral score (above the minimum "
                     "score, active within the last days the settings give), drawn from the lists of prospects "
                     "assigned to sales, prospects in active opportunities and existing contacts. Opted-out and "
                     "bounced people are flagged, not hidden. Table hot_prospects, "
                     "data/exports/hot_prospects.parquet and a chart."),
    )
    def hot_prospects(context: dg.AssetExecutionContext, marketing_db: MarketingDatabase,
                      sync_settings: SyncSettingsResource) -> dg.MaterializeResult:
        """Grain: one row per (owner, prospect), at most top_n per owner; source: all_contacts, list_members."""
        settings = sync_settings.load()
        lists = _hot_prospect_lists(settings)
        engine = marketing_db.engine()
        with engine.connect() as conn:
            people = read_people(conn)
            users = _read(conn, sales_users)
            members = _read(conn, list_members, lambda t: t.c.list_name.in_(list(lists.values())))
        label_of = {name: label for label, name in lists.items()}
        active = members[members["is_active"].astype(bool) & members["contact_key"].notna()]
        sources = pd.DataFrame({"contact_key": active["contact_key"], "source": active["list_name"].map(label_of)})
        frame = rank_hot_prospects(people, sources, users, settings.hot_prospects, datetime.now(UTC))
        metadata = _publish(engine, "hot_prospects", hot_prospects_table, frame, HOT_PROSPECTS_SCHEMA,
                            hot_prospects_chart, "Hot prospects by score")
        if not lists:
            context.log.warning("the settings name no hot_prospects lists that exist: hot_prospects is empty")
        return dg.MaterializeResult(metadata={
            **metadata, "owners": int(frame["owner_id"].nunique(dropna=False)) if len(frame) else 0,
            "flagged_opted_out_or_bounced": int((frame["opted_out"] | frame["hard_bounced"]).sum()),
            "lists": ", ".join(f"{label}: {name}" for label, name in lists.items()) or "none"})

    return hot_prospects


def _sales_frames(conn: sa.Connection) -> dict[str, pd.DataFrame]:
    return {name: read_mirror(conn, name) for name in SALES_OBJECTS}


@dg.asset(
    group_name=REPORTING_GROUP,
    kinds=REPORTING_KINDS,
    deps=["all_contacts", "lead_score_maintenance", *SALES_MIRRORS],
    description=("The marketing funnel: people in the audience → engaged in the period → marketing-qualified (score "
                 "threshold) → sales-accepted (converted, or on an open opportunity) → won in the period, with "
                 "conversion rates, open and won amounts; overall, by lead source and by campaign. Table funnel, "
                 "data/exports/funnel.parquet and a chart."),
)
def funnel(marketing_db: MarketingDatabase, sync_settings: SyncSettingsResource) -> dg.MaterializeResult:
    """Grain: one row per (dimension, segment, stage); source: all_contacts, links, Opportunity and Campaign mirrors."""
    settings = sync_settings.load()
    engine = marketing_db.engine()
    end = datetime.now(UTC)
    with engine.connect() as conn:
        people, links, sales = read_people(conn), _read(conn, contact_links), _sales_frames(conn)
    frame = build_funnel(people, links, sales["Opportunity"], sales["OpportunityContactRole"],
                         sales["CampaignMember"], sales["Campaign"], settings.report_mapping,
                         mql_score=settings.funnel.mql_score,
                         period_start=end - timedelta(days=settings.funnel.period_days), period_end=end)
    metadata = _publish(engine, "funnel", funnel_table, frame, FUNNEL_SCHEMA, funnel_chart, "Marketing funnel")
    overall = frame[frame["dimension"] == "overall"].set_index("stage")["people"]
    return dg.MaterializeResult(metadata={**metadata, "headline": funnel_headline(frame),
                                          **{f"overall_{stage}": int(count) for stage, count in overall.items()},
                                          "period_days": settings.funnel.period_days,
                                          "mql_score": settings.funnel.mql_score})


def funnel_headline(frame: pd.DataFrame) -> str:
    """One line: the overall count per stage, with the conversion from the stage before."""
    overall = frame[frame["dimension"] == "overall"].sort_values("stage_order")
    parts = []
    for row in overall.itertuples():
        rate = "" if pd.isna(row.conversion_rate) else f" ({row.conversion_rate:.0%})"
        parts.append(f"{row.stage.replace('_', ' ')} {int(row.people):,}{rate}")
    return " → ".join(parts)


@dg.asset(
    group_name=REPORTING_GROUP,
    kinds=REPORTING_KINDS,
    deps=["all_contacts", *SALES_MIRRORS],
    description=("Return per campaign and per lead source: people touched, opportunities influenced, open pipeline "
                 "and won amounts and win rate. Any-touch attribution: an opportunity counts in full for every "
                 "campaign that is its primary source or that one of its contacts is a member of. Table roi, "
                 "data/exports/roi.parquet and a chart."),
)
def roi(marketing_db: MarketingDatabase, sync_settings: SyncSettingsResource) -> dg.MaterializeResult:
    """Grain: one row per campaign and per lead source; source: all_contacts, links, Opportunity and Campaign mirrors."""
    settings = sync_settings.load()
    engine = marketing_db.engine()
    with engine.connect() as conn:
        people, links, sales = read_people(conn), _read(conn, contact_links), _sales_frames(conn)
    frame = build_roi(people, links, sales["Opportunity"], sales["OpportunityContactRole"], sales["CampaignMember"],
                      sales["Campaign"], settings.report_mapping)
    metadata = _publish(engine, "roi", roi_table, frame, ROI_SCHEMA, roi_chart, "Campaign return")
    campaigns = frame[frame["dimension"] == "campaign"]
    return dg.MaterializeResult(metadata={**metadata, "campaigns": len(campaigns),
                                          "won_amount_influenced": float(campaigns["won_amount"].sum()),
                                          "pipeline_amount_influenced": float(campaigns["pipeline_amount"].sum())})


def reporting_assets(settings: SyncSettings | None) -> list[dg.AssetsDefinition]:
    return [hot_prospects_asset(settings), funnel, roi]

