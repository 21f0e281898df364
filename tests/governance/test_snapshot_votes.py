"""Votes through Lifeboat: each bad vote refused with its reason before the sequencer sees it; a good one forwarded.

The refusals need no hub (nothing is posted); the forwarded vote goes to a real local hub
(``tests/snapshot_hub.py``) when that helper is present.
"""

import time

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from chain.demo import holder_account
from governance.models.snapshot import SnapshotProposal, SnapshotVenue, SnapshotVote
from governance.snapshot_errors import (
    SnapshotProposalNotFound,
    SnapshotVoteInvalid,
    SnapshotVoteRefused,
)
from governance.snapshot_messages import DOMAIN, PROPOSAL_TYPES, full_typed_data, sign
from governance.snapshot_votes import submit_vote, vote_typed_data
from tests.governance.governors import mine

pytestmark = [pytest.mark.chain, pytest.mark.django_db]

PROPOSAL_ID = "0x" + "ab" * 32
NOWHERE = "http://127.0.0.1:9/"  # nothing listens: a refused vote must never reach the sequencer


def open_proposal(document, venue, w3, *, start_in: int = -60, end_in: int = 3600, pid=PROPOSAL_ID):
    now = int(time.time())
    snapshot = w3.eth.block_number
    mine(w3, 1)
    return SnapshotProposal.objects.create(
        document=document,
        venue=venue,
        status="created",
        proposal_id=pid,
        envelope={},
        author=venue.approver,
        timestamp=now + start_in,
        start=now + start_in,
        end=now + end_in,
        snapshot=snapshot,
        snapshot_block_hash="0x" + "00" * 32,
        state="active",
    )


@pytest.fixture
def space(demo, committee_account):
    return SnapshotVenue.objects.create(
        space="lifeboat-votes.eth",
        chain_id=demo.chain_id,
        sequencer_url=NOWHERE,
        hub_url=NOWHERE + "graphql",
        recovery_executor=demo.address("recovery_executor"),
        approver=committee_account.address,
        token=demo.address("token"),
        voting_period=3600,
    )


@pytest.fixture
def proposal(w3, document, space):
    return open_proposal(document, space, w3)


def signed_vote(target, account, choice="for", **overrides):
    data = vote_typed_data(snapshot_proposal_id=target.pk, voter=account.address, choice=choice)
    data["message"].update(overrides)
    return sign(account, data)


def refused(proposal, envelope, anvil, kind=SnapshotVoteInvalid):
    with pytest.raises(kind) as error:
        submit_vote(snapshot_proposal_id=proposal.pk, envelope=envelope, rpc_url=anvil.url)
    assert not SnapshotVote.objects.exists()
    return error.value


def test_vote_typed_data_is_snapshots_vote(proposal):
    voter = holder_account(0).address
    data = vote_typed_data(snapshot_proposal_id=proposal.pk, voter=voter, choice="Against", reason="no", timestamp=7)
    assert data["domain"] == DOMAIN and list(data["types"]) == ["Vote"]
    assert data["message"] == {
        "from": voter,
        "space": "lifeboat-votes.eth",
        "timestamp": 7,
        "proposal": PROPOSAL_ID,
        "choice": 2,
        "reason": "no",
        "app": "lifeboat",
        "metadata": "{}",
    }
    for bad in (0, 4, "yes", True):
        with pytest.raises(SnapshotVoteInvalid) as error:
            vote_typed_data(snapshot_proposal_id=proposal.pk, voter=voter, choice=bad)
        assert error.value.detail["field"] == "choice"
    with pytest.raises(SnapshotProposalNotFound):
        vote_typed_data(snapshot_proposal_id=10**6, voter=voter, choice=1)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: "not a dict", "envelope"),
        (lambda e: {**e, "address": "0x12"}, "address"),
        (lambda e: {**e, "sig": "nothex"}, "sig"),
        (lambda e: {**e, "data": {**e["data"], "domain": {**DOMAIN, "chainId": 1}}}, "data.domain"),
        (lambda e: {**e, "data": {**e["data"], "domain": {"name": "snapshot", "version": "0.1.3"}}}, "data.domain"),
        (lambda e: {**e, "data": {**e["data"], "types": PROPOSAL_TYPES}}, "data.types"),
        (
            lambda e: {**e, "data": {**e["data"], "types": {"Vote": [*e["data"]["types"]["Vote"][:4]]}}},
            "data.types",
        ),
        (
            lambda e: {**e, "data": {**e["data"], "message": {**e["data"]["message"], "choice": "1"}}},
            "data.message.choice",
        ),
        (lambda e: {**e, "data": {**e["data"], "message": {**e["data"]["message"], "extra": 1}}}, "data.message"),
    ],
)
def test_malformed_votes_are_refused_naming_the_field(anvil, proposal, mutate, field):
    envelope = mutate(signed_vote(proposal, holder_account(0)))
    error = refused(proposal, envelope, anvil)
    assert error.status == 400 and error.detail["field"] == field, error.message


