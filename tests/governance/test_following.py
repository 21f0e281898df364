"""Following a proposal on real anvil: votes past the confirmation depth, reorgs rolled back and
replayed, the tally always equal to the governor's proposalVotes, a late-quorum deadline re-read,
and the PlanApproved event of an executed proposal recorded as the plan's approval."""

import logging

import pytest
from eth_abi import decode, encode
from eth_utils import keccak
from web3 import Web3
from web3.logs import DISCARD

from chain.artifacts import bind
from chain.demo import holder_account
from chain.transact import send
from chain.votes import (
    VOTE_CAST_TOPIC,
    VOTE_CAST_WITH_PARAMS_TOPIC,
    MalformedLog,
    decode_votes,
)
from governance import following
from governance.exceptions import ProposalReorgedOut, PublicationNotFollowable, TallyMismatch
from governance.models import PlanApproval, Publication, PublicationStatus
from governance.models.votes import VoteRecord
from governance.services import add_governor_venue
from proposals.calls import document_content, proposal_calls
from recovery import plans
from recovery.exceptions import ChainMismatch, ChainUnavailable
from tests.governance.governors import (
    ABSTAIN,
    AGAINST,
    FOR,
    LATE_QUORUM_SECONDS,
    assert_tally_is_the_governors,
    chain_tally,
    mine,
    propose,
    send_raw,
    signed,
    stored_tally,
    vote_call,
)

pytestmark = [pytest.mark.django_db, pytest.mark.chain]


# --- following --------------------------------------------------------------------------------


def test_following_stores_every_vote_as_the_governor_logged_it_and_the_tally_is_proposal_votes(w3, anvil, active):
    publication, receipts = active
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)

    rows = list(VoteRecord.objects.filter(publication=publication).order_by("block_number", "log_index"))
    governor = bind(w3, "LifeboatGovernor", publication.venue.governor)
    expected = []
    for receipt in receipts:
        for event in (governor.events.VoteCast(), governor.events.VoteCastWithParams()):
            for log in event.process_receipt(receipt, errors=DISCARD):
                expected.append((log, receipt))
    # web3.py's own decoding of the same receipts: the peer the fast path must agree with.
    assert [
        (r.voter, r.support, int(r.weight), r.reason, r.params, r.block_number, r.block_hash, r.tx_hash, r.log_index)
        for r in rows
    ] == [
        (
            log["args"]["voter"],
            log["args"]["support"],
            log["args"]["weight"],
            log["args"]["reason"],
            "0x" + log["args"]["params"].hex() if "params" in log["args"] else "",
            log["blockNumber"],
            log["blockHash"].to_0x_hex(),
            log["transactionHash"].to_0x_hex(),
            log["logIndex"],
        )
        for log, _ in expected
    ]
    assert [r.with_params for r in rows] == [False, False, True]
    assert rows[1].reason == "not like this: ünïcode ✓"

    publication.refresh_from_db()
    assert publication.state == "active"
    proposal_id = int(publication.proposal_id)
    assert publication.vote_start == governor.functions.proposalSnapshot(proposal_id).call()
    assert publication.vote_end == governor.functions.proposalDeadline(proposal_id).call()
    assert publication.followed_block == w3.eth.block_number
    assert_tally_is_the_governors(w3, publication)
    assert stored_tally(publication)[0] > 0 and stored_tally(publication)[1] > 0 and stored_tally(publication)[2] > 0


def test_following_twice_or_after_new_blocks_gives_the_same_rows(w3, anvil, active):
    publication, _ = active
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    first = list(VoteRecord.objects.filter(publication=publication).values_list("pk", "tx_hash", "weight"))
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    mine(w3, 3)
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert list(VoteRecord.objects.filter(publication=publication).values_list("pk", "tx_hash", "weight")) == first
    assert following.follow_all(rpc_url=anvil.url) == 1
    assert VoteRecord.objects.filter(publication=publication).count() == 3
    assert_tally_is_the_governors(w3, publication)


def test_a_vote_within_the_confirmation_depth_is_not_counted_until_it_is_deep_enough(w3, anvil, active, settings):
    publication, _ = active
    settings.CONFIRMATION_DEPTH = 2
    head = w3.eth.block_number  # the third vote's block: within the depth, as is the second's
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    publication.refresh_from_db()
    assert publication.followed_block == head - 2
    assert VoteRecord.objects.filter(publication=publication).count() == 1
    assert_tally_is_the_governors(w3, publication)
    assert stored_tally(publication) != chain_tally(w3, publication)  # the head knows more than is counted

    mine(w3, 2)
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert VoteRecord.objects.filter(publication=publication).count() == 3
    assert stored_tally(publication) == chain_tally(w3, publication)
    assert_tally_is_the_governors(w3, publication)


