"""The local Snapshot hub's sequencer, against a real hub process and the session's anvil."""

import copy
import time

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from chain.artifacts import bind, factory
from chain.demo import holder_account
from chain.transact import send
from config.preflight import load_role_account
from governance import snapshot_messages as sm
from tests.governance.governors import mine
from tests.snapshot_hub import SPACE_ID, demo_space, start_hub
from tests.snapshothub.hubclient import (
    accepted,
    gql,
    post,
    proposal_envelope,
    refusal,
    snapshot_js_vote,
    vote_envelope,
)

pytestmark = pytest.mark.chain

SCORES = """query ($id: String!) { proposal(id: $id) { id state type choices start end snapshot scores scores_total
  scores_state quorum votes author space { id } } }"""


@pytest.fixture
def proposer():
    return load_role_account("proposer")


@pytest.fixture
def hub(anvil, demo):
    """A hub whose test space votes for 60 s (the fixture's 6 s is short for a test casting many votes)."""
    process = start_hub(
        anvil.url, [demo_space(demo, voting={"delay": 0, "period": 60, "type": "basic", "quorum": 1000})]
    )
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def open_proposal(w3, hub, proposer):
    """A basic proposal on the test space, open since 2 s ago, its snapshot one block behind the head."""
    snapshot = w3.eth.block_number
    envelope = proposal_envelope(proposer, snapshot=snapshot, period=60, timestamp=int(time.time()) - 2)
    proposal_id = accepted(post(hub, envelope))
    mine(w3)
    return proposal_id, snapshot


def past_votes(w3, demo, account: str, block: int) -> int:
    return bind(w3, "LifeboatToken", demo.address("token")).functions.getPastVotes(account, block).call()


def test_scores_equal_the_sum_of_get_past_votes_at_the_snapshot_block(w3, demo, hub, open_proposal):
    proposal_id, snapshot = open_proposal
    choices = {0: sm.FOR, 1: sm.AGAINST, 2: sm.ABSTAIN, 3: sm.FOR, 4: sm.FOR}
    vote_ids = {}
    for index, choice in choices.items():
        vote_ids[index] = accepted(post(hub, vote_envelope(holder_account(index), proposal_id, choice)))

    sums = {sm.FOR: 0, sm.AGAINST: 0, sm.ABSTAIN: 0}
    for index, choice in choices.items():
        sums[choice] += past_votes(w3, demo, holder_account(index).address, snapshot)
    proposal = gql(hub, SCORES, {"id": proposal_id})["data"]["proposal"]
    assert proposal["scores"] == [sums[sm.FOR] / 10**18, sums[sm.AGAINST] / 10**18, sums[sm.ABSTAIN] / 10**18]
    assert proposal["scores_total"] == sum(sums.values()) / 10**18
    assert proposal["votes"] == 5 and proposal["scores_state"] == "pending" and proposal["state"] == "active"
    assert proposal["snapshot"] == snapshot and proposal["choices"] == ["For", "Against", "Abstain"]
    assert proposal["type"] == "basic" and proposal["quorum"] == 1000.0 and proposal["space"] == {"id": SPACE_ID}

    votes = gql(
        hub,
        """query ($p: String!) { votes(first: 10, where: {proposal: $p}, orderBy: "created", orderDirection: asc)
           { id voter choice vp vp_state created proposal { id } space { id } } }""",
        {"p": proposal_id},
    )["data"]["votes"]
    assert {v["id"] for v in votes} == set(vote_ids.values())
    for vote in votes:
        assert vote["vp"] == past_votes(w3, demo, vote["voter"], snapshot) / 10**18 and vote["vp_state"] == "final"
    messages = gql(
        hub,
        "query ($ids: [String]) { messages(first: 10, where: {id_in: $ids}) { id type address sig space } }",
        {"ids": list(vote_ids.values())},
    )["data"]["messages"]
    assert len(messages) == 5 and all(m["type"] == "vote" and m["sig"].startswith("0x") for m in messages)
    by_id = {m["id"]: m for m in messages}
    for index, vote_id in vote_ids.items():
        assert by_id[vote_id]["address"] == holder_account(index).address


def test_a_later_vote_by_the_same_voter_replaces_the_earlier(hub, open_proposal):
    proposal_id, _ = open_proposal
    voter = holder_account(0)
    now = int(time.time())
    accepted(post(hub, vote_envelope(voter, proposal_id, sm.FOR, timestamp=now - 1)))
    first = gql(hub, SCORES, {"id": proposal_id})["data"]["proposal"]["scores"]
    accepted(post(hub, vote_envelope(voter, proposal_id, sm.AGAINST, timestamp=now)))
    second = gql(hub, SCORES, {"id": proposal_id})["data"]["proposal"]
    assert second["votes"] == 1
    assert second["scores"] == [0.0, first[0], 0.0]
    # An older message after a newer one is refused, as the real writer does.
    assert refusal(post(hub, vote_envelope(voter, proposal_id, sm.ABSTAIN, timestamp=now - 2))) == (
        "already voted at later time"
    )


