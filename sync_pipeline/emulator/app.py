"""Building and running an emulator: from a seed to a served org (``sync-pipeline emulator serve``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn

from sync_pipeline.emulator.faults import parse_fault_spec
from sync_pipeline.emulator.org import Org
from sync_pipeline.emulator.seed import EVENTS_PEOPLE, generate, org_identity, write_events
from sync_pipeline.emulator.server import DEFAULT_PAGE_SIZE, Emulator, EmulatorApp

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
                   events_path: Path | None = None, events_people: int = EVENTS_PEOPLE
                   ) -> tuple[Emulator, dict[str, Any]]:
    """A seeded emulator and a summary (counts per object, generation seconds, events written).

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
                        faults=fault_changes)
    events = write_events(org, events_path, seed=seed, anchor=summary.anchor,
                          max_people=events_people) if events_path else 0
    return emulator, {"org_id": org_id, "org_name": org.org_name, "counts": summary.counts,
                      "generation_seconds": round(seconds, 2), "events": events}


def serve(port: int, *, seed: int = 7, scale: str | int = "demo", faults: str | None = None,
          username: str | None = None, password: str | None = None, security_token: str | None = None,
          sandbox: bool = False, events_path: Path | None = None, events_people: int | None = None) -> None:
    """Run the emulator in the foreground on 127.0.0.1 until interrupted."""
    credentials = Credentials(username or DEFAULT_USERNAME, password or DEFAULT_PASSWORD,
                              security_token or DEFAULT_SECURITY_TOKEN)
    emulator, summary = build_emulator(seed=seed, scale=scale, faults=faults, credentials=credentials,
                                       sandbox=sandbox, events_path=events_path,
                                       events_people=events_people or EVENTS_PEOPLE)
    counts = ", ".join(f"{name} {count:,}" for name, count in summary["counts"].items())
    print(f"Salesforce emulator for org {summary['org_id']} ({summary['org_name']}), seed {seed}, scale {scale}")
    print(f"  generated in {summary['generation_seconds']} s: {counts}")
    print(f"  url:      http://127.0.0.1:{port}")
    print(f"  login:    username {credentials.username}, password and security token as given "
          f"(defaults: {DEFAULT_PASSWORD} / {DEFAULT_SECURITY_TOKEN}), domain {'test' if sandbox else 'login'}")
    if events_path:
        print(f"  events:   {summary['events']:,} engagement events written to {events_path}")
    print(f"  use it:   export SALESFORCE_EMULATOR_URL=http://127.0.0.1:{port}", flush=True)
    uvicorn.run(EmulatorApp(emulator), host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                access_log=False)
