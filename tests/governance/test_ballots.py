"""Gasless votes on real anvil: a holder's signed OpenZeppelin v5 Ballot relayed to the demo governor.

The proposal is created on chain here (``propose`` from the deployer, with the frozen document's
calls) and its ``Publication`` row written directly, as publishing would leave it.
"""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from eth_account import Account
from eth_utils import keccak
from rest_framework.test import APIClient

from chain.artifacts import bind, factory
from chain.ballots import (
    Ballot,
    ballot_typed_data,
    read_domain,
    typed_data_digest,
    v4_ballot_typed_data,
)
from chain.demo import holder_account
from chain.transact import send
from config.preflight import load_role_account
from governance import ballots
from governance.models import BallotRelay, BallotRelayStatus, Publication, PublicationStatus
from proposals.calls import document_content, proposal_calls
from proposals.services import freeze_proposal
from recovery import plans
from tests.eip712_oracle import ethers_typed_data
from tests.factories import UserFactory, analysed_exploit
from tests.governance.governors import dev_venue

pytestmark = [pytest.mark.django_db, pytest.mark.chain]

FOR, AGAINST, ABSTAIN = 1, 0, 2


# --- set-up: a venue, a proposal on chain and its publication --------------------------------------


@pytest.fixture
def venue(anvil, demo, chain_settings):
    return dev_venue(demo, anvil)


@pytest.fixture
def analysis(anvil, exploited, chain_settings):
    return analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])


def governor_of(w3, demo):
    return bind(w3, "LifeboatGovernor", demo.address("governor"))


def mine(w3, blocks: int = 1) -> None:
    for _ in range(blocks):
        w3.provider.make_request("evm_mine", [])


def publish(w3, deployer, venue, document, *, active: bool = True) -> Publication:
    """Propose ``document``'s calls on the venue's governor and store the publication as publishing does."""
    calls = proposal_calls(document_content(document.canonical_bytes), recovery_executor=venue.recovery_executor)
    targets, values, calldatas = [c.target for c in calls], [c.value for c in calls], [c.calldata for c in calls]
    description = f"Recovery proposal {document.pk} v{document.version}\n\ncontent-hash: {document.content_hash}"
    governor = bind(w3, "LifeboatGovernor", venue.governor)
    receipt = send(w3, deployer, governor.functions.propose(targets, values, calldatas, description))
    proposal_id = governor.functions.hashProposal(targets, values, calldatas, keccak(text=description)).call()
    while active and governor.functions.state(proposal_id).call() != 1:
        mine(w3)
    return Publication.objects.create(
        document=document,
        venue=venue,
        status=PublicationStatus.CREATED,
        proposal_id=proposal_id,
        description=description,
        description_hash="0x" + keccak(text=description).hex(),
        actions=[c.as_json() for c in calls],
        proposer=deployer.address,
        tx_hash=receipt["transactionHash"].to_0x_hex(),
        created_block=receipt["blockNumber"],
        created_block_hash=receipt["blockHash"].to_0x_hex(),
    )


def frozen_document(analysis, exploited, *, budget: int | None = None):
    if budget is None:
        plan = plans.build_plan(analysis_id=analysis.pk, mode="restitute", policy="full")
    else:
        plan = plans.build_plan(
            analysis_id=analysis.pk, mode="restitute", policy="pro_rata", budgets={exploited["vault"]: str(budget)}
        )
    document, _ = freeze_proposal(plan_id=plan.pk, frozen_by=None)
    return document


@pytest.fixture
def publication(w3, deployer, venue, analysis, exploited):
    return publish(w3, deployer, venue, frozen_document(analysis, exploited))


@pytest.fixture
def relayer():
    return load_role_account("relayer")


def domain_of(w3, publication):
    return read_domain(w3, publication.venue.governor)


def sign(typed_data, account) -> str:
    return Account.sign_typed_data(account.key, full_message=typed_data).signature.to_0x_hex()


def signed_ballot(w3, publication, account, *, support=FOR, nonce=None, reason=None, params=None) -> dict:
    """The flat ballot body, signed by ``account`` (nonce read from the governor unless given)."""
    governor = bind(w3, "LifeboatGovernor", publication.venue.governor)
    if nonce is None:
        nonce = governor.functions.nonces(account.address).call()
    ballot = Ballot(int(publication.proposal_id), support, account.address, nonce, reason, params)
    body = {
        "voter": account.address,
        "support": support,
        "nonce": str(nonce),
        "signature": sign(ballot_typed_data(domain_of(w3, publication), ballot), account),
    }
    if ballot.extended:
        body["reason"] = reason or ""
        body["params"] = "0x" + (params or b"").hex()
    return body


