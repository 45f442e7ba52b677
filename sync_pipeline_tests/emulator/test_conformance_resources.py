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
