"""Cron strings: Dagster's own check, and the fallback parser that agrees with it."""

from __future__ import annotations

import pytest

from sync_pipeline.settings.cron import is_valid_cron, is_valid_cron_fallback

VALID = [
    "0 */4 * * *",
    "30 */4 * * *",
    "0 2 * * 0",
    "*/15 * * * *",
    "0 8-18/2 * * 1-5",
    "0 0 1 jan,jul *",
    "0 9 * * MON-FRI",
    "5,35 0 1-15 * 7",
    "0 0 * * fri-mon",
]
INVALID = [
    "",
    "0 */4 * *",
    "0 2 * * 0 0",
    "61 * * * *",
    "0 24 * * *",
    "0 0 32 * *",
    "0 0 * 13 *",
    "0 0 * * 8",
    "*/0 * * * *",
    "5-70 * * * *",
    "every hour",
    "0 0 * * funday",
]


@pytest.mark.parametrize("cron", VALID)
def test_valid_cron_strings(cron):
    assert is_valid_cron(cron)
    assert is_valid_cron_fallback(cron)


@pytest.mark.parametrize("cron", INVALID)
def test_invalid_cron_strings(cron):
    assert not is_valid_cron(cron)
    assert not is_valid_cron_fallback(cron)
