"""Acting on a passed Snapshot proposal: approvePlan by the committee key exactly once, or a Safe's batch file.

The proposal rows are made here as following would leave them (outcome passed); the chain is the
session's anvil with the demo stack, where the committee key (anvil account 3) holds APPROVER_ROLE.
"""

import pytest
from django.utils import timezone
from eth_account import Account

from chain.artifacts import bind
from governance.models import PlanApproval
from governance.models.snapshot import (
    ApproverKind,
    SnapshotApproval,
    SnapshotApprovalStatus,
    SnapshotProposal,
    SnapshotVenue,
)
from governance.snapshot_approval import approval_calls, approve_passed_proposal
from governance.snapshot_errors import (
    SnapshotApprovalFailed,
    SnapshotApproverLacksRole,
    SnapshotApproverMismatch,
    SnapshotNotPassed,
)
from proposals.safe_export import checksum_matches
from tests.governance.governors import plan_on_chain

pytestmark = [pytest.mark.chain, pytest.mark.django_db]


def snapshot_venue(
    demo, *, approver: str, kind: str = ApproverKind.KEY, space: str = "lifeboat-test.eth"
) -> SnapshotVenue:
    return SnapshotVenue.objects.create(
        space=space,
        chain_id=demo.chain_id,
        sequencer_url="http://127.0.0.1:9/",
        hub_url="http://127.0.0.1:9/graphql",
        recovery_executor=demo.address("recovery_executor"),
        approver_kind=kind,
        approver=approver,
        token=demo.address("token"),
        voting_period=3600,
    )


def passed_proposal(document, venue, *, outcome: str = "passed", state: str = "closed") -> SnapshotProposal:
    now = int(timezone.now().timestamp())
    return SnapshotProposal.objects.create(
        document=document,
        venue=venue,
        status="created",
        proposal_id="0x" + "ab" * 32,
        envelope={},
        author=venue.approver,
        timestamp=now - 7200,
        start=now - 7200,
        end=now - 3600,
        snapshot=1,
        snapshot_block_hash="0x" + "00" * 32,
        state=state,
        outcome=outcome,
    )


def approved_count(w3, executor: str, from_block: int = 0) -> int:
    return len(bind(w3, "RecoveryExecutor", executor).events.PlanApproved().get_logs(from_block=from_block))


def nonce(w3, address: str) -> int:
    return w3.eth.get_transaction_count(address)


@pytest.fixture
def key_venue(demo, committee_account, depth):
    return snapshot_venue(demo, approver=committee_account.address)


def test_not_passed_is_refused_with_the_state_and_end(anvil, document, key_venue):
    proposal = passed_proposal(document, key_venue, outcome="", state="active")
    with pytest.raises(SnapshotNotPassed) as refused:
        approve_passed_proposal(snapshot_proposal_id=proposal.pk, rpc_url=anvil.url)
    assert "state active" in refused.value.message and str(proposal.end) in refused.value.message
    assert refused.value.status == 409
    assert not SnapshotApproval.objects.exists()


def test_key_approver_approves_every_plan_asset_exactly_once(w3, anvil, demo, document, key_venue, committee_account):
    proposal = passed_proposal(document, key_venue)
    calls = approval_calls(proposal)
    assert calls and all(call.plan_asset for call in calls)
    start = w3.eth.block_number
    before = nonce(w3, committee_account.address)

    approval = approve_passed_proposal(snapshot_proposal_id=proposal.pk, rpc_url=anvil.url)

    assert approval.status == SnapshotApprovalStatus.CONFIRMED, approval.error
    assert nonce(w3, committee_account.address) == before + len(calls)
    assert approved_count(w3, key_venue.recovery_executor, start) == len(calls)
    for call in calls:
        onchain = plan_on_chain(w3, key_venue.recovery_executor, int(call.args[0]))
        assert onchain[4] == 1 and "0x" + onchain[0].hex() == str(call.args[3]).lower()
    rows = PlanApproval.objects.filter(snapshot_proposal=proposal)
    assert rows.count() == len(calls) and all(row.publication_id is None for row in rows)
    assert [tx["onchain_plan_id"] for tx in approval.transactions] == [str(call.args[0]) for call in calls]

    again = approve_passed_proposal(snapshot_proposal_id=proposal.pk, rpc_url=anvil.url)
    assert again.pk == approval.pk and again.status == SnapshotApprovalStatus.CONFIRMED
    assert nonce(w3, committee_account.address) == before + len(calls)
    assert PlanApproval.objects.filter(snapshot_proposal=proposal).count() == len(calls)


