"""PNG charts of the analyst reports (hot prospects, funnel, ROI), drawn with matplotlib's Agg backend.

The rules, in order (each is a test):

1. **PNG bytes, no files.** Every chart function returns the PNG image as bytes; nothing is written to disk and the
   figure is closed afterwards, so a long-running process does not accumulate figures.
2. **Fixed size.** Every image is ``FIGURE_INCHES`` at ``DPI`` dots per inch: ``IMAGE_PIXELS`` (1000 x 600) pixels,
   whatever the data (no tight bounding box, which would change the size).
3. **Empty input** (no rows, or none the chart can use) draws the chart's title and "no data yet" instead of failing.
   Labels longer than ``LABEL_CHARACTERS`` are shortened with "…".
4. **Hot prospects**: horizontal bars of the scores of the top ``TOP_PROSPECTS`` prospects overall (score desc, then
   later activity, then contact_key), highest on top, labelled "name (owner)"; opted-out and bounced people are
   marked in the label and drawn in grey.
5. **Funnel**: the overall segment's stages as centred horizontal bars, each with its people count and conversion
   from the previous stage as text.
6. **ROI**: grouped horizontal bars of pipeline_amount and won_amount of the top ``TOP_CAMPAIGNS`` campaigns by
   won_amount, then pipeline_amount.
7. **Trends** (from the daily snapshots, ``<report>_history``): the funnel's overall people per stage, and ROI's
   even-split won amount of the ``TOP_TRENDS`` campaigns with the most on the latest day, one line each over the
   as-of dates. Fewer than two days draw "no data yet" with what is missing.
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # no display: the charts are rendered in workers and tests

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen before pyplot loads)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

FIGURE_INCHES = (10.0, 6.0)
DPI = 100
IMAGE_PIXELS = (int(FIGURE_INCHES[0] * DPI), int(FIGURE_INCHES[1] * DPI))
TOP_PROSPECTS = 15
TOP_CAMPAIGNS = 10
TOP_TRENDS = 5
NO_DATA = "no data yet"
LABEL_CHARACTERS = 48  # longer labels are shortened with "…" so the bars keep most of the fixed canvas
_BAR = "#2b6cb0"
_FLAGGED = "#a0aec0"
_WON = "#2f855a"


def hot_prospects_chart(frame: pd.DataFrame) -> bytes:
    """Rule 4, from a :func:`sync_pipeline.rules.hot_prospects.rank_hot_prospects` frame."""
    title = f"Hot prospects: top {TOP_PROSPECTS} behavioral scores across all owners"
    if frame.empty:
        return _empty(title)
    top = frame.assign(_activity=pd.to_datetime(frame["last_activity_at"], utc=True)).sort_values(
        ["score", "_activity", "contact_key"], ascending=[False, False, True], kind="mergesort"
    ).head(TOP_PROSPECTS)
    top = top.iloc[::-1]  # barh draws bottom-up: reverse so the best is on top
    flagged = [_flag_text(row) for row in top.itertuples()]
    labels = [
        f"{_short(f'{_person(row)} ({_owner(row)})', LABEL_CHARACTERS - len(flag))}{flag}"
        for row, flag in zip(top.itertuples(), flagged, strict=True)
    ]
    colors = [_FLAGGED if flag else _BAR for flag in flagged]

    figure, axes = _figure()
    positions = np.arange(len(top))
    scores = top["score"].astype("float64").to_numpy()
    axes.barh(positions, scores, color=colors)
    axes.set_yticks(positions, labels, fontsize=8)
    for position, score in zip(positions, scores, strict=True):
        axes.text(float(score), float(position), f" {score:,.1f}", va="center", fontsize=8)
    axes.set_xlabel("behavioral score")
    axes.set_xlim(0, max(float(scores.max()), 1.0) * 1.12)  # room for the value text
    axes.set_title(title)
    return _png(figure)


def funnel_chart(frame: pd.DataFrame) -> bytes:
    """Rule 5, from a :func:`sync_pipeline.rules.funnel.build_funnel` frame."""
    title = "Marketing funnel (all people)"
    overall = frame[frame["dimension"] == "overall"] if "dimension" in frame else frame.iloc[0:0]
    if overall.empty or int(overall["people"].max()) == 0:
        return _empty(title)
    overall = overall.sort_values("stage_order", kind="mergesort")
    start, end = overall["period_start"].iloc[0], overall["period_end"].iloc[0]
    title = f"Marketing funnel (all people), {_day(start)} to {_day(end)}"

    figure, axes = _figure()
    counts = overall["people"].astype("int64").to_numpy()
    widest = float(counts.max())
    positions = np.arange(len(overall))[::-1]  # first stage on top
    axes.barh(positions, counts, left=(widest - counts) / 2.0, color=_BAR, height=0.7)
    for position, row in zip(positions, overall.itertuples(), strict=True):
        rate = row.conversion_rate
        conversion = "" if rate is None or math.isnan(rate) else f", {rate:.0%} of previous stage"
        axes.text(widest / 2.0, position, f"{int(row.people):,} people{conversion}", ha="center", va="center",
                  fontsize=9, color="black", bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    axes.set_yticks(positions, [str(stage).replace("_", " ") for stage in overall["stage"]])
    axes.set_xticks([])
    axes.set_xlim(0, widest)
    for side in ("top", "right", "bottom"):
        axes.spines[side].set_visible(False)
    axes.set_title(title)
    return _png(figure)


def roi_chart(frame: pd.DataFrame) -> bytes:
    """Rule 6, from a :func:`sync_pipeline.rules.roi.build_roi` frame."""
    title = f"Campaign ROI: pipeline and won amount (top {TOP_CAMPAIGNS} campaigns, any-touch attribution)"
    rows = frame[frame["dimension"] == "campaign"] if "dimension" in frame else frame.iloc[0:0]
    if rows.empty:
        return _empty(title)
    top = rows.sort_values(
        ["won_amount", "pipeline_amount", "segment"], ascending=[False, False, True], kind="mergesort"
    ).head(TOP_CAMPAIGNS).iloc[::-1]

    figure, axes = _figure()
    positions = np.arange(len(top))
    height = 0.4
    pipeline = top["pipeline_amount"].astype("float64").fillna(0.0).to_numpy()
    won = top["won_amount"].astype("float64").fillna(0.0).to_numpy()
    axes.barh(positions + height / 2, pipeline, height=height, color=_BAR, label="open pipeline")
    axes.barh(positions - height / 2, won, height=height, color=_WON, label="won")
    axes.set_yticks(positions, [_short(_text(segment), LABEL_CHARACTERS) for segment in top["segment"]], fontsize=8)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axes.set_xlabel("amount")
    axes.legend(loc="lower right")
    axes.set_title(title)
    return _png(figure)


def funnel_trend_chart(history: pd.DataFrame) -> bytes:
    """Rule 7: the overall people per stage over the snapshots' as-of dates."""
    title = "Marketing funnel over time (all people, per stage)"
    overall = history[history["dimension"] == "overall"] if "dimension" in history else history.iloc[0:0]
    if overall["as_of"].nunique() < 2:
        return _empty(f"{title}: {NO_DATA} (a trend needs two days of snapshots)")
    table = overall.pivot_table(index="as_of", columns="stage_order", values="people", aggfunc="sum").sort_index()
    names = overall.drop_duplicates("stage_order").set_index("stage_order")["stage"]
    figure, axes = _figure()
    for order in table.columns:
        axes.plot(pd.to_datetime(table.index), table[order], marker="o",
                  label=str(names[order]).replace("_", " "))
    axes.set_ylabel("people")
    axes.legend(loc="upper left")
    axes.set_title(title)
    return _png(figure)