def test_messages_over_other_types_or_another_domain_are_refused(hub, open_proposal):
    proposal_id, _ = open_proposal
    voter = holder_account(0)
    message = sm.vote_message(
        voter=voter.address, space=SPACE_ID, proposal=proposal_id, choice=1, timestamp=int(time.time())
    )
    other_types = copy.deepcopy(sm.VOTE_TYPES)
    other_types["Vote"][4]["type"] = "uint256"
    assert refusal(post(hub, sm.sign(voter, sm.message_data(other_types, message)))) == "wrong types"
    reordered = {"Vote": list(reversed(sm.VOTE_TYPES["Vote"]))}
    assert refusal(post(hub, sm.sign(voter, sm.message_data(reordered, message)))) == "wrong types"

    for domain in ({**sm.DOMAIN, "chainId": 1}, {**sm.DOMAIN, "version": "0.1.3"}, {**sm.DOMAIN, "name": "snapshot2"}):
        data = {"domain": domain, "types": sm.VOTE_TYPES, "message": message}
        signed = voter.sign_message(encode_typed_data(full_message=sm.full_typed_data(data)))
        envelope = {"address": voter.address, "sig": "0x" + bytes(signed.signature).hex(), "data": data}
        assert refusal(post(hub, envelope)) == "wrong domain"


def test_timestamps_ten_minutes_ahead_or_seven_days_old_are_refused(hub, open_proposal):
    proposal_id, _ = open_proposal
    now = int(time.time())
    for timestamp in (now + 600, now - 7 * 86_400):
        reply = post(hub, vote_envelope(holder_account(0), proposal_id, sm.FOR, timestamp=timestamp))
        assert refusal(reply) == "wrong timestamp"


def test_votes_before_start_and_after_end_are_refused(w3, demo, anvil, proposer):
    spaces = [
        demo_space(demo, id="delayed.eth", voting={"delay": 3600, "period": 600, "type": "basic", "quorum": 1}),
        demo_space(demo, id="short.eth", voting={"delay": 0, "period": 2, "type": "basic", "quorum": 1}),
    ]
    hub = start_hub(anvil.url, spaces)
    try:
        snapshot = w3.eth.block_number
        delayed = accepted(
            post(hub, proposal_envelope(proposer, snapshot=snapshot, space="delayed.eth", delay=3600, period=600))
        )
        short = accepted(post(hub, proposal_envelope(proposer, snapshot=snapshot, space="short.eth", period=2)))
        mine(w3)
        early = vote_envelope(holder_account(0), delayed, sm.FOR, space="delayed.eth")
        assert refusal(post(hub, early)) == "not in voting window"
        time.sleep(3.2)
        late = vote_envelope(holder_account(0), short, sm.FOR, space="short.eth")
        assert refusal(post(hub, late)) == "not in voting window"
        state = gql(hub, SCORES, {"id": short})["data"]["proposal"]
        assert state["state"] == "closed" and state["scores_state"] == "final" and state["votes"] == 0
        assert gql(hub, SCORES, {"id": delayed})["data"]["proposal"]["state"] == "pending"
    finally:
        hub.stop()


def test_a_voter_with_no_power_at_the_snapshot_is_refused(w3, demo, deployer, hub, open_proposal):
    proposal_id, _ = open_proposal
    stranger = Account.create()
    assert refusal(post(hub, vote_envelope(stranger, proposal_id, sm.FOR))) == "no voting power"
    # Power delegated after the snapshot does not count either.
    send(w3, deployer, bind(w3, "LifeboatToken", demo.address("token")).functions.delegate(stranger.address))
    mine(w3)
    assert past_votes(w3, demo, stranger.address, w3.eth.block_number - 1) > 0
    assert refusal(post(hub, vote_envelope(stranger, proposal_id, sm.FOR))) == "no voting power"


def test_a_message_over_100_kb_is_refused(w3, snapshot_hub, proposer):
    envelope = proposal_envelope(proposer, snapshot=w3.eth.block_number, body="x" * 100_001)
    assert refusal(post(snapshot_hub, envelope)) == "too large message"
    fits = proposal_envelope(proposer, snapshot=w3.eth.block_number, body="x" * 90_000)
    accepted(post(snapshot_hub, fits))


