"""Debian's chromium driven by playwright for the web view's tests (never a browser that
``playwright install`` would download), and screenshots kept for people to look at."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, async_playwright

from tests.screenshots import SCREENSHOTS
from tests.services import find_program

__all__ = ["CHROMIUM_FLAGS", "TIMEOUT_MS", "Screenshots", "chromium", "watch_errors"]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


@asynccontextmanager
async def chromium(profile: Path, **options: Any) -> AsyncIterator[BrowserContext]:
    """A fresh browser (its own profile folder) with ``options`` (viewport, timezone_id,
    locale ...), closed at the end."""
    executable = find_program("chromium", "chromium")
    async with async_playwright() as driver:
        context = await driver.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            **options,
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            await context.close()


def watch_errors(page: Page) -> list[str]:
    """Every script error and console error of ``page``, as they come."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


class Screenshots:
    """Saves screenshots into ``folder`` and lists them at the end of the run."""

    def __init__(self, folder: Path, config: pytest.Config) -> None:
        self.folder = folder
        self.config = config

    async def take(self, page: Page, name: str, *, full_page: bool = True) -> Path:
        """Save ``name``.png: the whole page, or what the window shows (``full_page=False``)."""
        path = self.folder / f"{name}.png"
        await page.screenshot(path=str(path), full_page=full_page)
        self.config.stash.setdefault(SCREENSHOTS, []).append(path)
        print(f"screenshot: {path}")  # also in the test's captured output
        return path