def post(publication, body, client=None):
    return (client or APIClient()).post(f"/api/publications/{publication.pk}/ballots/", body, format="json")


class Untouched:
    """Asserts a refusal left nothing behind: no row, no transaction from the relayer."""

    def __init__(self, w3, relayer) -> None:
        self.w3, self.relayer = w3, relayer
        self.rows = BallotRelay.objects.count()
        self.nonce = w3.eth.get_transaction_count(relayer.address, "pending")

    def check(self) -> None:
        assert BallotRelay.objects.count() == self.rows
        assert self.w3.eth.get_transaction_count(self.relayer.address, "pending") == self.nonce


def refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code, error
    return error


# --- relayed -------------------------------------------------------------------------------------------


def test_a_signed_ballot_is_relayed_by_anyone_and_counted(w3, demo, publication):
    holder = holder_account(0)
    governor = governor_of(w3, demo)
    proposal_id = int(publication.proposal_id)
    weight = governor.functions.getVotes(holder.address, governor.functions.proposalSnapshot(proposal_id).call()).call()
    assert weight > 0
    against_before, for_before, _ = governor.functions.proposalVotes(proposal_id).call()

    response = post(publication, signed_ballot(w3, publication, holder))  # anonymous

    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["status"] == "relayed" and answer["kind"] == "ecdsa"
    assert answer["weight"] == str(weight) and answer["proposal_id"] == str(proposal_id)
    against_after, for_after, _ = governor.functions.proposalVotes(proposal_id).call()
    assert (for_after - for_before, against_after) == (weight, against_before)
    assert governor.functions.hasVoted(proposal_id, holder.address).call()
    assert governor.functions.nonces(holder.address).call() == 1
    relay = BallotRelay.objects.get()
    assert relay.block_hash == w3.eth.get_block(relay.block_number)["hash"].to_0x_hex()
    assert relay.tx_hash == w3.eth.get_block(relay.block_number, True)["transactions"][0]["hash"].to_0x_hex()
    assert relay.relayer == load_role_account("relayer").address
    assert APIClient().get(f"/api/ballots/{relay.pk}/").json()["tx_hash"] == relay.tx_hash
    listed = APIClient().get(f"/api/publications/{publication.pk}/ballots/").json()
    assert listed["count"] == 1 and listed["results"][0]["voter"] == holder.address


def test_an_extended_ballot_carries_its_reason_to_the_vote_cast_event(w3, demo, publication):
    holder = holder_account(1)
    body = signed_ballot(w3, publication, holder, support=AGAINST, reason="the budget is too small")
    relay = ballots.relay_ballot(
        publication_id=publication.pk,
        voter=holder.address,
        support=AGAINST,
        signature=bytes.fromhex(body["signature"][2:]),
        nonce=0,
        reason="the budget is too small",
        params=b"",
        rpc_url=w3.provider.endpoint_uri,
    )
    assert relay.status == BallotRelayStatus.RELAYED and relay.primary_type == "ExtendedBallot"
    receipt = w3.eth.get_transaction_receipt(relay.tx_hash)
    (event,) = governor_of(w3, demo).events.VoteCast().process_receipt(receipt)
    assert event["args"]["reason"] == "the budget is too small"
    assert event["args"]["support"] == AGAINST and event["args"]["weight"] == relay.weight


def test_the_typed_data_endpoint_gives_what_the_governor_checks(w3, demo, publication):
    holder = holder_account(2)
    answer = APIClient().get(
        f"/api/publications/{publication.pk}/ballot-typed-data/", {"voter": holder.address, "support": "abstain"}
    )
    assert answer.status_code == 200, answer.content
    typed = answer.json()
    assert typed["primaryType"] == "Ballot"
    assert typed["domain"] == {
        "name": "Lifeboat Demo Governor",
        "version": "1",
        "chainId": demo.chain_id,
        "verifyingContract": demo.address("governor"),
    }
    assert typed["message"] == {
        "proposalId": str(publication.proposal_id),
        "support": ABSTAIN,
        "voter": holder.address,
        "nonce": "0",
    }
    # The governor's own type hash names exactly the struct the typed data declares.
    governor = governor_of(w3, demo)
    assert governor.functions.BALLOT_TYPEHASH().call() == keccak(
        text="Ballot(uint256 proposalId,uint8 support,address voter,uint256 nonce)"
    )
    # Signed as served and posted back, it is relayed.
    body = {"typed_data": typed, "signature": sign(typed, holder)}
    assert post(publication, body).status_code == 201


