"""Every page of ``tests/web/test_page_roles.py``'s table, in chromium, as its role, at a desktop and a phone width.

The world is the demo `make run` opens on (``manage.py demo_seed`` on the session anvil: the
exploit, the incident, its analysis, a draft plan, the demo staff accounts), with the plan frozen
into a proposal document. Each full page (``page=True``) whose sample objects exist is visited
with JavaScript on: status 200, no serious or critical axe finding, no console error, no key or
secret in the HTML, no horizontal scroll of the whole page at 375 px; a screenshot
``every-<page>-<viewport>.png`` is saved. The public pages are also read with JavaScript off.
"""

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import Page as BrowserPage

from archive.services import take_snapshot
from chain import devkeys
from proposals.services import freeze_proposal
from recovery.demo_seed import DEMO_PASSWORD
from recovery.models import Incident
from tests.browser.conftest import axe, screenshot, staff_login
from tests.web.test_page_roles import COMMITTEE, EXECUTOR, HOLDER, PAGES, PUBLIC, url_of

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 800}}
# Every page the demo world must let us visit (a page the table lists but the world lacks is skipped).
MUST_VISIT = {
    "home",
    "login",
    "holder-proposals",
    "holder-proposal",
    "holder-proposal-account",
    "holder-me",
    "committee-incidents",
    "committee-incident",
    "committee-plan",
    "committee-document",
    "executor-runs",
    "snapshots-page",
    "snapshot-page",
}
DEV_KEYS = (
    devkeys.DEPLOYER_KEY,
    devkeys.EXECUTOR_KEY,
    devkeys.RELAYER_KEY,
    devkeys.ATTACKER_KEY,
    *devkeys.COMMITTEE_KEYS,
)


@pytest.fixture
def world(app_url, demo, chain_settings, tmp_path) -> dict[str, object]:
    """The demo seeded on the session anvil, its plan frozen, a state snapshot taken: the page table's samples."""
    call_command("demo_seed", stdout=StringIO())
    chain_settings.STORAGES = {
        **chain_settings.STORAGES,
        "state_snapshots": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "state-snapshots")},
        },
    }
    chain_settings.CONFIRMATION_DEPTH = 0
    snapshot = take_snapshot()
    incident = Incident.objects.get()
    analysis = incident.analyses.get()
    plan = incident.plans.get()
    document, _ = freeze_proposal(plan_id=plan.pk, frozen_by=None)
    victim = next(a["account"] for a in analysis.summary["assets"][demo.address("vault")]["top_losers"])
    return {
        "incident": incident.pk,
        "analysis": analysis.pk,
        "plan": plan.pk,
        "document": document.pk,
        "victim": victim,
        "artifact": "RecoveryExecutor",
        "snapshot": snapshot.pk,
    }


def _visitable(world: dict[str, object], access: set[str]) -> list[str]:
    return [
        name
        for name, page in PAGES.items()
        if page.page and page.access in access and all(key in world for key in page.args.values())
    ]


def _secrets_in(html: str) -> list[str]:
    """Keys and secrets the HTML shows (each named by its first characters only)."""
    found = [key[:10] for key in DEV_KEYS if key[2:].lower() in html.lower()]
    for secret in (settings.SECRET_KEY, *settings.LIFEBOAT_SECRETS):
        if secret and not str(secret).startswith("http") and str(secret) in html:
            found.append(str(secret)[:6])
    return found


def _check(page: BrowserPage, url: str, name: str, viewport: str, console_errors: list[str], node_url: str) -> list:
    """Visit ``url``; the problems found, each naming the page."""
    problems: list[str] = []
    response = page.goto(url)
    page.wait_for_load_state("networkidle")
    if response is None or response.status != 200:
        return [f"{name}: status {response.status if response else None} at {url}"]
    html = page.content()
    if leaked := _secrets_in(html):
        problems.append(f"{name}: shows secrets {leaked}")
    if name != "home" and node_url in html:
        # The home page names the dev chain's node (redacted to scheme, host and port) by design.
        problems.append(f"{name}: names the node's URL")
    if viewport == "phone":
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > VIEWPORTS["phone"]["width"] + 1:
            problems.append(f"{name}: the whole page scrolls sideways at 375 px ({width} px wide)")
    if violations := axe(page):
        problems.append(f"{name}: axe {violations}")
    if console_errors:
        problems.append(f"{name}: console {list(console_errors)}")
        console_errors.clear()
    screenshot(page, f"every-{name}-{viewport}")
    return problems


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_every_page_as_its_role_is_accessible_clean_and_fits_the_screen(
    page, app_url, anvil, world, console_errors, viewport
):
    page.set_viewport_size(VIEWPORTS[viewport])
    problems: list[str] = []
    visited: set[str] = set()
    for role, access in (("anonymous", {PUBLIC, HOLDER}), ("committee", {COMMITTEE}), ("executor", {EXECUTOR})):
        if role != "anonymous":
            page.context.clear_cookies()
            staff_login(page, app_url, role, DEMO_PASSWORD)
            assert page.get_by_test_id("staff-user").inner_text() == role
        for name in _visitable(world, access):
            problems += _check(page, app_url + url_of(name, world), name, viewport, console_errors, anvil.url)
            visited.add(name)

    assert problems == [], "\n".join(problems)
    assert visited >= MUST_VISIT, f"not visited: {MUST_VISIT - visited}"


def test_each_public_page_reads_without_javascript(browser, app_url, world):
    context = browser.new_context(java_script_enabled=False, viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    try:
        read = []
        for name in _visitable(world, {PUBLIC, HOLDER}):
            response = page.goto(app_url + url_of(name, world))
            assert response is not None and response.status == 200, name
            heading = page.get_by_role("heading", level=1)
            assert heading.count() == 1 and heading.inner_text().strip(), name
            assert len(page.locator("main").inner_text()) > 100, name
            if name == "home":
                assert "Demo vault drained" in page.get_by_test_id("demo-incident").inner_text()
                assert page.get_by_test_id("guide-holder").is_visible()
            screenshot(page, f"every-{name}-nojs")
            read.append(name)
    finally:
        context.close()

    assert {"home", "holder-proposals", "holder-proposal", "holder-me", "snapshots-page", "snapshot-page"} <= set(read)


def test_the_not_found_page_is_the_sites_own_and_accessible(page, app_url, console_errors):
    response = page.goto(app_url + "/no-such-page/")

    assert response is not None and response.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "Page not found"
    assert page.get_by_role("link", name="The home page").is_visible()
    assert axe(page) == []
    screenshot(page, "every-error-404-desktop")
    # The one console line is chromium reporting the document's own 404.
    assert len(console_errors) == 1 and "404" in console_errors[0], console_errors
