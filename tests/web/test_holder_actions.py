"""The holders' actions around their account: "my account", the in-page proof check's data and the pull claim.

A real pull plan of the exploited demo, frozen; approved on the demo RecoveryExecutor through the
timelock's impersonation (what the vote's execution does) when a test needs it. The claim is sent
from Python with exactly the data the page's button carries, as the page's script would send it.
"""

import html
import re
import time

import pytest
from django.test import Client
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from chain.artifacts import bind
from chain.demo import fund_recovery_executor, holder_account
from chain.transact import send
from governance.models import SnapshotProposal, SnapshotProposalStatus, SnapshotVenue
from proposals.services import freeze_proposal
from recovery import plans
from recovery.merkle import StandardMerkleTree
from recovery.models import Allocation
from tests.factories import UserFactory, analysed_exploit
from tests.recovery.test_plans import approve_on_chain

pytestmark = [pytest.mark.django_db]


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _attrs(page: str, element_id: str) -> dict[str, str]:
    """The attributes of the element with ``id``, as the page's script reads them."""
    tag = re.search(rf'<[a-z]+ [^>]*id="{re.escape(element_id)}"[^>]*>', page)
    assert tag, f"no element #{element_id}"
    return dict(re.findall(r'([a-z\-]+)="([^"]*)"', tag.group(0)))


def _proof(page: str, asset: str) -> list[str]:
    found = re.search(rf'<ol id="proof-list-{re.escape(asset)}"[^>]*>(.*?)</ol>', page, re.S)
    assert found
    return re.findall(r"<code[^>]*>(0x[0-9a-f]{64})</code>", found.group(1))


@pytest.fixture
def pull_plan(w3, anvil, demo, exploited, deployer, chain_settings, settings):
    """The exploited vault's restitute plan paid by pull (claims open seven days), frozen, executor funded."""
    settings.CONFIRMATION_DEPTH = 0
    analysis = analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])
    plan = plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full", delivery="pull", claim_days=7)
    document, _ = freeze_proposal(plan_id=plan.pk, frozen_by=None)
    asset = plan.assets.get()
    fund_recovery_executor(w3, demo, deployer=deployer, token=asset.payout_token, amount=int(asset.total_allocated))
    allocation = Allocation.objects.filter(plan_asset=asset, amount__gt=0).order_by("-amount").first()
    return document, asset, allocation


def _account_url(document, account: str) -> str:
    return f"/proposals/{document.pk}/accounts/{account}/"


def test_the_account_page_carries_the_published_root_and_a_proof_that_verifies(pull_plan, anvil):
    document, asset, allocation = pull_plan
    page = _text(Client().get(_account_url(document, allocation.account)))
    button = _attrs(page, f"check-proof-{asset.asset}")
    assert button["data-root"] == asset.allocation_root != ""
    assert f"from the frozen proposal document {document.pk}" in page and document.content_hash in page
    assert "runs here in your browser, not on the server" in page
    leaf = [int(button["data-index"]), to_checksum_address(button["data-account"]), int(button["data-amount"])]
    assert leaf[1:] == [to_checksum_address(allocation.account), int(allocation.amount)]
    proof = _proof(page, asset.asset)
    assert StandardMerkleTree.verify_proof(button["data-root"], plans.ALLOCATION_LEAF_ENCODING, leaf, proof)
    # A tampered amount does not verify against the same root and proof (the page's check says INVALID).
    tampered = [leaf[0], leaf[1], leaf[2] + 1]
    assert not StandardMerkleTree.verify_proof(button["data-root"], plans.ALLOCATION_LEAF_ENCODING, tampered, proof)
    # Not approved yet: the page says so and offers no claim button; no RPC URL reaches the page.
    assert "Not approved on chain yet" in page and f'id="claim-{asset.asset}"' not in page
    assert anvil.url not in page and "127.0.0.1:" not in page