def roi_trend_chart(history: pd.DataFrame) -> bytes:
    """Rule 7: the even-split won amount of the top campaigns over the snapshots' as-of dates."""
    title = f"Campaign won amount over time (even split, top {TOP_TRENDS} campaigns)"
    rows = history[history["dimension"] == "campaign"] if "dimension" in history else history.iloc[0:0]
    if rows["as_of"].nunique() < 2:
        return _empty(f"{title}: {NO_DATA} (a trend needs two days of snapshots)")
    latest = rows[rows["as_of"] == rows["as_of"].max()]
    top = latest.sort_values(["won_amount_even_split", "segment"], ascending=[False, True],
                             kind="mergesort")["segment"].head(TOP_TRENDS)
    table = rows[rows["segment"].isin(top)].pivot_table(index="as_of", columns="segment",
                                                        values="won_amount_even_split", aggfunc="sum").sort_index()
    figure, axes = _figure()
    for segment in top:
        if segment in table.columns:
            axes.plot(pd.to_datetime(table.index), table[segment].fillna(0.0), marker="o",
                      label=_short(_text(segment), LABEL_CHARACTERS))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axes.set_ylabel("won amount (even split)")
    axes.legend(loc="upper left")
    axes.set_title(title)
    return _png(figure)


def _figure() -> tuple[Figure, Axes]:
    # Constrained layout fits long labels inside the fixed canvas instead of growing it (rule 2).
    figure, axes = plt.subplots(figsize=FIGURE_INCHES, dpi=DPI, layout="constrained")
    return figure, axes


def _empty(title: str) -> bytes:
    figure, axes = _figure()
    axes.set_axis_off()
    axes.set_title(title)
    axes.text(0.5, 0.5, NO_DATA, ha="center", va="center", fontsize=20, color="grey", transform=axes.transAxes)
    return _png(figure)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=DPI)
    finally:
        plt.close(figure)
    return buffer.getvalue()


def _text(value: object) -> str:
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return ""
    return str(value).strip()


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 1)] + "…"


def _person(row: object) -> str:
    name = " ".join(part for part in (_text(getattr(row, "first_name", None)), _text(getattr(row, "last_name", None)))
                    if part)
    return name or _text(getattr(row, "email", None)) or _text(getattr(row, "contact_key", None))


def _owner(row: object) -> str:
    return _text(getattr(row, "owner_name", None)) or _text(getattr(row, "owner_id", None)) or "no owner"


def _flag_text(row: object) -> str:
    # Only a real true marks: a missing flag (None/NaN) is truthy to bool() but means "not flagged".
    marks = [text for name, text in (("opted_out", "opted out"), ("hard_bounced", "bounced"))
             if getattr(row, name, False) is True or getattr(row, name, False) is np.True_]
    return f" [{', '.join(marks)}]" if marks else ""


def _day(value: object) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")