# --- interop with ethers ----------------------------------------------------------------------------


def test_ballot_and_extended_ballot_digests_equal_ethers(w3, publication):
    domain = domain_of(w3, publication)
    holder = holder_account(3)
    for ballot in (
        Ballot(int(publication.proposal_id), FOR, holder.address, 7),
        Ballot(int(publication.proposal_id), ABSTAIN, holder.address, 2**256 - 1, "ünïcode reason", b"\x01\x02"),
    ):
        typed = ballot_typed_data(domain, ballot)
        ethers = ethers_typed_data(typed, private_key=holder.key.to_0x_hex())
        assert ethers["digest"] == "0x" + typed_data_digest(typed).hex()
        assert ethers["signature"] == sign(typed, holder)


def test_a_ballot_signed_by_ethers_is_relayed_from_a_wallet_file(w3, demo, publication, tmp_path):
    holder = holder_account(4)
    typed = ballots.ballot_typed_data(publication_id=publication.pk, voter=holder.address, support=FOR, reason="yes")
    signature = ethers_typed_data(typed, private_key=holder.key.to_0x_hex())["signature"]
    path = tmp_path / "ballot.json"
    path.write_text(json.dumps({"typedData": typed, "signature": signature}))
    out, err = io.StringIO(), io.StringIO()

    call_command("vote", "relay", "--signature-file", str(path), stdout=out, stderr=err)

    assert "checking" in err.getvalue()
    relay = BallotRelay.objects.get()
    assert f"ballot {relay.pk}: {holder.address} voted 1 with weight {relay.weight}" in out.getvalue()
    assert governor_of(w3, demo).functions.hasVoted(int(publication.proposal_id), holder.address).call()


def test_the_typed_data_command_prints_the_json_to_sign(w3, publication):
    holder = holder_account(5)
    out = io.StringIO()
    call_command(
        "vote", "typed-data", "--publication", str(publication.pk), "--voter", holder.address, "--support", "against",
        stdout=out,
    )  # fmt: skip
    typed = json.loads(out.getvalue())
    assert typed["message"]["support"] == AGAINST and typed["message"]["voter"] == holder.address
    with pytest.raises(CommandError, match="not one of for, against, abstain"):
        call_command("vote", "typed-data", "--publication", str(publication.pk), "--voter", holder.address,
                     "--support", "maybe")  # fmt: skip


# --- refusals -------------------------------------------------------------------------------------------


def test_a_replayed_ballot_is_refused_and_sends_nothing_twice(w3, publication, relayer):
    body = signed_ballot(w3, publication, holder_account(6))
    assert post(publication, body).status_code == 201
    untouched = Untouched(w3, relayer)

    error = refused(post(publication, body), 409, "ballot_already_relayed")

    relay = BallotRelay.objects.get()
    assert relay.tx_hash in error["message"] and error["detail"]["ballot"] == relay.pk
    untouched.check()


def test_a_ballot_for_another_proposal_is_refused_as_signed_for_something_else(w3, publication, relayer):
    holder = holder_account(7)
    domain = domain_of(w3, publication)
    other = Ballot(int(publication.proposal_id) + 1, FOR, holder.address, 0)
    body = {
        "voter": holder.address,
        "support": FOR,
        "nonce": "0",
        "signature": sign(ballot_typed_data(domain, other), holder),
    }
    untouched = Untouched(w3, relayer)

    error = refused(post(publication, body), 400, "ballot_signature_invalid")

    assert "signed for something else" in error["message"] and error["detail"]["reason"] == "signed_for_something_else"
    assert error["detail"]["recovered"] != holder.address
    untouched.check()


