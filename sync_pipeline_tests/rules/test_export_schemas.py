"""The Parquet schemas of the analyst outputs, and frames cast to them (rules/export_schemas.py)."""

import functools
import math
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sync_pipeline.rules.export_schemas import FUNNEL_SCHEMA, HOT_PROSPECTS_SCHEMA, ROI_SCHEMA, to_arrow
from sync_pipeline.rules.funnel import FUNNEL_COLUMNS, build_funnel
from sync_pipeline.rules.hot_prospects import HOT_PROSPECT_COLUMNS, rank_hot_prospects
from sync_pipeline.rules.roi import ROI_COLUMNS, build_roi
from sync_pipeline.settings.model import HotProspectSettings, ReportMapping

NOW = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


@functools.cache
def hot_prospects_frame():
    people = pd.DataFrame(
        {
            "contact_key": ["K1", "K2"], "email": ["a@x.com", None], "crm_type": ["Lead", "Contact"],
            "crm_id": ["00QK1", "003K2"], "first_name": ["Ann", None], "last_name": ["Lee", "Roe"],
            "company": ["Acme", None], "owner_id": ["U1", None], "behavioral_score": [42.5, 12.0],
            "lead_score": [43.0, 12.0], "last_activity_at": pd.to_datetime([NOW, NOW], utc=True),
            "opted_out": [False, True], "hard_bounced": [True, False], "is_active": [True, True],
        }
    )
    sources = pd.DataFrame({"contact_key": ["K1", "K2"], "source": ["assigned_leads", "assigned_contacts"]})
    users = pd.DataFrame({"user_id": ["U1"], "name": ["Bea"], "email": ["bea@corp.com"], "is_active": [True]})
    return rank_hot_prospects(people, sources, users, HotProspectSettings(), NOW)


@functools.cache
def funnel_frame():
    people = pd.DataFrame(
        {"contact_key": ["K1"], "crm_type": ["Lead"], "behavioral_score": [5.0],
         "last_activity_at": pd.to_datetime([NOW], utc=True), "is_active": [True]}
    )
    links = pd.DataFrame({"crm_id": ["00QK1"], "crm_type": ["Lead"], "contact_key": ["K1"]})
    empty = pd.DataFrame()
    return build_funnel(people, {"K1"}, links, empty, empty, empty, empty, ReportMapping(), mql_score=1,
                        period_start=datetime(2026, 1, 1, tzinfo=UTC), period_end=NOW)


@functools.cache
def roi_frame():
    people = pd.DataFrame({"contact_key": ["K1"], "is_active": [True], "lead_source": ["Web"]})
    links = pd.DataFrame({"crm_id": ["003K1"], "crm_type": ["Contact"], "contact_key": ["K1"]})
    opportunities = pd.DataFrame(
        {"id": ["O1"], "is_deleted": [False], "amount": ["12500"], "closedate": ["2026-02-01"], "isclosed": ["true"],
         "iswon": ["true"], "leadsource": ["Web"], "campaignid": ["C1"]}
    )
    campaigns = pd.DataFrame({"id": ["C1"], "is_deleted": [False], "name": ["Webinar"]})
    empty = pd.DataFrame()
    return build_roi(people, links, opportunities, empty, empty, campaigns, ReportMapping(),
                     period_start=datetime(2026, 1, 1, tzinfo=UTC), period_end=NOW)


@pytest.mark.parametrize(
    ("schema", "columns"),
    [(HOT_PROSPECTS_SCHEMA, HOT_PROSPECT_COLUMNS), (FUNNEL_SCHEMA, FUNNEL_COLUMNS), (ROI_SCHEMA, ROI_COLUMNS)],
)
def test_schemas_follow_the_report_columns_and_describe_every_field(schema, columns):
    assert schema.names == list(columns)
    assert all(field.metadata and field.metadata[b"description"] for field in schema)


def test_stable_types():
    assert HOT_PROSPECTS_SCHEMA.field("rank").type == pa.int64()
    assert HOT_PROSPECTS_SCHEMA.field("score").type == pa.float64()
    assert HOT_PROSPECTS_SCHEMA.field("last_activity_at").type == pa.timestamp("us", tz="UTC")
    assert HOT_PROSPECTS_SCHEMA.field("opted_out").type == pa.bool_()
    assert FUNNEL_SCHEMA.field("people").type == pa.int64()
    assert FUNNEL_SCHEMA.field("period_end").type == pa.timestamp("us", tz="UTC")
    assert ROI_SCHEMA.field("won_amount").type == pa.float64()
    assert ROI_SCHEMA.field("campaign_id").type == pa.string()


@pytest.mark.parametrize(
    ("make", "schema"),
    [(hot_prospects_frame, HOT_PROSPECTS_SCHEMA), (funnel_frame, FUNNEL_SCHEMA), (roi_frame, ROI_SCHEMA)],
    ids=["hot_prospects", "funnel", "roi"],
)
def test_parquet_round_trip_keeps_schema_and_values(make, schema, tmp_path):
    frame = make()
    assert not frame.empty
    table = to_arrow(frame, schema)
    path = tmp_path / "out.parquet"
    pq.write_table(table, path)
    back = pq.read_table(path)
    assert back.schema.equals(schema, check_metadata=True)
    assert back.equals(table)
    assert back.num_rows == len(frame)
    for name in schema.names:
        for read, original in zip(back.column(name).to_pylist(), frame[name], strict=True):
            if original is None or (isinstance(original, float) and math.isnan(original)):
                assert read is None, name
            else:
                assert read == original, name


def test_round_trip_values_by_hand(tmp_path):
    table = to_arrow(hot_prospects_frame(), HOT_PROSPECTS_SCHEMA)
    pq.write_table(table, tmp_path / "hot.parquet")
    rows = pq.read_table(tmp_path / "hot.parquet").to_pylist()
    assert [row["contact_key"] for row in rows] == ["K1", "K2"]
    assert rows[0]["owner_name"] == "Bea" and rows[0]["rank"] == 1 and rows[0]["score"] == 42.5
    assert rows[0]["hard_bounced"] is True and rows[1]["opted_out"] is True
    assert rows[1]["owner_id"] is None and rows[1]["owner_active"] is False
    assert rows[0]["last_activity_at"] == NOW  # microseconds kept, UTC


def test_a_missing_column_is_named():
    frame = roi_frame().drop(columns="won_amount")
    with pytest.raises(ValueError, match="'won_amount'"):
        to_arrow(frame, ROI_SCHEMA)


def test_a_value_that_cannot_be_cast_names_the_column():
    frame = roi_frame().assign(contacts_touched="many")
    with pytest.raises(ValueError, match="'contacts_touched'"):
        to_arrow(frame, ROI_SCHEMA)
    with pytest.raises(ValueError, match="'opportunities_influenced'"):
        to_arrow(roi_frame().assign(opportunities_influenced=1.5), ROI_SCHEMA)


def test_extra_columns_are_dropped_nulls_kept_and_naive_datetimes_are_utc():
    frame = funnel_frame().head(5).assign(extra=1, people=[float("nan"), 1.0, 1.0, 0.0, 0.0])
    frame["period_start"] = datetime(2026, 1, 1)  # naive: UTC
    table = to_arrow(frame, FUNNEL_SCHEMA)
    assert table.schema.names == list(FUNNEL_COLUMNS)
    assert table.column("people").to_pylist() == [None, 1, 1, 0, 0]
    assert table.column("period_start").to_pylist()[0] == datetime(2026, 1, 1, tzinfo=UTC)
