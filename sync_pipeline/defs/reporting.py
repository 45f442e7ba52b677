"""Reporting assets for analysts: hot prospects per owner, the funnel and campaign ROI.

Each asset calls its step in ``steps.reporting`` (read, the pure rule, then the table, a Parquet file and a PNG
chart under the exports folder) and shows the chart and a preview in the UI.
"""

import base64
from typing import TYPE_CHECKING, Any

import dagster as dg

from sync_pipeline.defs.metadata import column_schema, markdown_preview, table_metadata
from sync_pipeline.defs.names import list_asset_name
from sync_pipeline.defs.resources import MarketingDatabase, SyncSettingsResource
from sync_pipeline.rules.export_schemas import REPORT_SCHEMAS
from sync_pipeline.settings import SyncSettings
from sync_pipeline.steps.changes import Unchanged, report_checks
from sync_pipeline.steps.reporting import (
    Published,
    funnel_headline,
    hot_prospect_lists,
    hot_prospects_metadata,
    key_figures,
    publish_funnel,
    publish_hot_prospects,
    publish_roi,
    top_by_return,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

REPORTING_GROUP = "reporting"
REPORTING_KINDS = {"pandas", "parquet"}
SALES_MIRRORS = ["sf_opportunity", "sf_opportunity_contact_role", "sf_campaign_member", "sf_campaign"]
# The reports follow every run that updated what they read (a list job, scoring, the push...), not only the main
# job: the report_refresh sensor requests them once their inputs are newer (and none is missing or in progress).
REFRESH_AFTER_SYNC = dg.AutomationCondition.eager()


def _shown(published: Published, title: str) -> dict[str, Any]:
    """The metadata every reporting asset shows: table, rows, files, the chart inline and a preview, and Dagster's
    standard table metadata (the catalog shows the columns and what they mean)."""
    return {"dagster/table_name": published.table, "dagster/row_count": published.rows,
            "dagster/column_schema": column_schema(REPORT_SCHEMAS[published.name]), "table": published.table,
            "rows": published.rows,
            "parquet": dg.MetadataValue.path(str(published.parquet)),
            "chart_file": dg.MetadataValue.path(str(published.chart_file)),
            "chart": _inline_png(title, published.png),
            "preview": dg.MetadataValue.md(markdown_preview(published.frame)),
            "key_figures": table_metadata(key_figures(published.name, published.frame)), **_trend(published, title)}


def _inline_png(title: str, png: bytes) -> dg.MetadataValue:
    """A chart shown in the UI itself: the PNG inline in Markdown."""
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})")


def _trend(published: Published, title: str) -> dict[str, Any]:
    """The trend over the daily snapshots, inline and as its file (funnel and ROI)."""
    if published.trend_png is None or published.trend_file is None:
        return {}
    return {"trend_chart": _inline_png(f"{title} over time", published.trend_png),
            "trend_file": dg.MetadataValue.path(str(published.trend_file))}


# What an unchanged output shows again: its table, rows, files and headline figures (not the chart or preview).
_KEPT = ("dagster/table_name", "dagster/row_count", "table", "rows", "parquet", "chart_file", "headline", "owners",
         "campaigns", "won_amount", "pipeline_amount", "open_opportunities", "won_opportunities",
         "top_campaign_by_return", "period_days", "trend_file")


def _remembered(engine: "Engine", step: str, metadata: dict[str, Any]) -> dg.MaterializeResult:
    kept = {name: str(value.value) if isinstance(value, dg.MetadataValue) else value
            for name, value in metadata.items() if name in _KEPT or name.startswith("overall_")}
    report_checks(engine, step, {"metadata": kept})
    return dg.MaterializeResult(metadata=metadata)


def _unchanged(unchanged: Unchanged) -> dg.MaterializeResult:
    """The output is as the last run that built it left it: its figures again, and since which run."""
    return dg.MaterializeResult(metadata={**unchanged.report.get("metadata", {}), **unchanged.as_metadata()})