@pytest.mark.parametrize(
    ("member", "value", "named"),
    [("chainId", 1, "chain 1"), ("verifyingContract", "0x000000000000000000000000000000000000dEaD", "governor 0x")],
)
def test_a_ballot_signed_for_another_chain_or_governor_names_what_differs(
    w3, publication, relayer, member, value, named
):
    holder = holder_account(8)
    typed = ballots.ballot_typed_data(publication_id=publication.pk, voter=holder.address, support=FOR)
    typed["domain"][member] = value
    untouched = Untouched(w3, relayer)

    error = refused(
        post(publication, {"typed_data": typed, "signature": sign(typed, holder)}), 400, "ballot_signature_invalid"
    )

    assert f"it names {named}" in error["message"], error["message"]
    untouched.check()


def test_a_stale_or_future_nonce_is_refused_saying_which(
    w3, demo, deployer, venue, publication, analysis, exploited, relayer
):
    holder = holder_account(9)
    # The holder's nonce 0 is consumed by a ballot cast by signature on another proposal.
    second = publish(w3, deployer, venue, frozen_document(analysis, exploited, budget=10**6))
    send(w3, deployer, governor_of(w3, demo).functions.castVoteBySig(
        int(second.proposal_id), FOR, holder.address, bytes.fromhex(signed_ballot(w3, second, holder)["signature"][2:])
    ))  # fmt: skip
    untouched = Untouched(w3, relayer)

    stale = refused(post(publication, signed_ballot(w3, publication, holder, nonce=0)), 409, "ballot_nonce_stale")
    ahead = refused(post(publication, signed_ballot(w3, publication, holder, nonce=5)), 409, "ballot_nonce_ahead")

    assert "nonce 0 is stale" in stale["message"] and stale["detail"]["expected_nonce"] == "1"
    assert "nonce 5 is ahead" in ahead["message"] and "sign the ballot again with nonce 1" in ahead["message"]
    untouched.check()


def test_a_v4_style_ballot_is_recognised(w3, publication, relayer):
    holder = holder_account(10)
    v4 = v4_ballot_typed_data(domain_of(w3, publication), proposal_id=int(publication.proposal_id), support=FOR)
    untouched = Untouched(w3, relayer)

    flat = {"voter": holder.address, "support": FOR, "nonce": "0", "signature": sign(v4, holder)}
    error = refused(post(publication, flat), 400, "ballot_v4_style")
    assert "v4-style ballot: sign the v5 Ballot with voter and nonce" in error["message"]
    wallet = refused(post(publication, {"typed_data": v4, "signature": sign(v4, holder)}), 400, "ballot_v4_style")
    assert wallet["message"].startswith("v4-style ballot: sign the v5 Ballot with voter and nonce")
    untouched.check()


def test_a_signature_for_another_support_says_which_was_signed(w3, publication, relayer):
    holder = holder_account(11)
    body = {**signed_ballot(w3, publication, holder, support=FOR), "support": "against"}
    untouched = Untouched(w3, relayer)
    error = refused(post(publication, body), 400, "ballot_signature_invalid")
    assert "signed as a vote 'for' (1), but sent as 'against' (0)" in error["message"]
    untouched.check()


def test_a_voter_without_votes_at_the_snapshot_is_refused(w3, publication, relayer):
    nobody = Account.from_key(keccak(text="lifeboat-test-no-votes"))
    untouched = Untouched(w3, relayer)
    error = refused(post(publication, signed_ballot(w3, publication, nobody)), 409, "ballot_no_voting_power")
    assert "no voting power at the snapshot" in error["message"]
    untouched.check()


def test_a_ballot_before_voting_opens_or_after_it_closed_is_refused(w3, deployer, venue, analysis, exploited, relayer):
    pending = publish(w3, deployer, venue, frozen_document(analysis, exploited), active=False)
    holder = holder_account(12)
    untouched = Untouched(w3, relayer)

    early = refused(post(pending, signed_ballot(w3, pending, holder)), 409, "proposal_not_active")
    assert "has not opened yet" in early["message"] and early["detail"]["state"] == "Pending"

    mine(w3, 60)  # past the 50-block voting period
    late = refused(post(pending, signed_ballot(w3, pending, holder)), 409, "proposal_not_active")
    assert "is closed" in late["message"] and late["detail"]["state"] == "Defeated"
    untouched.check()


