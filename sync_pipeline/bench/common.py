"""What the parts of `make bench` share: an emulator in a process of its own, and changes made to its org."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from sync_pipeline.emulator.app import DEFAULT_PASSWORD, DEFAULT_SECURITY_TOKEN, DEFAULT_USERNAME
from sync_pipeline.records.mirror import mirror_table
from sync_pipeline.salesforce.auth import LoginCredentials
from sync_pipeline.settings.login import AuthMode

EMULATOR_START_SECONDS = 900  # generous: at 1,000,000 Leads the seed, and its events when asked, take minutes
BENCH_TITLE = "Changed in bench"


@dataclass
class Emulator:
    url: str
    process: subprocess.Popen[bytes]

    def stats(self) -> dict[str, Any]:
        return session().get(f"{self.url}/__emulator__/stats", timeout=30).json()


def emulator_login() -> LoginCredentials:
    """The benches' login into their emulator process: its default user by the password login (the emulator process
    makes its app's key pair itself; the login mode does not change what a bench measures)."""
    return LoginCredentials(AuthMode.PASSWORD, username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD,
                            security_token=DEFAULT_SECURITY_TOKEN)


def session() -> requests.Session:
    """A plain HTTP session that ignores proxy settings: the emulator is on the loopback."""
    plain = requests.Session()
    plain.trust_env = False
    return plain


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def emulator_process(leads: int, seed: int = 7, *, events: Path | None = None,
                     events_people: int | None = None) -> Iterator[Emulator]:
    """``sync-pipeline emulator serve`` at ``leads`` in its own process (as a real org: not sharing our CPU).

    With ``events``, the emulator writes the seed's engagement events of ``events_people`` people to that file before
    it answers, so the file is complete once this yields."""
    port = free_port()
    command = [sys.executable, "-m", "sync_pipeline.cli", "emulator", "serve", "--port", str(port),
               "--seed", str(seed), "--scale", str(leads)]
    if events is not None:
        command += ["--events", str(events)] + (["--events-people", str(events_people)] if events_people else [])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, url)
        yield Emulator(url, process)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _wait_until_up(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + EMULATOR_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else b""  # a pipe: stdout=PIPE above
            raise RuntimeError("the emulator stopped: " + output.decode()[-2000:])
        try:
            session().get(f"{url}/services/data", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.5)
    raise RuntimeError(f"the emulator did not answer within {EMULATOR_START_SECONDS} s")


def live_ids(conn: sa.Connection, object_name: str, count: int) -> list[str]:
    """The first ``count`` live records of a pulled mirror that Salesforce lets us update."""
    # Converted Leads refuse updates, so the Leads changed are live, not converted ones.
    live = "NOT is_deleted AND isconverted = 'false'" if object_name == "Lead" else "NOT is_deleted"
    return [row[0] for row in conn.execute(
        sa.text(f"SELECT id FROM {mirror_table(object_name)} WHERE {live} ORDER BY id LIMIT :n"), {"n": count})]


def change_titles(client: Any, object_name: str, ids: list[str]) -> None:
    """Change the Title of these records through Bulk API 2.0 ingest (a real write path of the org)."""
    getattr(client.bulk2, object_name).update(records=[{"Id": i, "Title": BENCH_TITLE} for i in ids], wait=0)
