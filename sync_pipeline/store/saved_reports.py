"""Saved-report rows in the marketing database: each report's latest detail rows, and how its last pull went."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from sync_pipeline.store.tables import report_pulls, report_rows
from sync_pipeline.store.upsert import bulk_upsert
from sync_pipeline.store.versions import bump, report_dataset


def write_report(conn: sa.Connection, report_name: str, report_id: str, rows: list[dict[str, Any]],
                 crm_ids: list[str | None], *, total_rows: int | None, truncated: bool, pulled_at: datetime) -> int:
    """Replace the stored rows of a report with this run's rows, and record how the pull went. Rows equal to the
    stored ones (in order) are left alone, so the report's version moves only when its rows changed."""
    stored = conn.execute(sa.select(report_rows.c.crm_id, report_rows.c.cells)
                          .where(report_rows.c.report_name == report_name).order_by(report_rows.c.row_number)).all()
    same = [(crm_id, cells) for crm_id, cells in stored] == list(zip(crm_ids, rows, strict=True))
    if not same:
        _replace_rows(conn, report_name, rows, crm_ids, pulled_at)
    bulk_upsert(conn, report_pulls, [{"report_name": report_name, "report_id": report_id, "rows": len(rows),
                                      "total_rows": total_rows, "truncated": truncated, "pulled_at": pulled_at}],
                ["report_name"])
    return len(rows)


def _replace_rows(conn: sa.Connection, report_name: str, rows: list[dict[str, Any]], crm_ids: list[str | None],
                  pulled_at: datetime) -> None:
    bump(conn, report_dataset(report_name))
    conn.execute(sa.delete(report_rows).where(report_rows.c.report_name == report_name))
    if rows:
        bulk_upsert(conn, report_rows, [
            {"report_name": report_name, "row_number": number, "crm_id": crm_id, "cells": row, "pulled_at": pulled_at}
            for number, (row, crm_id) in enumerate(zip(rows, crm_ids, strict=True), start=1)
        ], ["report_name", "row_number"])


def read_report_rows(conn: sa.Connection, report_name: str) -> pd.DataFrame:
    return pd.read_sql(sa.select(report_rows.c.crm_id).where(report_rows.c.report_name == report_name), conn)