def test_a_proposal_created_within_the_confirmation_depth_is_not_followed_yet(
    w3, anvil, depth, venue, document, voting_deployer
):
    depth.CONFIRMATION_DEPTH = 5
    publication, _ = propose(w3, voting_deployer, venue, document)
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    publication.refresh_from_db()
    assert publication.state == "" and publication.followed_block is None
    mine(w3, 5)
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    publication.refresh_from_db()
    assert publication.state == "pending" and publication.followed_block == publication.created_block


# --- reorgs -----------------------------------------------------------------------------------


def test_a_reorg_removing_votes_rolls_them_back_and_replays_what_the_new_chain_holds(
    w3, anvil, depth, venue, document, voting_deployer
):
    publication, _ = propose(w3, voting_deployer, venue, document)
    mine(w3, 2)
    send(w3, holder_account(0), vote_call(w3, publication, FOR))
    fork = w3.eth.block_number  # the blocks after this one are replaced
    send(w3, holder_account(1), vote_call(w3, publication, AGAINST))
    moved = signed(w3, holder_account(2), vote_call(w3, publication, ABSTAIN, reason="moved", params=b"\x07"))
    moved_block = send_raw(w3, moved)["blockNumber"]
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert VoteRecord.objects.filter(publication=publication).count() == 3
    before = {r.voter: (r.block_number, r.block_hash) for r in VoteRecord.objects.filter(publication=publication)}
    publication.refresh_from_db()
    old_cursor = (publication.followed_block, publication.followed_block_hash)

    # Holder 1's vote is dropped; holder 2's comes back in another block; the head stays at the same height.
    depth_ = w3.eth.block_number - fork
    assert w3.provider.make_request("anvil_reorg", [depth_, [["0x" + moved.hex(), depth_ - 1]]]).get("error") is None
    assert w3.eth.get_block(moved_block)["hash"].to_0x_hex() != before[holder_account(2).address][1]

    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    rows = {r.voter: r for r in VoteRecord.objects.filter(publication=publication)}
    assert set(rows) == {holder_account(0).address, holder_account(2).address}  # holder 1's vote no longer exists
    assert (rows[holder_account(0).address].block_number, rows[holder_account(0).address].block_hash) == before[
        holder_account(0).address
    ]
    replayed = rows[holder_account(2).address]
    assert replayed.block_hash == w3.eth.get_block(replayed.block_number)["hash"].to_0x_hex()
    assert replayed.params == "0x07" and replayed.reason == "moved"
    publication.refresh_from_db()
    assert (publication.followed_block, publication.followed_block_hash) != old_cursor
    assert_tally_is_the_governors(w3, publication)
    assert stored_tally(publication)[1] == 0  # the only Against vote was reorganised away


def test_a_reorg_removing_the_proposals_creation_clears_what_was_followed_and_says_so(
    w3, anvil, depth, venue, document, voting_deployer
):
    fork = w3.eth.block_number
    publication, _ = propose(w3, voting_deployer, venue, document)
    mine(w3, 2)
    send(w3, holder_account(0), vote_call(w3, publication, FOR))
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert VoteRecord.objects.filter(publication=publication).count() == 1

    assert w3.provider.make_request("anvil_reorg", [w3.eth.block_number - fork, []]).get("error") is None
    for _ in range(2):  # and again: the same answer, nothing else changes
        with pytest.raises(ProposalReorgedOut, match="no longer on the chain") as gone:
            following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
        assert "publish it again" in gone.value.message
        publication.refresh_from_db()
        assert not VoteRecord.objects.filter(publication=publication).exists()
        assert publication.state == "" and publication.followed_block is None and publication.vote_end is None
        assert stored_tally(publication) == (0, 0, 0) == chain_tally(w3, publication)
        assert publication.error.startswith("following: ") and "reorg" in publication.error
    # The sweep logs it and goes on.
    assert following.follow_all(rpc_url=anvil.url) == 0


def test_a_reorg_that_mines_the_proposal_again_elsewhere_follows_it_from_its_new_block(
    w3, anvil, depth, venue, document, voting_deployer
):
    fork = w3.eth.block_number
    publication, raw_propose = propose(w3, voting_deployer, venue, document)
    mine(w3, 2)
    raw_vote = signed(w3, holder_account(3), vote_call(w3, publication, FOR, reason="again"))
    send_raw(w3, raw_vote)
    send(w3, holder_account(4), vote_call(w3, publication, AGAINST))
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    old_created = publication.created_block
    assert VoteRecord.objects.filter(publication=publication).count() == 2

    depth_ = w3.eth.block_number - fork
    reincluded = [["0x" + raw_propose.hex(), 1], ["0x" + raw_vote.hex(), 4]]
    assert w3.provider.make_request("anvil_reorg", [depth_, reincluded]).get("error") is None

    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    publication.refresh_from_db()
    assert publication.created_block == old_created + 1
    assert publication.created_block_hash == w3.eth.get_block(old_created + 1)["hash"].to_0x_hex()
    assert [r.voter for r in VoteRecord.objects.filter(publication=publication)] == [holder_account(3).address]
    assert publication.state == "active" and publication.error == ""
    assert_tally_is_the_governors(w3, publication)


