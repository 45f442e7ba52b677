"""Conformance of the emulator's OAuth 2.0 token endpoint and identity resources, over real HTTP.

Requests are sent as a client sends them (form-encoded token requests, Bearer calls), through the same transport
as the pipeline, so the host a request was meant for (login., test., a My Domain) is what the emulator sees."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from sync_pipeline.emulator.oauth import JWT_BEARER, ClientApp, generate_key_pair
from sync_pipeline.emulator.testing import RunningEmulator, running_emulator
from sync_pipeline.salesforce.transport import emulator_session

LOGIN = "https://login.salesforce.com/services/oauth2/token"
SECRET = "App-Secret-For-Conformance"


@pytest.fixture(scope="module")
def org() -> Iterator[RunningEmulator]:
    private_key, public_key = generate_key_pair()
    with running_emulator(seed=51, scale=20, client_app=ClientApp("3MVG9Conformance", SECRET, public_key)) as emu:
        emu.private_key = private_key
        yield emu


def _assertion(org: RunningEmulator, **claims: Any) -> str:
    key = claims.pop("key", None) or org.private_key
    payload = {"iss": org.state.client_app.consumer_key, "sub": org.username, "aud": "https://login.salesforce.com",
               "exp": int(time.time()) + 170, **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm="RS256")


def _token(org: RunningEmulator, data: dict[str, str], url: str = LOGIN, **kwargs: Any) -> requests.Response:
    return emulator_session(org.url).post(url, data=data, timeout=10, **kwargs)


def test_jwt_bearer_gives_a_working_token_and_identity(org: RunningEmulator) -> None:
    answer = _token(org, {"grant_type": JWT_BEARER, "assertion": _assertion(org)})
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["instance_url"] == f"https://{org.state.instance_host}"
    user_id = org.state.org.integration_user_id
    assert body["id"] == f"https://login.salesforce.com/id/{org.state.org.org_id}/{user_id}"
    session = emulator_session(org.url)
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    identity = session.get(body["id"], headers=bearer, timeout=10)  # the id URL leads back to the emulator
    assert identity.status_code == 200
    assert identity.json()["username"] == org.username and identity.json()["user_id"] == user_id
    userinfo = session.get(f"{body['instance_url']}/services/oauth2/userinfo", headers=bearer, timeout=10).json()
    assert userinfo["preferred_username"] == org.username and userinfo["organization_id"] == org.state.org.org_id
    other = session.get(f"https://login.salesforce.com/id/{org.state.org.org_id}/005000000000001AAA",
                        headers=bearer, timeout=10)
    assert other.status_code == 403  # another user's identity is not this token's
    assert session.get(body["id"], timeout=10).status_code == 401  # no token, no identity


@pytest.mark.parametrize(("claims", "description"), [
    ({"exp": int(time.time()) - 120}, "expired authorization code"),
    ({"exp": int(time.time()) + 3600}, "invalid assertion"),  # more than 3 minutes ahead
    ({"exp": None}, "invalid assertion"),
    ({"aud": "https://test.salesforce.com"}, "audience is invalid"),  # a production org
    ({"aud": "https://acme.my.salesforce.com"}, "audience is invalid"),
    ({"sub": "nobody@acme.example.com"}, "authentication failure"),
    ({"key": generate_key_pair()[0]}, "invalid assertion"),  # signed by a key the app does not know
], ids=["expired", "too-long", "no-exp", "sandbox-audience", "my-domain-audience", "unknown-user", "wrong-key"])
def test_jwt_assertions_are_checked_as_salesforce_checks_them(org: RunningEmulator, claims: dict[str, Any],
                                                              description: str) -> None:
    answer = _token(org, {"grant_type": JWT_BEARER, "assertion": _assertion(org, **claims)})
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant", "error_description": description}


def test_an_unknown_issuer_and_a_malformed_assertion(org: RunningEmulator) -> None:
    unknown = _token(org, {"grant_type": JWT_BEARER, "assertion": _assertion(org, iss="3MVG9Other")})
    assert unknown.json() == {"error": "invalid_client_id", "error_description": "client identifier invalid"}
    garbled = _token(org, {"grant_type": JWT_BEARER, "assertion": "not.a.jwt"})
    assert garbled.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


def test_client_credentials_on_the_my_domain_only(org: RunningEmulator) -> None:
    key = org.state.client_app.consumer_key
    basic = {"Authorization": "Basic " + base64.b64encode(f"{key}:{SECRET}".encode()).decode()}
    my_domain = f"https://{org.state.instance_host}/services/oauth2/token"
    assert _token(org, {"grant_type": "client_credentials"}, my_domain, headers=basic).status_code == 200
    form = {"grant_type": "client_credentials", "client_id": key, "client_secret": SECRET}
    assert _token(org, form, my_domain).status_code == 200  # the secret in the body works too
    on_login = _token(org, {"grant_type": "client_credentials"}, headers=basic)
    assert on_login.json() == {"error": "invalid_grant", "error_description": "request not supported on this domain"}
    wrong = _token(org, {**form, "client_secret": "nope"}, my_domain)
    assert wrong.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}


def test_refresh_tokens_and_unknown_grants(org: RunningEmulator) -> None:
    refresh = org.admin("POST", "refresh_token")["refresh_token"]
    key = org.state.client_app.consumer_key
    renewed = _token(org, {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": key})
    assert renewed.status_code == 200 and renewed.json()["access_token"] in org.state.sessions
    revoked = _token(org, {"grant_type": "refresh_token", "refresh_token": "5Aep861revoked", "client_id": key})
    assert revoked.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}
    unknown = _token(org, {"grant_type": "authorization_code", "code": "x"})
    assert unknown.json() == {"error": "unsupported_grant_type", "error_description": "grant type not supported"}


def test_tokens_expire_like_sessions_and_a_new_assertion_works(org: RunningEmulator) -> None:
    token = _token(org, {"grant_type": JWT_BEARER, "assertion": _assertion(org)}).json()["access_token"]
    url = f"https://{org.state.instance_host}/services/data/v65.0/limits"
    session = emulator_session(org.url)
    assert session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 200
    org.admin("POST", "faults", {"expire_sessions": True})
    expired = session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert expired.status_code == 401 and expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    fresh = _token(org, {"grant_type": JWT_BEARER, "assertion": _assertion(org)}).json()["access_token"]
    assert session.get(url, headers={"Authorization": f"Bearer {fresh}"}, timeout=10).status_code == 200
