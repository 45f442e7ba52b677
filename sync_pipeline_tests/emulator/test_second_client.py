"""A second client nobody here wrote: jsforce (Node.js) against the emulator over HTTPS, with no transport of ours.

It logs in (SOAP and OAuth), pages a query, describes, writes records one by one and through sObject Collections,
runs Bulk API 2.0 query and ingest jobs, a report, limits, Composite, and sees an expired session as Salesforce
reports it. The package is pinned in ``second_client/package-lock.json`` and installed with ``npm ci`` when missing.
Without Node.js the test skips outside CI and fails under it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sync_pipeline.emulator.testing import running_emulator

FOLDER = Path(__file__).with_name("second_client")
CHECKS = ["soap login", "oauth password login", "query with paging", "describe", "record CRUD",
          "sObject Collections", "Bulk 2.0 query", "Bulk 2.0 ingest", "reports", "limits", "composite",
          "session expiry"]


def _node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm:
        return node
    if os.environ.get("CI") == "true":
        pytest.fail("Node.js and npm are needed for the second-client test under CI (apt-get install nodejs npm)")
    pytest.skip("no Node.js/npm on this machine: the second-client test needs them")


def test_jsforce_passes_every_check_against_the_https_emulator() -> None:
    node = _node()
    if not (FOLDER / "node_modules" / "jsforce").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=FOLDER, check=True,
                       capture_output=True, timeout=300)
    with running_emulator(seed=95, scale=300, tls=True) as org:
        app = org.state.client_app
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(org.certificate), "EMULATOR_URL": org.url,
               "ADMIN_URL": org.url, "USERNAME": org.username, "PASSWORD": org.password + org.security_token,
               "CONSUMER_KEY": app.consumer_key, "CONSUMER_SECRET": app.consumer_secret}
        run = subprocess.run([node, "conformance.mjs"], cwd=FOLDER, env=env, capture_output=True, text=True,
                             timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    assert [result["name"] for result in results] == CHECKS
    failed = [f"{result['name']}: {result['detail']}" for result in results if not result["ok"]]
    assert not failed, failed
