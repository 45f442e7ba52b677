"""Whether a report is older than its inputs (rules/freshness.py)."""

from datetime import UTC, datetime, timedelta

from sync_pipeline.rules.freshness import report_freshness

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_the_lag_is_how_much_newer_the_newest_input_is():
    result = report_freshness("funnel", NOW - 5 * HOUR, {"all_contacts": NOW - 2 * HOUR, "sf_opportunity": NOW - HOUR,
                                                        "sf_campaign": None}, allowed=HOUR, now=NOW)
    assert (result.lag, result.newest_input, result.fresh) == (4 * HOUR, "sf_opportunity", False)
    assert result.describe() == ("funnel is 4.0 h older than its newest input sf_opportunity (more than the 60 min "
                                 "allowed)")


def test_a_report_newer_than_its_inputs_has_no_lag():
    result = report_freshness("roi", NOW, {"all_contacts": NOW - HOUR}, allowed=timedelta(0), now=NOW)
    assert (result.lag, result.fresh) == (timedelta(0), True)
    assert result.describe() == "roi is as new as its inputs"


def test_a_lag_within_the_allowance_is_fresh():
    result = report_freshness("roi", NOW - 30 * timedelta(minutes=1), {"all_contacts": NOW}, allowed=HOUR, now=NOW)
    assert result.fresh and result.describe() == ("roi is 30 min older than its newest input all_contacts (within "
                                                  "the 60 min allowed)")


def test_a_report_never_built_is_late_by_the_age_of_its_input():
    result = report_freshness("funnel", None, {"all_contacts": NOW - 3 * HOUR}, allowed=HOUR, now=NOW)
    assert (result.lag, result.fresh) == (3 * HOUR, False)
    nothing = report_freshness("funnel", None, {"all_contacts": None}, allowed=HOUR, now=NOW)
    assert (nothing.lag, nothing.newest_input, nothing.fresh) == (timedelta(0), None, True)
