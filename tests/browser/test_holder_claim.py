"""A holder in a pull-mode plan claims: sign in with the header button, open the account page, check
the proof in the browser, claim from the wallet, see the receipt, the balance change and "already claimed".

The plan is the exploited demo's, paid by pull, frozen, published as a Snapshot proposal row and
approved on the demo RecoveryExecutor through the timelock's impersonation (the test's set-up: what
executing the passed vote does). The holder's key signs in the injected test wallet.
"""

import re
import time

import pytest
from playwright.sync_api import Page, expect

from chain.artifacts import bind
from chain.demo import fund_recovery_executor, holder_account
from chain.transact import send
from governance.models import SnapshotProposal, SnapshotProposalStatus, SnapshotVenue
from proposals.services import freeze_proposal
from recovery import plans
from recovery.models import Allocation
from tests.browser.conftest import axe, screenshot
from tests.factories import analysed_exploit
from tests.recovery.test_plans import approve_on_chain


def _key_of(demo, account: str):
    index = [holder.lower() for holder in demo.holders].index(account.lower())
    key = holder_account(index)
    assert key.address == account
    return key


@pytest.fixture
def approved_pull_plan(app_url, w3, anvil, demo, exploited, deployer, timelock, settings):
    settings.CONFIRMATION_DEPTH = 0
    analysis = analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])
    plan = plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full", delivery="pull", claim_days=7)
    document, _ = freeze_proposal(plan_id=plan.pk, frozen_by=None)
    asset = plan.assets.get()
    fund_recovery_executor(w3, demo, deployer=deployer, token=asset.payout_token, amount=int(asset.total_allocated))
    approve_on_chain(w3, demo, timelock, asset)
    venue = SnapshotVenue.objects.create(
        space="lifeboat-claims.eth",
        chain_id=31337,
        sequencer_url="http://127.0.0.1:1/",
        hub_url="http://127.0.0.1:1/graphql",
        recovery_executor=demo.address("recovery_executor"),
        approver=exploited["vault"],
        quorum=1,
    )
    now = int(time.time())
    SnapshotProposal.objects.create(
        document=document,
        venue=venue,
        status=SnapshotProposalStatus.CREATED,
        proposal_id="0x" + "ef" * 32,
        envelope={},
        author=exploited["vault"],
        timestamp=now - 600,
        start=now - 600,
        end=now - 60,
        snapshot=1,
        snapshot_block_hash="0x" + "00" * 32,
        state="closed",
        outcome="passed",
    )
    allocation = Allocation.objects.filter(plan_asset=asset, amount__gt=0).order_by("-amount").first()
    return document, asset, allocation


def _clean(page: Page, console_errors: list[str]) -> None:
    assert axe(page) == []
    assert console_errors == []


def test_a_holder_in_a_pull_plan_signs_in_checks_the_proof_and_claims(
    page: Page, app_url, wallet, w3, demo, approved_pull_plan, console_errors
):
    document, asset, allocation = approved_pull_plan
    holder = _key_of(demo, allocation.account)
    w3.provider.make_request("anvil_setBalance", [holder.address, hex(10**18)])
    wallet.use(holder)

    # Sign in with the header's button.
    page.goto(f"{app_url}/me/")
    expect(page.get_by_test_id("me-signin-help")).to_be_visible()
    screenshot(page, "holders-claim-1-signed-out")
    _clean(page, console_errors)
    page.locator("#siwe-signin").click()
    expect(page.get_by_test_id("holder-address")).to_be_visible()
    assert page.get_by_test_id("holder-address").get_attribute("title") == holder.address
    assert page.get_by_test_id("siwe-error").text_content() == ""

    # "My account" lists the proposal; its link opens the account page.
    expect(page.get_by_test_id(f"me-proposal-{document.pk}")).to_be_visible()
    screenshot(page, "holders-claim-2-my-account")
    _clean(page, console_errors)
    page.get_by_test_id(f"me-proposal-{document.pk}").get_by_role("link", name="Open its account page").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(allocation.account)

    # The proof, checked in the page.
    page.locator(f"#check-proof-{asset.asset}").click()
    result = page.get_by_test_id(f"proof-result-{asset.asset}")
    expect(result).to_have_text("valid: this allocation is in the published root")
    screenshot(page, "holders-claim-3-proof-valid")
    _clean(page, console_errors)

    # The claim, sent from the holder's wallet.
    token = bind(w3, "DemoVault", asset.payout_token)
    before = token.functions.balanceOf(holder.address).call()
    claim = page.locator(f"#claim-{asset.asset}")
    expect(claim).to_have_text(re.compile(r"^Claim [0-9.,]+ lbvUSD$"))
    claim.click()
    receipt = page.get_by_test_id(f"claim-result-{asset.asset}")
    expect(receipt).to_contain_text("Claimed: transaction 0x", timeout=30_000)
    expect(receipt).to_contain_text("succeeded in block")
    assert page.get_by_test_id(f"claim-alert-{asset.asset}").text_content() == ""
    assert token.functions.balanceOf(holder.address).call() - before == int(allocation.amount)
    executor = bind(w3, "RecoveryExecutor", demo.address("recovery_executor"))
    assert executor.functions.isClaimed(int(asset.onchain_plan_id), allocation.leaf_index).call()
    screenshot(page, "holders-claim-4-claimed")
    _clean(page, console_errors)

    # The page, read again, says it was claimed and offers no button.
    page.reload()
    expect(page.get_by_test_id(f"claim-state-{asset.asset}")).to_contain_text("Already claimed")
    expect(page.locator(f"#claim-{asset.asset}")).to_have_count(0)
    screenshot(page, "holders-claim-5-already-claimed")
    _clean(page, console_errors)

    # Signing out (the header's form) comes back to the same page, signed out.
    page.locator("#siwe-signout").click()
    expect(page.locator("#siwe-signin")).to_be_visible()
    expect(page.get_by_test_id("holder-address")).to_have_count(0)
    assert page.url.endswith(f"/proposals/{document.pk}/accounts/{allocation.account}/")


