"""The report charts are PNG images of a fixed size, with or without data (rules of rules/charts.py)."""

import functools
import io
import struct
from datetime import UTC, datetime

import matplotlib.image
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from sync_pipeline.rules.charts import (
    IMAGE_PIXELS,
    funnel_chart,
    funnel_trend_chart,
    hot_prospects_chart,
    roi_chart,
    roi_trend_chart,
)
from sync_pipeline.rules.funnel import FUNNEL_COLUMNS
from sync_pipeline.rules.hot_prospects import HOT_PROSPECT_COLUMNS
from sync_pipeline.rules.roi import ROI_COLUMNS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def png_size(data):
    """Width and height from the IHDR chunk, which always follows the signature."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def hot_prospects(count):
    return pd.DataFrame(
        {
            "owner_id": ["U1" if i % 2 else None for i in range(count)],
            "owner_name": ["Bea Owner" if i % 2 else None for i in range(count)],
            "owner_email": None,
            "owner_active": True,
            "rank": list(range(1, count + 1)),
            "contact_key": [f"K{i:02d}" for i in range(count)],
            "crm_type": "Lead",
            "crm_id": [f"00Q{i}" for i in range(count)],
            "email": [f"p{i}@x.com" for i in range(count)],
            "first_name": ["Ann" if i % 3 else None for i in range(count)],
            "last_name": [f"Doe{i}" if i % 3 else None for i in range(count)],
            "company": "Acme",
            "score": [100.0 - i for i in range(count)],
            "last_activity_at": pd.Timestamp(NOW),
            "sources": "assigned_leads",
            "opted_out": [i == 1 for i in range(count)],
            "hard_bounced": [i in (1, 2) for i in range(count)],
        },
        columns=list(HOT_PROSPECT_COLUMNS),
    )


def funnel_frame():
    people = [10, 8, 5, 2, 1]
    return pd.DataFrame(
        {
            "dimension": "overall",
            "segment": "all",
            "stage": ["in_audience", "engaged", "marketing_qualified", "sales_accepted", "won"],
            "stage_order": [1, 2, 3, 4, 5],
            "people": people,
            "conversion_rate": [float("nan"), 0.8, 0.625, 0.4, 0.5],
            "rate_from_audience": [p / 10 for p in people],
            "amount": [float("nan")] * 3 + [5000.0, 1000.0],
            "period_start": pd.Timestamp("2026-01-01", tz="UTC"),
            "period_end": pd.Timestamp("2026-03-31", tz="UTC"),
        },
        columns=list(FUNNEL_COLUMNS),
    )


def roi_frame(campaigns):
    return pd.DataFrame(
        {
            "dimension": ["campaign"] * campaigns + ["lead_source"],
            "segment": [f"Campaign with a long name {i}" for i in range(campaigns)] + ["Web"],
            "campaign_id": [f"701{i}" for i in range(campaigns)] + [None],
            "contacts_touched": 3,
            "opportunities_influenced": 2,
            "open_opportunities": 1,
            "won_opportunities": 1,
            "pipeline_amount": [1000.0 * i for i in range(campaigns)] + [1.0],
            "won_amount": [250_000.0 if i == 3 else 0.0 for i in range(campaigns)] + [1.0],
            "win_rate": 0.5,
        },
        columns=list(ROI_COLUMNS),
    )


def history(frame, days):
    """Daily snapshots of a report frame: the same rows for each of ``days`` as-of dates, the counts growing."""
    parts = []
    for day in range(days):
        part = frame.assign(as_of=pd.Timestamp("2026-03-01") + pd.Timedelta(days=day))
        for name in ("people", "won_amount_even_split"):
            if name in part:
                part[name] = part[name].fillna(0) + day
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else frame.assign(as_of=pd.Series(dtype="datetime64[ns]"))


def roi_history_frame(days):
    frame = roi_frame(12)
    return history(frame.assign(won_amount_even_split=frame["won_amount"]), days)


CASES = {
    "hot_prospects": (hot_prospects_chart, lambda: hot_prospects(20)),
    "funnel": (funnel_chart, funnel_frame),
    "roi": (roi_chart, lambda: roi_frame(12)),
    "funnel_trend": (funnel_trend_chart, lambda: history(funnel_frame(), 3)),
    "roi_trend": (roi_trend_chart, lambda: roi_history_frame(3)),
}
EMPTY_CASES = {
    "hot_prospects_empty": (hot_prospects_chart, lambda: hot_prospects(0)),
    "funnel_empty": (funnel_chart, lambda: funnel_frame().iloc[0:0]),
    "funnel_no_one": (funnel_chart, lambda: funnel_frame().assign(people=0)),
    "funnel_no_columns": (funnel_chart, pd.DataFrame),
    "roi_empty": (roi_chart, lambda: roi_frame(0).iloc[0:0]),
    "roi_without_campaigns": (roi_chart, lambda: roi_frame(0)),
    "funnel_trend_one_day": (funnel_trend_chart, lambda: history(funnel_frame(), 1)),
    "roi_trend_no_days": (roi_trend_chart, lambda: roi_history_frame(0)),
}


@functools.cache
def rendered(case):
    """Each chart is drawn once per test session (drawing is the slow part)."""
    chart, frame = {**CASES, **EMPTY_CASES}[case]
    return chart(frame())


@pytest.mark.parametrize("case", [*CASES, *EMPTY_CASES])
def test_png_of_the_configured_size(case):
    data = rendered(case)
    assert data.startswith(PNG_SIGNATURE)
    assert png_size(data) == IMAGE_PIXELS == (1000, 600)


@pytest.mark.parametrize("case", list(CASES))
def test_image_reads_back_with_the_configured_size(case):
    image = matplotlib.image.imread(io.BytesIO(rendered(case)), format="png")
    assert image.shape[:2] == (IMAGE_PIXELS[1], IMAGE_PIXELS[0])
    assert image.std() > 0  # something was drawn


@pytest.mark.parametrize("case", list(EMPTY_CASES))
def test_empty_charts_differ_from_drawn_ones(case):
    assert rendered(case) not in {rendered(drawn) for drawn in CASES}


def test_figures_are_closed():
    before = len(plt.get_fignums())
    hot_prospects_chart(hot_prospects(0))
    roi_chart(roi_frame(0))
    assert len(plt.get_fignums()) == before
