"""The emulated org's data: one SQLite table per object, and the write paths with Salesforce's validation.

Every write path (single-record REST, sObject Collections, Bulk 2.0 ingest, lead conversion) goes through
:meth:`Org.save`, so the same rules give the same errors in every envelope. SQLite keeps a million-record org
small and fast; text columns are ``COLLATE NOCASE`` because SOQL compares text case-insensitively.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sync_pipeline.emulator import ids
from sync_pipeline.emulator.schema import OBJECTS, OPEN_STAGES, PREFIX_TO_OBJECT, FieldSpec, ObjectSpec
from sync_pipeline.emulator.soql import CompiledQuery, datetime_to_storage, quote_identifier, sql_type

EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"  # local part @ domain labels, dot-separated
                           r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_DATETIME_INPUT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?$")
UNCHANGED = object()  # a Bulk CSV empty cell on update: leave the field as it is
# Reference fields that are looked up from the parent's side (children of a record, campaign members...).
_CHILD_LOOKUPS = {"Contact": ("AccountId",), "Opportunity": ("AccountId",),
                  "OpportunityContactRole": ("OpportunityId", "ContactId"),
                  "CampaignMember": ("CampaignId", "LeadId", "ContactId", "LeadOrContactId"), "Task": ("WhoId",)}


@dataclass
class SaveError:
    code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def as_rest(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields:
            out["fields"] = self.fields
        return out

    def as_result(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def as_bulk(self) -> str:
        return f"{self.code}:{self.message}:{','.join(self.fields) + ' ' if self.fields else ''}--"


@dataclass
class SaveResult:
    id: str | None
    created: bool = False
    errors: list[SaveError] = field(default_factory=list)
    status: int = 200  # for single-record REST: 404 when the record does not exist

    @property
    def success(self) -> bool:
        return not self.errors


_Coerced = tuple[Any, SaveError | None]  # a storage value, or the error that refused the value


def now_storage() -> str:
    return datetime_to_storage(datetime.now(UTC))


def storage_to_api_datetime(value: str | None) -> str | None:
    """Stored ``2024-01-02T03:04:05.000Z`` → REST ``2024-01-02T03:04:05.000+0000``."""
    return None if value is None else value[:-1] + "+0000"


class Org:
    """All records of one emulated org, behind one lock (the server handles one request at a time anyway)."""

    def __init__(self, *, org_id: str, org_name: str, is_sandbox: bool, integration_user_id: str) -> None:
        self.org_id = org_id
        self.org_name = org_name
        self.is_sandbox = is_sandbox
        self.integration_user_id = integration_user_id
        self.lock = threading.RLock()
        self.db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=MEMORY")  # all-or-none needs a rollback journal
        self.db.execute("PRAGMA synchronous=OFF")
        self.sequences: dict[str, int] = {name: 0 for name in OBJECTS}
        self.lock_ids: set[str] = set()
        self.reject_email_domain: str | None = None
        self._create_tables()

    # --- schema --------------------------------------------------------------------------------------------------

    def _create_tables(self) -> None:
        for name, spec in OBJECTS.items():
            columns = [f"{quote_identifier(f.name)} {sql_type(f)}" for f in spec.fields.values()]
            columns[0] = "Id TEXT COLLATE NOCASE"  # unique index built after loading: much faster for a big seed
            columns.append("_deleted_at TEXT")
            self.db.execute(f"CREATE TABLE {quote_identifier(name)} ({', '.join(columns)})")
        self.db.execute("CREATE TABLE _cursor_rows (cursor INTEGER, seq INTEGER, rid INTEGER, "
                        "PRIMARY KEY (cursor, seq)) WITHOUT ROWID")
        # Records emptied from the recycle bin: getDeleted still reports them within its window.
        self.db.execute("CREATE TABLE _purged (object_name TEXT, Id TEXT, deleted_at TEXT)")

    def create_indexes(self) -> None:
        """Indexes for the lookups a sync and the write paths make; built once, after the seed is loaded."""
        for name, spec in OBJECTS.items():
            table = quote_identifier(name)
            self.db.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {quote_identifier(f'ix_{name}_Id')} ON {table} (Id)")
            self.db.execute(f"CREATE INDEX IF NOT EXISTS {quote_identifier(f'ix_{name}_deleted')} ON {table} "
                            "(_deleted_at) WHERE _deleted_at IS NOT NULL")
            wanted = ["SystemModstamp"] + [
                f.name for f in spec.fields.values()
                if f.external_id or f.name == "Email"
                or (f.type == "reference" and f.name in _CHILD_LOOKUPS.get(name, ()))
            ]
            for column in wanted:
                self.db.execute(f"CREATE INDEX IF NOT EXISTS {quote_identifier(f'ix_{name}_{column}')} "
                                f"ON {table} ({quote_identifier(column)})")

    def next_id(self, object_name: str) -> str:
        self.sequences[object_name] += 1
        return ids.make_id(OBJECTS[object_name].key_prefix, self.sequences[object_name])

    def insert_rows(self, object_name: str, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
        """Raw load for the seed generator: rows already hold storage values, ids and timestamps."""
        placeholders = ", ".join("?" for _ in columns)
        names = ", ".join(quote_identifier(c) for c in columns)
        self.db.executemany(f"INSERT INTO {quote_identifier(object_name)} ({names}) VALUES ({placeholders})", rows)

    # --- reads ---------------------------------------------------------------------------------------------------

    def find(self, object_name: str, record_id: str) -> sqlite3.Row | None:
        cursor = self.db.execute(f"SELECT * FROM {quote_identifier(object_name)} WHERE Id = ?", (record_id,))
        cursor.row_factory = sqlite3.Row
        return cursor.fetchone()

    def object_of(self, record_id: str) -> str | None:
        return PREFIX_TO_OBJECT.get(record_id[:3])

    def get_record(self, spec: ObjectSpec, record_id: str, version: str, fields: list[str] | None = None
                   ) -> dict[str, Any] | None:
        row = self.find(spec.name, record_id)
        if row is None:
            return None
        names = [f.name for f in spec.fields.values()] if not fields else [
            (spec.field(name) or _missing(name)).name for name in fields]
        out: dict[str, Any] = {"attributes": {"type": spec.name,
                                              "url": f"/services/data/v{version}/sobjects/{spec.name}/{row['Id']}"}}
        for name in names:
            out[name] = to_api(spec.fields[name], row[name])
        return out

    def count(self, compiled: CompiledQuery, include_deleted: bool) -> int:
        base, params = compiled.base_sql(include_deleted)
        if compiled.group_sql:
            base += " GROUP BY " + ", ".join(compiled.group_sql)
            (total,) = self.db.execute(f"SELECT COUNT(*) FROM (SELECT 1 {base})", params).fetchone()
        else:
            (total,) = self.db.execute(f"SELECT COUNT(*) {base}", params).fetchone()
        query = compiled.query
        total = max(0, total - (query.offset or 0))
        return min(total, query.limit) if query.limit is not None else total

    def open_cursor(self, cursor_id: int, compiled: CompiledQuery, include_deleted: bool) -> int:
        """Fix the result set (Salesforce's snapshot semantics): row ids in order, read page by page later."""
        base, params = compiled.base_sql(include_deleted)
        query = compiled.query
        limit = f" LIMIT {int(query.limit)}" if query.limit is not None else " LIMIT -1"
        offset = f" OFFSET {int(query.offset)}" if query.offset else ""
        self.db.execute(
            f"INSERT INTO _cursor_rows (cursor, seq, rid) SELECT ?, ROW_NUMBER() OVER (), rid FROM "
            f"(SELECT t0.rowid AS rid {base} ORDER BY {compiled.order_clause()}{limit}{offset})",
            [cursor_id, *params])
        (total,) = self.db.execute("SELECT COUNT(*) FROM _cursor_rows WHERE cursor = ?", (cursor_id,)).fetchone()
        return int(total)

    def close_cursor(self, cursor_id: int) -> None:
        self.db.execute("DELETE FROM _cursor_rows WHERE cursor = ?", (cursor_id,))

    def page(self, cursor_id: int, compiled: CompiledQuery, start: int, size: int,
             select: list[str] | None = None) -> sqlite3.Cursor:
        """Rows start+1 .. start+size of a cursor, in order."""
        columns = ", ".join(select or compiled.select_sql)
        return self.db.execute(
            f"SELECT {columns} FROM _cursor_rows c JOIN {quote_identifier(compiled.object.name)} AS t0 "
            f"ON t0.rowid = c.rid {compiled.from_sql.split(' AS t0 ', 1)[1]} "
            f"WHERE c.cursor = ? AND c.seq > ? AND c.seq <= ? ORDER BY c.seq",
            [cursor_id, start, start + size])

    def aggregate_rows(self, compiled: CompiledQuery, include_deleted: bool) -> list[tuple[Any, ...]]:
        base, params = compiled.base_sql(include_deleted)
        sql = f"SELECT {', '.join(compiled.select_sql)} {base}"
        if compiled.group_sql:
            sql += " GROUP BY " + ", ".join(compiled.group_sql)
        if compiled.order_sql:
            sql += " ORDER BY " + ", ".join(compiled.order_sql)
        query = compiled.query
        if query.limit is not None or query.offset:
            sql += f" LIMIT {int(query.limit) if query.limit is not None else -1} OFFSET {int(query.offset or 0)}"
        return self.db.execute(sql, params).fetchall()

    def updated_ids(self, object_name: str, start: str, end: str) -> list[str]:
        rows = self.db.execute(
            f"SELECT Id FROM {quote_identifier(object_name)} WHERE SystemModstamp >= ? AND SystemModstamp < ? "
            "AND IsDeleted = 0 ORDER BY SystemModstamp, Id", (start, end))
        return [row[0] for row in rows]

    def deleted_ids(self, object_name: str, start: str, end: str) -> list[tuple[str, str]]:
        return self.db.execute(
            f"SELECT Id, _deleted_at FROM {quote_identifier(object_name)} WHERE _deleted_at >= ? AND _deleted_at < ? "
            "UNION ALL SELECT Id, deleted_at FROM _purged WHERE object_name = ? AND deleted_at >= ? AND deleted_at < ? "
            "ORDER BY 2, 1", (start, end, object_name, start, end)).fetchall()

    # --- writes --------------------------------------------------------------------------------------------------

    def save(self, spec: ObjectSpec, values: dict[str, Any], *, record_id: str | None = None,
             from_csv: bool = False) -> SaveResult:
        """Create (no record_id) or update one record with Salesforce's validation; nothing is written on error."""
        existing = None
        if record_id is not None:
            found = self._updatable(spec, record_id)
            if isinstance(found, SaveResult):
                return found
            record_id, existing = found
        clean, errors = self._validate(spec, values, existing, from_csv)
        errors.extend(self._state_errors(spec, existing, record_id))
        if errors:
            return SaveResult(record_id, errors=errors, status=400)
        return self._write(spec, clean, existing, record_id)

    def _updatable(self, spec: ObjectSpec, record_id: str) -> tuple[str, sqlite3.Row] | SaveResult:
        """The normalized id and the live record it names, or the failed result of an update of it."""
        normalized = ids.normalize(record_id)
        if normalized is None or self.object_of(normalized) != spec.name:
            return SaveResult(record_id, errors=[SaveError(
                "MALFORMED_ID", f"{spec.name} ID: id value of incorrect type: {record_id}", ["Id"])], status=400)
        existing = self.find(spec.name, normalized)
        if existing is None:
            return SaveResult(normalized, errors=[SaveError(
                "NOT_FOUND", "The requested resource does not exist")], status=404)
        if existing["IsDeleted"]:
            return SaveResult(normalized, errors=[SaveError("ENTITY_IS_DELETED", "entity is deleted")], status=404)
        return normalized, existing

    def _state_errors(self, spec: ObjectSpec, existing: sqlite3.Row | None, record_id: str | None
                      ) -> list[SaveError]:
        """What the record's state forbids, whatever the values: updating a converted Lead, or a locked row."""
        errors = []
        if existing is not None and spec.name == "Lead" and existing["IsConverted"]:
            errors.append(SaveError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead"))
        if record_id is not None and record_id in self.lock_ids:
            errors.append(SaveError(
                "UNABLE_TO_LOCK_ROW", f"unable to obtain exclusive access to this record or 1 records: {record_id}"))
        return errors

    def _write(self, spec: ObjectSpec, clean: dict[str, Any], existing: sqlite3.Row | None,
               record_id: str | None) -> SaveResult:
        """Stamp, derive and store validated values: a new record when ``record_id`` is None."""
        creating = record_id is None
        now = now_storage()
        if record_id is None:
            record_id = self._new_record(spec, clean, now)
        clean.update({"LastModifiedDate": now, "LastModifiedById": self.integration_user_id, "SystemModstamp": now})
        merged = dict(existing) if existing is not None else {}
        merged.update(clean)
        _derive(spec, merged, clean, self)
        if creating:
            names = list(clean)
            self.db.execute(
                f"INSERT INTO {quote_identifier(spec.name)} ({', '.join(quote_identifier(n) for n in names)}) "
                f"VALUES ({', '.join('?' for _ in names)})", [clean[n] for n in names])
        else:
            names = [n for n in clean if n != "Id"]
            self.db.execute(
                f"UPDATE {quote_identifier(spec.name)} SET {', '.join(quote_identifier(n) + ' = ?' for n in names)} "
                "WHERE Id = ?", [*[clean[n] for n in names], record_id])
        return SaveResult(record_id, created=creating, status=201 if creating else 204)

    def _new_record(self, spec: ObjectSpec, clean: dict[str, Any], now: str) -> str:
        """A new record's id; its defaults and creation stamps are added to ``clean``."""
        record_id = self.next_id(spec.name)
        user = self.integration_user_id
        for spec_field in spec.fields.values():
            if spec_field.defaulted and spec_field.name not in clean:
                clean[spec_field.name] = _default(spec_field, user)
        clean.update({"Id": record_id, "IsDeleted": 0, "CreatedDate": now, "CreatedById": user})
        return record_id

    def upsert(self, spec: ObjectSpec, external_field: str, external_value: str, values: dict[str, Any],
               *, from_csv: bool = False) -> SaveResult | list[str]:
        """Upsert by external id: a list of ids when the value matches several records (HTTP 300)."""
        key = spec.field(external_field)
        if key is None or not (key.external_id or key.name == "Id"):
            return SaveResult(None, errors=[SaveError(
                "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {external_field}")],
                status=404)
        values = {k: v for k, v in values.items() if k.lower() != key.name.lower()}
        if key.name == "Id":
            found = external_value and self.find(spec.name, ids.normalize(external_value) or "")
            matches = [external_value] if found else []
        else:
            matches = [row[0] for row in self.db.execute(
                f"SELECT Id FROM {quote_identifier(spec.name)} WHERE {quote_identifier(key.name)} = ? "
                "AND IsDeleted = 0", (external_value,))]
        if len(matches) > 1:
            return matches
        if matches:
            result = self.save(spec, values, record_id=matches[0], from_csv=from_csv)
            result.status = 200 if result.success else result.status
            return result
        if key.name == "Id":
            return SaveResult(None, errors=[SaveError("NOT_FOUND", "The requested resource does not exist")],
                              status=404)
        return self.save(spec, {**values, key.name: external_value}, from_csv=from_csv)

    def delete(self, spec: ObjectSpec, record_id: str) -> SaveResult:
        normalized = ids.normalize(record_id)
        if normalized is None or self.object_of(normalized) != spec.name:
            return SaveResult(record_id, errors=[SaveError("MALFORMED_ID", f"malformed id {record_id}")], status=400)
        row = self.find(spec.name, normalized)
        if row is None:
            return SaveResult(normalized, errors=[SaveError(
                "NOT_FOUND", "The requested resource does not exist")], status=404)
        if row["IsDeleted"]:
            return SaveResult(normalized, errors=[SaveError("ENTITY_IS_DELETED", "entity is deleted")], status=404)
        if not _object_flag(spec, "deletable"):
            return SaveResult(normalized, errors=[SaveError(
                "INVALID_OPERATION", f"{spec.name} records cannot be deleted")], status=400)
        if normalized in self.lock_ids:
            return SaveResult(normalized, errors=[SaveError(
                "UNABLE_TO_LOCK_ROW", f"unable to obtain exclusive access to this record or 1 records: {normalized}")],
                status=400)
        self.soft_delete(spec.name, normalized)
        return SaveResult(normalized, status=204)

    def soft_delete(self, object_name: str, record_id: str, when: str | None = None) -> None:
        """Move a record to the recycle bin: queryAll and getDeleted still see it."""
        moment = when or now_storage()
        self.db.execute(
            f"UPDATE {quote_identifier(object_name)} SET IsDeleted = 1, _deleted_at = ?, SystemModstamp = ? "
            "WHERE Id = ?", (moment, moment, record_id))

    def hard_delete(self, object_name: str, record_id: str) -> None:
        """Delete for good (hard delete, or emptied from the recycle bin); getDeleted keeps reporting it."""
        row = self.db.execute(f"SELECT _deleted_at FROM {quote_identifier(object_name)} WHERE Id = ?",
                              (record_id,)).fetchone()
        if row is None:
            return
        self.db.execute("INSERT INTO _purged (object_name, Id, deleted_at) VALUES (?, ?, ?)",
                        (object_name, record_id, row[0] or now_storage()))
        self.db.execute(f"DELETE FROM {quote_identifier(object_name)} WHERE Id = ?", (record_id,))

    def savepoint(self) -> _Savepoint:
        return _Savepoint(self.db)

    def convert_lead(self, lead_id: str) -> dict[str, str]:
        """Lead conversion as Salesforce does it: an Account and a Contact are created, the Lead is kept, converted."""
        lead = self.find("Lead", ids.normalize(lead_id) or "")
        if lead is None or lead["IsDeleted"]:
            raise KeyError(f"no live Lead {lead_id}")
        if lead["IsConverted"]:
            raise ValueError(f"Lead {lead_id} is already converted")
        owner = lead["OwnerId"]
        active = self.db.execute("SELECT IsActive FROM User WHERE Id = ?", (owner,)).fetchone()
        if not active or not active[0]:
            owner = self.integration_user_id  # the converting user owns what an inactive owner cannot
        with self.savepoint():
            account = self.save(OBJECTS["Account"], {"Name": lead["Company"], "Industry": lead["Industry"],
                                                     "OwnerId": owner})
            contact_values = {
                "AccountId": account.id, "FirstName": lead["FirstName"], "LastName": lead["LastName"],
                "Email": lead["Email"], "Title": lead["Title"], "Phone": lead["Phone"],
                "LeadSource": lead["LeadSource"], "OwnerId": owner,
                "HasOptedOutOfEmail": bool(lead["HasOptedOutOfEmail"]), "DoNotCall": bool(lead["DoNotCall"]),
                "Behavior_Score__c": lead["Behavior_Score__c"],
            }
            contact = self.save(OBJECTS["Contact"], {k: v for k, v in contact_values.items() if v is not None})
            if not contact.success or not account.success:
                raise ValueError(f"Lead {lead_id} cannot be converted: "
                                 + "; ".join(e.message for e in [*account.errors, *contact.errors]))
            now = now_storage()
            self.db.execute(
                "UPDATE Lead SET IsConverted = 1, ConvertedDate = ?, ConvertedAccountId = ?, ConvertedContactId = ?, "
                "Status = 'Closed - Converted', LastModifiedDate = ?, SystemModstamp = ? WHERE Id = ?",
                (now[:10], account.id, contact.id, now, now, lead["Id"]))
        return {"contact_id": str(contact.id), "account_id": str(account.id)}

    # --- validation ----------------------------------------------------------------------------------------------

    def _validate(self, spec: ObjectSpec, values: dict[str, Any], existing: sqlite3.Row | None,
                  from_csv: bool) -> tuple[dict[str, Any], list[SaveError]]:
        creating = existing is None
        unknown = [name for name in values if spec.field(name) is None and name.lower() != "attributes"]
        if unknown:
            return {}, [SaveError("INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {spec.name}")]
        clean, errors, read_only = self._coerce_values(spec, values, creating, from_csv)
        if read_only:
            errors.insert(0, SaveError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(read_only)}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.", read_only))
        merged = dict(existing) if existing is not None else {}
        merged.update(clean)
        missing = [f.name for f in spec.fields.values()
                   if f.required_on_create and merged.get(f.name) in (None, "")
                   and (creating or f.name in clean)]
        if missing:
            errors.insert(0, SaveError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                                       missing))
        errors.extend(self._rules(spec, merged, clean, creating))
        return clean, errors

    def _coerce_values(self, spec: ObjectSpec, values: dict[str, Any], creating: bool, from_csv: bool
                       ) -> tuple[dict[str, Any], list[SaveError], list[str]]:
        """Storage values of the fields given, the errors of the values refused, and the read-only fields given."""
        clean: dict[str, Any] = {}
        errors: list[SaveError] = []
        read_only = []
        for name, raw in values.items():
            if name.lower() == "attributes":
                continue
            spec_field = spec.field(name)
            assert spec_field is not None
            if from_csv:
                raw = _from_csv_cell(raw, creating)
                if raw is UNCHANGED:
                    continue
            if spec_field.name == "Id" and not creating:
                continue
            if not (spec_field.createable if creating else spec_field.updateable):
                read_only.append(spec_field.name)
                continue
            value, error = self._coerce(spec_field, raw)
            if error:
                errors.append(error)
            else:
                clean[spec_field.name] = value
        return clean, errors, read_only

    def _coerce(self, spec: FieldSpec, raw: Any) -> _Coerced:
        if raw is None or (raw == "" and spec.type not in ("boolean",)):
            # An empty required field is reported as REQUIRED_FIELD_MISSING; an empty checkbox is false.
            return (0 if spec.type == "boolean" else None), None
        scalar = _SCALAR_COERCIONS.get(spec.type)
        if scalar is None:
            return self._coerce_text(spec, raw)
        try:
            return scalar(spec, raw)
        except (ValueError, TypeError, OverflowError):
            return None, SaveError(
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of {_json_type(spec.type)} from VALUE_STRING value {raw} "
                f"for field {spec.name}", [spec.name])

    def _coerce_text(self, spec: FieldSpec, raw: Any) -> _Coerced:
        """Ids, references and text: numbers are taken as their text, other JSON values are refused."""
        if not isinstance(raw, str):
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                raw = str(raw)
            else:
                return None, SaveError("JSON_PARSER_ERROR",
                                       f"Cannot deserialize instance of string from {type(raw).__name__} value for "
                                       f"field {spec.name}", [spec.name])
        if spec.type in ("id", "reference"):
            return self._reference(spec, raw)
        if len(raw) > spec.length:
            return None, SaveError("STRING_TOO_LONG",
                                   f"{spec.label}: data value too large: {raw} (max length={spec.length})",
                                   [spec.name])
        if spec.type == "email" and not EMAIL_PATTERN.match(raw):
            return None, SaveError("INVALID_EMAIL_ADDRESS", f"{spec.label}: invalid email address: {raw}", [spec.name])
        return raw, None

    def _reference(self, spec: FieldSpec, raw: str) -> _Coerced:
        normalized = ids.normalize(raw)
        target = self.object_of(normalized) if normalized else None
        if normalized is None or target not in spec.reference_to:
            return None, SaveError("MALFORMED_ID", f"{spec.label}: id value of incorrect type: {raw}", [spec.name])
        row = self.db.execute(
            f"SELECT IsDeleted{', IsActive' if target == 'User' else ''} FROM {quote_identifier(target)} WHERE Id = ?",
            (normalized,)).fetchone()
        if row is None or row[0]:
            return None, SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        if target == "User" and spec.name == "OwnerId" and not row[1]:
            return None, SaveError("INACTIVE_OWNER_OR_USER",
                                   f"operation performed with inactive user [{normalized}] as owner", [])
        return normalized, None

    def _rules(self, spec: ObjectSpec, merged: dict[str, Any], clean: dict[str, Any],
               creating: bool) -> list[SaveError]:
        errors = []
        email = merged.get("Email")  # a validation rule sees the record as it would be saved, not only the change
        domain = self.reject_email_domain
        if domain and isinstance(email, str) and email.lower().endswith("@" + domain.lower()):
            errors.append(SaveError("FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                    f"Email addresses at {domain} are not accepted by this org", ["Email"]))
        for spec_field in spec.fields.values():
            if spec_field.unique and clean.get(spec_field.name) is not None:
                other = self.db.execute(
                    f"SELECT Id FROM {quote_identifier(spec.name)} WHERE {quote_identifier(spec_field.name)} = ? "
                    "AND (? IS NULL OR Id != ?)", (clean[spec_field.name], merged.get("Id"), merged.get("Id"))
                ).fetchone()
                if other:
                    errors.append(SaveError("DUPLICATE_VALUE",
                                            f"duplicate value found: {spec_field.name} duplicates value on record "
                                            f"with id: {other[0]}", []))
        if spec.name == "CampaignMember" and creating:
            who = merged.get("LeadId") or merged.get("ContactId")
            if not who:
                errors.append(SaveError("REQUIRED_FIELD_MISSING", "Required fields are missing: [LeadId, ContactId]",
                                        ["LeadId", "ContactId"]))
            elif self.db.execute("SELECT 1 FROM CampaignMember WHERE CampaignId = ? AND LeadOrContactId = ? "
                                 "AND IsDeleted = 0", (merged.get("CampaignId"), who)).fetchone():
                errors.append(SaveError("DUPLICATE_VALUE", "Already a campaign member.", []))
        if spec.name == "Task" and merged.get("WhoId", "") and str(merged.get("WhoId")).startswith("00Q"):
            lead = self.find("Lead", merged["WhoId"])
            if lead is not None and lead["IsConverted"]:
                errors.append(SaveError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", ["WhoId"]))
        return errors


class _Savepoint:
    """All-or-none: every write inside is undone when the block raises or `rollback()` is called."""

    counter = 0

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        _Savepoint.counter += 1
        self.name = f"sp{_Savepoint.counter}"
        self.rolled_back = False

    def __enter__(self) -> _Savepoint:
        self.db.execute(f"SAVEPOINT {self.name}")
        return self

    def rollback(self) -> None:
        self.db.execute(f"ROLLBACK TO {self.name}")
        self.rolled_back = True

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None and not self.rolled_back:
            self.db.execute(f"ROLLBACK TO {self.name}")
        self.db.execute(f"RELEASE {self.name}")


def _json_type(kind: str) -> str:
    return {"int": "int", "double": "double", "currency": "double", "percent": "double", "date": "date",
            "datetime": "datetime", "boolean": "boolean"}.get(kind, "string")


# --- values of the scalar field types: each raises ValueError (or TypeError, OverflowError) for a JSON_PARSER_ERROR

def _coerce_boolean(spec: FieldSpec, raw: Any) -> _Coerced:
    if isinstance(raw, bool):
        return int(raw), None
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return int(raw.lower() == "true"), None
    raise ValueError


def _coerce_number(spec: FieldSpec, raw: Any) -> _Coerced:
    if isinstance(raw, bool):
        raise ValueError
    number = float(raw)
    if spec.type == "int":
        number = int(number)
    limit = 10 ** ((spec.precision - spec.scale) if spec.precision else (spec.digits or 18))
    if abs(number) >= limit:
        return None, SaveError("NUMBER_OUTSIDE_VALID_RANGE",
                               f"{spec.label}: value outside of valid range on numeric field: {raw}", [spec.name])
    return (round(number, spec.scale) if spec.type != "int" else number), None


def _coerce_date(spec: FieldSpec, raw: Any) -> _Coerced:
    if len(str(raw)) != 10:
        raise ValueError
    return date.fromisoformat(str(raw)).isoformat(), None


def _coerce_datetime(spec: FieldSpec, raw: Any) -> _Coerced:
    text = str(raw)
    if not _DATETIME_INPUT.match(text):
        raise ValueError
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.replace("Z", "+00:00"))
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return datetime_to_storage(moment), None


_SCALAR_COERCIONS: dict[str, Callable[[FieldSpec, Any], _Coerced]] = {
    "boolean": _coerce_boolean, "int": _coerce_number, "double": _coerce_number, "currency": _coerce_number,
    "percent": _coerce_number, "date": _coerce_date, "datetime": _coerce_datetime,
}


def _from_csv_cell(raw: Any, creating: bool) -> Any:
    if raw is None or raw == "":
        return None if creating else UNCHANGED
    if raw == "#N/A":
        return None
    return raw


def _default(spec: FieldSpec, user: str) -> Any:
    if spec.type == "boolean":
        return 0
    if spec.name == "OwnerId":
        return user
    if spec.type in ("int", "double", "currency", "percent") and spec.name.startswith("NumberOf"):
        return 0
    return spec.default


def _object_flag(spec: ObjectSpec, flag: str) -> bool:
    from sync_pipeline.emulator.schema import OBJECT_FLAGS

    return OBJECT_FLAGS.get(spec.name, {}).get(flag, True)


def _missing(name: str) -> FieldSpec:
    raise KeyError(name)


def _derive(spec: ObjectSpec, merged: dict[str, Any], clean: dict[str, Any], org: Org) -> None:
    """Fields Salesforce computes: names, formulas, opportunity stage effects, campaign member mirrors.

    Each step sees what the steps before it computed; what it computes goes to both ``merged`` and ``clean``.
    """
    for step in (_names_and_formulas, *_OBJECT_DERIVATIONS.get(spec.name, ())):
        derived = step(spec, merged, clean, org)
        merged.update(derived)
        clean.update(derived)


def _names_and_formulas(spec: ObjectSpec, merged: dict[str, Any], clean: dict[str, Any], org: Org) -> dict[str, Any]:
    derived: dict[str, Any] = {}
    if spec.field("Name") is not None and spec.name in ("Lead", "Contact", "User"):
        derived["Name"] = " ".join(p for p in (merged.get("FirstName"), merged.get("LastName")) if p)
    if spec.field("Owner_ID__c") is not None:
        derived["Owner_ID__c"] = merged.get("OwnerId")
    return derived


def _contact_bounce(spec: ObjectSpec, merged: dict[str, Any], clean: dict[str, Any], org: Org) -> dict[str, Any]:
    return {"IsEmailBounced": 1 if merged.get("EmailBouncedReason") else 0}


def _opportunity_stage(spec: ObjectSpec, merged: dict[str, Any], clean: dict[str, Any], org: Org
                       ) -> dict[str, Any]:
    """A new stage decides won, closed and the forecast category, and the probability unless one is given."""
    if "StageName" not in clean:
        return {}
    stage = merged.get("StageName")
    won, closed = stage == "Closed Won", stage in ("Closed Won", "Closed Lost")
    derived: dict[str, Any] = {"IsWon": int(won), "IsClosed": int(closed)}
    if "Probability" not in clean or clean.get("Probability") is None:
        derived["Probability"] = 100.0 if won else 0.0 if closed else float(OPEN_STAGES.get(str(stage), 10))
    derived["ForecastCategory"] = "Closed" if won else "Omitted" if closed else "Pipeline"
    return derived


def _opportunity_revenue(spec: ObjectSpec, merged: dict[str, Any], clean: dict[str, Any], org: Org
                         ) -> dict[str, Any]:
    amount, probability = merged.get("Amount"), merged.get("Probability")
    return {"ExpectedRevenue": None if amount is None or probability is None else round(amount * probability / 100, 2)}


def _task_closed(spec: ObjectSpec, merged: dict[str, Any], clean: dict[str, Any], org: Org) -> dict[str, Any]:
    return {"IsClosed": int(merged.get("Status") == "Completed")}


def _campaign_member_mirrors(spec: ObjectSpec, merged: dict[str, Any], clean: dict[str, Any], org: Org
                             ) -> dict[str, Any]:
    """A member's type, response, and the name, email, opt-out and company of its Lead or Contact."""
    who_id = merged.get("LeadId") or merged.get("ContactId")
    who_type = "Lead" if merged.get("LeadId") else "Contact"
    who = org.find(who_type, who_id) if who_id else None
    derived: dict[str, Any] = {"Type": who_type, "LeadOrContactId": who_id,
                               "HasResponded": int(merged.get("Status") == "Responded")}
    if merged.get("Status") == "Responded" and not merged.get("FirstRespondedDate"):
        derived["FirstRespondedDate"] = now_storage()[:10]
    if who is not None:
        derived.update({"FirstName": who["FirstName"], "LastName": who["LastName"], "Email": who["Email"],
                        "HasOptedOutOfEmail": who["HasOptedOutOfEmail"],
                        "CompanyOrAccount": who["Company"] if who_type == "Lead" else None})
    return derived


_Derivation = Callable[[ObjectSpec, dict[str, Any], dict[str, Any], Org], dict[str, Any]]
_OBJECT_DERIVATIONS: dict[str, tuple[_Derivation, ...]] = {
    "Contact": (_contact_bounce,), "Opportunity": (_opportunity_stage, _opportunity_revenue),
    "Task": (_task_closed,), "CampaignMember": (_campaign_member_mirrors,),
}


def to_api(spec: FieldSpec | None, value: Any) -> Any:
    """A stored value as the REST API shows it."""
    if value is None or spec is None:
        return value
    kind = spec.type
    if kind == "boolean":
        return bool(value)
    if kind == "datetime":
        return storage_to_api_datetime(value)
    if kind == "int":
        return int(value)
    if kind in ("double", "currency", "percent"):
        return float(value)
    return value


def csv_expression(spec: FieldSpec | None, sql: str) -> str:
    """SQL that renders a column as the text Bulk API 2.0 CSV shows, so no per-cell Python work is needed."""
    if spec is None:
        return f"CAST({sql} AS TEXT)"
    if spec.type == "boolean":
        return f"CASE WHEN {sql} IS NULL THEN NULL WHEN {sql} THEN 'true' ELSE 'false' END"
    if spec.type in ("double", "currency", "percent") and spec.scale == 0:
        return f"CAST(CAST({sql} AS INTEGER) AS TEXT)"
    if spec.type in ("int", "double", "currency", "percent"):
        return f"CAST({sql} AS TEXT)"
    return sql


def rows_as_records(compiled: CompiledQuery, rows: Iterable[tuple[Any, ...]], version: str) -> Iterator[dict[str, Any]]:
    """REST query records: attributes first, canonical field names, nested parent objects (null when absent)."""
    base_name = compiled.object.name
    prefix = f"/services/data/v{version}/sobjects/"
    id_index = compiled.parent_id_index[()]
    for row in rows:
        record: dict[str, Any] = {"attributes": {"type": base_name, "url": prefix + base_name + "/" + row[id_index]}}
        for column in compiled.columns:
            target = record
            alive = True
            for depth, rel in enumerate(column.path):
                parent_id = row[compiled.parent_id_index[tuple(column.path[: depth + 1])]]
                if parent_id is None:
                    target[rel] = None
                    alive = False
                    break
                if rel not in target or target[rel] is None:
                    obj = column.objects[depth + 1]
                    target[rel] = {"attributes": {"type": obj, "url": prefix + obj + "/" + parent_id}}
                target = target[rel]
            if alive:
                target[column.spec.name if column.spec else column.key] = to_api(column.spec, row[column.index])
        yield record


def aggregate_records(compiled: CompiledQuery, rows: Iterable[tuple[Any, ...]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
        for column in compiled.columns:
            record[column.key] = to_api(column.spec, row[column.index]) if column.spec else row[column.index]
        out.append(record)
    return out