def test_an_approved_pull_plan_offers_the_claim_and_then_says_already_claimed(pull_plan, w3, demo, timelock):
    document, asset, allocation = pull_plan
    approve_on_chain(w3, demo, timelock, asset)
    url = _account_url(document, allocation.account)
    page = _text(Client().get(url))
    button = _attrs(page, f"claim-{asset.asset}")
    assert button["data-executor"] == demo.address("recovery_executor")
    assert int(button["data-plan-id"]) == int(asset.onchain_plan_id)
    assert int(button["data-chain-id"]) == w3.eth.chain_id
    assert re.search(rf'id="claim-{re.escape(asset.asset)}"[^>]*>Claim [0-9.,]+ lbvUSD</button>', page)
    assert "Open for claims until" in page and "Anyone may send this claim" in page

    # Anyone may send it (here a demo holder that is not the account); the tokens go to the account.
    sender = holder_account(301)
    w3.provider.make_request("anvil_setBalance", [sender.address, hex(10**18)])
    selector = function_signature_to_4byte_selector("claim(uint256,uint256,address,uint256,bytes32[])")
    args = [int(button["data-plan-id"]), int(button["data-index"]), button["data-account"], int(button["data-amount"])]
    proof = [bytes.fromhex(node[2:]) for node in _proof(page, asset.asset)]
    data = selector + encode(["uint256", "uint256", "address", "uint256", "bytes32[]"], [*args, proof])
    token = bind(w3, "DemoVault", asset.payout_token)
    before = token.functions.balanceOf(allocation.account).call()
    send(w3, sender, tx={"to": button["data-executor"], "data": "0x" + data.hex(), "gas": 300_000})
    assert token.functions.balanceOf(allocation.account).call() - before == int(allocation.amount)

    again = _text(Client().get(url))
    assert "Already claimed" in again and f'id="claim-{asset.asset}"' not in again


def test_a_claim_deadline_in_the_past_is_said_instead_of_the_button(pull_plan, w3, demo, timelock):
    document, asset, allocation = pull_plan
    approve_on_chain(w3, demo, timelock, asset)
    deadline = int(document.plan.claim_deadline)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        w3.provider.make_request("evm_mine", [deadline + 10])
        page = _text(Client().get(_account_url(document, allocation.account)))
    finally:
        w3.provider.make_request("evm_revert", [snapshot])
    assert "The claim deadline passed" in page and f'id="claim-{asset.asset}"' not in page


def test_a_push_plan_says_the_executor_pays(w3, anvil, demo, exploited, chain_settings):
    analysis = analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])
    plan = plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full", delivery="push")
    document, _ = freeze_proposal(plan_id=plan.pk, frozen_by=None)
    account = Allocation.objects.filter(plan_asset__plan=plan, amount__gt=0).first().account
    page = _text(Client().get(_account_url(document, account)))
    assert "The executor pays this plan in batches" in page and ' id="claim-' not in page


# --- "my account" ---


def _publish_on_snapshot(document, exploited) -> None:
    """A Snapshot proposal row of ``document`` as the follower stores it: the document is published."""
    venue = SnapshotVenue.objects.create(
        space="lifeboat-holders.eth",
        chain_id=31337,
        sequencer_url="http://127.0.0.1:1/",
        hub_url="http://127.0.0.1:1/graphql",
        recovery_executor=exploited["vault"],
        approver=exploited["vault"],
        quorum=1,
    )
    now = int(time.time())
    SnapshotProposal.objects.create(
        document=document,
        venue=venue,
        status=SnapshotProposalStatus.CREATED,
        proposal_id="0x" + "cd" * 32,
        envelope={},
        author=exploited["vault"],
        timestamp=now - 60,
        start=now - 60,
        end=now + 3_600,
        snapshot=1,
        snapshot_block_hash="0x" + "00" * 32,
        state="active",
    )


