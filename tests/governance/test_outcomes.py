"""From a published proposal to the plan approved on RecoveryExecutor, on both governor shapes.

Holders vote from their own keys; the chain is moved on with anvil_mine / evm_increaseTime.
The dev governor: block clock, timelock (queue, then execute after the 60 s delay). The
timestamp governor: no timelock (execute straight after the vote), sequential ids.
"""

import pytest

from chain import devkeys
from chain.demo import VOTING_PERIOD_BLOCKS, holder_account
from chain.keys import load_account
from governance.exceptions import ProposalClosed, ProposalNotReady
from governance.models import Publication
from governance.outcomes import advance_publications, execute_publication, queue_publication
from governance.publishing import publish_proposal
from tests.governance.governors import (
    AGAINST,
    DELAY_SECONDS,
    LATE_QUORUM_SECONDS,
    PERIOD_SECONDS,
    THRESHOLD,
    frozen_document,
    give_votes,
    increase_time,
    make_publishable,
    mine,
    plan_on_chain,
    timestamp_venue,
    vote,
)

pytestmark = [pytest.mark.django_db, pytest.mark.chain]
APPROVED = 1  # RecoveryExecutor.PlanStatus.Approved


def _executor_nonce(w3) -> int:
    return w3.eth.get_transaction_count(load_account(private_key=devkeys.EXECUTOR_KEY).address)


@pytest.fixture
def dev_publication(anvil, ready):
    """A publication on the dev governor; holder 0 carries the deployer's votes (enough for quorum)."""
    document, venue = ready
    return publish_proposal(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)


def test_the_dev_governor_queues_through_its_timelock_executes_after_the_eta_and_approves_the_plan(
    w3, anvil, dev_publication
):
    publication, venue = dev_publication, dev_publication.venue
    proposal_id = int(publication.proposal_id)

    with pytest.raises(ProposalNotReady) as early:
        queue_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert f"the vote ends at block {publication.vote_end}" in early.value.message

    mine(w3, 2)  # past the snapshot (estimates run at the head block): the vote is open
    for holder in (0, 1, 2):
        vote(w3, venue.governor, proposal_id, holder)
    vote(w3, venue.governor, proposal_id, 5, AGAINST)
    with pytest.raises(ProposalNotReady) as running:
        queue_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert "is running: the vote ends at block" in running.value.message

    mine(w3, VOTING_PERIOD_BLOCKS + 1)
    with pytest.raises(ProposalNotReady) as unqueued:
        execute_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert "must be queued on the timelock first" in unqueued.value.message

    queued = queue_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert queued.sent and queued.state == "queued" and queued.tx_hash
    publication.refresh_from_db()
    assert publication.queue_tx_hash == queued.tx_hash and publication.eta
    assert publication.queued_at is not None and publication.queued_by is None  # no user: a service call
    nonce = _executor_nonce(w3)
    again = queue_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert not again.sent and again.tx_hash == queued.tx_hash
    assert Publication.objects.get(pk=publication.pk).queued_at == publication.queued_at  # nothing sent, nothing new
    assert _executor_nonce(w3) == nonce  # nothing sent

    with pytest.raises(ProposalNotReady) as before_eta:
        execute_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert "the timelock's ETA is" in before_eta.value.message and "seconds" in before_eta.value.message
    assert before_eta.value.detail["seconds"] > 0

    increase_time(w3, before_eta.value.detail["seconds"] + 1)
    executed = execute_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert executed.sent and executed.state == "executed"
    asset = publication.document.plan.assets.get()
    assert [(a.plan_id, a.batches_root) for a in executed.approvals] == [
        (int(asset.onchain_plan_id), asset.commitment_root)
    ]
    on_chain = plan_on_chain(w3, venue.recovery_executor, asset.onchain_plan_id)
    assert "0x" + on_chain[0].hex() == asset.commitment_root and on_chain[4] == APPROVED

    nonce = _executor_nonce(w3)
    repeat = execute_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert not repeat.sent and repeat.tx_hash == executed.tx_hash
    assert [a.plan_id for a in repeat.approvals] == [int(asset.onchain_plan_id)]
    assert _executor_nonce(w3) == nonce