# --- the tally check ----------------------------------------------------------------------------


def test_a_stored_tally_that_differs_from_proposal_votes_is_an_error_stored_logged_and_not_kept(
    w3, anvil, active, caplog
):
    publication, _ = active
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    publication.refresh_from_db()
    cursor = (publication.followed_block, publication.followed_block_hash)
    # A tally corrupted behind the indexer's back (a bad restore, a hand edit).
    Publication.objects.filter(pk=publication.pk).update(for_votes=int(publication.for_votes) + 1)
    send(w3, holder_account(5), vote_call(w3, publication, FOR))

    with (
        caplog.at_level(logging.ERROR, logger="governance.following"),
        pytest.raises(TallyMismatch, match="proposalVotes") as mismatch,
    ):
        following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    publication.refresh_from_db()
    assert publication.error == "following: " + mismatch.value.message
    assert any("proposalVotes" in record.getMessage() for record in caplog.records)
    assert (publication.followed_block, publication.followed_block_hash) == cursor  # the run stored nothing
    assert VoteRecord.objects.filter(publication=publication).count() == 3


# --- late quorum: the deadline moves ---------------------------------------------------------------


def test_a_late_quorum_extension_moves_the_stored_deadline(w3, anvil, depth, demo, document, deployer, timestamp_stack):
    venue = add_governor_venue(
        chain_id=demo.chain_id,
        governor=timestamp_stack["governor"],
        recovery_executor=timestamp_stack["recovery_executor"],
        rpc_url=anvil.url,
    )
    publication, _ = propose(w3, deployer, venue, document, governor_artifact="TimestampGovernor")
    assert int(publication.proposal_id) == 1  # sequential ids
    governor = bind(w3, "TimestampGovernor", venue.governor)
    w3.provider.make_request("evm_increaseTime", [int(venue.voting_delay) + 1])
    mine(w3, 1)
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    publication.refresh_from_db()
    first_deadline = publication.vote_end
    assert publication.state == "active" and first_deadline == governor.functions.proposalDeadline(1).call()

    # Quorum reached 100 s before the deadline: GovernorPreventLateQuorum extends it.
    now = w3.eth.get_block("latest")["timestamp"]
    w3.provider.make_request("evm_increaseTime", [first_deadline - now - 100])
    # The gas is given: an estimate at the previous block's time would not include the extension's write.
    receipt = send(w3, deployer, governor.functions.castVote(1, FOR), tx={"gas": 500_000})
    voted_at = w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    publication.refresh_from_db()
    assert publication.vote_end == voted_at + LATE_QUORUM_SECONDS > first_deadline
    assert publication.vote_end == governor.functions.proposalDeadline(1).call()
    assert stored_tally(publication) == chain_tally(w3, publication, artifact="TimestampGovernor")


# --- the approval the executed proposal produced --------------------------------------------------


def test_an_executed_proposal_records_its_plan_approved_event_as_the_plans_approval(
    w3, anvil, depth, venue, document, voting_deployer
):
    calls = [
        (call.target, call.value, call.calldata)
        for call in proposal_calls(
            document_content(document.canonical_bytes), recovery_executor=venue.recovery_executor
        )
    ]
    publication, _ = propose(w3, voting_deployer, venue, document, calls=calls)
    governor = bind(w3, "LifeboatGovernor", venue.governor)
    mine(w3, 2)
    send(w3, voting_deployer, governor.functions.castVote(int(publication.proposal_id), FOR))
    mine(w3, int(venue.voting_period) + 1)
    targets, values, calldatas = (list(column) for column in zip(*calls, strict=True))
    description_hash = keccak(text=publication.description)
    send(w3, voting_deployer, governor.functions.queue(targets, values, calldatas, description_hash))
    following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    publication.refresh_from_db()
    assert publication.state == "queued" and publication.eta is not None
    assert not PlanApproval.objects.filter(publication=publication).exists()

    w3.provider.make_request("evm_increaseTime", [publication.eta - w3.eth.get_block("latest")["timestamp"] + 1])
    mine(w3, 1)  # the gas estimate runs at the latest block: past the ETA already
    executed = send(w3, voting_deployer, governor.functions.execute(targets, values, calldatas, description_hash))
    assert following.follow_all(rpc_url=anvil.url) == 1
    publication.refresh_from_db()
    assert publication.state == "executed"
    approval = PlanApproval.objects.get(publication=publication)
    plan_asset = document.plan.assets.get()
    assert approval.plan_asset == plan_asset and int(approval.onchain_plan_id) == int(plan_asset.onchain_plan_id)
    assert approval.batches_root == plan_asset.commitment_root
    assert int(approval.budget) == int(plan_asset.total_allocated)
    assert approval.block_number == executed["blockNumber"]
    assert approval.block_hash == executed["blockHash"].to_0x_hex()
    assert approval.tx_hash == executed["transactionHash"].to_0x_hex()
    assert approval.chain_id == venue.chain_id and approval.recovery_executor == venue.recovery_executor
    plan = document.plan
    assert approval.incident_key == plans.incident_key(plan.incident.chain_id, plan.incident_id)
    assert (approval.version, approval.delivery, approval.claim_deadline) == (plan.version, 1, 0)  # push_fallback
    # Final: the sweep leaves it alone from now on.
    assert following.follow_all(rpc_url=anvil.url) == 0


