"""An emulator on a free loopback port in a background thread, for tests, the demo and benchmarks."""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import uvicorn
from simple_salesforce import Salesforce

from sync_pipeline.emulator.app import Credentials, build_emulator, my_domain
from sync_pipeline.emulator.oauth import ClientApp, demo_app
from sync_pipeline.emulator.server import HTTP_PROTOCOL, Emulator, EmulatorApp
from sync_pipeline.emulator.tls import make_tls_files
from sync_pipeline.salesforce.auth import LoginCredentials
from sync_pipeline.salesforce.transport import emulator_session
from sync_pipeline.settings.login import AuthMode


@dataclass
class RunningEmulator:
    url: str
    credentials: Credentials
    state: Emulator
    summary: dict[str, Any]
    # PEM of the demo app's certificate key, made when the emulator started (JWT logins).
    private_key: str = field(default="", repr=False)
    certificate: Path | None = None  # with tls=True: the certificate file to trust (the emulator serves HTTPS)

    @property
    def username(self) -> str:
        return self.credentials.username

    @property
    def password(self) -> str:
        return self.credentials.password

    @property
    def security_token(self) -> str:
        return self.credentials.security_token

    @property
    def domain(self) -> str:
        return "test" if self.state.org.is_sandbox else "login"

    def salesforce(self, version: str = "62.0", **kwargs: Any) -> Salesforce:
        """The real client, logged in through the production SOAP login path."""
        return Salesforce(username=self.username, password=self.password, security_token=self.security_token,
                          domain=kwargs.pop("domain", self.domain), version=version,
                          session=emulator_session(self.url, verify=self.verify), **kwargs)

    @property
    def verify(self) -> str | bool:
        """What a client verifies this emulator's HTTPS against (its certificate; True for plain HTTP)."""
        return str(self.certificate) if self.certificate else True

    def login(self, mode: AuthMode = AuthMode.JWT) -> LoginCredentials:
        """The credentials of a login by ``mode`` into this emulator's org."""
        env = self.env(mode)
        return LoginCredentials.choose(
            auth=env["SALESFORCE_AUTH"], username=env.get("SALESFORCE_USERNAME", ""),
            password=env.get("SALESFORCE_PASSWORD", ""), security_token=env.get("SALESFORCE_SECURITY_TOKEN", ""),
            consumer_key=env.get("SALESFORCE_CONSUMER_KEY", ""),
            consumer_secret=env.get("SALESFORCE_CONSUMER_SECRET", ""),
            private_key=env.get("SALESFORCE_PRIVATE_KEY", ""), domain=env["SALESFORCE_DOMAIN"])

    def admin(self, method: str, name: str, payload: dict[str, Any] | None = None) -> Any:
        session = requests.Session()
        session.trust_env = False
        response = session.request(method, f"{self.url}/__emulator__/{name}", json=payload, timeout=30,
                                   verify=self.verify)
        response.raise_for_status()
        return response.json()

    def env(self, mode: AuthMode = AuthMode.JWT) -> dict[str, str]:
        """The environment of a sync that logs in to this emulator by ``mode`` (JWT by default, as the demo)."""
        env = {"SALESFORCE_EMULATOR_URL": self.url, "SALESFORCE_AUTH": mode.value, "SALESFORCE_DOMAIN": self.domain}
        app = self.state.client_app
        if mode is AuthMode.JWT:
            env.update(SALESFORCE_CONSUMER_KEY=app.consumer_key, SALESFORCE_USERNAME=self.username,
                       SALESFORCE_PRIVATE_KEY=self.private_key)
        elif mode is AuthMode.CLIENT_CREDENTIALS:
            env.update(SALESFORCE_CONSUMER_KEY=app.consumer_key, SALESFORCE_CONSUMER_SECRET=app.consumer_secret,
                       SALESFORCE_DOMAIN=my_domain(self.state))
        else:
            env.update(SALESFORCE_USERNAME=self.username, SALESFORCE_PASSWORD=self.password,
                       SALESFORCE_SECURITY_TOKEN=self.security_token)
        return env


@functools.cache
def _demo_app() -> tuple[ClientApp, str]:
    """The demo app with a key pair made once per process (the emulators of one test run or demo share it)."""
    return demo_app()


@contextmanager
def running_emulator(**options: Any) -> Iterator[RunningEmulator]:
    """Build (see ``build_emulator``) and serve an emulator until the block ends.

    Unless ``client_app`` is given, the org's app is the demo app with a key pair made now (for JWT logins). With
    ``tls=True`` it serves HTTPS with a certificate made now, and every URL it answers with names 127.0.0.1:PORT."""
    private_key = ""
    if "client_app" not in options:
        options["client_app"], private_key = _demo_app()
    tls = make_tls_files() if options.pop("tls", False) else None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    if tls:
        options["instance_host"] = f"127.0.0.1:{port}"
    emulator, summary = build_emulator(**options)
    server = uvicorn.Server(uvicorn.Config(EmulatorApp(emulator), log_level="critical", lifespan="off",
                                           access_log=False, http=HTTP_PROTOCOL,
                                           ssl_certfile=str(tls.certificate) if tls else None,
                                           ssl_keyfile=str(tls.key) if tls else None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the emulator did not start")
        time.sleep(0.01)
    try:
        yield RunningEmulator(f"{'https' if tls else 'http'}://127.0.0.1:{port}",
                              options.get("credentials") or Credentials(), emulator, summary, private_key,
                              tls.certificate if tls else None)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
