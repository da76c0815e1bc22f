"""A real headless browser for the console and report tests: Debian's chromium driven by Playwright.

Playwright's own browser download is not used (nor reachable on the build machines): `.ci/run`
installs Debian's `chromium` and the tests launch it by path. Screenshots go to the test's
temporary folder and are copied to `.e2e/screenshots/` (printed), so a person can look at them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from emulation.config import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
        "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync"]
SCREENSHOTS = REPO_ROOT / ".e2e" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():  # CI installs it (.ci/run): a missing browser is a failure, not a skip
        pytest.fail(f"{CHROMIUM} is missing: apt-get update && apt-get install -y chromium", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield instance
        finally:
            instance.close()


def new_page(browser, width: int = 1440, height: int = 900):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


def screenshot(page, folder: Path, name: str) -> Path:
    """Save a full-page PNG in `folder` and a copy under .e2e/screenshots/; returns the copy."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    copy = SCREENSHOTS / path.name
    shutil.copy(path, copy)
    print(f"screenshot: {copy}")
    return copy


def figures(page) -> dict[str, str]:
    """Every `[data-figure]` on the page: name -> its text."""
    return page.evaluate(
        "() => Object.fromEntries(Array.from(document.querySelectorAll('[data-figure]'))"
        ".map(e => [e.dataset.figure, e.textContent.trim()]))")


def number(text: str | None) -> int | None:
    """A figure as the page prints it ('541,909') -> 541909; None for '–' or missing."""
    if text is None or not re.fullmatch(r"-?[\d,]+", text):
        return None
    return int(text.replace(",", ""))
