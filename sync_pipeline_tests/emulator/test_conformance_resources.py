"""Conformance of the resources clients call first: the versions list, a version's resources, repeated slashes,
record counts, SOAP logout and the Organization fields (simple-salesforce where it has a helper, requests else)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simple_salesforce.exceptions import SalesforceExpiredSession

from sync_pipeline.emulator.server import release_label
from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.salesforce.transport import emulator_session


@pytest.fixture(scope="module")
def org() -> Iterator[RunningEmulator]:
    with running_emulator(seed=81, scale=40) as emulator:
        yield emulator


def test_versions_carry_their_release_names(org: RunningEmulator) -> None:
    versions = emulator_session(org.url).get("https://login.salesforce.com/services/data/", timeout=10).json()
    labels = {item["version"]: item["label"] for item in versions}
    assert labels["31.0"] == "Summer '14" and labels["59.0"] == "Winter '24" and labels["65.0"] == "Winter '26"
    assert labels["66.0"] == "Spring '26" and labels["68.0"] == "Winter '27"
    assert versions[-1] == {"label": "Winter '27", "url": "/services/data/v68.0", "version": "68.0"}
    assert release_label(64) == "Summer '25"


def test_a_versions_root_lists_its_resources(org: RunningEmulator) -> None:
    sf = org.salesforce(version="64.0")
    resources = sf.restful("")
    assert resources["sobjects"] == "/services/data/v64.0/sobjects"
    assert resources["query"] == "/services/data/v64.0/query"
    assert {"limits", "queryAll", "analytics"} <= set(resources)


def test_repeated_slashes_are_accepted(org: RunningEmulator) -> None:
    sf = org.salesforce()
    url = f"https://{sf.sf_instance}//services/data/v62.0//query/?q=SELECT+COUNT()+FROM+Lead"
    answer = sf.session.get(url, headers=sf.headers, timeout=10)
    assert answer.status_code == 200 and answer.json()["totalSize"] == 40


def test_record_counts(org: RunningEmulator) -> None:
    sf = org.salesforce()
    counts = sf.restful("limits/recordCount", params={"sObjects": "Lead,Contact,Nope"})
    assert counts == {"sObjects": [{"count": 40, "name": "Lead"}, {"count": 10, "name": "Contact"}]}
    every = {item["name"] for item in sf.restful("limits/recordCount")["sObjects"]}
    assert {"Lead", "Contact", "Account", "Organization"} <= every


def test_soap_logout_ends_the_session(org: RunningEmulator) -> None:
    sf = org.salesforce(version="62.0")
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
        'envelope/" xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Header><urn:SessionHeader><urn:sessionId>'
        f"{sf.session_id}</urn:sessionId></urn:SessionHeader></soapenv:Header><soapenv:Body><urn:logout/>"
        "</soapenv:Body></soapenv:Envelope>")
    url = f"https://{sf.sf_instance}/services/Soap/u/62.0"
    answer = sf.session.post(url, data=envelope, headers={"Content-Type": "text/xml", "SOAPAction": "logout"},
                             timeout=10)
    assert answer.status_code == 200 and "<logoutResponse/>" in answer.text
    with pytest.raises(SalesforceExpiredSession):  # the client cannot log in again: it is a direct session now
        type(sf)(session_id=sf.session_id, instance=sf.sf_instance, session=sf.session).query("SELECT Id FROM Lead")
    again = sf.session.post(url, data=envelope, headers={"Content-Type": "text/xml", "SOAPAction": "logout"},
                            timeout=10)
    assert again.status_code == 500 and "INVALID_SESSION_ID" in again.text


def test_the_organization_has_the_fields_clients_read(org: RunningEmulator) -> None:
    sf = org.salesforce()
    row = sf.query("SELECT Id, TrialExpirationDate, NamespacePrefix FROM Organization")["records"][0]
    assert row["TrialExpirationDate"] is None and row["NamespacePrefix"] is None
    names = {field["name"] for field in sf.Organization.describe()["fields"]}
    assert {"TrialExpirationDate", "NamespacePrefix"} <= names


def _api_calls(org: RunningEmulator) -> int:
    return int(org.admin("GET", "stats")["api_calls"])


def test_composite_runs_subrequests_in_order_with_references_as_one_call(org: RunningEmulator) -> None:
    sf = org.salesforce()
    calls = _api_calls(org)
    answer = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Account", "referenceId": "acct",
         "body": {"Name": "Composite Co"}},
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Contact", "referenceId": "person",
         "body": {"LastName": "Ref", "AccountId": "@{acct.id}", "Email": "ref@composite.example.com"}},
        {"method": "GET", "referenceId": "read",
         "url": "/services/data/v62.0/query/?q=SELECT+Id,AccountId+FROM+Contact+WHERE+Id='@{person.id}'"},
    ]})
    assert _api_calls(org) == calls + 1  # one call, three subrequests
    first, second, third = answer["compositeResponse"]
    assert (first["httpStatusCode"], second["httpStatusCode"], third["httpStatusCode"]) == (201, 201, 200)
    assert third["body"]["records"][0]["AccountId"] == first["body"]["id"]
    assert third["referenceId"] == "read" and third["body"]["records"][0]["Id"] == second["body"]["id"]


def test_composite_all_or_none_rolls_every_subrequest_back(org: RunningEmulator) -> None:
    sf = org.salesforce()
    accounts = sf.query("SELECT COUNT() FROM Account")["totalSize"]
    answer = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Account", "referenceId": "good",
         "body": {"Name": "Rolled Back Co"}},
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Contact", "referenceId": "bad",
         "body": {"FirstName": "No last name"}},
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Account", "referenceId": "never",
         "body": {"Name": "Never Run Co"}},
    ]})
    good, bad, never = answer["compositeResponse"]
    assert bad["httpStatusCode"] == 400 and bad["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    for entry in (good, never):
        assert entry["httpStatusCode"] == 400 and entry["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == accounts  # nothing stayed


def test_composite_without_all_or_none_keeps_what_succeeded_and_halts_on_a_bad_reference(
        org: RunningEmulator) -> None:
    sf = org.salesforce()
    answer = sf.restful("composite", method="POST", json={"compositeRequest": [
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Contact", "referenceId": "bad",
         "body": {"FirstName": "No last name"}},
        {"method": "PATCH", "url": "/services/data/v62.0/sobjects/Contact/@{bad.id}", "referenceId": "follow",
         "body": {"LastName": "X"}},
        {"method": "POST", "url": "/services/data/v62.0/sobjects/Account", "referenceId": "kept",
         "body": {"Name": "Kept Co"}},
    ]})
    bad, follow, kept = answer["compositeResponse"]
    assert bad["httpStatusCode"] == 400
    assert follow["httpStatusCode"] == 400 and follow["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert "bad.id" in follow["body"][0]["message"]
    assert kept["httpStatusCode"] == 201 and sf.Account.get(kept["body"]["id"])["Name"] == "Kept Co"


def test_composite_batch_runs_each_subrequest_alone_and_can_halt(org: RunningEmulator) -> None:
    sf = org.salesforce()
    answer = sf.restful("composite/batch", method="POST", json={"haltOnError": True, "batchRequests": [
        {"method": "GET", "url": "v62.0/query/?q=SELECT+COUNT()+FROM+Lead"},
        {"method": "GET", "url": "v62.0/sobjects/Lead/00Q000000000000AAA"},
        {"method": "GET", "url": "v62.0/limits"},
    ]})
    assert answer["hasErrors"] is True
    counted, missing, halted = answer["results"]
    assert counted["statusCode"] == 200 and counted["result"]["totalSize"] == 40
    assert missing["statusCode"] == 404
    assert halted == {"statusCode": 412, "result": [{"errorCode": "BATCH_PROCESSING_HALTED",
                                                    "message": "Batch processing halted per request"}]}
    too_many = sf.session.post(f"{sf.base_url}composite/batch", headers=sf.headers, timeout=10, json={
        "batchRequests": [{"method": "GET", "url": "v62.0/limits"}] * 26})
    assert too_many.status_code == 400 and too_many.json()[0]["errorCode"] == "LIMIT_EXCEEDED"


def test_header_names_are_written_as_salesforce_writes_them(org: RunningEmulator) -> None:
    """Read from the raw response, before any library folds the case."""
    import http.client
    from urllib.parse import urlsplit

    target = urlsplit(org.url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
    connection.request("GET", "/services/data/")
    names = [name for name, _ in connection.getresponse().getheaders()]
    connection.close()
    assert "Content-Type" in names and "Content-Length" in names
    sf = org.salesforce()
    answer = sf.session.get(f"{sf.base_url}limits", headers=sf.headers, timeout=10)
    assert "Sforce-Limit-Info" in answer.raw.headers.keys()  # noqa: SIM118 (the raw names, not a case-folding lookup)


def test_query_columns_describe_the_selected_columns_without_rows(org: RunningEmulator) -> None:
    sf = org.salesforce()
    answer = sf.restful("query", params={"q": "SELECT Id, Email, IsConverted, Owner.Name FROM Lead", "columns": "true"})
    assert (answer["entityName"], answer["idSelected"], answer["keyPrefix"]) == ("Lead", True, "00Q")
    assert "records" not in answer
    columns = {column["columnName"]: column for column in answer["columnMetadata"]}
    assert list(columns) == ["Id", "Email", "IsConverted", "Owner"]
    assert (columns["Id"]["apexType"], columns["Id"]["updatable"]) == ("Id", False)
    assert (columns["Email"]["apexType"], columns["Email"]["textType"], columns["Email"]["updatable"]) == (
        "String", True, True)
    assert columns["IsConverted"]["booleanType"] is True
    owner = columns["Owner"]["joinColumns"]
    assert [(c["columnName"], c["displayName"]) for c in owner] == [("Name", "Owner.Name")]


def test_report_instances_run_asynchronously_and_are_read_back(org: RunningEmulator) -> None:
    sf = org.salesforce()
    report = sf.restful("analytics/reports")[0]
    synchronous = sf.restful(f"analytics/reports/{report['id']}", params={"includeDetails": "true"})
    started = sf.restful(f"analytics/reports/{report['id']}/instances", method="POST",
                         params={"includeDetails": "true"})
    assert started["status"] == "New" and started["url"].endswith(f"/instances/{started['id']}")
    listed = sf.restful(f"analytics/reports/{report['id']}/instances")
    assert [(item["id"], item["status"]) for item in listed] == [(started["id"], "Success")]
    result = sf.restful(f"analytics/reports/{report['id']}/instances/{started['id']}")
    assert result["attributes"]["status"] == "Success" and result["attributes"]["type"] == "ReportInstance"
    assert result["factMap"]["T!T"]["aggregates"] == synchronous["factMap"]["T!T"]["aggregates"]
    assert len(result["factMap"]["T!T"]["rows"]) == len(synchronous["factMap"]["T!T"]["rows"]) > 0
    missing = sf.session.get(f"{sf.base_url}analytics/reports/{report['id']}/instances/0LG5e0000009999AAA",
                             headers=sf.headers, timeout=10)
    assert missing.status_code == 404
