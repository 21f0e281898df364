"""The monitoring pages in chromium: a firing rule on the overview (axe-clean, no console error, fits
a phone), the live part refreshed by htmx when the monitor writes, the rule and firing pages, and a
committee member resolving the firing through the form."""

import pytest
from playwright.sync_api import expect

from monitoring.models import RuleState
from tests.browser.conftest import axe, screenshot, staff_login
from tests.factories import UserFactory
from tests.monitoring.sample_monitors import SECRET_PARTS, build_world

pytestmark = pytest.mark.browser


@pytest.fixture
def world(app_url):
    return build_world()


def _clean(page, console_errors) -> None:
    assert axe(page) == []
    assert console_errors == []
    html = page.content()
    assert [part for part in SECRET_PARTS if part in html] == []


def test_the_overview_shows_the_firing_rule_and_refreshes_by_itself(page, app_url, world, console_errors):
    page.goto(f"{app_url}/monitoring/")

    drain = page.get_by_test_id(f"rule-{world.drain.pk}")
    expect(drain.get_by_test_id("rule-state")).to_have_text("firing (3 failing in a row, fires at 2)")
    expect(
        drain.get_by_role("img", name="vault-drain: outflow in base units over the last 12 observations")
    ).to_be_visible()
    expect(page.get_by_test_id("open-firings")).to_contain_text(f"Firing {world.firing.pk}")
    expect(page.get_by_test_id("rpc-host")).to_have_text("node.example:8545")
    _clean(page, console_errors)
    screenshot(page, "monitoring-overview-desktop")

    # The monitor writes: the live part (htmx, every few seconds) shows it without a reload.
    world.healthy.state = RuleState.FAILING
    world.healthy.consecutive_failures = 1
    world.healthy.save(update_fields=["state", "consecutive_failures"])
    expect(page.get_by_test_id(f"rule-{world.healthy.pk}").get_by_test_id("rule-state")).to_have_text(
        "failing (1 of 2 in a row)", timeout=15_000
    )

    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 376
    _clean(page, console_errors)
    screenshot(page, "monitoring-overview-phone")


def test_the_rule_and_firing_pages_are_clean_and_the_committee_resolves_the_firing(
    page, app_url, world, console_errors
):
    page.goto(f"{app_url}/monitoring/rules/{world.drain.pk}/")
    expect(page.get_by_role("heading", name="Rule: vault-drain")).to_be_visible()
    expect(page.get_by_test_id("observations").locator("tbody tr")).to_have_count(12)
    _clean(page, console_errors)
    screenshot(page, "monitoring-rule")

    page.goto(f"{app_url}/monitoring/firings/{world.firing.pk}/")
    expect(page.get_by_test_id("evidence")).to_contain_text("0x" + "ab" * 32)
    expect(page.get_by_test_id("resolve-form")).to_have_count(0)
    _clean(page, console_errors)

    staff_login(page, app_url, UserFactory(username="browser-committee", committee=True).username)
    page.goto(f"{app_url}/monitoring/firings/{world.firing.pk}/")
    _clean(page, console_errors)
    screenshot(page, "monitoring-firing-committee")
    page.get_by_label("Why is it resolved?").fill("Vault paused by the breaker; incident opened.")
    page.get_by_role("button", name="Resolve").click()

    expect(page.get_by_test_id("firing-status")).to_have_text("resolved")
    expect(page.get_by_test_id("resolution")).to_contain_text("by browser-committee: Vault paused by the breaker")
    _clean(page, console_errors)


def test_the_pause_log_reads_without_javascript(browser, app_url, world):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{app_url}/monitoring/")
        expect(page.get_by_test_id("nojs-note")).to_be_visible()
        expect(page.get_by_test_id(f"rule-{world.drain.pk}")).to_contain_text("firing")
        page.goto(f"{app_url}/monitoring/pauses/")
        expect(page.get_by_test_id("pause-log")).to_contain_text(f"firing {world.firing.pk}")
    finally:
        context.close()