def _crash_after_sign(proposal, anvil, monkeypatch) -> SnapshotApproval:
    """Sign and store, then stop as a crash would before the broadcast."""

    class Crash(Exception):
        pass

    def crash(name: str) -> None:
        if name == "snapshot_after_sign":
            raise Crash(name)

    monkeypatch.setattr("recovery.failpoints.failpoint", crash)
    with pytest.raises(Crash):
        approve_passed_proposal(snapshot_proposal_id=proposal.pk, rpc_url=anvil.url)
    monkeypatch.undo()
    return SnapshotApproval.objects.get(proposal=proposal)


def test_crash_after_signing_sends_the_stored_transactions(
    w3, anvil, document, key_venue, committee_account, monkeypatch
):
    proposal = passed_proposal(document, key_venue)
    before = nonce(w3, committee_account.address)
    stored = _crash_after_sign(proposal, anvil, monkeypatch)
    assert stored.status == SnapshotApprovalStatus.SENDING and stored.transactions
    assert nonce(w3, committee_account.address) == before  # nothing broadcast

    approval = approve_passed_proposal(snapshot_proposal_id=proposal.pk, rpc_url=anvil.url)
    assert approval.status == SnapshotApprovalStatus.CONFIRMED
    sent = [w3.eth.get_transaction(tx["tx_hash"]) for tx in stored.transactions]
    assert [tx["hash"].to_0x_hex() for tx in sent] == [tx["tx_hash"] for tx in stored.transactions]
    assert nonce(w3, committee_account.address) == before + len(stored.transactions)


def test_crash_after_broadcast_sends_the_same_bytes(w3, anvil, document, key_venue, committee_account, monkeypatch):
    proposal = passed_proposal(document, key_venue)
    start = w3.eth.block_number
    before = nonce(w3, committee_account.address)

    class Crash(Exception):
        pass

    def crash(name: str) -> None:
        if name == "snapshot_after_broadcast":
            raise Crash(name)

    w3.provider.make_request("evm_setAutomine", [False])
    try:
        monkeypatch.setattr("recovery.failpoints.failpoint", crash)
        with pytest.raises(Crash):
            approve_passed_proposal(snapshot_proposal_id=proposal.pk, rpc_url=anvil.url)
        monkeypatch.undo()
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
    w3.provider.make_request("evm_mine", [])
    stored = SnapshotApproval.objects.get(proposal=proposal)
    assert stored.status == SnapshotApprovalStatus.SENDING

    approval = approve_passed_proposal(snapshot_proposal_id=proposal.pk, rpc_url=anvil.url)
    assert approval.status == SnapshotApprovalStatus.CONFIRMED, approval.error
    calls = approval_calls(proposal)
    assert approved_count(w3, key_venue.recovery_executor, start) == len(calls)
    assert nonce(w3, committee_account.address) == before + len(calls)
    assert {tx["tx_hash"] for tx in approval.transactions} == {tx["tx_hash"] for tx in stored.transactions}


def test_plan_approved_by_someone_else_sends_nothing(w3, anvil, demo, document, key_venue, committee_account, timelock):
    proposal = passed_proposal(document, key_venue)
    executor = bind(w3, "RecoveryExecutor", key_venue.recovery_executor)
    for call in approval_calls(proposal):
        w3.eth.send_transaction({"from": timelock, "to": executor.address, "data": call.calldata, "gas": 1_000_000})
    before = nonce(w3, committee_account.address)

    approval = approve_passed_proposal(snapshot_proposal_id=proposal.pk, rpc_url=anvil.url)

    assert approval.status == SnapshotApprovalStatus.CONFIRMED
    assert approval.transactions == []
    assert nonce(w3, committee_account.address) == before
    assert PlanApproval.objects.filter(snapshot_proposal=proposal).count() == len(approval_calls(proposal))


def test_approver_without_the_role_is_refused_with_the_grant(
    w3, anvil, demo, document, key_venue, committee_account, timelock
):
    executor = bind(w3, "RecoveryExecutor", key_venue.recovery_executor)
    role = executor.functions.APPROVER_ROLE().call()
    executor.functions.revokeRole(role, committee_account.address).transact({"from": timelock})
    proposal = passed_proposal(document, key_venue)
    before = nonce(w3, committee_account.address)
    with pytest.raises(SnapshotApproverLacksRole) as refused:
        approve_passed_proposal(snapshot_proposal_id=proposal.pk, rpc_url=anvil.url)
    assert "grantRole(0x" + role.hex() in refused.value.message
    assert nonce(w3, committee_account.address) == before
    assert not SnapshotApproval.objects.exists()


