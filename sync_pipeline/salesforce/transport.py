"""Route simple-salesforce traffic to a plain-HTTP Salesforce emulator.

simple-salesforce builds every URL as ``https://<host>/...`` and logs in at ``https://<domain>.salesforce.com``.
To reach a local emulator without touching that code path, we hand it a ``requests.Session`` whose ``https://``
adapter rewrites each request to the emulator's ``http://host:port``, keeping the original host in a header so the
emulator can tell a sandbox login (``test.salesforce.com``) from a production one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

ORIGINAL_HOST_HEADER = "X-Emulator-Original-Host"


class EmulatorAdapter(HTTPAdapter):
    """Send every request to one plain-HTTP netloc, remembering the host it was meant for."""

    def __init__(self, target_netloc: str, scheme: str = "http", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_netloc = target_netloc
        self.scheme = scheme

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        request.headers[ORIGINAL_HOST_HEADER] = parts.netloc
        request.url = urlunsplit((self.scheme, self.target_netloc, parts.path, parts.query, parts.fragment))
        return super().send(request, **kwargs)


def read_retry() -> Retry:
    """Retries of idempotent reads on transient faults (502/503/504, refused or reset connections), with backoff.

    Writes are not retried here: the push decides what may be sent again (see ``salesforce/push.py``)."""
    return Retry(total=4, connect=4, read=2, backoff_factor=0.3, status_forcelist=(502, 503, 504),
                 allowed_methods=frozenset({"GET", "HEAD"}), raise_on_status=False)


def emulator_session(base_url: str, *, retry: Retry | None = None, verify: str | bool = True) -> requests.Session:
    """A session that sends all Salesforce traffic to the emulator at ``base_url`` (e.g. http://127.0.0.1:8765, or
    https://127.0.0.1:8443 with ``verify`` its certificate file).

    ``trust_env`` is off so proxy and CA-bundle variables of the machine cannot hijack loopback traffic.
    """
    parts = urlsplit(base_url)
    netloc, scheme = parts.netloc or base_url, parts.scheme or "http"
    session = requests.Session()
    session.trust_env = False
    session.verify = verify
    adapter = (EmulatorAdapter(netloc, scheme, max_retries=retry) if retry is not None
               else EmulatorAdapter(netloc, scheme))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
