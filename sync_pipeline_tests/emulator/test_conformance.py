"""Conformance: the unmodified simple-salesforce client against the emulator, as it would talk to Salesforce."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import requests
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.salesforce.transport import emulator_session


@pytest.fixture(scope="module")
def shared() -> RunningEmulator:
    """A read-mostly demo org shared by the tests that only read."""
    with running_emulator(seed=7, scale="demo") as emulator:
        yield emulator


@pytest.fixture
def emu() -> RunningEmulator:
    """A fresh small org for tests that write or switch faults."""
    with running_emulator(seed=11, scale=400, page_size=100) as emulator:
        yield emulator


def _stats(emulator: RunningEmulator) -> dict:
    return emulator.admin("GET", "stats")


# --- login -----------------------------------------------------------------------------------------------------------

def test_soap_login_production_and_sandbox(shared: RunningEmulator) -> None:
    sf = shared.salesforce()
    assert sf.is_sandbox() is False
    assert sf.sf_instance == "acmedemo.my.salesforce.com"
    with running_emulator(seed=7, scale=20, sandbox=True) as sandbox:
        sandbox_sf = sandbox.salesforce()
        assert sandbox.domain == "test"
        assert sandbox_sf.is_sandbox() is True
        assert "sandbox" in sandbox_sf.sf_instance


def test_login_faults_are_salesforce_faults(shared: RunningEmulator) -> None:
    session = emulator_session(shared.url)
    with pytest.raises(SalesforceAuthenticationFailed) as wrong:
        Salesforce(username=shared.username, password="wrong", security_token=shared.security_token,
                   session=session)
    assert wrong.value.code == "INVALID_LOGIN"
    with pytest.raises(SalesforceAuthenticationFailed) as no_token:
        Salesforce(username=shared.username, password=shared.password, security_token="", session=session)
    assert no_token.value.code == "LOGIN_MUST_USE_SECURITY_TOKEN"
    with pytest.raises(SalesforceAuthenticationFailed) as sandbox_domain:
        shared.salesforce(domain="test")  # a production user does not exist on test.salesforce.com
    assert sandbox_domain.value.code == "INVALID_LOGIN"


def test_expired_password_login_fault(emu: RunningEmulator) -> None:
    emu.admin("POST", "faults", {"login_fault": "INVALID_OPERATION_WITH_EXPIRED_PASSWORD"})
    with pytest.raises(SalesforceAuthenticationFailed) as expired:
        emu.salesforce()
    assert expired.value.code == "INVALID_OPERATION_WITH_EXPIRED_PASSWORD"
    emu.admin("POST", "faults", {"login_fault": None})
    assert emu.salesforce().query("SELECT COUNT() FROM Lead")["totalSize"] > 0


def test_oauth_password_and_client_credentials(emu: RunningEmulator) -> None:
    session = emulator_session(emu.url)
    app = emu.state.client_app
    sf = Salesforce(username=emu.username, password=emu.password + emu.security_token, consumer_key=app.consumer_key,
                    consumer_secret=app.consumer_secret, session=session)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 10
    sf_cc = Salesforce(consumer_key=app.consumer_key, consumer_secret=app.consumer_secret, domain="acme.my",
                       session=session)
    assert sf_cc.query("SELECT Id FROM Organization")["totalSize"] == 1
    with pytest.raises(SalesforceAuthenticationFailed) as bad:
        Salesforce(username=emu.username, password="nope", consumer_key=app.consumer_key,
                   consumer_secret=app.consumer_secret, session=session)
    assert bad.value.code == "invalid_grant"
    with pytest.raises(SalesforceAuthenticationFailed) as unknown_app:
        Salesforce(consumer_key="key", consumer_secret="secret", domain="acme.my", session=session)
    assert unknown_app.value.code == "invalid_client_id"
    assert unknown_app.value.auth_message == "client identifier invalid"


def test_expired_session_relogs_in_once(emu: RunningEmulator) -> None:
    sf = emu.salesforce()
    lead_id = sf.query("SELECT Id FROM Lead LIMIT 1")["records"][0]["Id"]
    logins_before = _stats(emu)["logins"]
    emu.admin("POST", "faults", {"expire_sessions": True})
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] > 0
    emu.admin("POST", "faults", {"expire_sessions": True})
    assert sf.Lead.get(lead_id)["Id"] == lead_id
    assert _stats(emu)["logins"] == logins_before + 2
    direct = Salesforce(session_id=sf.session_id, instance=sf.sf_instance, session=emulator_session(emu.url))
    emu.admin("POST", "faults", {"expire_sessions": True})
    with pytest.raises(SalesforceExpiredSession):
        direct.query("SELECT Id FROM Lead LIMIT 1")


# --- query -----------------------------------------------------------------------------------------------------------

def test_query_all_pages_with_relative_next_records_url(emu: RunningEmulator) -> None:
    sf = emu.salesforce()
    first = sf.query("SELECT Id, Email FROM Lead")
    assert first["done"] is False and first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    assert len(first["records"]) == 100
    before = _stats(emu)["by_endpoint"]
    everything = sf.query_all("SELECT Id, Email FROM Lead")
    after = _stats(emu)["by_endpoint"]
    live = sf.query("SELECT COUNT() FROM Lead")["totalSize"]
    assert everything["totalSize"] == live == len({r["Id"] for r in everything["records"]})
    assert after["queryMore"] - before.get("queryMore", 0) == (live + 99) // 100 - 1
    assert all(len(r["Id"]) == 18 and r["Id"].startswith("00Q") for r in everything["records"])


def test_query_all_includes_deleted_on_every_page(emu: RunningEmulator) -> None:
    sf = emu.salesforce()
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Contact ORDER BY Id LIMIT 3")["records"]]
    for record_id in ids:
        assert sf.Contact.delete(record_id) == 204
    deleted = sf.query_all("SELECT Id, IsDeleted FROM Contact WHERE IsDeleted = true", include_deleted=True)
    assert set(ids) <= {r["Id"] for r in deleted["records"]}
    assert all(r["IsDeleted"] is True for r in deleted["records"])
    live = sf.query_all("SELECT Id FROM Contact")
    assert not set(ids) & {r["Id"] for r in live["records"]}
    with_deleted = sf.query_all("SELECT Id FROM Contact", include_deleted=True)  # pages through /query/ urls
    assert with_deleted["totalSize"] == live["totalSize"] + deleted["totalSize"]
    with pytest.raises(SalesforceResourceNotFound) as gone:
        sf.Contact.get(ids[0])
    assert gone.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_soql_subset(shared: RunningEmulator) -> None:
    sf = shared.salesforce()
    since = datetime.now(UTC) - timedelta(days=30)
    recent = sf.query_all(format_soql(
        "SELECT Id, SystemModstamp FROM Lead WHERE SystemModstamp >= {} ORDER BY SystemModstamp, Id", since))
    stamps = [r["SystemModstamp"] for r in recent["records"]]
    assert stamps == sorted(stamps) and stamps[0] >= since.strftime("%Y-%m-%dT%H:%M:%S")
    assert all(s.endswith("+0000") for s in stamps)
    # The same instant in other literal forms gives the same rows.
    for literal in (since.strftime("%Y-%m-%dT%H:%M:%SZ"), since.strftime("%Y-%m-%dT%H:%M:%S.000+0000")):
        again = sf.query(f"SELECT COUNT() FROM Lead WHERE SystemModstamp >= {literal}")
        assert again["totalSize"] == recent["totalSize"]
    one = sf.query("SELECT Email FROM Lead WHERE Email != null ORDER BY Id LIMIT 1")["records"][0]["Email"]
    upper = sf.query(format_soql("SELECT Id, email FROM lead WHERE Email = {}", one.upper()))
    assert upper["totalSize"] >= 1 and "Email" in upper["records"][0]  # case-insensitive, canonical names
    counts = [sf.query(f"SELECT COUNT() FROM Lead WHERE {w}")["totalSize"] for w in (
        "IsConverted = true", "IsConverted = false", "Email = null", "Email != null",
        "LeadSource IN ('Web', 'Other')", "LeadSource NOT IN ('Web', 'Other')",
        "(LeadSource = 'Web' OR LeadSource = 'Other') AND NOT Email = null", "Email LIKE '%@example.org'")]
    total = sf.query("SELECT COUNT() FROM Lead")["totalSize"]
    assert counts[0] + counts[1] == total and counts[2] + counts[3] == total
    assert counts[4] + counts[5] == total  # no null LeadSource in the seed
    assert 0 < counts[6] < counts[4] and counts[7] > 0
    paged = sf.query("SELECT Id FROM Lead ORDER BY Id LIMIT 5 OFFSET 10")["records"]
    ordered = sf.query("SELECT Id FROM Lead ORDER BY Id LIMIT 15")["records"]
    assert [r["Id"] for r in paged] == [r["Id"] for r in ordered[10:]]
    owned = sf.query("SELECT Id, Owner.Email, Account.Name FROM Contact WHERE Account.Name != null LIMIT 3")
    assert all(r["Owner"]["Email"].endswith("@acme.example.com") and r["Account"]["Name"] for r in owned["records"])
    recent_days = sf.query("SELECT COUNT() FROM Lead WHERE SystemModstamp = LAST_N_DAYS:30")["totalSize"]
    assert recent_days >= recent["totalSize"] - 5
    assert sf.query("SELECT IsSandbox FROM Organization LIMIT 1")["records"][0]["IsSandbox"] is False
    active = sf.query("SELECT Id FROM User WHERE IsActive = true")["totalSize"]
    assert active == 7  # one of the eight users is inactive


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELECT Id FROM Lead WHERE SystemModstamp > '2024-01-02T03:04:05Z'", "INVALID_FIELD",
         "must be of type dateTime and should not be enclosed in quotes"),
        ("SELECT Id FROM Lead WHERE CreatedDate > 2024-01-02", "INVALID_FIELD", "must be of type dateTime"),
        ("SELECT Id, Foo__c FROM Lead", "INVALID_FIELD", "No such column 'Foo__c' on entity 'Lead'"),
        ("SELECT Id FROM Leadz", "INVALID_TYPE", "sObject type 'Leadz' is not supported"),
        ("SELECT Id Email FROM Lead", "MALFORMED_QUERY", "unexpected token: 'Email'"),
        ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY", "ERROR at Row:1:Column:"),
        ("SELECT Id FROM Lead OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "2000"),
    ],
)
def test_query_errors(shared: RunningEmulator, soql: str, code: str, fragment: str) -> None:
    sf = shared.salesforce()
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.query(soql)
    assert error.value.content[0]["errorCode"] == code
    assert fragment in error.value.content[0]["message"]


# --- describe --------------------------------------------------------------------------------------------------------

def test_describe_has_realistic_field_metadata(shared: RunningEmulator) -> None:
    sf = shared.salesforce()
    names = {o["name"]: o for o in sf.describe()["sobjects"]}
    assert {"Lead", "Contact", "Account", "Opportunity", "OpportunityContactRole", "Campaign", "CampaignMember",
            "User", "Task", "Organization"} <= set(names)
    assert names["User"]["deletable"] is False and names["Lead"]["keyPrefix"] == "00Q"
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    email = fields["Email"]
    assert (email["type"], email["length"], email["byteLength"], email["soapType"]) == ("email", 80, 240,
                                                                                         "xsd:string")
    assert len(email) == 57  # exactly the keys of a recorded describe field
    score = fields["Behavior_Score__c"]
    assert (score["type"], score["precision"], score["scale"], score["custom"]) == ("double", 6, 0, True)
    assert fields["Owner_ID__c"]["calculated"] is True and fields["Owner_ID__c"]["updateable"] is False
    assert fields["LastName"]["nillable"] is False and fields["Status"]["defaultedOnCreate"] is True
    assert fields["OwnerId"]["relationshipName"] == "Owner"
    assert fields["EmailBouncedReason"]["createable"] is False  # recorded oddity of Lead
    contact = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert contact["EmailBouncedReason"]["createable"] is True
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("sobjects/Nope/describe")


# --- writes ----------------------------------------------------------------------------------------------------------

def test_single_record_crud_and_error_catalogue(emu: RunningEmulator) -> None:
    sf = emu.salesforce()
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sf.Lead.create({})
    assert missing.value.content[0] == {"message": "Required fields are missing: [LastName, Company]",
                                        "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["LastName", "Company"]}
    created = sf.Lead.create({"LastName": "Lee", "Company": "Acme", "Email": "ann@example.com"})
    assert created["success"] is True and created["id"].startswith("00Q")
    record = sf.Lead.get(created["id"])
    assert record["Status"] == "Open - Not Contacted" and record["HasOptedOutOfEmail"] is False
    assert record["Name"] == "Lee" and record["Owner_ID__c"] == record["OwnerId"]
    assert record["SystemModstamp"] == record["CreatedDate"]
    cases = [
        ({"LastName": "x" * 81}, "STRING_TOO_LONG", "Last Name: data value too large"),
        ({"Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS", "Email: invalid email address: not-an-email"),
        ({"SystemModstamp": "2024-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update"),
        ({"Foo__c": 1}, "INVALID_FIELD", "No such column 'Foo__c' on sobject of type Lead"),
        ({"Behavior_Score__c": 1234567}, "NUMBER_OUTSIDE_VALID_RANGE", "Behavior Score"),
        ({"OwnerId": "006000000000000AAA"}, "MALFORMED_ID", "id value of incorrect type"),
    ]
    for body, code, fragment in cases:
        with pytest.raises(SalesforceMalformedRequest) as error:
            sf.Lead.update(created["id"], body)
        assert error.value.content[0]["errorCode"] == code, body
        assert fragment in error.value.content[0]["message"]
    assert sf.Lead.update(created["id"], {"FirstName": "Ann", "Behavior_Score__c": 42}) == 204
    updated = sf.Lead.get(created["id"])
    assert updated["Name"] == "Ann Lee" and updated["Behavior_Score__c"] == 42.0
    assert updated["SystemModstamp"] >= record["SystemModstamp"]
    assert sf.Lead.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.get("00Q5e0000099999AAA")


def test_validation_rule_lock_and_converted_lead(emu: RunningEmulator) -> None:
    sf = emu.salesforce()
    lead_id = sf.query("SELECT Id FROM Lead WHERE IsConverted = false AND Email != null LIMIT 1")["records"][0]["Id"]
    emu.admin("POST", "faults", {"reject_email_domain": "blocked.example", "lock_ids": [lead_id]})
    with pytest.raises(SalesforceMalformedRequest) as rule:
        sf.Lead.create({"LastName": "B", "Company": "C", "Email": "b@blocked.example"})
    assert rule.value.content[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    with pytest.raises(SalesforceMalformedRequest) as locked:
        sf.Lead.update(lead_id, {"Title": "CTO"})
    assert locked.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    emu.admin("POST", "faults", {"lock_ids": []})
    converted = emu.admin("POST", "convert_lead", {"lead_id": lead_id})
    lead = sf.Lead.get(lead_id)
    assert lead["IsConverted"] is True and lead["ConvertedContactId"] == converted["contact_id"]
    assert lead["Status"] == "Closed - Converted"
    contact = sf.Contact.get(converted["contact_id"])
    assert contact["Email"] == lead["Email"] and contact["AccountId"] == converted["account_id"]
    assert contact["CreatedDate"] and contact["CreatedDate"] == contact["SystemModstamp"]
    # Every record carries its CreatedDate: the seeded ones and those made by a write.
    for soql in ("SELECT COUNT() FROM Lead WHERE CreatedDate = null",
                 "SELECT COUNT() FROM Contact WHERE CreatedDate = null"):
        assert sf.query(soql)["totalSize"] == 0
    with pytest.raises(SalesforceMalformedRequest) as frozen:
        sf.Lead.update(lead_id, {"Title": "CTO"})
    assert frozen.value.content[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"


def test_upsert_by_external_id(emu: RunningEmulator) -> None:
    sf = emu.salesforce()
    assert sf.Lead.upsert("Marketing_Id__c/MK-NEW-1", {"LastName": "Novak", "Company": "Globex"}) == 201
    assert sf.Lead.upsert("Marketing_Id__c/MK-NEW-1", {"Title": "CFO"}) == 200
    found = sf.Lead.get_by_custom_id("Marketing_Id__c", "mk-new-1")  # matching is case-insensitive
    assert found["Title"] == "CFO" and found["LastName"] == "Novak"
    with pytest.raises(SalesforceMalformedRequest) as duplicate:
        sf.Lead.create({"LastName": "X", "Company": "Y", "Marketing_Id__c": "MK-NEW-1"})
    assert duplicate.value.content[0]["errorCode"] == "DUPLICATE_VALUE"
    # Legacy data can hold the same external id twice: the API answers 300 with both record urls.
    org = emu.state.org
    org.db.execute("UPDATE Contact SET Marketing_Id__c = 'MK-TWICE' WHERE rowid IN (1, 2)")
    with pytest.raises(SalesforceMoreThanOneRecord) as ambiguous:
        sf.Contact.upsert("Marketing_Id__c/MK-TWICE", {"Title": "CEO"})
    assert len(ambiguous.value.content) == 2
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.upsert("Email/a@b.example", {"LastName": "Z"})


def test_collections_all_or_none(emu: RunningEmulator) -> None:
    sf = emu.salesforce()
    before = sf.query("SELECT COUNT() FROM Lead")["totalSize"]
    records = [{"attributes": {"type": "Lead"}, "LastName": "One", "Company": "A"},
               {"attributes": {"type": "Lead"}, "Company": "B"},
               {"attributes": {"type": "Lead"}, "LastName": "Three", "Company": "C", "Email": "x@"}]
    rolled_back = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    assert [r["success"] for r in rolled_back] == [False, False, False]
    assert rolled_back[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert rolled_back[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert rolled_back[2]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == before
    partial = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
    assert [r["success"] for r in partial] == [True, False, False]
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == before + 1
    update = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Lead"}, "id": partial[0]["id"], "Title": "VP"},
        {"attributes": {"type": "Lead"}, "id": "00Q5e0000099999AAA", "Title": "VP"}]})
    assert update[0] == {"id": partial[0]["id"], "success": True, "errors": []}
    assert update[1]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    upserted = sf.restful("composite/sobjects/Lead/Marketing_Id__c", method="PATCH", json={
        "allOrNone": False, "records": [{"attributes": {"type": "Lead"}, "Marketing_Id__c": "MK-C1",
                                         "LastName": "Up", "Company": "Sert"}]})
    assert upserted[0]["created"] is True and upserted[0]["success"] is True
    fetched = sf.restful("composite/sobjects/Lead", params={"ids": partial[0]["id"], "fields": "Id,Title"})
    assert fetched[0]["Title"] == "VP"
    with pytest.raises(SalesforceMalformedRequest) as too_many:
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records * 67})
    assert too_many.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": partial[0]["id"], "allOrNone": "false"})
    assert deleted[0]["success"] is True


def test_system_modstamp_moves_on_every_write_path(emu: RunningEmulator) -> None:
    sf = emu.salesforce()
    rows = sf.query("SELECT Id, SystemModstamp FROM Contact ORDER BY Id LIMIT 3")["records"]
    sf.Contact.update(rows[0]["Id"], {"Title": "A"})
    sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Contact"}, "id": rows[1]["Id"], "Title": "B"}]})
    sf.bulk2.Contact.update(records=[{"Id": rows[2]["Id"], "Title": "C"}], wait=0)
    after = {r["Id"]: r for r in sf.query(format_soql(
        "SELECT Id, Title, SystemModstamp, LastModifiedDate FROM Contact WHERE Id IN {}",
        [r["Id"] for r in rows]))["records"]}
    for row, title in zip(rows, "ABC", strict=True):
        assert after[row["Id"]]["Title"] == title
        assert after[row["Id"]]["SystemModstamp"] > row["SystemModstamp"]
        assert after[row["Id"]]["SystemModstamp"] == after[row["Id"]]["LastModifiedDate"]


# --- Bulk API 2.0 ----------------------------------------------------------------------------------------------------

def test_bulk2_query_pages_are_complete_csvs(shared: RunningEmulator) -> None:
    sf = shared.salesforce()
    total = sf.query("SELECT COUNT() FROM Lead")["totalSize"]
    pages = list(sf.bulk2.Lead.query("SELECT Id, Email, IsConverted, Behavior_Score__c, Owner.Email FROM Lead",
                                     max_records=1000, wait=0))
    assert len(pages) == (total + 999) // 1000
    rows = []
    for page in pages:
        reader = list(csv.reader(io.StringIO(page)))
        assert reader[0] == ["Id", "Email", "IsConverted", "Behavior_Score__c", "Owner.Email"]
        rows.extend(reader[1:])
    assert len(rows) == total == len({r[0] for r in rows})
    assert {r[2] for r in rows} == {"true", "false"}
    assert all(r[3] == "" or r[3].isdigit() for r in rows)  # Number(6,0) as plain integers
    raw = sf.session.get(f"https://{sf.sf_instance}/services/data/v62.0/jobs/query",
                         headers=sf.headers, timeout=30)
    assert raw.status_code == 200


def test_bulk2_query_all_and_last_page_headers(emu: RunningEmulator) -> None:
    sf = emu.salesforce()
    base = f"https://{sf.sf_instance}/services/data/v62.0/jobs/query"
    job = sf.session.post(base, headers=sf.headers, json={"operation": "queryAll", "query": (
        "SELECT Id, IsDeleted FROM Lead")}, timeout=30).json()
    assert job["state"] == "UploadComplete"
    assert sf.session.get(f"{base}/{job['id']}", headers=sf.headers, timeout=30).json()["state"] == "JobComplete"
    first = sf.session.get(f"{base}/{job['id']}/results", params={"maxRecords": 300}, headers=sf.headers, timeout=30)
    assert first.headers["Sforce-NumberOfRecords"] == "300" and first.headers["Sforce-Locator"] != "null"
    second = sf.session.get(f"{base}/{job['id']}/results", params={"maxRecords": 1000,
                                                                   "locator": first.headers["Sforce-Locator"]},
                            headers=sf.headers, timeout=30)
    assert second.headers["Sforce-Locator"] == "null"
    total = int(first.headers["Sforce-NumberOfRecords"]) + int(second.headers["Sforce-NumberOfRecords"])
    assert total == sf.query_all("SELECT Id FROM Lead", include_deleted=True)["totalSize"]
    assert '"true"' in second.text or '"true"' in first.text  # the seed deletes some Leads
    refused = sf.session.post(base, headers=sf.headers, json={"operation": "query",
                                                              "query": "SELECT COUNT() FROM Lead"}, timeout=30)
    assert refused.status_code == 400


def test_bulk2_ingest_results(emu: RunningEmulator) -> None:
    sf = emu.salesforce()
    results = sf.bulk2.Lead.upsert(records=[
        {"Marketing_Id__c": "MK-B1", "LastName": "Bulk", "Company": "One", "Email": "bulk1@example.com"},
        {"Marketing_Id__c": "MK-B2", "LastName": "Bulk", "Company": "Two", "Email": "broken@"},
        {"Marketing_Id__c": "MK-B3", "Company": "Three"},
    ], external_id_field="Marketing_Id__c", wait=0)
    assert results[0]["numberRecordsProcessed"] == 3 and results[0]["numberRecordsFailed"] == 2
    job_id = results[0]["job_id"]
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Lead.get_failed_records(job_id))))
    errors = {row["Marketing_Id__c"]: row["sf__Error"] for row in failed}
    assert errors["MK-B2"] == "INVALID_EMAIL_ADDRESS:Email: invalid email address: broken@:Email --"
    assert errors["MK-B3"] == "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Lead.get_successful_records(job_id))))
    assert len(ok) == 1 and ok[0]["sf__Created"] == "true" and ok[0]["sf__Id"].startswith("00Q")
    again = sf.bulk2.Lead.upsert(records=[{"Marketing_Id__c": "MK-B1", "Title": "", "Phone": "#N/A"}],
                                 external_id_field="Marketing_Id__c", wait=0)
    ok_again = list(csv.DictReader(io.StringIO(sf.bulk2.Lead.get_successful_records(again[0]["job_id"]))))
    assert ok_again[0]["sf__Created"] == "false"
    lead = sf.Lead.get(ok[0]["sf__Id"])
    assert lead["Email"] == "bulk1@example.com" and lead["Phone"] is None  # empty cell kept, #N/A cleared


# --- reports, limits, replication, faults --------------------------------------------------------------------------

def test_reports_api_with_row_cap(shared: RunningEmulator) -> None:
    sf = shared.salesforce()
    listed = {r["name"]: r for r in sf.restful("analytics/reports")}
    assert {"Prospects in Active Opportunities", "All Open Leads"} <= set(listed)
    soql_reports = sf.query("SELECT Id, Name, DeveloperName, FolderName, Format FROM Report")["records"]
    assert {r["Name"] for r in soql_reports} == set(listed)
    big = sf.restful(f"analytics/reports/{listed['All Open Leads']['id']}", params={"includeDetails": "true"})
    open_leads = sf.query("SELECT COUNT() FROM Lead WHERE IsConverted = false "
                          "AND Status != 'Closed - Not Converted'")["totalSize"]
    assert open_leads > 2000
    assert big["allData"] is False and len(big["factMap"]["T!T"]["rows"]) == 2000
    assert big["factMap"]["T!T"]["aggregates"][0]["value"] == open_leads
    prospects = sf.restful(f"analytics/reports/{listed['Prospects in Active Opportunities']['id']}",
                           params={"includeDetails": "true"})
    assert prospects["allData"] is True
    columns = prospects["reportMetadata"]["detailColumns"]
    assert columns[:3] == ["CONTACT_ID", "FULL_NAME", "EMAIL"]
    first = prospects["factMap"]["T!T"]["rows"][0]["dataCells"]
    assert first[0]["value"].startswith("003") and isinstance(first[columns.index("AMOUNT")]["value"], dict)
    expected = sf.query("SELECT COUNT() FROM OpportunityContactRole WHERE Opportunity.IsClosed = false")
    assert len(prospects["factMap"]["T!T"]["rows"]) == expected["totalSize"]
    summary = sf.restful(f"analytics/reports/{listed['All Open Leads']['id']}")
    assert summary["factMap"]["T!T"]["rows"] == []


def test_limits_usage_header_and_exhaustion(emu: RunningEmulator) -> None:
    sf = emu.salesforce()
    first = sf.limits()["DailyApiRequests"]
    sf.query("SELECT COUNT() FROM Lead")
    second = sf.limits()["DailyApiRequests"]
    assert second["Remaining"] == first["Remaining"] - 2
    assert sf.api_usage["api-usage"].used == second["Max"] - second["Remaining"]
    emu.admin("POST", "faults", {"daily_api_limit": sf.api_usage["api-usage"].used + 1})
    sf.query("SELECT COUNT() FROM Lead")
    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.query("SELECT COUNT() FROM Lead")
    assert refused.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_updated_and_deleted(shared: RunningEmulator) -> None:
    sf = shared.salesforce()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start, end = now - timedelta(days=3), now - timedelta(days=1)
    updated = sf.Lead.updated(start, end)
    expected = sf.query_all(format_soql(
        "SELECT Id FROM Lead WHERE SystemModstamp >= {} AND SystemModstamp < {}", start, end))["records"]
    assert sorted(updated["ids"]) == sorted(r["Id"] for r in expected) and expected
    assert updated["latestDateCovered"] == end.strftime("%Y-%m-%dT%H:%M:00.000+0000")
    deleted = sf.Lead.deleted(now - timedelta(days=14), now)
    in_bin = sf.query_all(format_soql("SELECT Id FROM Lead WHERE IsDeleted = true AND SystemModstamp >= {}",
                                      now - timedelta(days=14)), include_deleted=True)["records"]
    assert sorted(r["id"] for r in deleted["deletedRecords"]) == sorted(r["Id"] for r in in_bin) and in_bin
    with pytest.raises(SalesforceMalformedRequest) as too_old:
        sf.Lead.updated(now - timedelta(days=45), now)
    assert too_old.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_error_and_reset_faults_are_deterministic(emu: RunningEmulator) -> None:
    sf = emu.salesforce()
    emu.admin("POST", "faults", {"error_rate": 1.0})
    with pytest.raises(SalesforceGeneralError) as unavailable:
        sf.query("SELECT COUNT() FROM Lead")
    assert unavailable.value.status == 503
    emu.admin("POST", "faults", {"error_rate": 0.0, "reset_rate": 1.0})
    with pytest.raises(requests.exceptions.RequestException):
        sf.query("SELECT COUNT() FROM Lead")
    outcomes = []
    for _ in range(2):
        with running_emulator(seed=5, scale=20, faults="error_rate=0.5") as fresh:
            client = fresh.salesforce()
            run = []
            for _ in range(12):
                try:
                    client.query("SELECT COUNT() FROM Lead")
                    run.append("ok")
                except SalesforceGeneralError:
                    run.append("503")
            outcomes.append(run)
    assert outcomes[0] == outcomes[1] and {"ok", "503"} == set(outcomes[0])


def test_stats_count_api_calls_per_endpoint(emu: RunningEmulator) -> None:
    sf = emu.salesforce()
    before = _stats(emu)
    sf.query("SELECT COUNT() FROM Lead")
    sf.Lead.describe()
    after = _stats(emu)
    assert after["api_calls"] == before["api_calls"] + 2
    assert after["by_endpoint"]["query"] == before["by_endpoint"].get("query", 0) + 1
    assert after["by_endpoint"]["describe"] == before["by_endpoint"].get("describe", 0) + 1