def test_committee_key_that_is_not_the_approver_is_refused(anvil, demo, document, depth):
    venue = snapshot_venue(demo, approver=Account.create().address)
    proposal = passed_proposal(document, venue)
    with pytest.raises(SnapshotApproverMismatch) as refused:
        approve_passed_proposal(snapshot_proposal_id=proposal.pk, rpc_url=anvil.url)
    assert "COMMITTEE_PRIVATE_KEY" in refused.value.message


def test_reverting_approve_plan_fails_with_the_reason(
    w3, anvil, demo, document, key_venue, committee_account, timelock
):
    proposal = passed_proposal(document, key_venue)
    executor = bind(w3, "RecoveryExecutor", key_venue.recovery_executor)
    call = approval_calls(proposal)[0]
    # A later version of the same incident makes this one stale.
    args = list(executor.functions.approvePlan(*_args(call)).args)
    args[0], args[2] = args[0] + 10**6, args[2] + 1
    executor.functions.approvePlan(*args).transact({"from": timelock, "gas": 1_000_000})
    with pytest.raises(SnapshotApprovalFailed) as refused:
        approve_passed_proposal(snapshot_proposal_id=proposal.pk, rpc_url=anvil.url)
    assert "StaleVersion" in refused.value.message
    approval = SnapshotApproval.objects.get(proposal=proposal)
    assert approval.status == SnapshotApprovalStatus.FAILED and "StaleVersion" in approval.error


def _args(call):
    from governance.snapshot_approval import _call_args

    return _call_args(call)


def test_safe_approver_gets_the_batch_file_then_confirms_once_executed(w3, anvil, demo, document, depth, timelock):
    safe = Account.create().address
    venue = snapshot_venue(demo, approver=safe, kind=ApproverKind.SAFE)
    proposal = passed_proposal(document, venue)

    approval = approve_passed_proposal(snapshot_proposal_id=proposal.pk, rpc_url=anvil.url)
    assert approval.status == SnapshotApprovalStatus.AWAITING_SAFE
    batch = approval.safe_batch
    assert checksum_matches(batch) and batch["meta"]["createdFromSafeAddress"] == safe
    assert len(batch["transactions"]) == len(approval_calls(proposal))
    assert approve_passed_proposal(snapshot_proposal_id=proposal.pk, rpc_url=anvil.url).status == "awaiting_safe"

    executor = bind(w3, "RecoveryExecutor", venue.recovery_executor)
    executor.functions.grantRole(executor.functions.APPROVER_ROLE().call(), safe).transact({"from": timelock})
    w3.provider.make_request("anvil_setBalance", [safe, hex(10**18)])
    w3.provider.make_request("anvil_impersonateAccount", [safe])
    try:
        for item, call in zip(batch["transactions"], approval_calls(proposal), strict=True):
            assert item["to"] == call.target
            data = item["data"] or call.calldata
            w3.eth.send_transaction({"from": safe, "to": item["to"], "data": data, "value": int(item["value"])})
    finally:
        w3.provider.make_request("anvil_stopImpersonatingAccount", [safe])

    approval = approve_passed_proposal(snapshot_proposal_id=proposal.pk, rpc_url=anvil.url)
    assert approval.status == SnapshotApprovalStatus.CONFIRMED
    assert PlanApproval.objects.filter(snapshot_proposal=proposal).count() == len(
        [c for c in approval_calls(proposal) if c.plan_asset]
    )


def test_the_beat_task_approves_passed_proposals_and_one_error_stops_no_other(
    w3, anvil, demo, exploited, document, key_venue, committee_account
):
    from governance.tasks_snapshot import follow_and_approve
    from tests.governance.governors import frozen_document

    good = passed_proposal(document, key_venue)
    stranger = snapshot_venue(demo, approver=Account.create().address, space="elsewhere.eth")
    other = frozen_document(anvil, exploited, budget=10**6)
    bad = passed_proposal(other, stranger)
    bad.proposal_id = "0x" + "cd" * 32
    bad.save()

    assert follow_and_approve(rpc_url=anvil.url, auto_approve=False) == {}
    done = follow_and_approve(rpc_url=anvil.url, auto_approve=True)

    assert done[str(good.pk)] == "approval confirmed"
    assert done[str(bad.pk)].startswith("approve: snapshot_approver_mismatch")
    before = w3.eth.get_transaction_count(committee_account.address)
    again = follow_and_approve(rpc_url=anvil.url, auto_approve=True)
    assert str(good.pk) not in again  # confirmed: not approved again
    assert w3.eth.get_transaction_count(committee_account.address) == before
