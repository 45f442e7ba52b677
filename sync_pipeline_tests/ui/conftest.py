"""Fixtures of the browser tests: a Dagster UI over one finished run of the main job, and headless Chromium.

``dagster_ui`` (module scope) starts ``dagster_webserver`` on a free loopback port over the repository's
``workspace.yaml`` and the Dagster instance of the session's demo run (``demo_run``: `sync-pipeline demo` in a fresh
folder, as on a fresh clone), the way `make dev` shows the demo, and yields the webserver's base URL.
``page`` is a fresh 1400x1000 browser tab per test.

The browser tests are mandatory under CI (``CI=true``): without Chromium or the playwright package they fail with
how to install them; elsewhere they skip with the reason printed by ``-ra``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sync_pipeline_tests.conftest import DEMO_OVERRIDES, DemoRun

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1400, "height": 1000}
PIXEL_RATIO = 2  # screenshots at twice the CSS pixels: the small labels of a whole asset graph stay legible
SERVER_TIMEOUT_SECONDS = 90
INSTALL_HINT = ("to install: `apt-get install chromium chromium-driver` (Debian) and `pip install -e '.[dev]'` "
                "(the playwright package; no `playwright install` needed, the tests drive the system Chromium at "
                f"{CHROMIUM})")


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _missing_browser() -> str | None:
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"no Chromium at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package is not installed")
    return "; ".join(missing) or None


@pytest.fixture(scope="module")
def chromium_available() -> None:
    """Skip (fail under CI) when the browser or the playwright package is missing."""
    reason = _missing_browser()
    if reason is None:
        return
    if _under_ci():
        pytest.fail(f"the browser tests are mandatory under CI; {reason}; {INSTALL_HINT}")
    pytest.skip(f"{reason}; {INSTALL_HINT}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(process: subprocess.Popen[Any], url: str, log: Path) -> None:
    session = requests.Session()
    session.trust_env = False
    deadline = time.monotonic() + SERVER_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if session.get(f"{url}/server_info", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    state = (f"exited with code {process.returncode}" if process.poll() is not None
             else f"did not answer within {SERVER_TIMEOUT_SECONDS} s")
    pytest.fail(f"dagster_webserver {state} at {url}; its output:\n{log.read_text(errors='replace')[-6000:]}")


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def dagster_ui(chromium_available: None, demo_run: DemoRun, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[str]:
    """Base URL of a Dagster webserver over the instance of the session's demo run (as `make dev` serves it)."""
    assert demo_run.returncode == 0, demo_run.stdout[-3000:] + demo_run.stderr[-3000:]
    log = tmp_path_factory.mktemp("dagster_ui") / "webserver.log"
    env = {k: v for k, v in os.environ.items() if k not in DEMO_OVERRIDES}
    env.update(DAGSTER_HOME=str(demo_run.dagster_home), MARKETING_DB_URL=demo_run.database_url,
               SYNC_SETTINGS=str(demo_run.folder / "data" / "sync.yaml"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port),
             "-w", str(REPO / "workspace.yaml")],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the code server it starts stops with it
        )
    try:
        _wait_for_server(process, url, log)
        yield url
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def browser(chromium_available: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=PIXEL_RATIO)
    # The UI greets a new browser on localhost with a "Join the Dagster community" dialog over the page; the
    # browser-side record of having dismissed it keeps it away.
    context.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """UI_SCREENSHOT_DIR when set (created if needed), else the test's tmp_path."""
    chosen = os.environ.get("UI_SCREENSHOT_DIR")
    folder = Path(chosen) if chosen else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder
