"""The emulator over HTTPS: a client that trusts its certificate reaches it with no transport of ours, and every
URL it answers with (instance, identity, SOAP server, next page) leads back to it."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterator

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.login import SalesforceLogin

from sync_pipeline.emulator.testing import RunningEmulator, running_emulator


@pytest.fixture(scope="module")
def org() -> Iterator[RunningEmulator]:
    with running_emulator(seed=91, scale=300, page_size=100, tls=True) as emulator:
        yield emulator


def _session(org: RunningEmulator) -> requests.Session:
    """A plain requests session that trusts the emulator's certificate: no adapter, no rewriting."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(org.certificate)
    return session


def test_it_serves_https_with_a_certificate_for_127_0_0_1(org: RunningEmulator) -> None:
    assert org.url.startswith("https://127.0.0.1:")
    answer = _session(org).get(f"{org.url}/services/data/", timeout=10)
    assert answer.status_code == 200 and answer.json()[-1]["version"] == "68.0"
    with pytest.raises(requests.exceptions.SSLError):  # an untrusted certificate is refused, as it should be
        requests.get(f"{org.url}/services/data/", timeout=10, verify=ssl.get_default_verify_paths().cafile or True)


def test_an_oauth_client_reaches_it_unmodified(org: RunningEmulator) -> None:
    app = org.state.client_app
    session = _session(org)
    basic = base64.b64encode(f"{app.consumer_key}:{app.consumer_secret}".encode()).decode()
    token = session.post(f"{org.url}/services/oauth2/token", data={"grant_type": "client_credentials"},
                         headers={"Authorization": f"Basic {basic}"}, timeout=10).json()
    assert token["instance_url"] == org.url and token["id"].startswith(f"{org.url}/id/")
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert session.get(token["id"], headers=bearer, timeout=10).json()["username"] == org.username
    sf = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session)
    count = sf.query("SELECT COUNT() FROM Lead")["totalSize"]
    leads = sf.query_all("SELECT Id FROM Lead")  # three pages through nextRecordsUrl
    assert count > 200 and leads["totalSize"] == count == len({r["Id"] for r in leads["records"]})


def test_a_soap_login_names_the_emulator_as_its_server(org: RunningEmulator) -> None:
    session_id, instance = SalesforceLogin(username=org.username, password=org.password,
                                           security_token=org.security_token, sf_version="62.0",
                                           session=_session(org), scratch_url=org.url)
    assert instance == org.url.removeprefix("https://")
    sf = Salesforce(instance=instance, session_id=session_id, session=_session(org), version="62.0")
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 75


def test_our_own_transport_reaches_it_too(org: RunningEmulator) -> None:
    assert org.salesforce().query("SELECT COUNT() FROM Contact")["totalSize"] == 75
