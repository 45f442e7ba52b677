"""The one definition of pipeline and won amounts, shared by the funnel, ROI and their metadata.

The rules, in order (each is a test):

1. **Pipeline** of a set of opportunities: the sum of ``amount`` over its distinct *open* opportunities (neither
   IsClosed nor won; see ``report_inputs.opportunity_facts``), whatever their close date: what is still to win now.
2. **Won** of a set: the sum of ``amount`` over its distinct opportunities *won in the period*: the won field true
   and the close date inside [period start, period end], compared as UTC dates, both ends included. A won
   opportunity without a close date is won in no period.
3. **Once.** An opportunity counts once in any total, however many people, campaigns or segments lead to it; a
   missing amount counts as 0 (``report_inputs.amounts``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


def won_in_period(facts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Rule 2's condition, one bool per row of ``facts`` (``opportunity_facts`` rows; tz-aware UTC bounds)."""
    close_day = facts["close_date"]  # naive midnight (the UTC date), NaT without one
    inside = (close_day >= pd.Timestamp(start.date())) & (close_day <= pd.Timestamp(end.date()))
    return facts["is_won"].astype(bool) & inside.fillna(False).astype(bool)


@dataclass(frozen=True)
class DealTotals:
    """Rules 1-3 over one set of opportunities."""

    open_opportunities: int
    won_opportunities: int
    pipeline_amount: float
    won_amount: float

    @classmethod
    def of(cls, facts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> DealTotals:
        distinct = facts.drop_duplicates("opportunity_id")
        is_open = distinct["is_open"].astype(bool)
        won = won_in_period(distinct, start, end)
        amount = distinct["amount"].astype("float64")
        return cls(int(is_open.sum()), int(won.sum()), float(amount[is_open].sum()), float(amount[won].sum()))

    def as_metadata(self) -> dict[str, float | int]:
        return {"pipeline_amount": round(self.pipeline_amount, 2), "won_amount": round(self.won_amount, 2),
                "open_opportunities": self.open_opportunities, "won_opportunities": self.won_opportunities}
