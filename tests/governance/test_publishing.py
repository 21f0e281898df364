"""Publishing a frozen proposal document to a governor: the calls, the description, the id, exactly once.

Everything runs on the session's anvil with the real demo governor (block clock, timelock,
hashed ids) or the timestamp governor (no timelock, sequential ids, threshold 10**18). Node
deaths are made by tests/rpc_proxy.py in front of anvil.
"""

import json

import pytest
import requests
from eth_utils import keccak

from chain import devkeys
from chain import proposing as onchain
from chain.artifacts import bind
from chain.keys import load_account
from config.errors import LifeboatError
from governance.exceptions import ProposerBelowThreshold
from governance.models import Publication, PublicationStatus
from governance.publishing import _propose, governor_calls, proposal_description, publish_proposal
from recovery.exceptions import ChainMismatch, ChainUnavailable
from tests.governance.governors import (
    THRESHOLD,
    created_count,
    dev_venue,
    frozen_document,
    frozen_version,
    give_votes,
    increase_time,
    make_publishable,
    proposer_address,
    timestamp_venue,
)
from tests.rpc_proxy import RpcProxy

pytestmark = [pytest.mark.django_db, pytest.mark.chain]
PAUSE_VAULT = {"signature": "pause()", "args": []}


@pytest.fixture
def document(anvil, exploited, chain_settings):
    return frozen_document(
        anvil, exploited, changes=[{"target": exploited["vault"], "signature": "pause()", "args": []}]
    )


