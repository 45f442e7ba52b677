"""The funnel's and ROI's daily snapshots: one per as-of date in the history tables and in Hive-partitioned Parquet
files that DuckDB reads as an analyst would, the day's rerun replacing its snapshot, old days dropped."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sync_pipeline.settings import load_settings
from sync_pipeline.steps.reporting import Published, publish_funnel, publish_roi
from sync_pipeline.store.outputs import replace_snapshot
from sync_pipeline.store.tables import funnel, funnel_history, roi, roi_history
from sync_pipeline_tests.store.test_reports import _write_org

ROOT = Path(__file__).resolve().parents[2]
DAY_ONE = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _days(conn: sa.Connection, table: sa.Table) -> dict[date, int]:
    rows = conn.execute(sa.select(table.c.as_of, sa.func.count()).group_by(table.c.as_of).order_by(table.c.as_of))
    return {day: count for day, count in rows}


def _files(folder: Path) -> dict[str, int]:
    """Rows per as_of of the partitioned files, read by DuckDB."""
    pattern = str(folder / "*" / "*.parquet")
    rows = duckdb.sql(f"SELECT CAST(as_of AS VARCHAR), COUNT(*) FROM read_parquet('{pattern}', "
                      "hive_partitioning = true) GROUP BY ALL ORDER BY 1").fetchall()
    return {day: count for day, count in rows}


def _publish(engine: Engine, settings, now: datetime) -> None:
    for made in (publish_funnel(engine, settings, "run", now=now), publish_roi(engine, settings, "run", now=now)):
        assert isinstance(made, Published)  # a new day: the reports are rebuilt


def test_each_day_keeps_one_snapshot_and_old_days_are_dropped(migrated_engine: Engine, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTS_DIR", str(tmp_path / "exports"))
    with migrated_engine.begin() as conn:
        _write_org(conn, seed=4, people_n=120)
    base = load_settings(ROOT / "data" / "sync.yaml")
    settings = base.model_copy(update={"funnel": base.funnel.model_copy(update={"history_days": 3})})
    exports = tmp_path / "exports"

    _publish(migrated_engine, settings, DAY_ONE)
    _publish(migrated_engine, settings, DAY_ONE + timedelta(days=1))
    with migrated_engine.connect() as conn:
        days = _days(conn, funnel_history)
        assert list(days) == [date(2026, 6, 1), date(2026, 6, 2)] and list(_days(conn, roi_history)) == list(days)
        assert _files(exports / "funnel") == {day.isoformat(): count for day, count in days.items()}
        assert _files(exports / "roi") == {day.isoformat(): count for day, count in _days(conn, roi_history).items()}
    # Two days of snapshots make a trend chart.
    assert (exports / "funnel_trend.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (exports / "roi_trend.png").exists()

    _publish(migrated_engine, settings, DAY_ONE + timedelta(days=4))  # keeps days 3 to 5: one and two go
    with migrated_engine.connect() as conn:
        latest_funnel = conn.execute(sa.select(sa.func.count()).select_from(funnel)).scalar_one()
        latest_roi = conn.execute(sa.select(sa.func.count()).select_from(roi)).scalar_one()
        assert _days(conn, funnel_history) == {date(2026, 6, 5): latest_funnel} and latest_funnel > 0
        assert _days(conn, roi_history) == {date(2026, 6, 5): latest_roi} and latest_roi > 0
        period_end = conn.execute(sa.select(funnel_history.c.period_end).limit(1)).scalar_one()
    assert period_end.date() == date(2026, 6, 5)
    assert _files(exports / "funnel") == {"2026-06-05": latest_funnel}
    assert _files(exports / "roi") == {"2026-06-05": latest_roi}
    assert sorted(p.name for p in (exports / "funnel").iterdir()) == ["as_of=2026-06-05"]
    # One day left after the drop: no trend (the one of days one and two is gone, see below).
    assert not (exports / "funnel_trend.png").exists() and not (exports / "roi_trend.png").exists()
    # The file beside the partitions is always the latest.
    assert duckdb.sql(f"SELECT COUNT(*) FROM read_parquet('{exports / 'funnel.parquet'}')").fetchone() == (
        latest_funnel,)


def test_a_rerun_on_the_same_day_replaces_that_days_snapshot(migrated_engine: Engine) -> None:
    rows = pa.table({"dimension": ["overall"], "segment": ["all"], "stage": ["won"], "stage_order": [5],
                     "people": [1], "from_previous": [1], "entered_directly": [0], "conversion_rate": [1.0],
                     "rate_from_audience": [0.5], "small_sample": [True], "amount": [10.0],
                     "period_start": [DAY_ONE - timedelta(days=90)], "period_end": [DAY_ONE]})
    day = DAY_ONE.date()
    with migrated_engine.begin() as conn:
        assert replace_snapshot(conn, funnel_history, rows, day - timedelta(days=1), keep_from=day) == 1
        assert replace_snapshot(conn, funnel_history, rows, day, keep_from=day) == 1
        again = rows.set_column(rows.schema.get_field_index("people"), "people", pa.array([7]))
        assert replace_snapshot(conn, funnel_history, again, day, keep_from=day - timedelta(days=5)) == 1
        stored = conn.execute(sa.select(funnel_history.c.as_of, funnel_history.c.people)).all()
    assert stored == [(day, 7)]  # the day before was already older than keep_from when day one was written