def test_a_defeated_proposal_is_refused_for_good(w3, anvil, dev_publication):
    publication = dev_publication
    mine(w3, 2)
    vote(w3, publication.venue.governor, int(publication.proposal_id), 0, AGAINST)
    mine(w3, VOTING_PERIOD_BLOCKS + 1)
    nonce = _executor_nonce(w3)
    for step in (queue_publication, execute_publication):
        with pytest.raises(ProposalClosed) as closed:
            step(publication_id=publication.pk, rpc_url=anvil.url)
        assert "is defeated" in closed.value.message and closed.value.status == 409
    assert _executor_nonce(w3) == nonce
    publication.refresh_from_db()
    assert publication.queue_tx_hash == "" and publication.execute_tx_hash == ""


def test_the_timestamp_governor_executes_without_queuing_and_approves_the_plan(
    w3, anvil, demo, deployer, exploited, chain_settings, timestamp_stack
):
    token = timestamp_stack["token"]
    give_votes(w3, deployer, "TimestampVotesToken", token, load_account(private_key=devkeys.RELAYER_KEY), THRESHOLD)
    for holder in (0, 1):  # delegate first: 150k each, quorum is 10% of 1M
        give_votes(w3, deployer, "TimestampVotesToken", token, holder_account(holder), 150_000 * 10**18)
    increase_time(w3, 2)
    document = frozen_document(anvil, exploited, recovery_executor=timestamp_stack["recovery_executor"])
    venue = timestamp_venue(demo, anvil, timestamp_stack)
    make_publishable(document, venue, anvil.url)
    publication = publish_proposal(proposal_id=document.pk, venue_id=venue.pk, rpc_url=anvil.url)
    assert publication.proposal_id == 1

    increase_time(w3, DELAY_SECONDS + 1)
    for holder in (0, 1):
        vote(w3, venue.governor, 1, holder)
    with pytest.raises(ProposalNotReady) as running:
        execute_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert "the vote ends at timestamp" in running.value.message

    increase_time(w3, PERIOD_SECONDS + LATE_QUORUM_SECONDS + 10)
    with pytest.raises(ProposalNotReady) as no_queue:
        queue_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert "needs no queuing" in no_queue.value.message

    executed = execute_publication(publication_id=publication.pk, rpc_url=anvil.url)
    assert executed.sent and executed.state == "executed"
    asset = document.plan.assets.get()
    assert [a.plan_id for a in executed.approvals] == [int(asset.onchain_plan_id)]
    on_chain = plan_on_chain(w3, venue.recovery_executor, asset.onchain_plan_id)
    assert "0x" + on_chain[0].hex() == asset.commitment_root and on_chain[4] == APPROVED
    publication.refresh_from_db()
    assert publication.execute_tx_hash == executed.tx_hash and publication.queue_tx_hash == ""


def test_advancing_queues_then_executes_every_eligible_publication(w3, anvil, dev_publication):
    publication = dev_publication
    assert advance_publications(rpc_url=anvil.url) == {str(publication.pk): "waiting: pending"}
    mine(w3, 2)
    vote(w3, publication.venue.governor, int(publication.proposal_id), 0)
    mine(w3, VOTING_PERIOD_BLOCKS + 1)
    assert advance_publications(rpc_url=anvil.url) == {str(publication.pk): "queued"}
    assert advance_publications(rpc_url=anvil.url) == {str(publication.pk): "waiting: queued"}
    increase_time(w3, 61)
    assert advance_publications(rpc_url=anvil.url) == {str(publication.pk): "executed"}
    assert advance_publications(rpc_url=anvil.url) == {}  # executed: no longer looked at


@pytest.mark.django_db(transaction=True)
def test_the_periodic_task_queues_and_executes_only_when_auto_execute_is_on(
    w3, anvil, dev_publication, celery_worker, settings
):
    from governance.tasks_publishing import advance_publications as task

    publication = dev_publication
    mine(w3, 2)
    vote(w3, publication.venue.governor, int(publication.proposal_id), 0)
    mine(w3, VOTING_PERIOD_BLOCKS + 1)

    settings.GOVERNANCE_AUTO_EXECUTE = False
    nonce = _executor_nonce(w3)
    assert task.delay().get(timeout=60) == {}
    assert _executor_nonce(w3) == nonce

    settings.GOVERNANCE_AUTO_EXECUTE = True
    assert task.delay().get(timeout=60) == {str(publication.pk): "queued"}
    increase_time(w3, 61)
    assert task.delay().get(timeout=60) == {str(publication.pk): "executed"}
    publication.refresh_from_db()
    asset = publication.document.plan.assets.get()
    assert publication.execute_tx_hash
    assert plan_on_chain(w3, publication.venue.recovery_executor, asset.onchain_plan_id)[4] == APPROVED