class DiesAfterSending(RpcProxy):
    """Hands ``eth_sendRawTransaction`` to the node, then dies without answering: the node has the
    transaction, the client never hears back, and every later request fails too."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.upstream, self.sent, self.dead = upstream, 0, False

    def forward(self, body: bytes) -> bool:
        if self.dead:
            return False
        if b"eth_sendRawTransaction" in body:
            requests.post(self.upstream, data=body, headers={"Content-Type": "application/json"}, timeout=10)
            self.sent += 1
            self.dead = True
            return False
        return True


class DiesBeforeSending(RpcProxy):
    """Dies on ``eth_sendRawTransaction`` before the node sees it."""

    dead = False

    def forward(self, body: bytes) -> bool:
        if self.dead or b"eth_sendRawTransaction" in body:
            self.dead = True
            return False
        return True


def test_the_description_carries_the_title_the_body_the_content_hash_and_the_document_version(document):
    description = proposal_description(document)
    lines = description.splitlines()
    assert lines[0].startswith("# Recovery proposal: Demo vault drained")
    assert f"content-hash: {document.content_hash}" in lines
    assert lines[-1] == f"lifeboat-document: {document.pk} version {document.version}"
    assert document.body.strip("\n") in description


def test_publishing_proposes_the_documents_calls_under_the_id_the_governor_computes(w3, anvil, demo, document):
    venue = dev_venue(demo, anvil)
    make_publishable(document, venue, anvil.url)
    lines: list[str] = []
    publication = publish_proposal(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url, progress=lines.append)

    publication.refresh_from_db()
    assert publication.status == PublicationStatus.CREATED
    content = json.loads(document.canonical_bytes)
    # The plan's parameter change first, then one approvePlan per asset with batches.
    assert [a["signature"] for a in publication.actions] == [
        "pause()",
        *["approvePlan(uint256,bytes32,uint64,bytes32,address,uint8,uint8,uint32,uint256,uint64)"]
        * len(content["assets"]),
    ]
    assert publication.actions[0]["calldata"] == content["parameter_changes"][0]["calldata"]
    governor = bind(w3, "LifeboatGovernor", venue.governor)
    calls = governor_calls(publication.actions)
    on_chain_hash = governor.functions.hashProposal(
        [c.target for c in calls],
        [c.value for c in calls],
        [c.calldata for c in calls],
        keccak(text=publication.description),
    ).call()
    assert publication.proposal_id == on_chain_hash == onchain.hash_proposal(calls, publication.description)
    assert publication.description_hash == "0x" + keccak(text=publication.description).hex()
    block = w3.eth.get_block(publication.created_block)
    assert publication.created_block_hash == block["hash"].to_0x_hex()
    receipt = w3.eth.get_transaction_receipt(publication.tx_hash)
    assert receipt["blockNumber"] == publication.created_block
    assert governor.functions.proposalProposer(publication.proposal_id).call() == proposer_address()
    assert publication.vote_start == governor.functions.proposalSnapshot(publication.proposal_id).call()
    assert created_count(w3, venue.governor) == 1
    assert any("signed propose" in line for line in lines)


def test_publishing_the_same_document_twice_answers_the_same_publication_and_proposes_once(w3, anvil, demo, document):
    venue = dev_venue(demo, anvil)
    make_publishable(document, venue, anvil.url)
    first = publish_proposal(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    nonce = w3.eth.get_transaction_count(proposer_address())
    again = publish_proposal(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert again.pk == first.pk and again.proposal_id == first.proposal_id
    assert Publication.objects.count() == 1
    assert created_count(w3, venue.governor) == 1
    assert w3.eth.get_transaction_count(proposer_address()) == nonce  # nothing sent the second time


def test_two_versions_of_a_plan_are_two_proposals_with_different_ids(w3, anvil, demo, exploited, chain_settings):
    from tests.factories import analysed_exploit

    analysis = analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])
    first_doc = frozen_version(analysis, exploited)
    second_doc = frozen_version(analysis, exploited, budget=10**6)
    venue = dev_venue(demo, anvil)
    first = _propose(proposal_id=first_doc.pk, venue_id=venue.pk, rpc_url=anvil.url)
    second = _propose(proposal_id=second_doc.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert first.proposal_id != second.proposal_id
    assert created_count(w3, venue.governor) == 2


def test_a_node_dying_between_sending_propose_and_reading_its_receipt_is_finished_by_a_retry(w3, anvil, demo, document):
    venue = dev_venue(demo, anvil)
    proxy = DiesAfterSending(anvil.url)
    try:
        with pytest.raises(ChainUnavailable) as failed:
            _propose(proposal_id=document.pk, venue_id=venue.pk, rpc_url=proxy.url)
    finally:
        proxy.close()
    assert "publishing again finishes it" in failed.value.message
    assert proxy.sent == 1
    stored = Publication.objects.get()
    assert stored.status == PublicationStatus.SENDING and stored.tx_hash and stored.signed_tx
    assert created_count(w3, venue.governor) == 1  # the node did get it

    nonce = w3.eth.get_transaction_count(proposer_address())
    retried = _propose(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert retried.pk == stored.pk and retried.status == PublicationStatus.CREATED
    assert retried.tx_hash == stored.tx_hash
    assert created_count(w3, venue.governor) == 1
    assert w3.eth.get_transaction_count(proposer_address()) == nonce  # nothing signed or sent again


def test_a_node_dying_before_the_propose_reaches_it_gets_the_same_signed_bytes_again(w3, anvil, demo, document):
    venue = dev_venue(demo, anvil)
    stored = _stored_but_unsent(anvil, document, venue)
    assert created_count(w3, venue.governor) == 0
    retried = _propose(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert retried.status == PublicationStatus.CREATED
    assert retried.tx_hash == stored.tx_hash and bytes(retried.signed_tx) == bytes(stored.signed_tx)
    assert w3.eth.get_transaction(retried.tx_hash)["nonce"] == stored.nonce
    assert created_count(w3, venue.governor) == 1


def test_a_node_on_another_chain_is_refused_before_anything_is_stored(w3, anvil, demo, document):
    venue = dev_venue(demo, anvil)
    type(venue).objects.filter(pk=venue.pk).update(chain_id=1)
    with pytest.raises(ChainMismatch) as refused:
        _propose(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert "serves chain 31337" in refused.value.message
    assert not Publication.objects.exists()


def test_a_proposer_below_the_threshold_is_refused_with_the_votes_it_has_and_needs(
    w3, anvil, demo, timestamp_document, timestamp_stack
):
    document = timestamp_document
    venue = timestamp_venue(demo, anvil, timestamp_stack)
    with pytest.raises(ProposerBelowThreshold) as refused:
        _propose(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert refused.value.status == 409
    assert refused.value.detail["votes"] == "0" and refused.value.detail["threshold"] == str(THRESHOLD)
    assert "has 0 votes" in refused.value.message and str(THRESHOLD) in refused.value.message
    assert not Publication.objects.exists()
    assert created_count(w3, venue.governor) == 0


def test_a_sequential_governor_numbers_the_proposal_and_the_id_comes_from_its_event(
    w3, anvil, demo, deployer, timestamp_document, timestamp_stack
):
    document = timestamp_document
    venue = timestamp_venue(demo, anvil, timestamp_stack)
    proposer = load_account(private_key=devkeys.RELAYER_KEY)
    assert proposer.address == proposer_address()
    give_votes(w3, deployer, "TimestampVotesToken", timestamp_stack["token"], proposer, THRESHOLD)
    increase_time(w3, 2)
    publication = _propose(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert publication.status == PublicationStatus.CREATED
    assert publication.proposal_id == 1  # GovernorSequentialProposalId counts from 1
    governor = bind(w3, "LifeboatGovernor", venue.governor)
    calls = governor_calls(publication.actions)
    description_hash = keccak(text=publication.description)
    assert governor.functions.getProposalId(*onchain.call_columns(calls), description_hash).call() == 1
    assert publication.proposal_id != onchain.hash_proposal(calls, publication.description)


@pytest.mark.parametrize(
    ("rehearsal", "signers", "code"),
    [("failed", 0, "rehearsal_required"), ("passed", 1, "signoff_threshold_not_met")],
    ids=["failed-rehearsal", "one-of-two-sign-offs"],
)
def test_a_document_not_rehearsed_or_not_signed_off_is_refused_and_nothing_is_sent_or_stored(
    w3, anvil, demo, document, rehearsal, signers, code
):
    venue = dev_venue(demo, anvil)
    make_publishable(document, venue, anvil.url, rehearsal=rehearsal, signers=signers)
    nonce = w3.eth.get_transaction_count(proposer_address())
    with pytest.raises(LifeboatError) as refused:
        publish_proposal(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert (refused.value.code, refused.value.status) == (code, 409)
    assert not Publication.objects.exists()
    assert created_count(w3, venue.governor) == 0
    assert w3.eth.get_transaction_count(proposer_address()) == nonce


def test_a_document_never_rehearsed_is_refused(w3, anvil, demo, document):
    venue = dev_venue(demo, anvil)
    with pytest.raises(LifeboatError) as refused:
        publish_proposal(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert refused.value.code == "rehearsal_required" and "rehearse" in refused.value.message
    assert not Publication.objects.exists()


def _stored_but_unsent(anvil, document, venue) -> Publication:
    proxy = DiesBeforeSending(anvil.url)
    try:
        with pytest.raises(ChainUnavailable):
            _propose(proposal_id=document.pk, venue_id=venue.pk, rpc_url=proxy.url)
    finally:
        proxy.close()
    return Publication.objects.get()


def _replace_propose(w3, venue, stored: Publication) -> str:
    """The stored propose sent again at its nonce with higher fees (a wallet's speed-up): another hash."""
    proposer = load_account(private_key=devkeys.RELAYER_KEY)
    calls = governor_calls(stored.actions)
    tx = (
        bind(w3, "LifeboatGovernor", venue.governor)
        .functions.propose(*onchain.call_columns(calls), stored.description)
        .build_transaction(
            {
                "from": proposer.address,
                "nonce": stored.nonce,
                "maxFeePerGas": 50 * 10**9,
                "maxPriorityFeePerGas": 3 * 10**9,
            }
        )
    )
    tx.pop("from")
    sent = w3.eth.send_raw_transaction(proposer.sign_transaction(tx).raw_transaction)
    # anvil's automine answers the send before the block is sealed; the test reads the nonce next
    w3.eth.wait_for_transaction_receipt(sent, timeout=10, poll_latency=0.05)
    return sent.to_0x_hex()


@pytest.mark.parametrize("shape", ["hashed", "sequential"])
def test_a_propose_replaced_outside_lifeboat_is_found_on_chain_and_adopted_without_sending(
    w3, anvil, demo, deployer, exploited, chain_settings, timestamp_stack, shape
):
    if shape == "hashed":
        venue = dev_venue(demo, anvil)
    else:
        venue = timestamp_venue(demo, anvil, timestamp_stack)
        proposer = load_account(private_key=devkeys.RELAYER_KEY)
        give_votes(w3, deployer, "TimestampVotesToken", timestamp_stack["token"], proposer, THRESHOLD)
        increase_time(w3, 2)
    document = frozen_document(anvil, exploited, recovery_executor=venue.recovery_executor)
    stored = _stored_but_unsent(anvil, document, venue)
    replacement = _replace_propose(w3, venue, stored)
    assert replacement != stored.tx_hash
    nonce = w3.eth.get_transaction_count(proposer_address())

    adopted = _propose(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert adopted.status == PublicationStatus.CREATED and adopted.tx_hash == replacement
    assert adopted.created_block == w3.eth.get_transaction_receipt(replacement)["blockNumber"]
    assert adopted.proposal_id == (1 if shape == "sequential" else stored.proposal_id)
    assert created_count(w3, venue.governor) == 1
    assert w3.eth.get_transaction_count(proposer_address()) == nonce


def test_a_nonce_taken_by_another_transaction_fails_the_publication_and_publishing_again_signs_anew(
    w3, anvil, demo, document
):
    venue = dev_venue(demo, anvil)
    stored = _stored_but_unsent(anvil, document, venue)
    proposer = load_account(private_key=devkeys.RELAYER_KEY)
    send_plain = {"to": proposer.address, "value": 0, "nonce": stored.nonce, "gas": 21_000, "gasPrice": 10**10}
    taken = w3.eth.send_raw_transaction(proposer.sign_transaction({**send_plain, "chainId": 31337}).raw_transaction)
    w3.eth.wait_for_transaction_receipt(taken, timeout=10, poll_latency=0.05)
    with pytest.raises(LifeboatError) as refused:
        _propose(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert refused.value.code == "propose_refused" and "was used by another transaction" in refused.value.message
    failed = Publication.objects.get()
    assert failed.status == PublicationStatus.FAILED and created_count(w3, venue.governor) == 0

    again = _propose(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert again.pk == failed.pk and again.status == PublicationStatus.CREATED
    assert again.nonce == stored.nonce + 1 and again.tx_hash != stored.tx_hash and again.error == ""
    assert created_count(w3, venue.governor) == 1
