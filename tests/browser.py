"""Headless Chromium for page tests: Debian's ``/usr/bin/chromium``, driven by Playwright.

``async with launch_chromium() as browser: ...`` starts one browser (Playwright never downloads
one here). ``await save_screenshot(page, "name")`` writes ``name.png`` under
``$MDB_ENGINE_TEST_ARTIFACTS/screenshots`` (default ``.artifacts/screenshots`` in the
repository, git-ignored) and checks that it is not empty.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

__all__ = ["CHROMIUM", "launch_chromium", "save_screenshot", "screenshots_dir"]

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@asynccontextmanager
async def launch_chromium() -> AsyncIterator[Browser]:
    """One headless Chromium, closed on exit."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


def screenshots_dir() -> Path:
    root = os.environ.get("MDB_ENGINE_TEST_ARTIFACTS")
    folder = (Path(root) if root else REPO_ROOT / ".artifacts") / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def save_screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot ``name.png``; fails if it came out empty."""
    path = screenshots_dir() / f"{name}.png"
    path.unlink(missing_ok=True)
    await page.screenshot(path=str(path), full_page=True)
    assert path.is_file()
    assert path.stat().st_size > 1000
    return path
