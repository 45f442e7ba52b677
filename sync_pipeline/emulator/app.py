"""Building and running an emulator: from a seed to a served org (``sync-pipeline emulator serve``)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn

from sync_pipeline.emulator.faults import parse_fault_spec
from sync_pipeline.emulator.oauth import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, ClientApp, demo_app, public_key_of
from sync_pipeline.emulator.org import Org
from sync_pipeline.emulator.seed import EVENTS_PEOPLE, generate, org_identity, write_events
from sync_pipeline.emulator.server import DEFAULT_PAGE_SIZE, HTTP_PROTOCOL, Emulator, EmulatorApp
from sync_pipeline.emulator.tls import make_tls_files

DEFAULT_USERNAME = "integration@acme.example.com"
DEFAULT_PASSWORD = "demo-password"
DEFAULT_SECURITY_TOKEN = "DEMOTOKEN0123456789"


@dataclass(frozen=True)
class Credentials:
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    security_token: str = DEFAULT_SECURITY_TOKEN


def build_emulator(*, seed: int = 7, scale: str | int = "demo", faults: dict[str, Any] | str | None = None,
                   credentials: Credentials | None = None, sandbox: bool = False,
                   page_size: int = DEFAULT_PAGE_SIZE, anchor: datetime | None = None,
                   events_path: Path | None = None, events_people: int = EVENTS_PEOPLE,
                   client_app: ClientApp | None = None, instance_host: str | None = None
                   ) -> tuple[Emulator, dict[str, Any]]:
    """A seeded emulator and a summary (counts per object, generation seconds, events written).

    ``client_app`` is the External Client App its OAuth logins go through (default: the demo app's key and secret,
    without a certificate: no JWT login). ``instance_host`` is the host its URLs name (default: a My Domain of the
    org's name, which a client reaches through the transport; ``127.0.0.1:PORT`` when it serves HTTPS itself).

    With ``events_path``, the seed's engagement events of the first ``events_people`` people go to that file."""
    credentials = credentials or Credentials()
    org_id, org_name = org_identity(seed)
    from sync_pipeline.emulator import ids

    org = Org(org_id=org_id, org_name=org_name + (" (sandbox)" if sandbox else ""), is_sandbox=sandbox,
              integration_user_id=ids.make_id("005", 1))
    started = time.perf_counter()
    summary, reports = generate(org, seed=seed, scale=scale, anchor=anchor,
                                integration_username=credentials.username)
    seconds = time.perf_counter() - started
    fault_changes = parse_fault_spec(faults) if isinstance(faults, str) else (faults or {})
    emulator = Emulator(org, seed=seed, username=credentials.username, password=credentials.password,
                        security_token=credentials.security_token, reports=reports, page_size=page_size,
                        faults=fault_changes, client_app=client_app, instance_host=instance_host)
    events = write_events(org, events_path, seed=seed, anchor=summary.anchor,
                          max_people=events_people) if events_path else 0
    return emulator, {"org_id": org_id, "org_name": org.org_name, "counts": summary.counts,
                      "generation_seconds": round(seconds, 2), "events": events}


def serve(port: int, *, seed: int = 7, scale: str | int = "demo", faults: str | None = None,
          username: str | None = None, password: str | None = None, security_token: str | None = None,
          sandbox: bool = False, events_path: Path | None = None, events_people: int | None = None,
          consumer_key: str | None = None, consumer_secret: str | None = None,
          jwt_certificate: Path | None = None, tls: bool = False) -> None:
    """Run the emulator in the foreground on 127.0.0.1 until interrupted.

    Without ``jwt_certificate`` the app gets a key pair made now; its private key goes to a file of its own (mode
    0600) whose path is printed, for the JWT login."""
    credentials = Credentials(username or DEFAULT_USERNAME, password or DEFAULT_PASSWORD,
                              security_token or DEFAULT_SECURITY_TOKEN)
    app, key_file = _client_app(consumer_key, consumer_secret, jwt_certificate)
    tls_files = make_tls_files() if tls else None
    emulator, summary = build_emulator(seed=seed, scale=scale, faults=faults, credentials=credentials,
                                       sandbox=sandbox, events_path=events_path,
                                       events_people=events_people or EVENTS_PEOPLE, client_app=app,
                                       instance_host=f"127.0.0.1:{port}" if tls else None)
    counts = ", ".join(f"{name} {count:,}" for name, count in summary["counts"].items())
    domain = "test" if sandbox else "login"
    print(f"Salesforce emulator for org {summary['org_id']} ({summary['org_name']}), seed {seed}, scale {scale}")
    print(f"  generated in {summary['generation_seconds']} s: {counts}")
    print(f"  url:      {'https' if tls_files else 'http'}://127.0.0.1:{port}")
    if tls_files:
        print(f"  tls:      trust {tls_files.certificate} (REQUESTS_CA_BUNDLE or SSL_CERT_FILE for Python, "
              "NODE_EXTRA_CA_CERTS for Node); every URL it answers with leads back here")
    print(f"  app:      consumer key {app.consumer_key}"
          + (f", consumer secret {DEMO_CONSUMER_SECRET} (the demo app's)" if consumer_secret is None else ""))
    print(f"  jwt:      SALESFORCE_AUTH=jwt SALESFORCE_CONSUMER_KEY={app.consumer_key} "
          f"SALESFORCE_USERNAME={credentials.username} "
          f"SALESFORCE_PRIVATE_KEY_FILE={key_file or '<the key of ' + str(jwt_certificate) + '>'} "
          f"SALESFORCE_DOMAIN={domain}")
    print(f"  client credentials: SALESFORCE_AUTH=client_credentials SALESFORCE_CONSUMER_KEY={app.consumer_key} "
          f"SALESFORCE_CONSUMER_SECRET=<the app's secret> SALESFORCE_DOMAIN={my_domain(emulator)}")
    print(f"  password (legacy, API 64.0 and before): username {credentials.username}, password and security token "
          f"as given (defaults: {DEFAULT_PASSWORD} / {DEFAULT_SECURITY_TOKEN}), domain {domain}")
    if events_path:
        print(f"  events:   {summary['events']:,} engagement events written to {events_path}")
    if tls_files is None:
        print(f"  use it:   export SALESFORCE_EMULATOR_URL=http://127.0.0.1:{port}", flush=True)
    else:
        print(f"  use it:   log in at https://127.0.0.1:{port} with any Salesforce client", flush=True)
    uvicorn.run(EmulatorApp(emulator), host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                access_log=False, http=HTTP_PROTOCOL, ssl_certfile=str(tls_files.certificate) if tls_files else None,
                ssl_keyfile=str(tls_files.key) if tls_files else None)


def my_domain(emulator: Emulator) -> str:
    """The org's My Domain as SALESFORCE_DOMAIN takes it (its instance host without .salesforce.com)."""
    return emulator.instance_host.removesuffix(".salesforce.com")


def _client_app(consumer_key: str | None, consumer_secret: str | None, certificate: Path | None
                ) -> tuple[ClientApp, Path | None]:
    """The app of ``emulator serve``: the given key, secret and certificate, or the demo's with a key pair made now
    (its private key written to a private file, returned)."""
    key, secret = consumer_key or DEMO_CONSUMER_KEY, consumer_secret or DEMO_CONSUMER_SECRET
    if certificate is not None:
        return ClientApp(key, secret, public_key_of(certificate.read_bytes())), None
    app, private_pem = demo_app()
    folder = Path(tempfile.mkdtemp(prefix="sync-pipeline-emulator-"))
    key_file = folder / "demo-app.key"
    key_file.touch(mode=0o600)
    key_file.write_text(private_pem)
    return ClientApp(key, secret, app.public_key_pem), key_file
