"""The executor's journey: an executor starts execution and watches it to the verified end.

Chromium against the live server, a real Celery worker paying the batches on anvil: staff sign-in
as an executor, ``/executions/`` (the approval found on chain from the page), the run, Start, the
live progress (htmx, no reload) to done, the verification report (complete, every account
checked), and the audit log naming the executor who started it.
"""

import time

import pytest
from playwright.sync_api import expect

from recovery.models import BatchSend, BatchSendState, ExecutionRun, ExecutionRunStatus
from tests.browser.conftest import axe, screenshot, staff_login
from tests.factories import UserFactory
from tests.web.test_executor_pages import approved_plan_with_allocations

pytestmark = pytest.mark.chain


def test_an_executor_starts_execution_and_watches_it_to_the_verified_end(
    page, app_url, w3, demo, deployer, timelock, celery_worker, console_errors, settings
):
    settings.CONFIRMATION_DEPTH = 0
    approved = approved_plan_with_allocations(w3, demo, deployer, timelock)
    user = UserFactory(executor=True)

    staff_login(page, app_url, user.username)
    page.goto(f"{app_url}/executions/")
    expect(page.get_by_test_id("no-runs")).to_be_visible()
    page.get_by_role("button", name="Look for new approvals on chain now").click()
    expect(page.get_by_test_id("messages")).to_contain_text("Approved on chain and ready to start")
    run = ExecutionRun.objects.get(plan_asset=approved.plan_asset)
    row = page.get_by_test_id(f"run-row-{run.pk}")
    expect(row).to_contain_text("waiting to start")
    expect(row).to_contain_text("0 of 4 batches, 0 of 12 accounts paid")
    screenshot(page, "executor-runs")
    assert axe(page) == []

    row.get_by_role("link", name=f"Run {run.pk}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Execution run {run.pk}")
    expect(page.get_by_test_id("run-status")).to_have_text("waiting to start")
    expect(page.get_by_test_id("approval")).to_contain_text(run.approval_block_hash)
    screenshot(page, "executor-run-ready")
    assert axe(page) == []

    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("messages")).to_contain_text(f"Execution started: run {run.pk}")
    # From here on the page is never reloaded: a marker set now must survive until the run is done.
    page.evaluate("() => { window.__executorJourney = 'same page'; }")
    expect(page.get_by_test_id("started")).to_contain_text(user.username)
    screenshot(page, "executor-run-started")

    expect(page.get_by_test_id("run-status")).to_have_text("done", timeout=90_000)
    assert page.evaluate("() => window.__executorJourney") == "same page"
    expect(page.get_by_test_id("batches-done")).to_have_text("4 of 4 batches confirmed")
    expect(page.get_by_test_id("accounts-paid")).to_have_text("12 of 12 accounts paid")
    expect(page.get_by_test_id("no-actions")).to_be_visible()  # the actions came along with the last update
    expect(page.get_by_test_id("pause")).to_have_count(0)
    sends = list(BatchSend.objects.filter(run=run))
    assert len(sends) == 4 and all(s.state == BatchSendState.CONFIRMED for s in sends)
    fees = sum(s.gas_used * int(s.effective_gas_price) for s in sends)
    expect(page.get_by_test_id("fees")).to_contain_text(f"{fees:,} wei")
    expect(page.get_by_test_id("senders")).to_contain_text(sends[0].sender)
    page.get_by_text("Every batch (4)").click()
    screenshot(page, "executor-run-done")
    assert axe(page) == []
    run.refresh_from_db()
    assert run.status == ExecutionRunStatus.COMPLETED

    page.get_by_role("link", name="Check every account on chain (verification report)").click()
    expect(page.get_by_test_id("verdict")).to_have_text("Verdict: complete")
    expect(page.get_by_test_id("accounts-checked")).to_have_text("12 accounts checked")
    table = page.get_by_test_id("verified-accounts")
    expect(table.locator("tbody tr")).to_have_count(12)
    for send in sends:
        expect(table).to_contain_text(send.tx_hash)
    expect(page.get_by_test_id("no-unexpected")).to_be_visible()
    screenshot(page, "executor-verification")
    assert axe(page) == []

    page.goto(f"{app_url}/executions/{run.pk}/events/")
    started = page.locator('tr[data-kind="started"]')
    expect(started).to_have_count(1)
    expect(started).to_contain_text(user.username)
    expect(page.locator('tr[data-kind="confirmed"]')).to_have_count(4)
    expect(page.locator('tr[data-kind="completed"]')).to_have_count(1)
    screenshot(page, "executor-audit-log")
    assert axe(page) == []
    assert console_errors == []


