"""`make demo` end to end: exit 0, a summary that agrees with the tables, and exports readable without our code."""

from __future__ import annotations

import re

import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa

from sync_pipeline.rules.export_schemas import FUNNEL_SCHEMA, HOT_PROSPECTS_SCHEMA, ROI_SCHEMA
from sync_pipeline_tests.conftest import DemoRun


def _count(run: DemoRun, sql: str) -> int:
    engine = sa.create_engine(run.database_url)
    with engine.connect() as conn:
        value = conn.execute(sa.text(sql)).scalar_one()
    engine.dispose()
    return int(value)


def _rows(run: DemoRun, sql: str) -> list[tuple]:
    engine = sa.create_engine(run.database_url)
    with engine.connect() as conn:
        rows = [tuple(row) for row in conn.execute(sa.text(sql))]
    engine.dispose()
    return rows


def test_the_demo_exits_zero_and_prints_the_summary(demo_run: DemoRun) -> None:
    out = demo_run.stdout
    assert demo_run.returncode == 0, demo_run.stdout[-3000:] + demo_run.stderr[-3000:]
    assert "salesforce_sync succeeded" in out and "Emulator stopped." in out
    assert "logins not counted; logged in by jwt at API 65.0)" in out  # the demo app's JWT login
    pulled = next(line for line in out.splitlines() if line.startswith("Pulled (full):"))
    assert "lead 3,000" in pulled and "contact 750" in pulled
    people = _count(demo_run, "SELECT COUNT(*) FROM all_contacts")
    assert f"Audience:   {people:,} people in all_contacts" in out
    quarantined = _count(demo_run, "SELECT COUNT(*) FROM quarantine")
    assert f"{quarantined:,} values quarantined" in out and quarantined > 0
    tasks = _count(demo_run, "SELECT COUNT(*) FROM pushed_activities")
    assert f"Activities: {tasks:,} Tasks upserted (0 refused)" in out and tasks > 0
    assert re.search(r"\d[\d,]* consent changes recorded in consent_ledger this run", out)
    prospects = _count(demo_run, "SELECT COUNT(*) FROM hot_prospects")
    assert f"Hot prospects ({prospects:,} in hot_prospects; the top 5)" in out and prospects > 0
    assert re.search(r"Funnel: +in audience [\d,]+ → engaged [\d,]+ \(\d+%\)( \+[\d,]+ directly)? → marketing "
                     r"qualified", out)
    top = re.search(r"ROI: +top campaign by return (.+): ([+-]\d+)% on cost ([\d,]+) \(won ([\d,]+), even split\)",
                    out)
    assert top, out
    best = _rows(demo_run, "SELECT segment, return_on_cost, cost FROM roi WHERE return_on_cost IS NOT NULL "
                           "ORDER BY return_on_cost DESC")[0]
    assert top.group(1) == best[0] and int(top.group(2)) == round(best[1] * 100)
    assert int(top.group(3).replace(",", "")) == round(best[2])
    assert "data/exports/hot_prospects.parquet" in out
    assert "password" not in out.lower() and "DEMOTOKEN" not in out  # the login never shows


def test_the_exports_open_with_pandas_and_pyarrow_alone(demo_run: DemoRun) -> None:
    exports = demo_run.folder / "data" / "exports"
    for name, schema, table in (("hot_prospects", HOT_PROSPECTS_SCHEMA, "hot_prospects"),
                                ("funnel", FUNNEL_SCHEMA, "funnel"), ("roi", ROI_SCHEMA, "roi")):
        read = pq.read_table(exports / f"{name}.parquet")
        assert read.schema.names == schema.names
        assert [f.type for f in read.schema] == [f.type for f in schema]
        assert read.num_rows == _count(demo_run, f"SELECT COUNT(*) FROM {table}") > 0
        frame = pd.read_parquet(exports / f"{name}.parquet")
        assert len(frame) == read.num_rows
        assert (exports / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The data dictionary beside the files lists exactly each file's columns, with a meaning for each.
    dictionary = (exports / "data_dictionary.md").read_text(encoding="utf-8")
    for name in ("hot_prospects", "funnel", "roi"):
        section = dictionary.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ") and "---" not in line]
        assert [row[0].lstrip("| ") for row in rows[1:]] == pq.read_schema(exports / f"{name}.parquet").names
        assert all(row[2].rstrip(" |") for row in rows[1:])
    funnel = pd.read_parquet(exports / "funnel.parquet")
    overall = funnel[funnel["dimension"] == "overall"].sort_values("stage_order")
    assert list(overall["stage"]) == ["in_audience", "engaged", "marketing_qualified", "sales_accepted", "won"]
    # Each stage by its own criterion: the audience is the active, emailable people; the qualified are exactly
    # those scoring at the threshold (15 in the demo settings) or above, whatever else they reached.
    assert int(overall["people"].iloc[0]) == _count(
        demo_run, "SELECT COUNT(*) FROM all_contacts WHERE is_active AND NOT opted_out AND NOT hard_bounced")
    assert int(overall["people"].iloc[2]) == _count(
        demo_run, "SELECT COUNT(*) FROM all_contacts WHERE is_active AND behavioral_score >= 15")
    assert (overall["from_previous"] + overall["entered_directly"] == overall["people"]).all()