def test_a_duplicate_message_is_refused(hub, open_proposal):
    proposal_id, _ = open_proposal
    envelope = vote_envelope(holder_account(1), proposal_id, sm.AGAINST)
    accepted(post(hub, envelope))
    assert refusal(post(hub, envelope)) == "duplicate message"


def test_only_the_space_authors_may_propose(w3, snapshot_hub):
    outsider = holder_account(3)
    assert refusal(post(snapshot_hub, proposal_envelope(outsider, snapshot=w3.eth.block_number))) == (
        "only space authors can propose"
    )


def test_a_proposal_whose_start_or_end_does_not_match_the_space_is_refused(w3, demo, anvil, snapshot_hub, proposer):
    snapshot = w3.eth.block_number
    assert refusal(post(snapshot_hub, proposal_envelope(proposer, snapshot=snapshot, period=7))) == (
        "invalid voting period"
    )
    hub = start_hub(anvil.url, [demo_space(demo, voting={"delay": 60, "period": 60, "type": "basic", "quorum": 1})])
    try:
        assert refusal(post(hub, proposal_envelope(proposer, snapshot=snapshot, delay=30, period=60))) == (
            "invalid voting delay"
        )
        accepted(post(hub, proposal_envelope(proposer, snapshot=snapshot, delay=60, period=60)))
    finally:
        hub.stop()
    future = w3.eth.block_number + 1000
    assert refusal(post(snapshot_hub, proposal_envelope(proposer, snapshot=future))) == "invalid snapshot block"
    unknown = proposal_envelope(proposer, snapshot=snapshot, space="nobody.eth")
    assert refusal(post(snapshot_hub, unknown)) == "unknown space"


def test_a_signature_by_another_key_or_for_another_address_is_refused(hub, open_proposal):
    proposal_id, _ = open_proposal
    envelope = vote_envelope(holder_account(0), proposal_id, sm.FOR)
    forged = {**envelope, "sig": vote_envelope(holder_account(1), proposal_id, sm.FOR)["sig"]}
    assert refusal(post(hub, forged)) == "signature validation failed"
    assert refusal(post(hub, {**envelope, "address": holder_account(1).address})) == "wrong alias"
    assert refusal(post(hub, {**envelope, "extra": 1})) == "wrong envelope format"


def test_a_contract_voter_is_accepted_through_eip_1271(w3, demo, deployer, hub, proposer):
    owner = holder_account(7)
    wallet = send(w3, deployer, factory(w3, "ERC1271Wallet").constructor(owner.address))["contractAddress"]
    send(w3, deployer, bind(w3, "LifeboatToken", demo.address("token")).functions.delegate(wallet))
    snapshot = w3.eth.block_number
    proposal_id = accepted(post(hub, proposal_envelope(proposer, snapshot=snapshot, period=60)))
    mine(w3)
    message = sm.vote_message(
        voter=wallet, space=SPACE_ID, proposal=proposal_id, choice=sm.FOR, timestamp=int(time.time())
    )
    data = sm.message_data(sm.VOTE_TYPES, message)
    by_owner = owner.sign_message(encode_typed_data(full_message=sm.full_typed_data(data)))
    envelope = {"address": wallet, "sig": "0x" + bytes(by_owner.signature).hex(), "data": data}
    vote_id = accepted(post(hub, envelope))
    assert vote_id == sm.message_id(data)
    by_stranger = holder_account(8).sign_message(encode_typed_data(full_message=sm.full_typed_data(data)))
    assert refusal(post(hub, {**envelope, "sig": "0x" + bytes(by_stranger.signature).hex()})) == (
        "signature validation failed"
    )
    scores = gql(hub, SCORES, {"id": proposal_id})["data"]["proposal"]["scores"]
    assert scores[0] == past_votes(w3, demo, wallet, snapshot) / 10**18


def test_a_vote_signed_through_snapshot_js_is_accepted(w3, demo, hub, open_proposal):
    proposal_id, _ = open_proposal
    voter = holder_account(2)
    answer = snapshot_js_vote(hub, voter.key.to_0x_hex(), proposal_id, sm.AGAINST)
    assert answer["ok"], answer
    vote = gql(
        hub,
        "query ($id: String!) { vote(id: $id) { voter choice reason app } }",
        {"id": answer["result"]["id"]},
    )
    assert vote["data"]["vote"] == {
        "voter": voter.address,
        "choice": 2,
        "reason": "signed by snapshot.js",
        "app": "snapshot",
    }
    refused = snapshot_js_vote(hub, Account.create().key.to_0x_hex(), proposal_id, sm.FOR)
    assert refused == {"ok": False, "error": {"error": "client_error", "error_description": "no voting power"}}
