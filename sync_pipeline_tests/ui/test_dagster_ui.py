"""The Dagster UI over one run of the main job, in headless Chromium: the job's asset graph and asset metadata.

Each test saves a full-page PNG into UI_SCREENSHOT_DIR (else the test's tmp_path) for a person to look at, also when
it fails: ``job-salesforce_sync.png`` (the job's whole asset graph, groups expanded) and ``asset-<name>.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

LOCATION = "sync_pipeline"  # workspace.yaml's location_name
JOB = "salesforce_sync"
JOB_PATH = f"/locations/{LOCATION}/jobs/{JOB}"
JOB_ASSETS = ("all_contacts", "salesforce_push", "hot_prospects", "funnel", "roi")
PNG_DATA_URL = "data:image/png;base64,"
MAX_SCREENSHOT_HEIGHT = 12_000


def _expect() -> Any:
    from playwright.sync_api import expect  # imported late: without playwright the fixtures skip (or fail under CI)

    # The UI renders a page in a few seconds, more while the other test worker keeps the second core busy.
    expect.set_options(timeout=30_000)
    return expect


def _grow_viewport(page: Any, height: float) -> None:
    size = page.viewport_size
    height = min(int(height), MAX_SCREENSHOT_HEIGHT)
    if height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": height})
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


@contextmanager
def _screenshot_afterwards(page: Any, path: Path) -> Iterator[None]:
    """Save a full-page PNG of ``page`` at ``path`` when the block ends, whether it passed or failed.

    The Dagster UI scrolls inside its own panels (the document never grows), so for the shot the viewport is made
    as tall as the content of the tallest scrolled panel."""
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        try:
            needed = page.evaluate(
                """() => Math.max(document.documentElement.scrollHeight, ...Array.from(document.querySelectorAll('*'))
                   .filter(e => /(auto|scroll)/.test(getComputedStyle(e).overflowY) && e.scrollHeight > e.clientHeight)
                   .map(e => window.innerHeight + e.scrollHeight - e.clientHeight))"""
            )
            _grow_viewport(page, needed)
            page.screenshot(path=str(path), full_page=True)
        except Exception:
            if not failed:  # the test's own failure matters more than a missing screenshot
                raise


def _show_whole_asset_graph(page: Any) -> Any:
    """Expand every group of the asset graph and make the window tall enough for the whole graph; return the graph.

    The graph opens with each group collapsed to a box, fitted to the panel's width: a tall graph runs past the
    bottom of the window, and Dagster draws only the nodes inside the window."""
    expect = _expect()
    viewport = page.locator('[data-svg-viewport="1"]')
    graph = viewport.locator("svg").first
    page.get_by_role("button", name="Hide navigation").click()  # a wider panel: larger nodes
    page.locator("#zoom-slider-container").get_by_role("button", name="settings", exact=True).click()
    page.get_by_role("menuitem", name="Expand all groups").click()
    page.keyboard.press("Escape")
    expect(page.get_by_role("menuitem")).to_have_count(0)
    expect(graph.get_by_role("img", name="unfold_less").first).to_be_visible()
    expect(graph.get_by_role("img", name="unfold_more")).to_have_count(0)

    panel, drawn = viewport.bounding_box(), graph.bounding_box()
    toolbar = page.locator("[class*=topbarWrapper]")  # the search bar, drawn over the top of the graph panel
    box = toolbar.first.bounding_box() if toolbar.count() else None
    covered = max(0.0, box["y"] + box["height"] - panel["y"]) if box else 80.0
    _grow_viewport(page, page.viewport_size["height"] + drawn["height"] + 2 * covered + 24 - panel["height"])
    viewport.dispatch_event("dblclick")  # on the background, not on a node or group: fit the graph again (animated)
    page.wait_for_function(  # until the pan and zoom stop changing between two polls
        """v => { const t = v.firstElementChild.style.transform, same = t === window.__graphTransform;
                  window.__graphTransform = t; return same; }""",
        arg=viewport.element_handle(), polling=100)
    return graph


def test_job_page_shows_the_main_job_and_its_asset_graph(dagster_ui: str, page: Any, screenshot_dir: Path) -> None:
    expect = _expect()
    page.goto(dagster_ui + JOB_PATH)
    with _screenshot_afterwards(page, screenshot_dir / f"job-{JOB}.png"):
        expect(page.get_by_role("heading", name=JOB, exact=True)).to_be_visible()
        expect(page.get_by_text("The main job")).to_be_visible()  # the start of the job's description
        graph = _show_whole_asset_graph(page)
        for asset in JOB_ASSETS:
            expect(graph.get_by_text(asset, exact=True),
                   f"a node {asset} in the asset graph of {JOB}").to_be_in_viewport(ratio=1)


@pytest.mark.parametrize(
    ("asset", "entry"),
    [
        pytest.param("all_contacts", "preview", id="all_contacts-preview"),  # a Markdown table
        pytest.param("funnel", "chart", id="funnel-chart"),  # a Markdown image: a PNG data URL
    ],
)
def test_asset_page_shows_the_latest_materialization_metadata(
    dagster_ui: str, page: Any, screenshot_dir: Path, asset: str, entry: str
) -> None:
    expect = _expect()
    page.goto(f"{dagster_ui}/assets/{asset}")
    with _screenshot_afterwards(page, screenshot_dir / f"asset-{asset}.png"):
        expect(page.get_by_text("Latest materialization"),
               f"the asset page of {asset} (is {asset} defined, and materialized by {JOB}?)").to_be_visible()
        row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=entry, exact=True))
        expect(row, f"the metadata entry {entry!r} of {asset}'s latest materialization").to_have_count(1)
        row.scroll_into_view_if_needed()
        if entry == "chart":
            # Markdown of 1,000 characters or more is not drawn in the table but behind "[Show Markdown]", in a dialog.
            row.get_by_text("[Show Markdown]").click()
            image = page.get_by_role("dialog").locator("img")
            expect(image).to_have_count(1)
            expect(image).to_have_attribute("src", re.compile("^" + re.escape(PNG_DATA_URL)))
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
            assert image.evaluate("img => img.naturalWidth") > 0, f"the chart of {asset} did not decode"
        else:
            expect(row.locator("table tr").first, f"{entry!r} rendered as a table").to_be_visible()
