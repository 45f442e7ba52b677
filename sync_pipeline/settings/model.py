"""The pydantic model of ``data/sync.yaml``.

Every block is frozen and rejects unknown keys: a misspelt key would otherwise be ignored silently and the sync
would run with a default the engineer did not choose. Rules that concern one block (a field mapping, a list) live
here as validators, so pydantic reports them together with the type errors of the whole file; rules that span blocks
live in ``rules.py``.

Decisions where the design is silent:
- An omitted section takes its defaults (``contact_mapping`` and ``lists`` default to empty, which the cross-block
  rules then report as "email not mapped" and so on).
- ``direction`` defaults to ``pull``, except for score fields, which always push and default to ``push``.
- ``allow_push: true`` on a ``pull`` field keeps the regular sync from pushing it but lets a list that names the field
  in ``push.update_fields`` write it. Push and two-way fields may always be pushed.
- Choice values are case-insensitive and accept ``-`` or spaces for ``_`` (``Multi-Text`` is ``multi_text``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sync_pipeline.settings.cron import CRON_HELP, is_valid_cron
from sync_pipeline.settings.errors import RuleViolation, Violation
from sync_pipeline.settings.names import slug

FieldTypeName = Literal["boolean", "date", "datetime", "text", "number", "score", "email", "multi_text"]
DirectionName = Literal["push", "pull", "two_way"]
OptOutDirectionName = Literal["push", "pull", "both"]
ConflictRuleName = Literal["most_recent", "salesforce_wins", "marketing_wins"]
EventTypeName = Literal[
    "email_send", "email_open", "email_click", "form_submit", "page_visit", "unsubscribe", "hard_bounce"
]
ActivityTypeName = Literal["form_submit", "email_send", "email_open", "email_click", "page_visit"]
ListObjectName = Literal["Lead", "Contact"]

FIELD_TYPES: tuple[str, ...] = get_args(FieldTypeName)
EVENT_TYPES: tuple[str, ...] = get_args(EventTypeName)
ACTIVITY_TYPES: tuple[str, ...] = get_args(ActivityTypeName)
LIST_OBJECTS: tuple[str, ...] = get_args(ListObjectName)
PUSHING_DIRECTIONS = frozenset({"push", "two_way"})
MINIMUM_API_VERSION = 47.0  # Bulk API 2.0 queries need 47.0 or later

_SALESFORCE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_MARKETING_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_API_VERSION = re.compile(r"^\d{2}\.\d$")


def _choice(value: Any) -> Any:
    """Normalise a choice so that ``Two-Way`` and ``multi text`` read as ``two_way`` and ``multi_text``."""
    if isinstance(value, str):
        return re.sub(r"[\s-]+", "_", value.strip().lower())
    return value


def _salesforce_field(value: str) -> str:
    """Field names end up in SOQL SELECT lists, so only API-name syntax is allowed."""
    name = value.strip()
    if not _SALESFORCE_NAME.match(name):
        raise RuleViolation.single(
            f"{value!r} is not a Salesforce field API name",
            "use the API name (letters, digits, underscores, e.g. Behavior_Score__c), "
            "and Relationship.Field for a parent record's field (e.g. Account.Name)",
        )
    return name


def _marketing_field(value: str) -> str:
    """Marketing field names become columns of all_contacts, so they must be plain lower_snake_case."""
    if not _MARKETING_NAME.match(value):
        suggestion = slug(value) or "my_field"
        raise RuleViolation.single(
            f"{value!r} is not a usable marketing field name",
            f"use lower_snake_case (it becomes a column of all_contacts), e.g. {suggestion}",
        )
    return value


def _list_object(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    for name in LIST_OBJECTS:
        if value.strip().lower() == name.lower():
            return name
    raise RuleViolation.single(
        f"unknown object {value!r} for a list",
        "a list's source object must be Lead or Contact; for other records use {report: <report name>}",
    )


def _api_version_text(value: Any) -> Any:
    """YAML reads an unquoted 62.0 as a number; accept it as the version it obviously means."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{float(value):.1f}"
    return value


def _api_version(value: str) -> str:
    text = value.strip().removeprefix("v")
    if not _API_VERSION.match(text):
        raise RuleViolation.single(f"{value!r} is not a Salesforce API version", 'write it as "NN.N", e.g. "62.0"')
    if float(text) < MINIMUM_API_VERSION:
        raise RuleViolation.single(
            f"API version {text} is too old for Bulk API 2.0 queries",
            f'use "{MINIMUM_API_VERSION}" or later, e.g. "65.0"',
        )
    return text


def _cron(value: str) -> str:
    text = value.strip()
    if not is_valid_cron(text):
        raise RuleViolation.single(f"{value!r} is not a valid cron expression", CRON_HELP)
    return text


SalesforceField = Annotated[str, AfterValidator(_salesforce_field)]
MarketingField = Annotated[str, AfterValidator(_marketing_field)]
NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
CronText = Annotated[str, AfterValidator(_cron)]
ApiVersion = Annotated[str, BeforeValidator(_api_version_text), AfterValidator(_api_version)]
FieldType = Annotated[FieldTypeName, BeforeValidator(_choice)]
Direction = Annotated[DirectionName, BeforeValidator(_choice)]
OptOutDirection = Annotated[OptOutDirectionName, BeforeValidator(_choice)]
ConflictRule = Annotated[ConflictRuleName, BeforeValidator(_choice)]
ListObject = Annotated[ListObjectName, BeforeValidator(_list_object)]