def hot_prospects_asset(settings: SyncSettings | None) -> dg.AssetsDefinition:
    """The hot-prospects asset, depending on the lists the settings name (read at definition load)."""
    list_deps = [list_asset_name(name) for name in hot_prospect_lists(settings).values()]

    @dg.asset(
        name="hot_prospects",
        group_name=REPORTING_GROUP,
        kinds=REPORTING_KINDS,
        automation_condition=REFRESH_AFTER_SYNC,
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
        lists = hot_prospect_lists(settings)
        if not lists:
            context.log.warning("the settings name no hot_prospects lists that exist: hot_prospects is empty")
        engine = marketing_db.engine()
        published = publish_hot_prospects(engine, settings, context.run.run_id)
        if isinstance(published, Unchanged):
            return _unchanged(published)
        return _remembered(engine, "hot_prospects", {**_shown(published, "Hot prospects by score"),
                                                     **hot_prospects_metadata(published, lists)})

    return hot_prospects


@dg.asset(
    group_name=REPORTING_GROUP,
    kinds=REPORTING_KINDS,
    automation_condition=REFRESH_AFTER_SYNC,
    # salesforce_push: the audience stage leaves out the people its consent write-back marks opted out or bounced.
    deps=["all_contacts", "lead_score_maintenance", "salesforce_push", "engagement_events", *SALES_MIRRORS],
    description=("The marketing funnel, each stage by its own criterion: in the audience (active and emailable) → "
                 "engaged (an open, click, form or page visit in the period; not a send) → marketing-qualified "
                 "(score threshold) → sales-accepted (converted, or on an open or won opportunity) → won in the "
                 "period. "
                 "Conversion counts only people who passed both stages; people who skipped one are counted apart "
                 "(entered_directly); small bases are flagged. Overall, by lead source and by campaign, with the "
                 "pipeline and won amounts. Table funnel, data/exports/funnel.parquet and a chart."),
)
def funnel(context: dg.AssetExecutionContext, marketing_db: MarketingDatabase,
           sync_settings: SyncSettingsResource) -> dg.MaterializeResult:
    """Grain: one row per (dimension, segment, stage); source: all_contacts, links, Opportunity and Campaign mirrors."""
    settings = sync_settings.load()
    engine = marketing_db.engine()
    published = publish_funnel(engine, settings, context.run.run_id)
    if isinstance(published, Unchanged):
        return _unchanged(published)
    frame = published.frame
    overall = frame[frame["dimension"] == "overall"].set_index("stage")["people"]
    return _remembered(engine, "funnel", {**_shown(published, "Marketing funnel"), "headline": funnel_headline(frame),
                                          **{f"overall_{stage}": int(count) for stage, count in overall.items()},
                                          **_totals(published), "period_days": settings.funnel.period_days,
                                          "mql_score": settings.funnel.mql_score})


@dg.asset(
    group_name=REPORTING_GROUP,
    kinds=REPORTING_KINDS,
    automation_condition=REFRESH_AFTER_SYNC,
    deps=["all_contacts", *SALES_MIRRORS],
    description=("Return per campaign and per lead source over the period: people touched, opportunities "
                 "influenced (any-touch: in full for every campaign that is a deal's primary source or that one of "
                 "its contacts is a member of), open pipeline, won amount and win rate; the won amount by first "
                 "touch, last touch and even split (these add up); campaign cost, return on cost and cost per "
                 "opportunity and per won deal. Table roi, data/exports/roi.parquet and a chart."),
)
def roi(context: dg.AssetExecutionContext, marketing_db: MarketingDatabase,
        sync_settings: SyncSettingsResource) -> dg.MaterializeResult:
    """Grain: one row per campaign and per lead source; source: all_contacts, links, Opportunity, Campaign."""
    engine = marketing_db.engine()
    settings = sync_settings.load()
    published = publish_roi(engine, settings, context.run.run_id)
    if isinstance(published, Unchanged):
        return _unchanged(published)
    campaigns = published.frame[published.frame["dimension"] == "campaign"]
    return _remembered(engine, "roi", {**_shown(published, "Campaign return"), "campaigns": len(campaigns),
                                       **_totals(published), "top_campaign_by_return": top_by_return(campaigns),
                                       "period_days": settings.funnel.period_days})


def _totals(published: Published) -> dict[str, Any]:
    """The org's pipeline and won amounts over the period: the same figures on the funnel and on ROI."""
    return published.totals.as_metadata() if published.totals else {}


def reporting_assets(settings: SyncSettings | None) -> list[dg.AssetsDefinition]:
    return [hot_prospects_asset(settings), funnel, roi]
