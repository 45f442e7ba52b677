"""Shared fixtures: a throwaway PostgreSQL database per test session.

PostgreSQL tests are mandatory under CI (``CI=true``): when no server answers they fail.
Elsewhere they skip with the reason printed by ``-ra``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

# Tests of pure modules (no database, no server, no Dagster run): `pytest -m unit` runs them in seconds.
UNIT_FOLDERS = ("rules", "settings", "schemas", "records")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test is ``unit`` (a pure module's) or ``integration`` (a database, the emulator or Dagster)."""
    for item in items:
        parts = Path(str(item.path)).relative_to(Path(__file__).parent).parts
        item.add_marker(pytest.mark.unit if parts[0] in UNIT_FOLDERS else pytest.mark.integration)


ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty PostgreSQL databases (URL each), all dropped after the session."""
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        reason = f"no PostgreSQL server answers at {admin.url.render_as_string(hide_password=True)}: {exc.orig}"
        admin.dispose()
        if _under_ci():
            pytest.fail(f"PostgreSQL tests are mandatory under CI; {reason}")
        pytest.skip(reason)
    created: list[str] = []

    def create() -> str:
        name = f"sync_pipeline_test_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))  # identifier we generated, not user input
        created.append(name)
        return admin.url.set(database=name).render_as_string(hide_password=False)

    try:
        yield create
    finally:
        with admin.connect() as conn:
            for name in created:
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url(postgres_database: Callable[[], str]) -> str:
    """URL of a fresh, empty PostgreSQL database shared by the session."""
    return postgres_database()


REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DemoRun:
    """`sync-pipeline demo` run once in a fresh folder (as `make demo` on a fresh clone), and what it left."""

    folder: Path
    dagster_home: Path
    returncode: int
    stdout: str
    stderr: str

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.folder / 'data' / 'demo.db'}"


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The demo, once per session: its summary, its exports, and a Dagster instance holding the run (the UI test
    serves it)."""
    folder = tmp_path_factory.mktemp("demo")
    (folder / "data").mkdir()
    shutil.copy(REPO_ROOT / "data" / "sync.yaml", folder / "data" / "sync.yaml")
    home = folder / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k not in DEMO_OVERRIDES}
    env["DAGSTER_HOME"] = str(home)
    command = [str(Path(sys.executable).with_name("sync-pipeline")), "demo"]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False)
    return DemoRun(folder, home, done.returncode, done.stdout, done.stderr)


# Variables the demo sets itself: a value left in the test environment must not steer it elsewhere.
DEMO_OVERRIDES = ("MARKETING_DB_URL", "SYNC_SETTINGS", "ENGAGEMENT_EVENTS_DIR", "EXPORTS_DIR",
                  "SALESFORCE_EMULATOR_URL", "SALESFORCE_USERNAME", "SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN",
                  "DAGSTER_HOME")