def test_a_signature_by_someone_else_is_refused(anvil, proposal):
    holder, other = holder_account(0), holder_account(1)
    data = vote_typed_data(snapshot_proposal_id=proposal.pk, voter=holder.address, choice=1)
    forged = {**sign(other, data), "address": holder.address}
    error = refused(proposal, forged, anvil)
    assert error.detail["field"] == "sig" and other.address in error.message


def test_a_signature_over_another_domain_is_refused(anvil, proposal):
    holder = holder_account(0)
    data = vote_typed_data(snapshot_proposal_id=proposal.pk, voter=holder.address, choice=1)
    other = {**data, "domain": {"name": "snapshot", "version": "0.1.3"}}
    signature = holder.sign_message(encode_typed_data(full_message=full_typed_data(other))).signature
    envelope = {"address": holder.address, "sig": "0x" + bytes(signature).hex(), "data": data}
    error = refused(proposal, envelope, anvil)
    assert error.detail["field"] == "sig"


def test_a_vote_for_another_proposal_or_space_is_refused(anvil, w3, document, space, proposal):
    holder = holder_account(0)
    error = refused(proposal, signed_vote(proposal, holder, proposal="0x" + "cd" * 32), anvil)
    assert error.detail["field"] == "data.message.proposal" and PROPOSAL_ID in error.message
    error = refused(proposal, signed_vote(proposal, holder, space="elsewhere.eth"), anvil)
    assert error.detail["field"] == "data.message.space"


def test_votes_outside_the_window_are_refused_with_the_times(anvil, w3, document, space):
    early = open_proposal(document, space, w3, start_in=600, end_in=4200)
    error = refused(early, signed_vote(early, holder_account(0)), anvil, SnapshotVoteRefused)
    assert error.status == 409 and "not started" in error.message and str(early.start) in error.message
    SnapshotProposal.objects.filter(pk=early.pk).delete()
    late = open_proposal(document, space, w3, start_in=-7200, end_in=-60)
    error = refused(late, signed_vote(late, holder_account(0)), anvil, SnapshotVoteRefused)
    assert "ended" in error.message and str(late.end) in error.message


def test_a_voter_without_power_is_refused(anvil, proposal):
    nobody = Account.create()
    error = refused(proposal, signed_vote(proposal, nobody), anvil, SnapshotVoteRefused)
    assert error.status == 409 and "no voting power" in error.message and str(proposal.snapshot) in error.message


# --- Through a real local hub ---

VOTES_QUERY = """
query Votes($proposal: String!) {
  votes(first: 10, where: {proposal: $proposal}) { id voter choice vp }
}
"""