# --- bad input and faults -----------------------------------------------------------------------


def test_a_publication_not_created_on_chain_is_refused_clearly(w3, anvil, active):
    publication, _ = active
    Publication.objects.filter(pk=publication.pk).update(status=PublicationStatus.SENDING)
    with pytest.raises(PublicationNotFollowable, match="only a created proposal is followed"):
        following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert not VoteRecord.objects.exists()


def test_a_node_on_another_chain_is_refused_and_nothing_is_written(w3, anvil, active):
    publication, _ = active
    publication.venue.__class__.objects.filter(pk=publication.venue_id).update(chain_id=1)
    with pytest.raises(ChainMismatch, match="serves chain 31337"):
        following.follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    publication.refresh_from_db()
    assert publication.followed_block is None and not VoteRecord.objects.exists()


def test_a_dead_node_is_chain_unavailable_without_its_key_and_nothing_is_written(active):
    from chain.anvil import free_port

    publication, _ = active
    keyed = f"http://127.0.0.1:{free_port()}/v3/d41d8cd98f00b204e9800998ecf8427e"
    with pytest.raises(ChainUnavailable) as failed:
        following.follow_publication(publication_id=publication.pk, rpc_url=keyed)
    assert "d41d8cd98f00b204" not in failed.value.message and "127.0.0.1" in failed.value.message
    publication.refresh_from_db()
    assert publication.followed_block is None and "d41d8cd98f00b204" not in publication.error


# --- decoding, without a chain --------------------------------------------------------------------


def _log(topic0: str, data: bytes, *, voter: str = "0x" + "ab" * 20) -> dict:
    return {
        "address": "0x" + "11" * 20,
        "topics": [topic0, "0x" + "00" * 12 + voter[2:]],
        "data": "0x" + data.hex(),
        "blockNumber": "0x10",
        "blockHash": "0x" + "22" * 32,
        "transactionHash": "0x" + "33" * 32,
        "logIndex": "0x3",
    }


@pytest.mark.parametrize(
    ("reason", "params"),
    [("", None), ("yes", None), ("ünïcode ✓ " * 40, None), ("", b""), ("why", b"\x00" * 33), ("x" * 64, b"\xff" * 64)],
)
def test_the_sliced_decoding_equals_eth_abis(reason, params):
    types = ["uint256", "uint8", "uint256", "string"] + (["bytes"] if params is not None else [])
    values = [2**255 + 7, 2, 2**256 - 1, reason] + ([params] if params is not None else [])
    topic0 = VOTE_CAST_WITH_PARAMS_TOPIC if params is not None else VOTE_CAST_TOPIC
    data = encode(types, values)
    [vote] = decode_votes([_log(topic0, data)], governor="0x" + "11" * 20, proposal_id=2**255 + 7)
    expected = decode(types, data)
    assert (vote.support, vote.weight, vote.reason) == (expected[1], expected[2], expected[3])
    assert vote.params == (None if params is None else "0x" + expected[4].hex())
    assert vote.voter == Web3.to_checksum_address("0x" + "ab" * 20)
    # Another proposal's vote, or another contract's, is skipped.
    assert decode_votes([_log(topic0, data)], governor="0x" + "11" * 20, proposal_id=1) == []
    assert decode_votes([_log(topic0, data)], governor="0x" + "12" * 20, proposal_id=2**255 + 7) == []


def test_a_vote_log_whose_data_does_not_fit_the_event_is_refused():
    good = encode(["uint256", "uint8", "uint256", "string"], [5, 1, 10, "reason"])
    bad_offset = good[:96] + (2**40).to_bytes(32, "big") + good[128:]
    bad_length = good[:128] + (10**6).to_bytes(32, "big") + good[160:]
    for data in (bad_offset, bad_length, good[:100]):
        with pytest.raises(MalformedLog, match="does not fit its event"):
            decode_votes([_log(VOTE_CAST_TOPIC, data)], governor="0x" + "11" * 20, proposal_id=5)
