"""`sync-pipeline dev`: the emulator with the demo org plus the Dagster UI, pointed at each other.

The emulator runs in this process; `dagster dev` runs as a child with the Salesforce environment variables set to
the emulator's login. Ctrl-C (or SIGTERM) stops both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sync_pipeline.emulator.testing import running_emulator

DEV_SEED = 7


def run_dev(port: int = 3000) -> int:
    with running_emulator(seed=DEV_SEED, scale="demo") as emulator:
        env = dict(os.environ)
        env.update(
            SALESFORCE_EMULATOR_URL=emulator.url,
            SALESFORCE_USERNAME=emulator.username,
            SALESFORCE_PASSWORD=emulator.password,
            SALESFORCE_SECURITY_TOKEN=emulator.security_token,
        )
        env.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve()))
        Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        print(f"Emulator at {emulator.url}; Dagster UI at http://127.0.0.1:{port}")
        # A new session so a Ctrl-C reaches dagster dev's whole process group through our handler, once.
        child = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            start_new_session=True,
        )

        def stop(signum: int, frame: object) -> None:
            os.killpg(child.pid, signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            return child.wait()
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
