"""The holder's journey: sign in, find their account, check the proof in the page, vote by wallet and by
gasless signature, vote on Snapshot, and see the votes counted.

Against the live server, a real Celery worker (the followers run as the beat would send them),
anvil, and a local Snapshot hub. The exploited demo's plan is rehearsed and signed off
(``ready``: holder 0 carries the deployer's votes), proposed on the dev governor and published to
a Snapshot space of the same chain. Holder A (holder 0) signs in with the header button, votes
For from the wallet and on Snapshot; holder B (holder 1) signs a gasless Against ballot.
"""

import re

import pytest
from eth_account import Account
from playwright.sync_api import expect

from chain.artifacts import bind
from chain.demo import holder_account, holder_votes
from governance.models import BallotRelay, SnapshotVote
from governance.models.votes import VoteRecord
from governance.tasks_following import follow_proposals
from governance.tasks_snapshot import follow_snapshot_proposals
from proposals.document import format_units
from tests.browser.conftest import ARTIFACTS, axe, screenshot
from tests.governance import conftest as governance
from tests.governance.governors import mine, propose
from tests.snapshot_hub import QUORUM, SPACE_ID, demo_space, start_hub

ready = governance.ready  # a rehearsed, signed-off document and the dev venue (a fixture)

TASK_TIMEOUT = 120
LIVE_TIMEOUT_MS = 30_000  # the live tally polls every 3 s


def _units(votes: int) -> str:
    """Votes in the demo token's units (18 decimals), exact."""
    return format_units(votes, 18)


@pytest.fixture
def hub(anvil, demo):
    """The local hub with the test space, its voting period long enough for a browser journey."""
    process = start_hub(
        anvil.url, [demo_space(demo, voting={"delay": 0, "period": 900, "type": "basic", "quorum": QUORUM})]
    )
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def on_both(w3, anvil, demo, deployer, ready, committee_account, hub, settings):
    """The document proposed on the dev governor and published to the Snapshot space; votes count at once."""
    from governance.snapshot_publishing import publish_to_snapshot
    from governance.snapshot_venues import add_snapshot_venue

    settings.CONFIRMATION_DEPTH = 0
    document, venue = ready
    publication, _ = propose(w3, deployer, venue, document)
    space = add_snapshot_venue(
        space=SPACE_ID,
        sequencer_url=hub.sequencer_url,
        hub_url=hub.graphql_url,
        recovery_executor=demo.address("recovery_executor"),
        approver=committee_account.address,
        rpc_url=anvil.url,
    )
    snapshot = publish_to_snapshot(proposal_id=document.pk, venue_id=space.pk, rpc_url=anvil.url)
    mine(w3, 2)  # the governor's voting delay is 1 block; getPastVotes answers for blocks before the head
    return document, publication, snapshot


def _checked(page, console_errors, name):
    screenshot(page, name)
    votes = page.locator("section[aria-labelledby='votes']")
    if votes.count():  # the vote panels up close: the full page is too tall to read them
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        votes.screenshot(path=str(ARTIFACTS / f"{name}-votes.png"))
    assert axe(page) == [], name
    assert console_errors == [], name