def test_without_javascript_an_executor_reads_every_part_and_acts_through_plain_forms(
    browser, app_url, w3, demo, deployer, timelock, celery_worker, settings
):
    """JavaScript off (no wallet either: executors need none): sign in, find the approval, start, pause with a
    reason, resume, a cancel refused unconfirmed; reloading shows the run done; the verification report and the
    audit log read in full. The worker pays; anvil mines nothing meanwhile (a slow chain), so the run is still
    running while the forms are used."""
    settings.CONFIRMATION_DEPTH = 0
    approved = approved_plan_with_allocations(w3, demo, deployer, timelock)
    user = UserFactory(executor=True)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    failed: list[str] = []
    page.on(
        "console",
        lambda message: (
            failed.append(f"{message.text} {message.location.get('url', '')}") if message.type == "error" else None
        ),
    )
    page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    try:
        staff_login(page, app_url, user.username)
        expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Executions")).to_be_visible()
        page.goto(f"{app_url}/executions/")
        page.get_by_test_id("discover").click()
        expect(page.get_by_test_id("messages")).to_contain_text("Approved on chain and ready to start")
        run = ExecutionRun.objects.get(plan_asset=approved.plan_asset)
        page.get_by_test_id(f"run-row-{run.pk}").get_by_role("link", name=f"Run {run.pk}").click()

        # Everything the page holds is in the HTML: the approval, the progress, the latest events.
        expect(page.get_by_test_id("run-status")).to_have_text("waiting to start")
        expect(page.get_by_test_id("approval")).to_contain_text(run.approval_block_hash)
        expect(page.get_by_test_id("approval")).to_contain_text(approved.plan_asset.commitment_root)
        expect(page.get_by_test_id("batches-done")).to_have_text("0 of 4 batches confirmed")
        expect(page.locator('tr[data-kind="approved"]')).to_have_count(1)

        w3.provider.make_request("evm_setAutomine", [False])
        page.get_by_test_id("start").click()
        expect(page.get_by_test_id("messages")).to_contain_text(f"Execution started: run {run.pk}")
        expect(page.get_by_test_id("run-status")).to_have_text("running")
        expect(page.get_by_test_id("nojs-note")).to_contain_text("reload the page to see the latest progress")
        expect(page.get_by_test_id("live-note")).to_be_hidden()  # nothing updates by itself without JavaScript
        page.get_by_label("Reason for pausing (optional)").fill("checking the gas price")
        page.get_by_test_id("pause").click()
        expect(page.get_by_test_id("run-status")).to_have_text("paused")
        expect(page.get_by_test_id("pause-reason")).to_contain_text("checking the gas price")
        page.get_by_test_id("resume").click()
        expect(page.get_by_test_id("messages")).to_contain_text(f"Resumed: run {run.pk}")
        page.get_by_test_id("cancel").click()  # the box not ticked: refused at the field, the run goes on
        expect(page.locator("#cancel-confirm-error")).to_contain_text("Tick the box to confirm")
        expect(page.get_by_test_id("run-status")).to_have_text("running")
        screenshot(page, "executor-nojs-run-running")

        w3.provider.make_request("evm_setAutomine", [True])
        w3.provider.make_request("evm_mine", [])
        for _ in range(900):  # bounded: 90 s for the worker to pay what is left and see it confirmed
            run.refresh_from_db()
            if run.status != ExecutionRunStatus.RUNNING:
                break
            time.sleep(0.1)
        page.goto(f"{app_url}/executions/{run.pk}/")  # (not reload: the page is the refused cancel's POST)
        expect(page.get_by_test_id("run-status")).to_have_text("done")
        expect(page.get_by_test_id("accounts-paid")).to_have_text("12 of 12 accounts paid")
        expect(page.get_by_test_id("no-actions")).to_be_visible()
        page.get_by_text("Every batch (4)").click()  # <details> opens without JavaScript
        sends = list(BatchSend.objects.filter(run=run))
        for sent in sends:
            expect(page.get_by_test_id("batches")).to_contain_text(sent.tx_hash)
        screenshot(page, "executor-nojs-run-done")

        page.get_by_role("link", name="Check every account on chain (verification report)").click()
        expect(page.get_by_test_id("verdict")).to_have_text("Verdict: complete")
        expect(page.get_by_test_id("verified-accounts").locator("tbody tr")).to_have_count(12)
        for sent in sends:
            expect(page.get_by_test_id("verified-accounts")).to_contain_text(sent.tx_hash)
        screenshot(page, "executor-nojs-verification")

        page.goto(f"{app_url}/executions/{run.pk}/events/")
        kinds = page.locator("tr[data-kind]").evaluate_all("rows => rows.map(row => row.dataset.kind)")
        assert kinds[:2] == ["approved", "started"] and kinds[-1] == "completed"
        assert {"paused", "resumed"} <= set(kinds)
        run.refresh_from_db()
        assert run.status == ExecutionRunStatus.COMPLETED and run.started_via == "web"
        # The one error: the unconfirmed cancel's page, answered 400 as bad input is.
        assert failed == [
            f"Failed to load resource: the server responded with a status of 400 (Bad Request) "
            f"{app_url}/executions/{run.pk}/cancel/"
        ]
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
        context.close()
