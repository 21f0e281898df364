"""The committee's journey: a member opens an incident, runs the analysis, builds the plan, freezes it,
rehearses it, signs it off with a wallet (with a second member), and publishes it to the dev governor.

In chromium against the live server, a real Celery worker (the analysis and the rehearsal run there)
and the session's anvil with the exploited demo vault. Two staff users in the committee role are
linked to the first two dev committee keys; the page's test wallet signs with each in turn. The
recovered funds (vault shares, the plan's budget) are sent to the RecoveryExecutor once the
analysis says how much was lost, as ``make demo`` does before its rehearsal.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from chain.devkeys import COMMITTEE_KEYS
from chain.keys import load_account
from governance.models import Publication, PublicationStatus
from proposals.models import ProposalDocument, Rehearsal, SignOff
from proposals.signoffs import link_committee_member
from recovery.models import AccountImpact, ImpactKind
from tests.browser.conftest import axe, screenshot, staff_login
from tests.factories import UserFactory
from tests.governance.governors import dev_venue
from tests.proposals.test_rehearsal import fund_with_vault_shares

WORKER_TIMEOUT_MS = 180_000  # the analysis and the rehearsal run on the worker
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 375, "height": 800}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def members():
    """Two committee users, each linked to a dev committee key; [(user, account), ...]."""
    linked = []
    for key in COMMITTEE_KEYS[:2]:
        account = load_account(private_key=key)
        user = UserFactory(committee=True)
        link_committee_member(username=user.username, address=account.address)
        linked.append((user, account))
    return linked


def _clean(page: Page, console_errors: list[str], name: str, *, phone: bool = False) -> None:
    """Screenshot the page as ``committee-journey-<name>``, then check it is accessible and error-free;
    with ``phone``, also at 375 px wide, where the page itself must not scroll sideways."""
    screenshot(page, f"committee-journey-{name}")
    assert axe(page) == [], name
    assert console_errors == [], name
    if phone:
        page.set_viewport_size(PHONE)
        try:
            wide = page.evaluate(
                """(limit) => [...document.querySelectorAll("body *")]
                  .filter((e) => e.getBoundingClientRect().right > limit && !e.closest(".table-wrap"))
                  .slice(0, 5).map((e) => e.tagName + "." + e.className + ": " + e.textContent.slice(0, 60))""",
                PHONE["width"],
            )
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], (name, wide)
            assert axe(page) == [], name
            screenshot(page, f"committee-journey-{name}-phone")
        finally:
            page.set_viewport_size(DESKTOP)


def _lines(*values: str) -> str:
    return "\n".join(values)


def test_a_committee_member_takes_an_exploit_from_incident_to_published_proposal(
    page, app_url, wallet, console_errors, celery_worker, anvil, w3, demo, deployer, exploited, members, settings
):
    settings.CONFIRMATION_DEPTH = 0
    venue = dev_venue(demo, anvil)
    (first, first_key), (second, second_key) = members
    staff_login(page, app_url, first.username)

    # 1. Open the incident.
    page.goto(f"{app_url}/incidents/new/")
    page.get_by_label("Title", exact=True).fill("Demo vault drained")
    page.get_by_label("Kind", exact=True).select_option("protocol_exploit")
    page.get_by_label("Chain id", exact=True).fill(str(demo.chain_id))
    page.get_by_label("Affected contracts").fill(exploited["vault"])
    page.get_by_label("Affected tokens").fill(exploited["vault"])
    page.get_by_label("Exploiter addresses").fill(_lines(exploited["attacker"], exploited["drainer"]))
    page.get_by_label("Exploit transactions").fill(exploited["tx"])
    _clean(page, console_errors, "1-incident-form")
    page.get_by_role("button", name="Open the incident").click()
    expect(page).to_have_url(re.compile(r"/incidents/\d+/$"))

    # 2. Run the analysis on the worker and watch its live progress finish.
    page.get_by_label("Rollback block", exact=True).fill(str(exploited["rollback_block"]))
    page.get_by_label("Reference block", exact=True).fill(str(exploited["reference_block"]))
    page.get_by_label("Scan from block", exact=True).fill(str(exploited["from_block"]))
    _clean(page, console_errors, "2-incident")
    page.get_by_role("button", name="Run the analysis").click()
    expect(page).to_have_url(re.compile(r"/analyses/\d+/$"))
    analysis_id = int(re.search(r"/analyses/(\d+)/$", page.url).group(1))
    expect(page.get_by_test_id("analysis-status")).to_have_text("Completed", timeout=WORKER_TIMEOUT_MS)
    _clean(page, console_errors, "3-analysis")

    # The recovered funds: half of the losses, sent to the RecoveryExecutor (the plan's budget).
    losses = sum(
        -int(delta)
        for delta in AccountImpact.objects.filter(
            analysis_id=analysis_id, asset=exploited["vault"], kind=ImpactKind.BALANCE, delta__lt=0
        ).values_list("delta", flat=True)
    )
    budget = losses // 2
    assert budget > 0
    fund_with_vault_shares(w3, demo, deployer, budget)

    # 3. Build the plan: pro rata to the budget.
    page.get_by_test_id("build-plan-link").click()
    page.get_by_label("Pro rata to the budget").check()
    page.get_by_label(f"Budget for {exploited['vault']} (base units)").fill(str(budget))
    _clean(page, console_errors, "4-plan-editor")
    page.get_by_role("button", name="Build the plan").click()
    expect(page).to_have_url(re.compile(r"/plans/\d+/$"))
    _clean(page, console_errors, "5-plan")

    # 4. Freeze it into the proposal document.
    page.get_by_role("button", name="Freeze into a proposal document").click()
    expect(page).to_have_url(re.compile(r"/documents/\d+/$"))
    document = ProposalDocument.objects.get()
    expect(page.get_by_test_id("content-hash")).to_have_text(document.content_hash)
    expect(page.get_by_test_id("step-rehearse")).to_have_text("next")
    _clean(page, console_errors, "6-document", phone=True)

    # 5. Rehearse on the dev governor's venue; the report updates itself until it passes.
    page.get_by_label("Venue to rehearse on").select_option(str(venue.pk))
    page.get_by_role("button", name="Rehearse the proposal").click()
    expect(page).to_have_url(re.compile(r"/rehearsals/\d+/$"))
    report = page.get_by_test_id("rehearsal-report")
    expect(report).to_have_attribute("data-status", "passed", timeout=WORKER_TIMEOUT_MS)
    expect(page.get_by_test_id("rehearsal-verdict")).to_contain_text("Passed")
    assert Rehearsal.objects.get().passed
    _clean(page, console_errors, "7-rehearsal-passed", phone=True)

    # 6. Sign off with the wallet holding the first member's key.
    page.goto(f"{app_url}/documents/{document.pk}/")
    wallet.use(first_key)
    expect(page.get_by_test_id("linked-address")).to_contain_text(first_key.address)
    page.get_by_role("button", name="Sign off with my wallet").click()
    expect(page.get_by_test_id(f"signoff-count-{venue.pk}")).to_have_text("1 of 2 needed", timeout=30_000)
    expect(page.get_by_test_id(f"signed-by-me-{venue.pk}")).to_be_visible()
    _clean(page, console_errors, "8-signed-off-once")

    # Publishing now is refused, in words: one sign-off of the two needed.
    page.get_by_label("Venue to publish to").select_option(f"governor:{venue.pk}")
    page.get_by_role("button", name="Publish the proposal").click()
    expect(page.get_by_test_id("publish-error")).to_contain_text("1 of the 2 committee sign-offs needed")
    assert not Publication.objects.exists()
    # The refusal is answered 409 on purpose (as the API does), which chromium logs as a failed load.
    assert len(console_errors) == 1 and "status of 409" in console_errors[0]
    console_errors.clear()
    _clean(page, console_errors, "9-publish-refused", phone=True)

    # The second member signs in and signs off with their own key.
    page.get_by_role("button", name="Sign out").click()
    staff_login(page, app_url, second.username)
    page.goto(f"{app_url}/documents/{document.pk}/")
    wallet.use(second_key)
    page.get_by_role("button", name="Sign off with my wallet").click()
    expect(page.get_by_test_id(f"signoff-count-{venue.pk}")).to_have_text("2 of 2 needed", timeout=30_000)
    assert sorted(SignOff.objects.values_list("signer", flat=True)) == sorted([first_key.address, second_key.address])
    expect(page.get_by_test_id("step-publish")).to_have_text("next")
    _clean(page, console_errors, "10-signed-off")

    # 7. Publish to the governor: the publication is shown with its proposal id and transaction.
    page.get_by_label("Venue to publish to").select_option(f"governor:{venue.pk}")
    page.get_by_role("button", name="Publish the proposal").click()
    expect(page).to_have_url(re.compile(rf"/documents/{document.pk}/#publish$"))
    publication = Publication.objects.get()
    assert publication.status == PublicationStatus.CREATED
    row = page.get_by_test_id(f"publication-governor-{venue.pk}")
    expect(row).to_contain_text(str(publication.proposal_id))
    expect(row).to_contain_text(publication.tx_hash)
    assert w3.eth.get_transaction_receipt(publication.tx_hash)["status"] == 1
    expect(page.get_by_test_id("step-publish")).to_have_text("done")
    _clean(page, console_errors, "11-published", phone=True)


def test_a_failed_rehearsal_and_a_wallet_holding_another_account_are_explained_in_words(
    page, app_url, wallet, console_errors, anvil, demo, exploited, members, settings
):
    """The executor holds no recovered funds: the rehearsal fails with the decoded revert; a member whose
    wallet holds another account is told which one to switch to, and nothing is signed."""
    from proposals.rehearsals import rehearse_proposal
    from tests.governance.governors import finished_rehearsal, frozen_document

    settings.CONFIRMATION_DEPTH = 0
    venue = dev_venue(demo, anvil)
    document = frozen_document(anvil, exploited)
    failed = rehearse_proposal(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert failed.status == "failed"
    (first, first_key), (_, second_key) = members
    staff_login(page, app_url, first.username)

    page.goto(f"{app_url}/rehearsals/{failed.pk}/")
    expect(page.get_by_test_id("rehearsal-verdict")).to_contain_text("Failed: this plan would not pay exactly")
    expect(page.get_by_test_id("rehearsal-batches")).to_contain_text("reverted")
    expect(page.get_by_test_id("rehearsal-failures")).to_contain_text(failed.report["failures"][0])
    _clean(page, console_errors, "rehearsal-failed", phone=True)

    # A passed rehearsal (stored as a worker would) lets the member sign; the wallet holds the other key.
    finished_rehearsal(document, venue)
    page.goto(f"{app_url}/documents/{document.pk}/")
    expect(page.get_by_test_id(f"rehearsal-verdict-{venue.pk}")).to_contain_text("passed")
    wallet.use(second_key)
    page.get_by_role("button", name="Sign off with my wallet").click()
    status = page.get_by_test_id(f"signoff-status-{venue.pk}")
    expect(status).to_contain_text(f"Your wallet's account is {second_key.address}")
    expect(status).to_contain_text(f"your committee address is {first_key.address}")
    assert not SignOff.objects.exists()
    _clean(page, console_errors, "wrong-wallet", phone=True)