def test_a_holder_signs_in_checks_the_proof_votes_by_wallet_gasless_and_on_snapshot_and_sees_the_votes_counted(
    page, app_url, wallet, w3, demo, exploited, on_both, celery_worker, console_errors
):
    document, publication, snapshot = on_both
    holder_a, holder_b = holder_account(0), holder_account(1)
    assert holder_a.address in exploited["victims"]
    governor_key, snapshot_key = f"governor-{publication.pk}", f"snapshot-{snapshot.pk}"
    # The governor follower, as beat sends it, on the worker: the proposal is Active.
    follow_proposals.delay().get(timeout=TASK_TIMEOUT)
    publication.refresh_from_db()
    assert publication.state == "active"

    # Holder A signs in with the header's button.
    wallet.use(holder_a)
    page.goto(f"{app_url}/proposals/{document.pk}/")
    page.locator("#siwe-signin").click()
    expect(page.get_by_test_id("holder-address")).to_be_visible()
    assert page.get_by_test_id("holder-address").get_attribute("title") == holder_a.address
    standing = page.get_by_test_id(f"standing-{governor_key}")
    power = bind(w3, "LifeboatToken", demo.address("token")).functions.getPastVotes(
        holder_a.address, publication.vote_start
    )
    expect(standing).to_contain_text(f"{_units(power.call())} votes at the proposal's snapshot")
    expect(page.get_by_test_id(f"your-vote-{governor_key}")).to_have_text("You have not voted here yet.")
    _checked(page, console_errors, "holders-vote-1-signed-in")

    # Finds their account in the proposal's accounts table and opens it.
    page.get_by_label("Find an account by the start of its address").fill(holder_a.address[:12])
    page.get_by_role("button", name="Search").click()
    link = page.get_by_role("link", name=holder_a.address)
    expect(link).to_be_visible()
    _checked(page, console_errors, "holders-vote-2-search")
    link.click()
    page.wait_for_url(re.compile(rf"/proposals/{document.pk}/accounts/{holder_a.address}/"))

    # Checks the allocation's proof in the page.
    asset = exploited["vault"]
    page.locator(f"#check-proof-{asset}").click()
    expect(page.get_by_test_id(f"proof-result-{asset}")).to_contain_text("valid")
    assert "INVALID" not in page.get_by_test_id(f"proof-result-{asset}").inner_text()
    _checked(page, console_errors, "holders-vote-3-proof")

    # Votes For from the wallet (castVote with a reason, sent and paid by the holder).
    page.goto(f"{app_url}/proposals/{document.pk}/")
    panel = page.get_by_test_id(f"vote-panel-{governor_key}")
    panel.get_by_label("For").check()
    panel.get_by_label("Reason (optional, public)").fill("Pay the victims back ✓")
    panel.get_by_role("button", name="Vote from my wallet").click()
    result = page.get_by_test_id(f"vote-result-{governor_key}")
    expect(result).to_contain_text("Vote cast from your wallet", timeout=LIVE_TIMEOUT_MS)
    assert page.get_by_test_id(f"vote-error-{governor_key}").inner_text() == ""
    _checked(page, console_errors, "holders-vote-4-wallet")

    # Holder B, in the same browser, signs a gasless Against ballot that Lifeboat relays.
    wallet.use(holder_b)
    panel.get_by_label("Against").check()
    panel.get_by_label("Reason (optional, public)").fill("")
    panel.get_by_role("button", name="Sign a gasless vote").click()
    expect(result).to_contain_text("Relayed: transaction 0x", timeout=LIVE_TIMEOUT_MS)
    _checked(page, console_errors, "holders-vote-5-gasless")

    # The follower indexes both votes; the live tally shows them without a reload.
    follow_proposals.delay().get(timeout=TASK_TIMEOUT)
    weight_a = int(VoteRecord.objects.get(publication=publication, voter=holder_a.address).weight)
    record_b = VoteRecord.objects.get(publication=publication, voter=holder_b.address)
    assert record_b.support == 0 and int(record_b.weight) == holder_votes(1)
    expect(page.get_by_test_id(f"tally-votes-{governor_key}")).to_have_text("2", timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_test_id(f"tally-for-{governor_key}")).to_have_text(f"{_units(weight_a)}")
    expect(page.get_by_test_id(f"tally-against-{governor_key}")).to_have_text(f"{_units(holder_votes(1))}")
    # The tally polled for B's wallet: B's own vote, counted.
    expect(page.get_by_test_id(f"your-vote-{governor_key}")).to_contain_text(
        f"You voted Against with {_units(holder_votes(1))} votes (block {record_b.block_number}): counted in the tally"
    )
    _checked(page, console_errors, "holders-vote-6-counted")

    # A's own page after a reload: their vote, with its weight and block.
    page.reload()
    record_a = VoteRecord.objects.get(publication=publication, voter=holder_a.address)
    expect(page.get_by_test_id(f"your-vote-{governor_key}")).to_contain_text(
        f"You voted For with {_units(weight_a)} votes (block {record_a.block_number}): counted in the tally"
    )

    # On Snapshot: A signs the Vote message, Lifeboat forwards it, the follower counts it.
    wallet.use(holder_a)
    snapshot_panel = page.get_by_test_id(f"vote-panel-{snapshot_key}")
    snapshot_panel.get_by_label("For").check()
    snapshot_panel.get_by_role("button", name="Sign my Snapshot vote").click()
    snapshot_result = page.get_by_test_id(f"vote-result-{snapshot_key}")
    expect(snapshot_result).to_contain_text("Accepted by the hub", timeout=LIVE_TIMEOUT_MS)
    stored = SnapshotVote.objects.get(proposal=snapshot, voter=holder_a.address)
    assert stored.choice == 1 and stored.via_lifeboat
    _checked(page, console_errors, "holders-vote-7-snapshot")
    follow_snapshot_proposals.delay().get(timeout=TASK_TIMEOUT)
    expect(page.get_by_test_id(f"tally-votes-{snapshot_key}")).to_have_text("1", timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_test_id(f"tally-for-{snapshot_key}")).to_have_text(f"{_units(int(stored.vp))}")
    expect(page.get_by_test_id(f"your-vote-{snapshot_key}")).to_contain_text(
        f"You voted For with {_units(int(stored.vp))} votes: counted in the tally"
    )
    _checked(page, console_errors, "holders-vote-8-snapshot-counted")


