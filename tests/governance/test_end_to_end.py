"""Issue 11 end to end, through the services with nothing faked, on both governor shapes.

One flow per governor: the exploited demo vault analysed, a restitute plan built (several
batches) and frozen, its RecoveryExecutor funded, the venue added; a real rehearsal on an anvil
fork; two of the three dev committee keys sign off with EIP-712 signatures; the proposal
published (its id checked against the governor's own: ``hashProposal`` or the sequential
counter); holders vote from their own keys and gaslessly through the relayer; the indexer
follows past the confirmation depth and its tally equals ``proposalVotes``; the chain is moved
on, the proposal queued (timelock only) and executed; the indexer records the ``PlanApproved``
event; the plan is Approved on the venue's RecoveryExecutor and one batch pays with its proof.

The dev governor (``demo``): block clock, a TimelockController, hashed ids. The timestamp
governor (``timestamp_stack``): timestamp clock, no timelock, sequential ids, its own
RecoveryExecutor whose approver is the governor.
"""

import dataclasses

import pytest
from eth_account import Account
from eth_utils import keccak

from chain import devkeys
from chain.artifacts import bind
from chain.demo import VOTING_PERIOD_BLOCKS, DemoDeployment, DeployedContract, fund_recovery_executor, holder_account
from chain.errors import Reverted
from chain.keys import load_account
from chain.transact import send
from governance.ballots import ballot_typed_data, relay_ballot
from governance.exceptions import ProposalNotReady
from governance.following import follow_publication
from governance.models import BallotRelay, BallotRelayStatus, GovernorVenue, PlanApproval, Publication
from governance.models.votes import VoteRecord
from governance.outcomes import execute_publication, queue_publication
from governance.publishing import publish_proposal
from governance.services import add_governor_venue
from proposals.exceptions import RehearsalRequired, SignOffThresholdNotMet
from proposals.models import ProposalDocument, RehearsalStatus
from proposals.rehearsals import rehearse_proposal
from proposals.services import freeze_proposal
from proposals.signoffs import get_signoff_subject, link_committee_member, submit_signoff
from recovery import plans, selectors
from recovery.models import Allocation, MigrationBatch, PlanAsset
from tests.factories import UserFactory, analysed_exploit
from tests.governance import governors
from tests.governance.governors import THRESHOLD, give_votes, increase_time, mine

pytestmark = [pytest.mark.django_db, pytest.mark.chain]

timestamp_stack = governors.timestamp_stack  # the fixture

AGAINST, FOR, ABSTAIN = 0, 1, 2
DEPTH = 2  # confirmation depth of these tests: every read of the flow waits for it
SMALL_BATCHES = 80_000 + 5 * 32_000  # gas ceiling: at most five recipients a batch, so several batches
APPROVED = 1  # RecoveryExecutor.PlanStatus.Approved


@pytest.fixture
def confirmed(chain_settings):
    chain_settings.CONFIRMATION_DEPTH = DEPTH
    return chain_settings


# --- steps of the flow ------------------------------------------------------------------------


def funded_document(w3, anvil, exploited, deployment: DemoDeployment, deployer) -> ProposalDocument:
    """Step 1: analyse the exploit, build a restitute plan in several batches, freeze it, fund its payer."""
    mine(w3, DEPTH)  # the exploit's block past the confirmation depth
    analysis = analysed_exploit(rpc_url=anvil.url, exploited=exploited, affected_contracts=[exploited["vault"]])
    plan = plans.build_plan(
        analysis_id=analysis.pk,
        mode="restitute",
        policy="full",
        gas_ceiling=SMALL_BATCHES,
        recovery_executor=deployment.address("recovery_executor"),
    )
    document, _ = freeze_proposal(plan_id=plan.pk, frozen_by=None)
    asset = document.plan.assets.get()
    assert MigrationBatch.objects.filter(plan_asset=asset).count() > 1
    owed = sum(int(amount) for amount in Allocation.objects.filter(plan_asset=asset).values_list("amount", flat=True))
    assert owed == int(asset.total_allocated) > 0
    held = fund_recovery_executor(w3, deployment, deployer=deployer, token=asset.payout_token, amount=owed)
    assert held >= owed
    mine(w3, DEPTH)  # the funding past the depth: the rehearsal forks the confirmed head
    return document


