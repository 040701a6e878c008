"""Fixtures of the browser tests: one running exchange and one headless Chromium for the
session, a fresh browser context (own storage, own API key) for every test.

The exchange is ``gateway_kit.exchange`` with the feed: engines, shards, the feed and the
gateway as real processes on free ports of 127.0.0.1; the gateway serves the built UI
(``ui/dist``) at ``/``.  The browser is Debian's Chromium driven by Playwright's sync API.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_kit import Api, exchange, wait_until
from playwright.sync_api import Browser, expect, sync_playwright
from screen_kit import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, Screen

from harness.cluster import ROOT, Cluster

UI = ROOT / "ui"
ARTIFACTS = ROOT / "test-artifacts"


def ui_build_problem() -> str | None:
    """Why ``ui/dist`` cannot be what is under test, or None when it is a current build."""
    index = UI / "dist" / "index.html"
    if not index.is_file():
        return "the UI is not built: run `make ui` (or `cd ui && npm ci && npm run build`)"
    built = index.stat().st_mtime
    # what the Makefile rebuilds ui/dist from
    sources = [
        *(UI / name for name in ("index.html", "package.json", "package-lock.json")),
        *UI.glob("vite.config.*"),
        *UI.glob("tsconfig*.json"),
        *(p for p in (UI / "src").rglob("*") if p.is_file()),
    ]
    newer = [p for p in sources if p.stat().st_mtime > built]
    if newer:
        return f"ui/dist is older than {newer[0].relative_to(ROOT)}: rebuild it with `make ui`"
    return None


@pytest.fixture(scope="session")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    """One exchange for the whole browser session; each test signs up users of its own."""
    problem = ui_build_problem()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    with exchange(tmp_path_factory.mktemp("ui-exchange"), feed=True) as (cluster, api):
        wait_until(
            lambda: api.get("/api/v1/health").status_code == 200,
            30.0,
            "every engine, shard and the feed answer /api/v1/health",
        )
        yield cluster, api


@pytest.fixture(scope="session")
def api(running: tuple[Cluster, Api]) -> Api:
    return running[1]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def screen(browser: Browser, api: Api) -> Iterator[Screen]:
    """A new context and page on the gateway; the page's JavaScript failures are collected."""
    context = browser.new_context(
        base_url=api.base_url, viewport={"width": 1440, "height": 900}, locale="en-GB"
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield Screen(context.new_page())
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``test-artifacts/`` at the repository root (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