@pytest.fixture
def on_hub(w3, anvil, demo, ready, committee_account, snapshot_hub):
    """A proposal published to the hub's space (voting open for a few seconds), through Lifeboat."""
    from governance.snapshot_publishing import publish_to_snapshot
    from governance.snapshot_venues import add_snapshot_venue
    from tests.snapshot_hub import SPACE_ID

    document, _ = ready
    venue = add_snapshot_venue(
        space=SPACE_ID,
        sequencer_url=snapshot_hub.sequencer_url,
        hub_url=snapshot_hub.graphql_url,
        recovery_executor=demo.address("recovery_executor"),
        approver=committee_account.address,
        rpc_url=anvil.url,
    )
    proposal = publish_to_snapshot(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    mine(w3, 1)  # getPastVotes answers for blocks before the head
    return proposal


def test_a_good_vote_is_forwarded_stored_and_counted_by_the_hub(anvil, on_hub):
    from governance.snapshot_client import graphql

    holder = holder_account(0)
    envelope = signed_vote(on_hub, holder, "for", reason="yes ✓")
    answer = submit_vote(snapshot_proposal_id=on_hub.pk, envelope=envelope, rpc_url=anvil.url)

    assert answer["voter"] == holder.address and answer["choice"] == 1 and int(answer["vp"]) > 0
    stored = SnapshotVote.objects.get(proposal=on_hub, voter=holder.address)
    assert stored.via_lifeboat and stored.sig == envelope["sig"] and stored.vp == int(answer["vp"])
    assert stored.vote_id == answer["id"] and stored.reason == "yes ✓"
    votes = graphql(on_hub.venue.hub_url, VOTES_QUERY, {"proposal": on_hub.proposal_id})["votes"]
    assert [(v["id"], v["voter"], v["choice"]) for v in votes] == [(answer["id"], holder.address, 1)]
    assert float(votes[0]["vp"]) > 0


def test_a_voter_past_the_hourly_limit_gets_429_with_retry_after_and_nothing_is_forwarded(anvil, on_hub, settings):
    from governance.snapshot_client import graphql
    from governance.snapshot_errors import SnapshotVoteRateLimited

    settings.SNAPSHOT_VOTES_PER_VOTER_PER_HOUR = 1
    holder, other = holder_account(0), holder_account(1)
    first = submit_vote(snapshot_proposal_id=on_hub.pk, envelope=signed_vote(on_hub, holder, "for"), rpc_url=anvil.url)
    # A changed mind one second later: refused here, before the sequencer sees it.
    again = signed_vote(on_hub, holder, "against", timestamp=int(time.time()) + 1)
    with pytest.raises(SnapshotVoteRateLimited) as limited:
        submit_vote(snapshot_proposal_id=on_hub.pk, envelope=again, rpc_url=anvil.url)
    assert limited.value.status == 429 and 1 <= int(limited.value.headers["Retry-After"]) <= 3600
    assert "SNAPSHOT_VOTES_PER_VOTER_PER_HOUR=1" in limited.value.message
    votes = graphql(on_hub.venue.hub_url, VOTES_QUERY, {"proposal": on_hub.proposal_id})["votes"]
    assert [(v["id"], v["choice"]) for v in votes] == [(first["id"], 1)]
    # Another voter has an allowance of their own; a forged signature spends nobody's.
    forged = signed_vote(on_hub, other, "for")
    forged["sig"] = signed_vote(on_hub, holder, "for")["sig"]
    with pytest.raises(SnapshotVoteInvalid):
        submit_vote(snapshot_proposal_id=on_hub.pk, envelope=forged, rpc_url=anvil.url)
    assert submit_vote(
        snapshot_proposal_id=on_hub.pk, envelope=signed_vote(on_hub, other, "abstain"), rpc_url=anvil.url
    )


def test_a_sequencer_refusal_shows_its_reason(anvil, on_hub):
    from governance.snapshot_errors import SnapshotRefused

    holder = holder_account(0)
    ahead = signed_vote(on_hub, holder, "against", timestamp=int(time.time()) + 600)
    with pytest.raises(SnapshotRefused) as refused:
        submit_vote(snapshot_proposal_id=on_hub.pk, envelope=ahead, rpc_url=anvil.url)
    reason = refused.value.detail["error_description"]
    assert reason and reason in refused.value.message and refused.value.status == 409
    assert not SnapshotVote.objects.exists()
