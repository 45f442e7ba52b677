"""`sync-pipeline dev`: the emulator with the demo org plus the Dagster UI, pointed at each other.

The emulator runs in this process; `dagster dev` runs as a child with the Salesforce environment variables set to
the emulator's login, and the marketing database and events folder of `make demo` (``data/demo.db``,
``data/events``), so the UI shows the demo's runs and their charts. Ctrl-C (or SIGTERM) stops both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sync_pipeline.cli.demo import DEMO_DATABASE, DEMO_SEED, EVENTS_PATH
from sync_pipeline.emulator.testing import running_emulator


def run_dev(port: int = 3000) -> int:
    with running_emulator(seed=DEMO_SEED, scale="demo", events_path=EVENTS_PATH) as emulator:
        env = dict(os.environ)
        env.update(emulator.env())  # the JWT login of the demo app, with the key pair the emulator made now
        env.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve()))
        # The demo's database and events: the UI shows what `make demo` ran, and a run from the UI continues it.
        env.setdefault("MARKETING_DB_URL", f"sqlite:///{DEMO_DATABASE.resolve()}")
        env.setdefault("ENGAGEMENT_EVENTS_DIR", str(EVENTS_PATH.parent.resolve()))
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