class _Block(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def same_field(left: str | None, right: str | None) -> bool:
    """Salesforce field names are case-insensitive."""
    return left is not None and right is not None and left.lower() == right.lower()


class SalesforceSettings(_Block):
    """How the org is read: API version, full-sync cadence, incremental lookback, Bulk threshold, API budget."""

    # None: the login mode's default (65.0 for the OAuth modes, 64.0 for the legacy password login; settings.login).
    api_version: ApiVersion | None = None
    full_sync_every_days: int = Field(default=14, ge=1)
    lookback_minutes: int = Field(default=10, ge=0)
    bulk_threshold: int = Field(default=10_000, ge=1)
    max_api_share_per_run: float = Field(default=0.10, gt=0, le=1)


class FieldMapping(_Block):
    """One marketing field and the Salesforce field it syncs with on Leads and/or Contacts."""

    lead: SalesforceField | None = None
    contact: SalesforceField | None = None
    type: FieldType
    direction: Direction = "pull"
    allow_push: bool = False
    custom: bool = False

    @model_validator(mode="before")
    @classmethod
    def _score_defaults_to_push(cls, data: Any) -> Any:
        if isinstance(data, dict) and "direction" not in data and _choice(data.get("type")) == "score":
            return {**data, "direction": "push"}
        return data

    @model_validator(mode="after")
    def _check(self) -> FieldMapping:
        violations = [*self._unmapped(), *self._score_pulled(), *self._pushed_through_relationship()]
        if violations:
            raise RuleViolation(violations)
        return self

    def _unmapped(self) -> list[Violation]:
        if self.lead or self.contact:
            return []
        return [Violation((), "maps no Salesforce field", "set lead:, contact:, or both to a field API name")]

    def _score_pulled(self) -> list[Violation]:
        if self.type != "score" or self.direction != "pull":
            return []
        return [
            Violation(
                ("direction",),
                "score fields are always pushed to Salesforce, so direction: pull is not allowed",
                "remove direction (scores default to push) or set direction: push; to stop pushing a score, remove "
                "its mapping",
            )
        ]

    def _pushed_through_relationship(self) -> list[Violation]:
        if not self.may_push:
            return []
        return [
            Violation(
                (side,),
                f"{name!r} is a field of a related record, which Salesforce cannot write through a {obj}",
                f"map a field of {obj} itself" + ("" if self.type == "score" else ", or set direction: pull"),
            )
            for side, obj, name in (("lead", "Lead", self.lead), ("contact", "Contact", self.contact))
            if name and "." in name
        ]

    @property
    def pushes(self) -> bool:
        """The regular sync pushes marketing-side changes of this field."""
        return self.direction in PUSHING_DIRECTIONS

    @property
    def may_push(self) -> bool:
        """Some push (the regular sync, or a list naming it in push.update_fields) may write this field."""
        return self.pushes or self.allow_push

    def field_on(self, object_name: str) -> str | None:
        """The Salesforce field this maps on ``Lead`` or ``Contact`` (None when not mapped there)."""
        return {"lead": self.lead, "contact": self.contact}.get(object_name.lower())


class OptOutSettings(_Block):
    """The email opt-out field and which way opt-outs flow (``both``: pull opt-outs and push unsubscribes)."""

    field: SalesforceField = "HasOptedOutOfEmail"
    direction: OptOutDirection = "both"


class HardBounceSettings(_Block):
    """Where hard bounces are written on Leads and Contacts (always pushed)."""

    field: SalesforceField = "EmailBouncedReason"
    date_field: SalesforceField = "EmailBouncedDate"


def _default_rules() -> dict[EventTypeName, float]:
    return {"email_open": 1, "email_click": 3, "form_submit": 10, "page_visit": 1}


class ScoringSettings(_Block):
    """Points per engagement event type and the half-life of their decay."""

    rules: dict[EventTypeName, float] = Field(default_factory=_default_rules)
    half_life_days: float = Field(default=30, gt=0)


class ListSource(_Block):
    """Where a list's members come from: all Leads or Contacts, a Campaign's members, or a saved report's rows."""

    object: ListObject | None = None
    campaign: NonEmptyText | None = None
    report: NonEmptyText | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ListSource:
        given = [key for key in ("object", "campaign", "report") if getattr(self, key) is not None]
        if len(given) != 1:
            what = "names no source" if not given else f"names several sources ({', '.join(given)})"
            raise RuleViolation.single(
                what, "set exactly one of {object: Lead}, {object: Contact}, {campaign: <name>}, {report: <name>}"
            )
        return self

    @property
    def kind(self) -> Literal["object", "campaign", "report"]:
        if self.object is not None:
            return "object"
        return "campaign" if self.campaign is not None else "report"

    @property
    def name(self) -> str:
        """The object, campaign or report name."""
        return self.object or self.campaign or self.report or ""


class ListPull(_Block):
    """What a sync takes from Salesforce into the list (no fields are updated unless named)."""

    add_new: bool = True
    update_fields: tuple[SalesforceField, ...] = ()
    remove_missing: bool = True


class ListPush(_Block):
    """What a sync writes from the list to Salesforce (nothing unless asked)."""

    add_new: bool = False
    update_fields: tuple[SalesforceField, ...] = ()

    @field_validator("update_fields")
    @classmethod
    def _own_fields_only(cls, fields: tuple[str, ...]) -> tuple[str, ...]:
        violations = [
            Violation(
                (),
                f"{field!r} is a field of a related record, which Salesforce cannot write through a list member",
                f"remove {field} from push.update_fields (it can still be pulled)",
            )
            for field in fields
            if "." in field
        ]
        if violations:
            raise RuleViolation(violations)
        return fields


class ListSettings(_Block):
    """A marketing list synced from Salesforce, with its columns, pull and push options and schedule."""

    name: NonEmptyText
    source: ListSource
    columns: tuple[SalesforceField, ...] = ()
    pull: ListPull = ListPull()
    push: ListPush = ListPush()
    schedule: CronText | None = None

    # Field validators rather than one model validator: they still run when another key of the list (say its
    # source) is broken, so the engineer sees every problem of the list at once.
    @field_validator("columns")
    @classmethod
    def _columns_once(cls, columns: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        violations = []
        for column in columns:
            if column.lower() in seen:
                violations.append(
                    Violation((), f"column {column!r} is listed twice", "keep one (names are case-insensitive)")
                )
            seen.add(column.lower())
        if violations:
            raise RuleViolation(violations)
        return columns

    @field_validator("pull", "push")
    @classmethod
    def _update_fields_are_columns(cls, options: ListPull | ListPush, info: ValidationInfo) -> ListPull | ListPush:
        columns = info.data.get("columns")
        if columns is None:  # the columns themselves are broken and reported
            return options
        known = {column.lower() for column in columns}
        violations = [
            Violation(
                ("update_fields",),
                f"{field!r} is not one of this list's columns",
                f"add {field} to columns, or remove it from {info.field_name}.update_fields",
            )
            for field in options.update_fields
            if field.lower() not in known
        ]
        if violations:
            raise RuleViolation(violations)
        return options

    @property
    def object_name(self) -> str | None:
        """``Lead`` or ``Contact`` for lists of all Leads/Contacts, otherwise None."""
        return self.source.object


def _all_activities() -> tuple[ActivityTypeName, ...]:
    return get_args(ActivityTypeName)


class ActivitySettings(_Block):
    """Which engagement events are written to Salesforce as Tasks."""

    push: tuple[Annotated[ActivityTypeName, BeforeValidator(_choice)], ...] = Field(default_factory=_all_activities)


class HotProspectSettings(_Block):
    """The per-owner hot-prospect ranking and the lists it reads prospects from."""

    top_n: int = Field(default=20, ge=1)
    min_score: float = Field(default=1, ge=0)
    activity_days: int = Field(default=90, ge=1)
    assigned_leads: NonEmptyText | None = None
    active_opportunities: NonEmptyText | None = None
    assigned_contacts: NonEmptyText | None = None


class FunnelSettings(_Block):
    """The funnel's marketing-qualified threshold, the period it and ROI look back over, and how long their daily
    snapshots are kept."""

    mql_score: float = Field(default=15, ge=0)
    period_days: int = Field(default=90, ge=1)
    history_days: int = Field(default=400, ge=1)  # how long the funnel's and ROI's daily snapshots are kept
    stale_after_minutes: int = Field(default=60, ge=0)  # a report this much older than its newest input fails


class ReportMapping(_Block):
    """Opportunity fields the funnel and ROI outputs read."""

    amount: SalesforceField = "Amount"
    stage: SalesforceField = "StageName"
    close_date: SalesforceField = "CloseDate"
    won: SalesforceField = "IsWon"


class SyncSettings(_Block):
    """The whole settings file. Load it with ``load_settings``; the cross-block rules run there."""

    salesforce: SalesforceSettings = SalesforceSettings()
    contact_mapping: dict[MarketingField, FieldMapping] = Field(default_factory=dict)
    conflict_rule: ConflictRule = "most_recent"
    opt_out: OptOutSettings = OptOutSettings()
    hard_bounce: HardBounceSettings = HardBounceSettings()
    scoring: ScoringSettings = ScoringSettings()
    lists: tuple[ListSettings, ...] = ()
    activities: ActivitySettings = ActivitySettings()
    hot_prospects: HotProspectSettings = HotProspectSettings()
    report_mapping: ReportMapping = ReportMapping()
    funnel: FunnelSettings = FunnelSettings()
    full_sync_schedule: CronText = "0 2 * * 0"

    def list_named(self, name: str) -> ListSettings | None:
        """The list called exactly ``name``."""
        return next((item for item in self.lists if item.name == name), None)

    def mapped_fields(self, object_name: str) -> dict[str, str]:
        """Marketing field name → Salesforce field, for the fields mapped on ``Lead`` or ``Contact``."""
        mapped = {name: mapping.field_on(object_name) for name, mapping in self.contact_mapping.items()}
        return {name: field for name, field in mapped.items() if field}

    def campaign_names(self) -> list[str]:
        """The campaigns the lists read, once each."""
        return list(dict.fromkeys(item.source.campaign for item in self.lists if item.source.campaign))

    def report_names(self) -> list[str]:
        """The saved reports the sync reads, once each: the lists' and the hot prospects' active opportunities (a
        list of that name, or else a report of that name)."""
        names = [item.source.report for item in self.lists if item.source.report]
        wanted = self.hot_prospects.active_opportunities
        if wanted:
            listed = self.list_named(wanted)
            names.append(listed.source.report if listed and listed.source.report else wanted)
        return list(dict.fromkeys(name for name in names if name))