def test_a_claim_the_chain_refuses_says_why_and_pays_nothing(
    page: Page, app_url, wallet, w3, demo, approved_pull_plan, console_errors
):
    document, asset, allocation = approved_pull_plan
    holder = _key_of(demo, allocation.account)
    w3.provider.make_request("anvil_setBalance", [holder.address, hex(10**18)])
    wallet.use(holder)
    page.goto(f"{app_url}/proposals/{document.pk}/accounts/{allocation.account}/")
    # Claimed by someone else after the page was read: the wallet's gas estimate reverts (AlreadyClaimed).
    claim = page.locator(f"#claim-{asset.asset}")
    data = page.evaluate(
        """(asset) => {
          const b = document.getElementById(`claim-${asset}`);
          const proof = Array.from(document.querySelectorAll(`#proof-list-${asset} code`), (n) => n.textContent);
          return Lifeboat.encodeCall("function claim(uint256,uint256,address,uint256,bytes32[])",
            [b.dataset.planId, b.dataset.index, b.dataset.account, b.dataset.amount, proof]);
        }""",
        asset.asset,
    )
    other = holder_account(301)
    w3.provider.make_request("anvil_setBalance", [other.address, hex(10**18)])
    executor = demo.address("recovery_executor")
    send(w3, other, tx={"to": executor, "data": data, "gas": 300_000})
    token = bind(w3, "DemoVault", asset.payout_token)
    balance = token.functions.balanceOf(holder.address).call()

    claim.click()
    alert = page.get_by_test_id(f"claim-alert-{asset.asset}")
    expect(alert).to_have_text(
        "The claim was not sent: the contract refuses it: "
        "this allocation has already been claimed (AlreadyClaimed). Reload the page."
    )
    assert token.functions.balanceOf(holder.address).call() == balance
    expect(claim).to_be_enabled()
    screenshot(page, "holders-claim-refused")
    assert axe(page) == []


def test_a_tampered_proof_is_invalid_in_the_page(page: Page, app_url, approved_pull_plan, console_errors):
    document, asset, allocation = approved_pull_plan
    page.goto(f"{app_url}/proposals/{document.pk}/accounts/{allocation.account}/")
    button = page.locator(f"#check-proof-{asset.asset}")
    result = page.get_by_test_id(f"proof-result-{asset.asset}")
    # One proof node changed in the DOM: the hashes no longer lead to the published root.
    page.evaluate(
        """(asset) => {
          const node = document.querySelector(`#proof-list-${asset} code`);
          node.textContent = node.textContent.slice(0, -1) + (node.textContent.endsWith("0") ? "1" : "0");
        }""",
        asset.asset,
    )
    button.click()
    expect(result).to_have_text(re.compile(r"^INVALID"))
    screenshot(page, "holders-claim-tampered-proof")
    # An amount raised by one base unit is refused as well.
    page.reload()
    page.evaluate(
        "(asset) => { const b = document.getElementById(`check-proof-${asset}`);"
        " b.dataset.amount = (BigInt(b.dataset.amount) + 1n).toString(); }",
        asset.asset,
    )
    button.click()
    expect(result).to_have_text(re.compile(r"^INVALID"))
    _clean(page, console_errors)


def test_a_refused_sign_in_says_why_in_the_header(page: Page, app_url, wallet, demo, console_errors):
    holder = holder_account(2)
    wallet.use(holder)
    page.goto(f"{app_url}/proposals/")
    # The holder rejects the signature request in the wallet (EIP-1193 code 4001).
    page.evaluate(
        """() => {
          const original = window.ethereum.request.bind(window.ethereum);
          window.ethereum.request = async ({ method, params }) => {
            if (method === "personal_sign") {
              throw Object.assign(new Error("User rejected the request."), { code: 4001 });
            }
            return original({ method, params });
          };
        }"""
    )
    page.locator("#siwe-signin").click()
    alert = page.get_by_test_id("siwe-error")
    expect(alert).to_have_text("Sign-in failed: The request was rejected in the wallet.")
    expect(page.locator("#siwe-signin")).to_be_enabled()
    screenshot(page, "holders-signin-rejected")
    assert axe(page) == []

    # A wallet on another chain is told to switch before anything is signed.
    page.evaluate(
        """() => {
          const original = window.ethereum.request;
          window.ethereum.request = async ({ method, params }) =>
            method === "eth_chainId" ? "0x1" : original({ method, params });
        }"""
    )
    page.locator("#siwe-signin").click()
    expect(alert).to_have_text(
        "Sign-in failed: Your wallet is on chain 1, this site on chain 31337: "
        "switch the wallet's network, then sign in again."
    )
