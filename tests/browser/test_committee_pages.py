"""The committee's pages in chromium: the plan editor's ABI-aware fields and decoded preview, and
every committee page axe-clean without console errors."""

import re

import pytest
from playwright.sync_api import expect

from recovery import plans
from recovery.models import ImpactAnalysis, RecoveryPlan
from tests.browser.conftest import axe, screenshot, staff_login
from tests.factories import IncidentFactory, UserFactory, analysed_exploit

pytestmark = pytest.mark.browser


@pytest.fixture
def committee_page(page, app_url):
    staff_login(page, app_url, UserFactory(committee=True).username)
    return page


def test_the_editor_builds_argument_inputs_from_the_abi_previews_the_call_and_builds_the_plan(
    committee_page, app_url, anvil, exploited, console_errors
):
    page = committee_page
    analysis = analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])
    vault = exploited["vault"]
    page.goto(f"{app_url}/analyses/{analysis.pk}/plans/new/")
    expect(page.get_by_role("heading", name="Build a recovery plan")).to_be_visible()

    # A budget in base units is shown in tokens beside it, exactly.
    budget = page.get_by_label(f"Budget for {vault} (base units)")
    assert analysis.summary["decimals"][vault] == 6
    budget.fill("1500000")
    expect(page.locator(".units").first).to_have_text("= 1.5 tokens.")
    budget.fill("1.5")
    expect(page.locator(".units").first).to_have_text("Base units are whole numbers: digits only.")
    budget.fill(str(int(analysis.summary["assets"][vault]["total_losses"]) // 2))

    # Change 1: a compiled contract's function → one labelled input per argument.
    first = page.get_by_test_id("change-0")
    first.get_by_label("Target contract").fill(exploited["asset"])
    first.get_by_label("Function of a compiled contract").select_option("DemoPriceFeed:setAnswer(int256)")
    answer = first.get_by_label(re.compile(r"\(int256\)"))
    expect(answer).to_be_visible()
    answer.fill("-42")
    expect(first.get_by_label("Arguments (JSON array)")).to_have_value('["-42"]')
    first.get_by_role("button", name="Preview change 1").click()
    preview = page.get_by_test_id("preview-0")
    expect(preview).to_contain_text("setAnswer(int256)")
    expect(preview).to_contain_text("-42")
    expect(preview).to_contain_text("0x")

    # Change 2: a pasted signature → typed inputs, and a refusal shown in words.
    second = page.get_by_test_id("change-1")
    second.get_by_label("Target contract").fill(vault)
    second.get_by_label("Or a function signature").fill("setLimit(uint8,bool)")
    expect(second.get_by_label("argument 1 (uint8)")).to_be_visible()
    second.get_by_label("argument 1 (uint8)").fill("300")
    second.get_by_label("argument 2 (bool)").select_option("true")
    second.get_by_role("button", name="Preview change 2").click()
    expect(page.get_by_test_id("preview-1")).to_contain_text("Not encodable")
    expect(page.get_by_test_id("preview-1")).to_contain_text("300")
    second.get_by_label("argument 1 (uint8)").fill("200")
    second.get_by_role("button", name="Preview change 2").click()
    expect(page.get_by_test_id("preview-1")).to_contain_text("setLimit(uint8,bool)")
    # On a phone, long addresses and function names wrap instead of widening the page.
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    screenshot(page, "committee-plan-editor-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # A third row, added in the page: renumbered, empty, and as ABI-aware as the others.
    page.get_by_role("button", name="Add a change").click()
    third = page.get_by_test_id("change-2")
    expect(third.locator("legend").first).to_have_text("Change 3")
    expect(third.get_by_label("Target contract")).to_have_value("")
    third.get_by_label("Target contract").fill(exploited["asset"])
    third.get_by_label("Function of a compiled contract").select_option("RecoveryExecutor:pause()")
    expect(third).to_contain_text("This function takes no arguments.")
    expect(third.get_by_label("Arguments (JSON array)")).to_have_value("[]")
    screenshot(page, "committee-plan-editor")
    assert axe(page) == []

    page.get_by_role("radio", name="Pro rata to the budget").check()
    page.get_by_role("button", name="Build the plan").click()
    expect(page.get_by_role("heading", name="Recovery plan version 1")).to_be_visible()
    plan = RecoveryPlan.objects.get()
    assert plan.policy == "pro_rata"
    assert [(c["signature"], c["args"]) for c in plan.parameter_changes] == [
        ("setAnswer(int256)", ["-42"]),
        ("setLimit(uint8,bool)", ["200", True]),
        ("pause()", []),
    ]
    screenshot(page, "committee-plan")
    assert axe(page) == []
    assert console_errors == []


def test_the_incident_and_analysis_pages_are_axe_clean(committee_page, app_url, anvil, exploited, console_errors):
    page = committee_page
    analysis = analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])
    plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full")
    # A run in progress, as a worker's checkpoint leaves it (no worker here: it stays so).
    running = ImpactAnalysis.objects.create(
        incident=analysis.incident,
        rollback_block=analysis.rollback_block,
        reference_block=analysis.reference_block,
        tracked_assets=analysis.tracked_assets,
        status="running",
        blocks_total=95,
        blocks_done=40,
        logs_done=12,
    )
    for path, name in [
        ("/incidents/", "committee-incidents"),
        ("/incidents/new/", "committee-incident-new"),
        (f"/incidents/{analysis.incident_id}/", "committee-incident"),
        (f"/analyses/{analysis.pk}/", "committee-analysis"),
        (f"/analyses/{running.pk}/", "committee-analysis-running"),
    ]:
        response = page.goto(app_url + path)
        assert response is not None and response.status == 200, path
        screenshot(page, name)
        assert axe(page) == [], path
    page.goto(f"{app_url}/analyses/{running.pk}/")
    expect(page.get_by_label("Blocks scanned")).to_have_attribute("value", "40")
    expect(page.get_by_test_id("analysis-numbers")).to_contain_text("40 of 95 blocks scanned (42%), 12 transfer logs")

    assert console_errors == []
    # A refused form: the message next to its field, announced, and still axe-clean.
    page.goto(f"{app_url}/incidents/new/")
    page.get_by_label("Title").fill("Oracle stuck")
    page.get_by_label("Affected tokens").fill(exploited["vault"].lower())
    page.get_by_role("button", name="Open the incident").click()
    expect(page.locator("#id_affected_tokens_error")).to_contain_text("not checksummed")
    screenshot(page, "committee-incident-refused")
    assert axe(page) == []
    # The one console line is chromium reporting the refused form's own 400 (the page answers as the API does).
    assert len(console_errors) == 1 and "status of 400" in console_errors[0], console_errors


def test_an_analysis_run_from_the_incident_page_is_followed_live_until_its_summary(
    committee_page, app_url, exploited, celery_worker, settings, console_errors
):
    settings.CONFIRMATION_DEPTH = 0
    page = committee_page
    incident = IncidentFactory(
        title="Demo vault drained",
        affected_tokens=[exploited["vault"]],
        exploiter_addresses=[exploited["attacker"], exploited["drainer"]],
    )
    page.goto(f"{app_url}/incidents/{incident.pk}/")
    page.get_by_label("Rollback block").fill(str(exploited["rollback_block"]))
    page.get_by_label("Reference block").fill(str(exploited["reference_block"]))
    page.get_by_label("Scan from block").fill(str(exploited["from_block"]))
    page.get_by_role("button", name="Run the analysis").click()
    expect(page.get_by_role("heading", name=re.compile(r"Impact analysis \d+"))).to_be_visible()
    # htmx swaps the live part in until the worker finishes; then it stops polling.
    expect(page.get_by_test_id("analysis-status")).to_have_text("Completed", timeout=120_000)
    expect(page.get_by_test_id("analysis-live")).not_to_have_attribute("hx-trigger", re.compile(".*"))
    analysis = ImpactAnalysis.objects.get(incident=incident)
    losers = analysis.summary["assets"][exploited["vault"]]["losers"]
    expect(page.get_by_test_id("losers")).to_have_text(str(losers))
    expect(page.get_by_role("link", name="Build a recovery plan")).to_be_visible()
    screenshot(page, "committee-analysis-live")
    assert axe(page) == []
    assert console_errors == []
