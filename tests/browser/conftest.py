"""Fixtures of the browser tests: Debian's chromium driven by Playwright, the app on a live server,
a test wallet injected into every page, screenshots, and axe-core.

Chromium is /usr/bin/chromium from Debian (``make install`` puts it there); Playwright never
downloads a browser. Screenshots go to ``var/test-artifacts/browser/`` (CI keeps them).
"""

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from chain import devkeys
from chain.keys import load_account
from tests.browser.wallet import TestWallet

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent.parent / "var" / "test-artifacts" / "browser"
AXE = HERE / "axe.min.js"
INJECTED_WALLET = HERE / "injected_wallet.js"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/browser/ carries the ``browser`` marker (``-m "not browser"`` skips them)."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium for the tests of one module.

    Module scope, not session (nor "package": this folder has no ``__init__.py``, and pytest then
    keeps a package-scoped fixture until the session ends): while Playwright's sync API runs, its
    event loop is marked as running in this thread, and Django refuses ORM calls from a thread
    with a running loop unless DJANGO_ALLOW_ASYNC_UNSAFE is set. The setting is made for these
    tests alone and undone, with the browser, when the module ends: it must never reach a later
    test (``manage.py check --deploy`` refuses it).
    """
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get, as root)")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def wallet(w3: Any) -> TestWallet:
    """The page's wallet, holding anvil's dev account 0 (the deployer) until a test calls ``use()``."""
    return TestWallet(w3, load_account(private_key=devkeys.DEPLOYER_KEY).address)


@pytest.fixture
def app_url(live_server: Any, transactional_db: None, chain_settings: Any) -> str:
    """The app's base URL on pytest-django's live server (in-process), its settings pointed at the test anvil.

    ``transactional_db``: the server's threads must see what the test writes.
    """
    return str(live_server.url)


@pytest.fixture
def console_errors() -> list[str]:
    """The console errors and uncaught page errors of the test's page, filled as they happen."""
    return []


@pytest.fixture
def page(browser: Browser, wallet: TestWallet, console_errors: list[str]) -> Iterator[Page]:
    """A fresh page (its own context) with the test wallet as ``window.ethereum`` before any script runs."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.expose_function("__lifeboatTestWallet", wallet.answer)
    context.add_init_script(path=str(INJECTED_WALLET))
    opened = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    opened.on("console", on_console)
    opened.on("pageerror", lambda error: console_errors.append(f"pageerror: {error}"))
    try:
        yield opened
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as ``var/test-artifacts/browser/<name>.png`` and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe(page: Page, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2 A/AA rules) on the page; its violations of the given impacts.

    Each violation keeps axe's id, impact, help and the failing nodes' selectors, so a failed
    assertion says what to fix.
    """
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
          const found = await axe.run(document, {
            runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
          });
          return found.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map((n) => n.target.join(" ")),
          }));
        }"""
    )
    return [violation for violation in result if violation["impact"] in impacts]


def staff_login(page: Page, app_url: str, username: str, password: str | None = None) -> None:
    """Sign ``username`` in through the staff sign-in page (factories' ``PASSWORD`` unless given)."""
    from tests.factories import PASSWORD

    page.goto(f"{app_url}/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password or PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_load_state()
