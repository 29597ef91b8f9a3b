"""The demo project's report in a real browser: Debian's Chromium (installed by scripts/test.sh),
driven by Playwright. Every picture loads, the page logs no error, the stage table is the
project's default_pipeline.star, and a screenshot is kept."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from py2rely_core.relion_files import read_pipeline

pytestmark = pytest.mark.relion

CHROMIUM = Path(os.environ.get("PY2RELY_CHROMIUM", "/usr/bin/chromium"))
# What this machine needs: no sandbox as root, no GPU, and nothing that reaches the network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("PY2RELY_ARTIFACTS", Path(__file__).resolve().parent.parent / "artifacts"))


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_the_demo_report_opens_in_chromium_with_every_picture(demo_project, browser, tmp_path):
    index = demo_project.project / "report" / "index.html"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(f"failed to load {request.url}"))
    page.goto(index.as_uri(), wait_until="load")

    images = page.eval_on_selector_all(
        "img", "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth])")
    assert len(images) >= 8, images
    assert [src for src, complete, width in images if not complete or width <= 0] == []
    assert problems == []

    rows = page.eval_on_selector_all(
        "#stage-table tbody tr",
        "rows => rows.map(r => Array.from(r.cells).slice(0, 4).map(c => c.innerText.trim()))")
    processes = read_pipeline(demo_project.project / "default_pipeline.star").processes
    assert [(job, kind, status.split("\n")[0]) for job, _, kind, status in rows] == [
        (p.name, p.type_label, p.status) for p in processes]

    # Links to a job's command and logs open the copies in the report directory.
    href = page.get_attribute("#stage-table a[href$='-note.txt.txt']", "href")
    page.goto((index.parent / href).as_uri())
    assert "Executing new job" in page.inner_text("body")
    page.goto(index.as_uri(), wait_until="load")

    screenshot = tmp_path / "report-screenshot.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot, ARTIFACTS / "report-screenshot.png")
    page.close()
