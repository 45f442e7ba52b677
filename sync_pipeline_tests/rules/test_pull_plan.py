from datetime import UTC, datetime, timedelta

import pytest

from sync_pipeline.rules.pull_plan import CursorState, PullMode, plan_pull, use_bulk

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LOOKBACK = timedelta(minutes=10)


def plan(state: CursorState | None, fields_hash: str = "h1"):
    return plan_pull(state, run_started_at=NOW, fields_hash=fields_hash, full_sync_every_days=14, lookback=LOOKBACK)


def test_first_sync_is_full_with_upper_bound_frozen_at_run_start():
    result = plan(None)
    assert result.mode is PullMode.FULL
    assert result.lower is None
    assert result.upper == NOW


def test_incremental_window_starts_a_lookback_before_the_cursor():
    cursor = NOW - timedelta(hours=4)
    result = plan(CursorState(cursor, NOW - timedelta(days=1), "h1"))
    assert result.mode is PullMode.INCREMENTAL
    assert result.lower == cursor - LOOKBACK
    assert result.upper == NOW


def test_changed_fields_force_a_full_sync():
    result = plan(CursorState(NOW - timedelta(hours=1), NOW - timedelta(days=1), "h1"), fields_hash="h2")
    assert result.mode is PullMode.FULL
    assert "fields changed" in result.reason


@pytest.mark.parametrize(("days_ago", "mode"), [(13.9, PullMode.INCREMENTAL), (14, PullMode.FULL), (30, PullMode.FULL)])
def test_periodic_full_sync(days_ago, mode):
    result = plan(CursorState(NOW - timedelta(hours=1), NOW - timedelta(days=days_ago), "h1"))
    assert result.mode is mode


def test_cursor_in_the_future_never_gives_an_inverted_window():
    result = plan(CursorState(NOW + timedelta(hours=1), NOW - timedelta(days=1), "h1"))
    assert result.lower == NOW
    assert result.upper == NOW


def test_naive_run_start_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_pull(None, run_started_at=datetime(2026, 1, 1), fields_hash="h", full_sync_every_days=14,
                  lookback=LOOKBACK)


def test_bulk_threshold():
    assert use_bulk(10_000, 10_000)
    assert not use_bulk(9_999, 10_000)
