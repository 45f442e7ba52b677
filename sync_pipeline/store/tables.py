"""The marketing database's tables, as SQLAlchemy metadata.

The Alembic migrations under ``migrations/versions`` create exactly these tables (a test compares the migrated
schema with this metadata on SQLite and PostgreSQL). The migrations spell their tables out rather than importing
this module, so that an old migration keeps creating what it created when this file changes: a schema change is
an edit here *and* a new migration.

Timestamps are :class:`UtcDateTime`: stored as ``timestamptz`` on PostgreSQL and always aware UTC in Python.
"""

from __future__ import annotations

import sqlalchemy as sa

from sync_pipeline.store.types import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so later migrations can drop or alter them by name on every backend."""

SALESFORCE_ID_LENGTH = 18
OBJECT_NAME_LENGTH = 80  # API names of sObjects, standard and custom (40 + namespace + __c)
FIELD_NAME_LENGTH = 255  # a field path such as Account.Name, or a marketing column name
RUN_ID_LENGTH = 64  # a Dagster run id is a 36-character UUID; room for other callers' ids
SHA256_HEX_LENGTH = 64
RECORD_ID_LENGTH = 255

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# The Salesforce org this marketing database is bound to (one row); data of two orgs never mixes.
org_state = sa.Table(
    "org_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1: one org per database
    sa.Column("org_id", sa.String(SALESFORCE_ID_LENGTH), nullable=False),
    sa.Column("org_name", sa.String(255), nullable=False),
    sa.Column("is_sandbox", sa.Boolean, nullable=False),
    sa.Column("instance_host", sa.String(255), nullable=False),
    sa.Column("first_connected_at", UtcDateTime, nullable=False),
    sa.Column("last_connected_at", UtcDateTime, nullable=False),
)

# Per Salesforce object: where the last committed pull ended, and what it pulled.
sync_state = sa.Table(
    "sync_state",
    metadata,
    sa.Column("object_name", sa.String(OBJECT_NAME_LENGTH), primary_key=True),
    sa.Column("cursor", UtcDateTime, nullable=True),  # SystemModstamp upper bound of the last committed pull
    sa.Column("cursor_id", sa.String(SALESFORCE_ID_LENGTH), nullable=True),  # the last Id at the cursor (tie-break)
    sa.Column("last_full_sync_at", UtcDateTime, nullable=True),
    sa.Column("mapped_fields_hash", sa.String(SHA256_HEX_LENGTH), nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("last_deleted_check_at", UtcDateTime, nullable=True),  # the last getDeleted call (once a day)
)

# Values that fail validation now, with the reason and the run that first refused them; the rest of their batch
# went through. store/quarantine.py keeps one row per problem and deletes it once the value no longer fails.
quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(RUN_ID_LENGTH), nullable=False),
    sa.Column("object_name", sa.String(OBJECT_NAME_LENGTH), nullable=False),
    sa.Column("record_id", sa.String(RECORD_ID_LENGTH), nullable=True),  # wide: quarantine must never refuse a row
    sa.Column("field", sa.String(FIELD_NAME_LENGTH), nullable=False),
    sa.Column("value", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("quarantined_at", UtcDateTime, nullable=False),
    sa.Column("source", sa.Text, nullable=True),  # the event file a row came from; NULL for pulled records
    sa.Index("ix_quarantine_object_name_record_id", "object_name", "record_id"),
    sa.Index("ix_quarantine_object_name_source", "object_name", "source"),
)

# One row per person (contact_key), built from Salesforce Leads and Contacts. Mapped custom fields are added as
# columns at run time (store/audience.py); behavioral_score belongs to the marketing side (scoring writes it).
all_contacts = sa.Table(
    "all_contacts",
    metadata,
    sa.Column("contact_key", sa.String(SALESFORCE_ID_LENGTH), primary_key=True),
    sa.Column("email", sa.Text, nullable=True, index=True),
    sa.Column("crm_type", sa.String(16), nullable=False),
    sa.Column("crm_id", sa.String(SALESFORCE_ID_LENGTH), nullable=False, index=True),
    sa.Column("first_name", sa.Text, nullable=True),
    sa.Column("last_name", sa.Text, nullable=True),
    sa.Column("company", sa.Text, nullable=True),
    sa.Column("owner_id", sa.String(SALESFORCE_ID_LENGTH), nullable=True),
    sa.Column("behavioral_score", sa.Float, nullable=True),
    sa.Column("lead_score", sa.Float, nullable=True),
    sa.Column("opted_out", sa.Boolean, nullable=False),
    sa.Column("hard_bounced", sa.Boolean, nullable=False),
    sa.Column("hard_bounce_reason", sa.Text, nullable=True),
    sa.Column("hard_bounced_at", UtcDateTime, nullable=True),
    sa.Column("is_active", sa.Boolean, nullable=False),
    sa.Column("system_modstamp", UtcDateTime, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("last_activity_at", UtcDateTime, nullable=True),  # the latest engagement event (scoring writes it)
    sa.Column("change_seq", sa.BigInteger, nullable=True, index=True),  # the all_contacts version that last changed it
)

# Every Salesforce Lead or Contact and the person it belongs to: keys stay stable from one sync to the next.
contact_links = sa.Table(
    "contact_links",
    metadata,
    sa.Column("crm_id", sa.String(SALESFORCE_ID_LENGTH), primary_key=True),
    sa.Column("crm_type", sa.String(16), nullable=False),
    sa.Column("contact_key", sa.String(SALESFORCE_ID_LENGTH), nullable=False, index=True),
    sa.Column("email", sa.Text, nullable=True, index=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("change_seq", sa.BigInteger, nullable=True, index=True),  # the all_contacts version that last changed it
)

# Marketing list membership; the list's columns are added at run time. Removed members stay as inactive history.
list_members = sa.Table(
    "list_members",
    metadata,
    sa.Column("list_name", sa.String(255), primary_key=True),
    sa.Column("crm_id", sa.String(SALESFORCE_ID_LENGTH), primary_key=True),
    sa.Column("contact_key", sa.String(SALESFORCE_ID_LENGTH), nullable=True, index=True),
    sa.Column("crm_type", sa.String(16), nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False),
    sa.Column("added_at", UtcDateTime, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=True),
    sa.Column("removed_at", UtcDateTime, nullable=True),
)

# Salesforce Users who own records (owner mapping), refreshed every sync.
sales_users = sa.Table(
    "sales_users",
    metadata,
    sa.Column("user_id", sa.String(SALESFORCE_ID_LENGTH), primary_key=True),
    sa.Column("name", sa.Text, nullable=True),
    sa.Column("email", sa.Text, nullable=True),
    sa.Column("username", sa.Text, nullable=True),
    sa.Column("title", sa.Text, nullable=True),
    sa.Column("department", sa.Text, nullable=True),
    sa.Column("is_active", sa.Boolean, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# The detail rows of saved reports (cells keyed by report column), and how each report's last pull went.
report_rows = sa.Table(
    "report_rows",
    metadata,
    sa.Column("report_name", sa.String(255), primary_key=True),
    sa.Column("row_number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("crm_id", sa.String(SALESFORCE_ID_LENGTH), nullable=True),
    sa.Column("cells", sa.JSON(none_as_null=True), nullable=False),
    sa.Column("pulled_at", UtcDateTime, nullable=False),
)
report_pulls = sa.Table(
    "report_pulls",
    metadata,
    sa.Column("report_name", sa.String(255), primary_key=True),
    sa.Column("report_id", sa.String(SALESFORCE_ID_LENGTH), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("total_rows", sa.Integer, nullable=True),
    sa.Column("truncated", sa.Boolean, nullable=False),
    sa.Column("pulled_at", UtcDateTime, nullable=False),
)

# Engagement events from the marketing side (drop folder), once each; and the files already read.
engagement_events = sa.Table(
    "engagement_events",
    metadata,
    sa.Column("event_id", sa.String(255), primary_key=True),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("email", sa.Text, nullable=False, index=True),
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    sa.Column("campaign", sa.Text, nullable=True),
    sa.Column("email_name", sa.Text, nullable=True),
    sa.Column("url", sa.Text, nullable=True),
    sa.Column("form", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("ingested_at", UtcDateTime, nullable=False),
    sa.Column("change_seq", sa.BigInteger, nullable=True, index=True),  # the events version that stored it
)
ingested_files = sa.Table(
    "ingested_files",
    metadata,
    sa.Column("path", sa.String(1024), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("modified_at", sa.Float, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("rejected", sa.Integer, nullable=False),
    sa.Column("ingested_at", UtcDateTime, nullable=False),
)

# The value of each (record, field) last pushed successfully: the push sends only what differs from it.
pushed_state = sa.Table(
    "pushed_state",
    metadata,
    sa.Column("crm_id", sa.String(SALESFORCE_ID_LENGTH), primary_key=True),
    sa.Column("field", sa.String(FIELD_NAME_LENGTH), primary_key=True),
    sa.Column("value", sa.Text, nullable=True),
    sa.Column("pushed_at", UtcDateTime, nullable=False),
)

# Every record a push sent, with Salesforce's answer.
push_results = sa.Table(
    "push_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(RUN_ID_LENGTH), nullable=False, index=True),
    sa.Column("object_name", sa.String(OBJECT_NAME_LENGTH), nullable=False),
    sa.Column("operation", sa.String(16), nullable=False),
    sa.Column("record_key", sa.String(RECORD_ID_LENGTH), nullable=False),
    sa.Column("crm_id", sa.String(SALESFORCE_ID_LENGTH), nullable=True),
    sa.Column("success", sa.Boolean, nullable=False),
    # pushed | refused | locked | deferred (this run's API budget) | unsent (connection, login, server, daily limit)
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("error_code", sa.String(80), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("pushed_at", UtcDateTime, nullable=False),
)

# Append-only: each change of a person's email consent, once, with the system it was made in and the evidence.
consent_ledger = sa.Table(
    "consent_ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("contact_key", sa.String(SALESFORCE_ID_LENGTH), nullable=False, index=True),
    sa.Column("crm_id", sa.String(SALESFORCE_ID_LENGTH), nullable=True),
    sa.Column("system", sa.String(16), nullable=False),
    sa.Column("old_value", sa.Boolean, nullable=True),
    sa.Column("new_value", sa.Boolean, nullable=False),
    sa.Column("changed_at", UtcDateTime, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
)

# Two-way fields changed on both sides, and how the conflict rule decided.
push_conflicts = sa.Table(
    "push_conflicts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("crm_id", sa.String(SALESFORCE_ID_LENGTH), nullable=False),
    sa.Column("field", sa.String(FIELD_NAME_LENGTH), nullable=False),
    sa.Column("marketing_value", sa.Text, nullable=True),
    sa.Column("salesforce_value", sa.Text, nullable=True),
    sa.Column("winner", sa.String(16), nullable=False),
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("decided_at", UtcDateTime, nullable=False),
)

# Engagement events written to Salesforce as Tasks, by their stable key (a retry never makes a second Task).
pushed_activities = sa.Table(
    "pushed_activities",
    metadata,
    sa.Column("activity_key", sa.String(80), primary_key=True),
    sa.Column("event_id", sa.String(255), nullable=False),
    sa.Column("task_id", sa.String(SALESFORCE_ID_LENGTH), nullable=True),
    sa.Column("pushed_at", UtcDateTime, nullable=False),
)

# Values Salesforce refused (validation rule, duplicate rule, converted Lead...): not sent again until they change.
push_refusals = sa.Table(
    "push_refusals",
    metadata,
    sa.Column("crm_id", sa.String(RECORD_ID_LENGTH), primary_key=True),  # a record's Id, or a Task's or Lead's key
    sa.Column("field", sa.String(FIELD_NAME_LENGTH), primary_key=True),
    sa.Column("value", sa.Text, nullable=True),  # JSON
    sa.Column("error_code", sa.String(80), nullable=False),
    sa.Column("record_stamp", UtcDateTime, nullable=True),  # the record's SystemModstamp when refused
    sa.Column("refused_at", UtcDateTime, nullable=False),
)

# Field edits made on the marketing side (by a form, an import or an analyst), waiting for the push to send them.
# status: pending → pushed | salesforce_won (a two-way conflict the rule gave to Salesforce) | not_pushable (the
# settings do not let the field be pushed) | rejected (Salesforce refused it; push_results has the error).
marketing_edits = sa.Table(
    "marketing_edits",
    metadata,
    sa.Column("edit_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("contact_key", sa.String(SALESFORCE_ID_LENGTH), nullable=False, index=True),
    sa.Column("column_name", sa.String(FIELD_NAME_LENGTH), nullable=False),
    sa.Column("value", sa.Text, nullable=True),  # JSON, so the type survives
    sa.Column("old_value", sa.Text, nullable=True),  # JSON: what All Contacts held when the edit was made
    sa.Column("changed_at", UtcDateTime, nullable=False),
    sa.Column("source", sa.String(80), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("settled_at", UtcDateTime, nullable=True),
)


# --- analyst outputs (rebuilt whole on every run; the same rows go to data/exports/*.parquet) ----------------------

# Per owner, the top prospects by behavioral score (see rules/hot_prospects.py).
hot_prospects = sa.Table(
    "hot_prospects",
    metadata,
    sa.Column("owner_id", sa.String(SALESFORCE_ID_LENGTH), nullable=True),
    sa.Column("owner_name", sa.Text, nullable=True),
    sa.Column("owner_email", sa.Text, nullable=True),
    sa.Column("owner_active", sa.Boolean, nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("contact_key", sa.String(SALESFORCE_ID_LENGTH), primary_key=True),
    sa.Column("crm_type", sa.String(16), nullable=False),
    sa.Column("crm_id", sa.String(SALESFORCE_ID_LENGTH), nullable=False),
    sa.Column("email", sa.Text, nullable=True),
    sa.Column("first_name", sa.Text, nullable=True),
    sa.Column("last_name", sa.Text, nullable=True),
    sa.Column("company", sa.Text, nullable=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("last_activity_at", UtcDateTime, nullable=True),
    sa.Column("sources", sa.Text, nullable=False),
    sa.Column("opted_out", sa.Boolean, nullable=False),
    sa.Column("hard_bounced", sa.Boolean, nullable=False),
)

# People per funnel stage, overall, by lead source and by campaign (see rules/funnel.py).
funnel = sa.Table(
    "funnel",
    metadata,
    sa.Column("dimension", sa.String(16), primary_key=True),
    sa.Column("segment", sa.String(255), primary_key=True),
    sa.Column("stage", sa.String(32), primary_key=True),
    sa.Column("stage_order", sa.Integer, nullable=False),
    sa.Column("people", sa.Integer, nullable=False),
    sa.Column("from_previous", sa.Integer, nullable=False, server_default="0"),
    sa.Column("entered_directly", sa.Integer, nullable=False, server_default="0"),
    sa.Column("conversion_rate", sa.Float, nullable=True),
    sa.Column("rate_from_audience", sa.Float, nullable=True),
    sa.Column("small_sample", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("amount", sa.Float, nullable=True),
    sa.Column("period_start", UtcDateTime, nullable=False),
    sa.Column("period_end", UtcDateTime, nullable=False),
)

# Attributed amounts and costs of a campaign's return (rules/roi.py); null where they do not apply.
ROI_MONEY_COLUMNS = ("won_amount_first_touch", "won_amount_last_touch", "won_amount_even_split",
                     "pipeline_amount_even_split", "budgeted_cost", "actual_cost", "cost", "return_on_cost",
                     "cost_per_opportunity", "cost_per_won")
# Campaign and lead-source return: people touched, opportunities influenced, pipeline and won amounts (rules/roi.py).
roi = sa.Table(
    "roi",
    metadata,
    sa.Column("dimension", sa.String(16), primary_key=True),
    sa.Column("segment", sa.String(255), primary_key=True),
    sa.Column("campaign_id", sa.String(SALESFORCE_ID_LENGTH), nullable=True),
    sa.Column("contacts_touched", sa.Integer, nullable=False),
    sa.Column("opportunities_influenced", sa.Integer, nullable=False),
    sa.Column("open_opportunities", sa.Integer, nullable=False),
    sa.Column("won_opportunities", sa.Integer, nullable=False),
    sa.Column("closed_opportunities", sa.Integer, nullable=False, server_default="0"),
    sa.Column("pipeline_amount", sa.Float, nullable=False),
    sa.Column("won_amount", sa.Float, nullable=False),
    sa.Column("win_rate", sa.Float, nullable=True),
    *(sa.Column(name, sa.Float, nullable=True) for name in ROI_MONEY_COLUMNS),
    sa.Column("period_start", UtcDateTime, nullable=True),
    sa.Column("period_end", UtcDateTime, nullable=True),
)


def _history(table: sa.Table) -> sa.Table:
    """A report's daily snapshots: its columns, keyed by the as-of date first."""
    columns = [sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in table.columns]
    return sa.Table(f"{table.name}_history", metadata, sa.Column("as_of", sa.Date, primary_key=True), *columns)


# One snapshot per report per day (the run's as-of date), kept for funnel.history_days: the trend of each figure.
funnel_history = _history(funnel)
roi_history = _history(roi)


# Change tracking (see store/versions.py): a version per dataset, bumped in the transaction that changes it.
data_versions = sa.Table(
    "data_versions",
    metadata,
    sa.Column("dataset", sa.String(255), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("changed_at", UtcDateTime, nullable=False),
)

# Per derived step: the input versions its last complete run consumed, and what it reported then (JSON both).
step_watermarks = sa.Table(
    "step_watermarks",
    metadata,
    sa.Column("step", sa.String(255), primary_key=True),
    sa.Column("inputs", sa.Text, nullable=False),
    sa.Column("report", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(RUN_ID_LENGTH), nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)
