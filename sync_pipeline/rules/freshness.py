"""Whether an analyst report is older than what it is built from.

The rules, in order (each is a test):

1. **Lag.** A report's lag is how much newer its newest input is than the report: the latest materialization of any
   input minus the report's latest materialization, zero when no input is newer. Inputs never materialized do not
   count.
2. **Never built.** A report never materialized while an input was is stale by the whole age of that input
   (measured to ``now``); with no input materialized either, there is nothing to be late for.
3. **Verdict.** The report is fresh when its lag is at most ``allowed``; the description names the newest input, the
   lag and the allowance, so an operator sees which sync the report has not caught up with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Freshness:
    report: str
    lag: timedelta
    newest_input: str | None
    allowed: timedelta

    @property
    def fresh(self) -> bool:
        return self.lag <= self.allowed

    def describe(self) -> str:
        if self.newest_input is None or self.lag <= timedelta(0):
            return f"{self.report} is as new as its inputs"
        verdict = "within" if self.fresh else "more than"
        return (f"{self.report} is {_minutes(self.lag)} older than its newest input {self.newest_input} ({verdict} "
                f"the {_minutes(self.allowed)} allowed)")


def report_freshness(report: str, report_at: datetime | None, inputs_at: Mapping[str, datetime | None],
                     allowed: timedelta, now: datetime) -> Freshness:
    """Rules 1-3."""
    known = {name: moment for name, moment in inputs_at.items() if moment is not None}
    if not known:
        return Freshness(report, timedelta(0), None, allowed)
    newest_input, newest_at = max(known.items(), key=lambda item: (item[1], item[0]))
    lag = (now if report_at is None else newest_at) - (newest_at if report_at is None else report_at)
    return Freshness(report, max(lag, timedelta(0)), newest_input, allowed)


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:,.0f} min" if minutes < 120 else f"{minutes / 60:,.1f} h"