def test_a_voter_who_already_voted_directly_is_refused(w3, demo, publication, relayer):
    holder = holder_account(13)
    body = signed_ballot(w3, publication, holder)
    send(w3, holder, governor_of(w3, demo).functions.castVote(int(publication.proposal_id), AGAINST))
    untouched = Untouched(w3, relayer)
    error = refused(post(publication, body), 409, "already_voted")
    assert "has already voted" in error["message"]
    untouched.check()


def test_a_relayer_without_gas_funds_is_named_with_the_amount_needed(w3, publication, relayer):
    w3.provider.make_request("anvil_setBalance", [relayer.address, "0x0"])  # reverted with the test's snapshot
    untouched = Untouched(w3, relayer)

    error = refused(post(publication, signed_ballot(w3, publication, holder_account(14))), 503, "relayer_unfunded")

    assert relayer.address in error["message"] and error["detail"]["relayer"] == relayer.address
    assert int(error["detail"]["needed"]) > 0 and error["detail"]["balance"] == "0"
    assert f"send at least {error['detail']['needed']} wei to {relayer.address}" in error["message"]
    untouched.check()


def test_a_voter_over_the_hourly_limit_gets_429_with_retry_after(
    w3, deployer, venue, publication, analysis, exploited, relayer, settings
):
    settings.BALLOT_RELAY_PER_VOTER_PER_HOUR = 1
    holder = holder_account(15)
    second = publish(w3, deployer, venue, frozen_document(analysis, exploited, budget=10**6))
    assert post(publication, signed_ballot(w3, publication, holder)).status_code == 201
    untouched = Untouched(w3, relayer)

    response = post(second, signed_ballot(w3, second, holder))

    error = refused(response, 429, "ballot_rate_limited")
    assert 3500 < int(response["Retry-After"]) <= 3600
    assert "BALLOT_RELAY_PER_VOTER_PER_HOUR=1" in error["message"]
    untouched.check()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"voter": "0x" + "ab" * 20}, "voter"),  # not checksummed
        ({"support": "maybe"}, "support"),
        ({"nonce": -1}, "nonce"),
        ({"nonce": 1.0}, "nonce"),
        ({"signature": "0x1234"}, "signature"),  # 2 bytes: not an ECDSA signature
        ({"signature": "not hex"}, "signature"),
    ],
)
def test_malformed_ballots_are_refused_with_the_field_named(w3, publication, relayer, change, field):
    body = {**signed_ballot(w3, publication, holder_account(16)), **change}
    untouched = Untouched(w3, relayer)
    response = post(publication, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["detail"]["field"] == field
    untouched.check()


def test_ballots_for_an_unknown_publication_or_ballot_are_404(w3, publication):
    assert post(Publication(pk=publication.pk + 99), {"signature": "0x"}).status_code in (400, 404)
    body = signed_ballot(w3, publication, holder_account(17))
    assert post(Publication(pk=publication.pk + 99), body).json()["error"]["code"] == "publication_not_found"
    assert APIClient().get("/api/ballots/999999/").json()["error"]["code"] == "ballot_not_found"


def test_a_signed_in_user_gains_nothing_over_an_anonymous_caller(w3, publication):
    client = APIClient()
    client.force_authenticate(UserFactory(committee=True))
    holder = holder_account(18)
    body = {**signed_ballot(w3, publication, holder), "voter": holder_account(19).address}
    refused(post(publication, body, client), 400, "ballot_signature_invalid")


# --- a contract voter (EIP-1271) -------------------------------------------------------------------------


def test_a_contract_wallet_votes_through_eip1271(w3, demo, deployer, venue, analysis, exploited, relayer):
    owner = holder_account(20)
    token = bind(w3, "LifeboatToken", demo.address("token"))
    wallet = send(w3, deployer, factory(w3, "ERC1271Voter").constructor(owner.address, token.address))[
        "contractAddress"
    ]
    send(w3, deployer, token.functions.transfer(wallet, 50_000 * 10**18))
    mine(w3)
    publication = publish(w3, deployer, venue, frozen_document(analysis, exploited))
    typed = ballots.ballot_typed_data(publication_id=publication.pk, voter=wallet, support=FOR)

    wrong = {"typed_data": typed, "signature": sign(typed, holder_account(21))}
    refused(post(publication, wrong), 400, "ballot_signature_invalid")
    response = post(publication, {"typed_data": typed, "signature": sign(typed, owner)})

    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "eip1271" and response.json()["weight"] == str(50_000 * 10**18)
    assert governor_of(w3, demo).functions.hasVoted(int(publication.proposal_id), wallet).call()


# --- the outbox: a relay not yet mined is finished, never sent twice -------------------------------------


def test_a_relay_awaiting_its_receipt_is_finished_later_without_a_second_transaction(
    w3, demo, publication, relayer, settings, celery_worker
):
    settings.BALLOT_RELAY_RECEIPT_TIMEOUT_SECONDS = 0.3
    body = signed_ballot(w3, publication, holder_account(22))
    nonce_before = w3.eth.get_transaction_count(relayer.address)
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        first = post(publication, body)
        again = post(publication, body)  # the client retries: the same bytes go out again, nothing new
        assert (first.status_code, again.status_code) == (202, 202)
        assert first.json()["tx_hash"] == again.json()["tx_hash"]
        assert w3.eth.get_transaction_count(relayer.address, "pending") == nonce_before + 1
        mine(w3)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])

    from governance.tasks_ballots import resume_ballot_relays

    resumed = resume_ballot_relays.delay(older_than_seconds=0).get(timeout=60)

    relay = BallotRelay.objects.get()
    assert resumed == [relay.pk]
    assert relay.status == BallotRelayStatus.RELAYED and relay.tx_hash == first.json()["tx_hash"]
    assert w3.eth.get_transaction_count(relayer.address) == nonce_before + 1
    assert governor_of(w3, demo).functions.hasVoted(int(publication.proposal_id), holder_account(22).address).call()