def test_a_wallet_on_another_chain_is_told_to_switch_and_nothing_is_sent(
    page, app_url, wallet, w3, on_both, celery_worker, console_errors
):
    document, publication, _ = on_both
    follow_proposals.delay().get(timeout=TASK_TIMEOUT)
    key = f"governor-{publication.pk}"
    wallet.use(holder_account(2))
    page.goto(f"{app_url}/proposals/{document.pk}/")
    page.evaluate(
        """() => {
          const ask = window.ethereum.request.bind(window.ethereum);
          window.ethereum.request = (call) => (call.method === "eth_chainId" ? Promise.resolve("0x1") : ask(call));
        }"""
    )

    page.get_by_test_id(f"vote-panel-{key}").get_by_role("button", name="Vote from my wallet").click()

    expect(page.get_by_test_id(f"vote-error-{key}")).to_contain_text(
        f"Your wallet is on chain 1, but this vote is on chain {publication.venue.chain_id}"
    )
    assert "eth_sendTransaction" not in wallet.requests
    _checked(page, console_errors, "holders-vote-wrong-chain")


def test_a_refused_gasless_ballot_shows_the_apis_reason(
    page, app_url, wallet, w3, on_both, celery_worker, console_errors
):
    document, publication, _ = on_both
    follow_proposals.delay().get(timeout=TASK_TIMEOUT)
    key = f"governor-{publication.pk}"
    # An account with no votes at the snapshot: the relay refuses before sending anything.
    wallet.use(Account.create())
    page.goto(f"{app_url}/proposals/{document.pk}/")

    page.get_by_test_id(f"vote-panel-{key}").get_by_role("button", name="Sign a gasless vote").click()

    error = page.get_by_test_id(f"vote-error-{key}")
    expect(error).to_contain_text("has no voting power at the snapshot", timeout=LIVE_TIMEOUT_MS)
    assert page.get_by_test_id(f"vote-result-{key}").inner_text() == ""
    assert not BallotRelay.objects.filter(publication=publication).exists()
    # The tally now shows the wallet's own standing: no votes at the snapshot.
    expect(page.get_by_test_id(f"power-{key}")).to_have_text("0")
    # The browser logs the API's refusal (a 4xx answer) as a failed resource; nothing else.
    assert console_errors, "the refusal was answered 2xx"
    assert all("the server responded with a status of 4" in line for line in console_errors), console_errors
    console_errors.clear()
    _checked(page, console_errors, "holders-vote-refused")


def test_without_javascript_the_panel_says_voting_needs_a_browser_wallet_and_shows_no_dead_buttons(
    browser, app_url, w3, on_both, celery_worker
):
    document, publication, snapshot = on_both
    follow_proposals.delay().get(timeout=TASK_TIMEOUT)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{app_url}/proposals/{document.pk}/")

        for key in (f"governor-{publication.pk}", f"snapshot-{snapshot.pk}"):
            panel = page.get_by_test_id(f"vote-panel-{key}")
            expect(panel.get_by_test_id(f"needs-wallet-{key}")).to_contain_text("Voting needs a browser wallet")
            expect(panel.get_by_role("button")).to_have_count(0)
            expect(page.get_by_test_id(f"tally-{key}")).to_be_visible()
        screenshot(page, "holders-vote-no-javascript")
    finally:
        context.close()