def rehearse_and_sign_off(document: ProposalDocument, venue: GovernorVenue, anvil) -> None:
    """Steps 2 and 3: a real rehearsal on a fork, then two of the three dev committee keys sign off."""
    members = []
    for key in devkeys.COMMITTEE_KEYS[:2]:
        account = load_account(private_key=key)
        member, created = link_committee_member(username=UserFactory(committee=True).username, address=account.address)
        assert created
        members.append((member, account))
    subject = get_signoff_subject(proposal_id=document.pk, venue_id=venue.pk)

    def sign(member, account) -> None:
        signature = Account.sign_typed_data(account.key, full_message=subject.typed_data).signature.to_0x_hex()
        submit_signoff(
            proposal_id=document.pk, venue_id=venue.pk, member=member, signature=signature, rpc_url=anvil.url
        )

    with pytest.raises(RehearsalRequired):  # no sign-off before a rehearsal passed
        sign(*members[0])

    rehearsal = rehearse_proposal(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert rehearsal.status == RehearsalStatus.PASSED, (rehearsal.error, rehearsal.report.get("failures"))
    report = rehearsal.report
    asset = document.plan.assets.get()
    payees = Allocation.objects.filter(plan_asset=asset).exclude(amount=0).count()
    assert report["balances"]["checked"] == report["balances"]["matched"] == payees > 0
    assert len(report["batches"]) == MigrationBatch.objects.filter(plan_asset=asset).count()
    assert all(step["status"] == "ok" for step in [*report["calls"], *report["batches"]])
    assert [e["event"] for e in report["calls"][-1]["events"]] == ["IncidentVersionAdvanced", "PlanApproved"]
    assert rehearsal.venue_id == venue.pk and rehearsal.content_hash == document.content_hash

    sign(*members[0])
    with pytest.raises(SignOffThresholdNotMet):  # one of two: nothing is proposed
        publish_proposal(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert not Publication.objects.filter(document=document).exists()
    sign(*members[1])


def publish(w3, anvil, document: ProposalDocument, venue: GovernorVenue) -> Publication:
    """Step 4: publish; publishing again answers the same publication and sends nothing."""
    publication = publish_proposal(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert publication.status == "created" and publication.created_block is not None
    assert publication.created_block_hash == w3.eth.get_block(publication.created_block)["hash"].to_0x_hex()
    nonce = w3.eth.get_transaction_count(publication.proposer)
    again = publish_proposal(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert again.pk == publication.pk and w3.eth.get_transaction_count(publication.proposer) == nonce
    return publication


def relay(w3, anvil, publication: Publication, holder_index: int, support: int, reason: str | None = None):
    """A holder signs the governor's Ballot (ExtendedBallot with a reason) and Lifeboat relays it."""
    holder = holder_account(holder_index)
    typed = ballot_typed_data(
        publication_id=publication.pk, voter=holder.address, support=support, reason=reason, rpc_url=anvil.url
    )
    signature = Account.sign_typed_data(holder.key, full_message=typed).signature
    relayed = relay_ballot(
        publication_id=publication.pk,
        voter=holder.address,
        support=support,
        signature=bytes(signature),
        nonce=int(typed["message"]["nonce"]),
        reason=reason,
        params=b"" if reason is not None else None,
        rpc_url=anvil.url,
    )
    assert relayed.status == BallotRelayStatus.RELAYED and relayed.relayer != holder.address
    assert w3.eth.get_transaction(relayed.tx_hash)["from"] == relayed.relayer
    return relayed


def vote_directly(w3, governor: str, proposal_id: int, holder_index: int, support: int) -> str:
    holder = holder_account(holder_index)
    call = bind(w3, "LifeboatGovernor", governor).functions.castVote(proposal_id, support)
    return send(w3, holder, call, tx={"gas": 300_000})["transactionHash"].to_0x_hex()


def follow(w3, anvil, publication: Publication) -> Publication:
    """Step 6 and 8: the indexer, once everything sent so far is past the confirmation depth."""
    mine(w3, DEPTH)
    return follow_publication(publication_id=publication.pk, rpc_url=anvil.url)


def check_tally(w3, publication: Publication, governor, *, direct: dict[int, int], gasless: dict[int, int]) -> None:
    """The stored tally equals proposalVotes, and the votes counted are exactly both kinds cast."""
    proposal_id = int(publication.proposal_id)
    against, for_, abstain = governor.functions.proposalVotes(proposal_id).call()
    assert (int(publication.against_votes), int(publication.for_votes), int(publication.abstain_votes)) == (
        against,
        for_,
        abstain,
    )
    snapshot = governor.functions.proposalSnapshot(proposal_id).call()
    expected = {AGAINST: 0, FOR: 0, ABSTAIN: 0}
    for index, support in {**direct, **gasless}.items():
        expected[support] += governor.functions.getVotes(holder_account(index).address, snapshot).call()
    assert (expected[AGAINST], expected[FOR], expected[ABSTAIN]) == (against, for_, abstain)
    records = {r.voter: r for r in VoteRecord.objects.filter(publication=publication)}
    assert set(records) == {holder_account(i).address for i in {**direct, **gasless}}
    for index, support in {**direct, **gasless}.items():
        assert records[holder_account(index).address].support == support
    relays = BallotRelay.objects.filter(publication=publication)
    assert {r.voter for r in relays} == {holder_account(i).address for i in gasless}
    for row in relays:  # each gasless vote is counted from the relayer's transaction
        assert records[row.voter].tx_hash == row.tx_hash and int(records[row.voter].weight) == int(row.weight)


def check_approved(w3, publication: Publication, recovery_executor: str) -> PlanAsset:
    """Step 8: the PlanApproval row holds the commitment root, and the plan is Approved on chain."""
    asset = publication.document.plan.assets.get()
    approval = PlanApproval.objects.get(plan_asset=asset)
    assert approval.publication_id == publication.pk
    assert approval.recovery_executor == recovery_executor and approval.chain_id == w3.eth.chain_id
    assert approval.batches_root == asset.commitment_root
    assert int(approval.onchain_plan_id) == int(asset.onchain_plan_id)
    assert int(approval.budget) == int(asset.total_allocated)
    assert approval.batch_count == MigrationBatch.objects.filter(plan_asset=asset).count()
    assert approval.block_hash == w3.eth.get_block(approval.block_number)["hash"].to_0x_hex()
    assert approval.tx_hash == publication.execute_tx_hash
    on_chain = bind(w3, "RecoveryExecutor", recovery_executor).functions.getPlan(int(asset.onchain_plan_id)).call()
    # getPlan: (root, token, mode, delivery, status, batchCount, incidentKey, version, claimDeadline, budget, paid)
    assert "0x" + on_chain[0].hex() == asset.commitment_root and on_chain[4] == APPROVED
    plan = asset.plan
    key = plans.incident_key(plan.incident.chain_id, plan.incident_id)
    assert (approval.incident_key, approval.version, approval.delivery, approval.claim_deadline) == (
        key,
        plan.version,
        plans.EXECUTOR_DELIVERIES[plan.delivery],
        0,
    )
    assert "0x" + on_chain[6].hex() == key and on_chain[7] == plan.version
    return asset


def pay_one_batch(w3, asset: PlanAsset, recovery_executor: str) -> None:
    """The approved plan pays: batch 1 with its proof, from the executor key; never twice."""
    stored = selectors.stored_batches(asset)
    assert selectors.commitment_for(asset).root == asset.commitment_root
    batch = stored[1]
    proof = selectors.batch_proof(asset, 1)
    assert proof  # a real proof: the plan has several batches
    token = bind(w3, "DemoVault", asset.payout_token)
    before = [token.functions.balanceOf(r).call() for r in batch.recipients]
    executor = bind(w3, "RecoveryExecutor", recovery_executor)
    call = executor.functions.executeBatch(
        int(asset.onchain_plan_id), batch.index, list(batch.recipients), list(batch.amounts), proof
    )
    send(w3, load_account(private_key=devkeys.EXECUTOR_KEY), call)
    after = [token.functions.balanceOf(r).call() for r in batch.recipients]
    assert [b - a for a, b in zip(before, after, strict=True)] == list(batch.amounts)
    assert executor.functions.isBatchExecuted(int(asset.onchain_plan_id), batch.index).call()
    assert executor.functions.getPlan(int(asset.onchain_plan_id)).call()[10] == batch.total  # paid
    with pytest.raises(Reverted, match="BatchAlreadyExecuted"):
        send(w3, load_account(private_key=devkeys.EXECUTOR_KEY), call)


# --- the two governors --------------------------------------------------------------------------


def test_dev_governor_block_clock_timelock_from_exploit_to_paid_batch(w3, anvil, demo, deployer, exploited, confirmed):
    # Holder 0 carries the deployer's votes (the quorum is 4% of the supply).
    send(w3, deployer, bind(w3, "LifeboatToken", demo.address("token")).functions.delegate(holder_account(0).address))
    document = funded_document(w3, anvil, exploited, demo, deployer)
    venue = add_governor_venue(
        chain_id=demo.chain_id,
        governor=demo.address("governor"),
        recovery_executor=demo.address("recovery_executor"),
        rpc_url=anvil.url,
    )
    assert venue.timelock == demo.address("timelock") and not venue.sequential_ids
    rehearse_and_sign_off(document, venue, anvil)

    publication = publish(w3, anvil, document, venue)
    governor = bind(w3, "LifeboatGovernor", venue.governor)
    actions = publication.actions
    hashed = governor.functions.hashProposal(
        [a["target"] for a in actions],
        [int(a["value"]) for a in actions],
        [bytes.fromhex(a["calldata"][2:]) for a in actions],
        keccak(text=publication.description),
    ).call()
    assert int(publication.proposal_id) == hashed
    (created,) = governor.events.ProposalCreated().get_logs(from_block=publication.created_block)
    assert created["args"]["proposalId"] == hashed
    assert f"content-hash: {document.content_hash}" in created["args"]["description"]

    mine(w3, 2)  # past the snapshot: the vote is open
    direct = {0: FOR, 1: FOR, 5: AGAINST}
    gasless = {2: FOR, 3: ABSTAIN, 4: FOR}
    for index, support in direct.items():
        vote_directly(w3, venue.governor, hashed, index, support)
    for index, support in gasless.items():
        relay(w3, anvil, publication, index, support, reason="restitute in full" if support == ABSTAIN else None)
    early = follow_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert VoteRecord.objects.filter(publication=early).count() < len(direct) + len(gasless)  # the last blocks wait
    publication = follow(w3, anvil, publication)
    assert publication.state == "active"
    check_tally(w3, publication, governor, direct=direct, gasless=gasless)

    with pytest.raises(ProposalNotReady):  # the vote is still running
        queue_publication(publication_id=publication.pk, rpc_url=anvil.url)
    deadline = governor.functions.proposalDeadline(hashed).call()
    assert publication.vote_end == deadline == publication.vote_start + VOTING_PERIOD_BLOCKS
    mine(w3, deadline - w3.eth.block_number + 1)
    queued = queue_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert queued.sent and queued.state == "queued"
    with pytest.raises(ProposalNotReady) as before_eta:
        execute_publication(publication_id=publication.pk, rpc_url=anvil.url)
    increase_time(w3, before_eta.value.detail["seconds"] + 1)
    executed = execute_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert executed.sent and executed.state == "executed"

    publication = follow(w3, anvil, publication)
    assert publication.state == "executed" and publication.eta is not None
    check_tally(w3, publication, governor, direct=direct, gasless=gasless)
    asset = check_approved(w3, publication, demo.address("recovery_executor"))
    pay_one_batch(w3, asset, demo.address("recovery_executor"))


def test_timestamp_governor_no_timelock_sequential_ids_from_exploit_to_paid_batch(
    w3, anvil, demo, deployer, exploited, confirmed, timestamp_stack
):
    token = timestamp_stack["token"]
    proposer = load_account(private_key=devkeys.RELAYER_KEY)  # the proposer key defaults to the relayer's
    give_votes(w3, deployer, "TimestampVotesToken", token, proposer, THRESHOLD)
    for holder in range(4):  # 150k each: the quorum is 10% of 1M
        give_votes(w3, deployer, "TimestampVotesToken", token, holder_account(holder), 150_000 * 10**18)
    increase_time(w3, 2)
    recovery_executor = timestamp_stack["recovery_executor"]
    # The demo deployment with the timestamp governor's RecoveryExecutor as the payer to fund.
    own = DeployedContract("RecoveryExecutor", recovery_executor, 0, "")
    deployment = dataclasses.replace(demo, contracts={**demo.contracts, "recovery_executor": own})
    document = funded_document(w3, anvil, exploited, deployment, deployer)
    venue = add_governor_venue(
        chain_id=demo.chain_id,
        governor=timestamp_stack["governor"],
        recovery_executor=recovery_executor,
        rpc_url=anvil.url,
    )
    assert venue.timelock == "" and venue.executor == timestamp_stack["governor"] and venue.sequential_ids
    rehearse_and_sign_off(document, venue, anvil)

    publication = publish(w3, anvil, document, venue)
    governor = bind(w3, "TimestampGovernor", venue.governor)
    assert int(publication.proposal_id) == governor.functions.proposalCount().call() == 1
    (created,) = governor.events.ProposalCreated().get_logs(from_block=publication.created_block)
    assert created["args"]["proposalId"] == 1 and created["args"]["proposer"] == proposer.address

    increase_time(w3, governors.DELAY_SECONDS + 1)
    direct = {0: FOR, 1: AGAINST}
    gasless = {2: FOR, 3: ABSTAIN}
    for index, support in direct.items():
        vote_directly(w3, venue.governor, 1, index, support)
    for index, support in gasless.items():
        relay(w3, anvil, publication, index, support, reason="restitute in full" if support == ABSTAIN else None)
    publication = follow(w3, anvil, publication)
    assert publication.state == "active"
    check_tally(w3, publication, governor, direct=direct, gasless=gasless)

    with pytest.raises(ProposalNotReady):  # the vote is still running
        execute_publication(publication_id=publication.pk, rpc_url=anvil.url)
    deadline = governor.functions.proposalDeadline(1).call()  # re-read: a late quorum moves it
    assert publication.vote_end == deadline
    increase_time(w3, deadline - w3.eth.get_block("latest")["timestamp"] + 1)
    with pytest.raises(ProposalNotReady) as no_queue:
        queue_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert "needs no queuing" in no_queue.value.message
    executed = execute_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert executed.sent and executed.state == "executed"

    publication = follow(w3, anvil, publication)
    assert publication.state == "executed" and publication.queue_tx_hash == ""
    check_tally(w3, publication, governor, direct=direct, gasless=gasless)
    asset = check_approved(w3, publication, recovery_executor)
    # The dev RecoveryExecutor knows nothing of this plan: the approval is on the venue's own.
    dev_plan = bind(w3, "RecoveryExecutor", demo.address("recovery_executor")).functions.getPlan(
        int(asset.onchain_plan_id)
    )
    assert dev_plan.call()[4] != APPROVED
    pay_one_batch(w3, asset, recovery_executor)