def test_my_account_without_sign_in_explains_how_and_offers_the_search(db):
    for client in (Client(), _staff_client()):
        answer = client.get("/me/")
        assert answer.status_code == 200
        page = _text(answer)
        assert 'data-testid="me-signin-help"' in page and "Sign in with Ethereum" in page
        assert '<label for="me-address-search">' in page


def _staff_client() -> Client:
    client = Client()
    client.force_login(UserFactory(committee=True))
    return client


def test_my_account_lists_the_published_proposals_affecting_the_signed_in_holder(pull_plan, exploited):
    document, _, allocation = pull_plan
    client = Client()
    session = client.session
    session["holder_address"] = allocation.account
    session.save()
    page = _text(client.get("/me/"))
    assert f'data-testid="me-proposal-{document.pk}"' not in page  # frozen, not published yet
    assert "No published proposal affects this address." in page

    _publish_on_snapshot(document, exploited)
    answer = client.get("/me/")
    assert answer.status_code == 200
    page = _text(answer)
    assert f'data-testid="me-proposal-{document.pk}"' in page
    assert allocation.account in page and f"{int(allocation.amount):,}" in page
    assert _account_url(document, allocation.account) in page
    # The header shows the signed-in holder, short, with the full address in its title.
    assert f'title="{allocation.account}"' in page and 'data-testid="holder-address"' in page


def test_my_account_looks_an_address_up_without_sign_in(pull_plan, exploited):
    document, _, allocation = pull_plan
    _publish_on_snapshot(document, exploited)
    page = _text(Client().get("/me/", {"address": allocation.account.lower()}))
    assert f'data-testid="me-proposal-{document.pk}"' in page and allocation.account in page
    nobody = _text(Client().get("/me/", {"address": "0x" + "12" * 20}))
    assert "No published proposal affects this address." in nobody


@pytest.mark.parametrize("query", ["0x1234", "vitalik.eth", "", "0x" + "g" * 40])
def test_my_account_refuses_a_search_that_is_not_an_address(query, db):
    answer = Client().get("/me/", {"address": query})
    assert answer.status_code == 400
    page = _text(answer)
    assert "is not an address: 0x followed by 40 hex digits." in page
    assert 'aria-describedby="me-address-error"' in page and 'id="me-address-error" role="alert"' in page


def test_the_account_page_of_an_unknown_proposal_or_address_is_a_404(pull_plan):
    document, _, allocation = pull_plan
    assert Client().get(f"/proposals/{document.pk + 1000}/accounts/{allocation.account}/").status_code == 404
    assert Client().get(f"/proposals/{document.pk}/accounts/0x1234/").status_code == 404


def test_the_header_offers_the_sign_in_button_and_shows_the_signed_in_holder(db):
    page = _text(Client().get("/proposals/"))
    assert '<button type="button" id="siwe-signin" hidden>Sign in with Ethereum</button>' in page
    assert "<noscript>" in page and "needs JavaScript" in page
    assert 'id="siwe-error" role="alert"' in page and "/static/web/holders.js" in page
    holder = to_checksum_address("0x" + "ab" * 20)
    client = Client()
    session = client.session
    session["holder_address"] = holder
    session.save()
    page = _text(client.get("/proposals/"))
    assert 'id="siwe-signin"' not in page
    assert f'data-testid="holder-address" class="mono" title="{holder}">{holder[:6]}…{holder[-4:]}</span>' in page
    assert 'href="/me/"' in page and 'id="siwe-signout"' in page


def test_a_node_that_does_not_answer_is_said_on_the_account_page_without_its_url(pull_plan, settings):
    document, asset, allocation = pull_plan
    settings.CHAIN_RPC_URL = "http://127.0.0.1:9/v3/secret-api-key"
    answer = Client().get(_account_url(document, allocation.account))
    assert answer.status_code == 200
    page = _text(answer)
    assert "The chain could not be read just now" in page and f'id="claim-{asset.asset}"' not in page
    assert "secret-api-key" not in page
    # The proof check needs no node: it is still offered.
    assert f'id="check-proof-{asset.asset}"' in page
