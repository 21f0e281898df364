"""A restore-positions plan in chromium: built from the editor (mode and venue), its page listing every
restored position, then its rehearsal's report with the restored-positions check; axe-clean, no console errors."""

import pytest
from playwright.sync_api import expect

from proposals.rehearsals import rehearse_proposal
from proposals.services import freeze_proposal
from recovery.models import RecoveryPlan
from tests.browser.conftest import axe, screenshot, staff_login
from tests.factories import UserFactory
from tests.governance.governors import dev_venue
from tests.proposals.test_rehearsal_positions import (  # noqa: F401 - liquidated is a fixture
    SMALL_BATCHES,
    fund_executor,
    liquidated,
    margin_analysis,
    needed,
)

pytestmark = pytest.mark.browser


def test_the_committee_builds_a_restore_positions_plan_and_reads_its_positions_and_rehearsal(
    page,
    app_url,
    w3,
    anvil,
    demo,
    deployer,
    liquidated,  # noqa: F811
    console_errors,
):
    analysis = margin_analysis(w3, liquidated)
    venue = demo.address("migrated_margin_market")
    staff_login(page, app_url, UserFactory(committee=True).username)
    page.goto(f"{app_url}/analyses/{analysis.pk}/plans/new/")
    page.get_by_role("radio", name="Restore each margin position at the rollback block on a migrated venue").check()

    # A bad venue comes back on its field, in words.
    page.get_by_label("Venue: the migrated margin market").fill(demo.address("asset"))
    page.get_by_label("Gas ceiling per batch").fill(str(SMALL_BATCHES))
    page.get_by_role("button", name="Build the plan").click()
    expect(page.locator("#id_venue_error")).to_contain_text("is not a margin market")
    assert not RecoveryPlan.objects.exists()

    page.get_by_label("Venue: the migrated margin market").fill(venue)
    page.get_by_role("button", name="Build the plan").click()
    expect(page.get_by_role("heading", name="Recovery plan version 1")).to_be_visible()
    plan = RecoveryPlan.objects.get()
    rows = sum(len(batch.positions) for batch in plan.assets.get().batches.all())
    expect(page.get_by_test_id("plan-venue")).to_have_text(venue)
    expect(page.get_by_test_id("plan-position")).to_have_count(rows)
    screenshot(page, "committee-plan-restore-positions")
    assert axe(page) == []

    proposal = freeze_proposal(plan_id=plan.pk, frozen_by=None)[0]
    fund_executor(w3, demo, deployer, needed(proposal))
    rehearsal = rehearse_proposal(proposal_id=proposal.pk, venue_id=dev_venue(demo, anvil).pk, rpc_url=anvil.url)
    assert rehearsal.passed, rehearsal.report["failures"]
    page.goto(f"{app_url}/rehearsals/{rehearsal.pk}/")
    expect(page.get_by_test_id("rehearsal-positions")).to_contain_text(
        f"{rows} of {rows} restored accounts on the venue equal their committed rows"
    )
    expect(page.get_by_test_id("rehearsal-venue-role")).to_contain_text("grants the RecoveryExecutor")
    screenshot(page, "committee-rehearsal-restore-positions")
    assert axe(page) == []
    # The refused build answered 400 (the browser logs that); nothing else went wrong in the pages.
    assert [e for e in console_errors if "status of 400" not in e] == []
    assert len(console_errors) == 1