def test_a_relay_beaten_on_chain_is_recorded_as_failed_with_the_governors_reason(
    w3, demo, publication, relayer, settings
):
    settings.BALLOT_RELAY_RECEIPT_TIMEOUT_SECONDS = 0.3
    holder = holder_account(23)
    body = signed_ballot(w3, publication, holder)
    governor = governor_of(w3, demo)
    w3.provider.make_request("evm_setAutomine", [False])
    try:
        assert post(publication, body).status_code == 202
        # The holder votes directly in the same block, paying a higher tip, so it is mined first.
        send(
            w3,
            holder,
            governor.functions.castVote(int(publication.proposal_id), AGAINST),
            tx={"maxPriorityFeePerGas": 50 * 10**9, "maxFeePerGas": 200 * 10**9, "gas": 200_000},
            wait=False,
        )
        mine(w3)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])

    error = refused(post(publication, body), 409, "ballot_relay_failed")

    relay = BallotRelay.objects.get()
    assert relay.status == BallotRelayStatus.FAILED and relay.block_hash
    assert "GovernorAlreadyCastVote" in relay.error and relay.error == error["message"]
    _, for_votes, _ = governor.functions.proposalVotes(int(publication.proposal_id)).call()
    assert for_votes == 0  # the relayed vote never counted


def test_a_node_that_fails_is_a_503_without_its_url_secrets(w3, publication, relayer, settings):
    body = signed_ballot(w3, publication, holder_account(3))
    settings.CHAIN_RPC_URL = "http://relay-user:hunter2@127.0.0.1:1/v3/secret-api-key"
    untouched = Untouched(w3, relayer)
    response = post(publication, body)
    error = refused(response, 503, "chain_unavailable")
    assert "hunter2" not in response.content.decode() and "secret-api-key" not in response.content.decode()
    assert "127.0.0.1:1" in error["message"]
    untouched.check()


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"signature": "0x" + "00" * 65},
        {"typed_data": "not json", "signature": "0x00"},
        {"typed_data": {"types": [], "domain": 1, "message": None}, "signature": "0x00"},
        {
            "typed_data": {"types": {"Ballot": [1]}, "primaryType": ["Ballot"], "domain": {}, "message": {}},
            "signature": "0x",
        },
        {"voter": None, "support": None, "nonce": None, "signature": "0x"},
        {"voter": "0x" + "00" * 20, "support": 1, "nonce": str(2**256), "signature": "0x" + "11" * 65},
    ],
)
def test_nonsense_bodies_are_400_not_500(publication, body):
    response = APIClient().post(f"/api/publications/{publication.pk}/ballots/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_input"


def test_huge_ids_in_paths_are_404_not_500(publication):
    huge = 2**70
    assert APIClient().get(f"/api/ballots/{huge}/").status_code == 404
    assert APIClient().get(f"/api/publications/{huge}/ballots/").status_code == 404
