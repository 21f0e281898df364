"""Acting on a passed Snapshot proposal: ``approvePlan`` on the RecoveryExecutor, exactly once.

Snapshot decides off chain, so someone the protocol trusts carries the result out: the venue's
``approver``. With a key approver (Lifeboat holds it as the ``committee`` role), every
``approvePlan`` is signed at a fixed nonce and stored on the proposal's one ``SnapshotApproval``
(``transactions``) in the same database transaction that creates it, *before* it is broadcast.
Whatever fails afterwards (the process between signing and broadcasting, or between
broadcasting and the receipt; the node; the worker), approving again never signs a second
``approvePlan`` for a plan: it reads the stored transaction's receipt, then the plan on chain
(``getPlan``: approved with the same root counts as done, whoever sent it), and only then sends
the very same bytes again. A nonce taken by another transaction while the plan is still not
approved fails the approval, saying so.

With a Safe approver, the approval is the Transaction Builder file of the proposal's calls
(``safe_batch``) for the Safe's owners; each later call reads the plans on chain and confirms
once the Safe's transaction has approved them.

Confirmed means every plan asset approved on chain past ``settings.CONFIRMATION_DEPTH``; the
``PlanApproved`` logs are then recorded as ``PlanApproval`` rows for the proposal.
"""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract

from chain import sender
from chain.artifacts import bind, load_artifact
from chain.errors import Reverted, RpcUnavailable
from chain.proposing import node_errors, plans_approved
from chain.transact import account_nonce, receipt_of, reverts_as_chain_errors
from chain.votes import PLAN_APPROVED_TOPIC, ApprovalLog, decode_approvals, uint_word
from governance.models import PlanApproval
from governance.models.snapshot import (
    ApproverKind,
    SnapshotApproval,
    SnapshotApprovalStatus,
    SnapshotOutcome,
    SnapshotProposal,
    SnapshotProposalStatus,
)
from governance.snapshot_errors import (
    SnapshotApprovalFailed,
    SnapshotApproverLacksRole,
    SnapshotApproverMismatch,
    SnapshotNotPassed,
    SnapshotProposalNotFound,
)
from governance.venues import connect_chain, role_account
from proposals.calls import ProposalCall, document_content, proposal_calls
from proposals.safe_export import contract_methods, safe_batch
from recovery import failpoints
from recovery.exceptions import ChainUnavailable
from recovery.models import PlanAsset

__all__ = ["AFTER_BROADCAST", "AFTER_SIGN", "approval_calls", "approve_passed_proposal"]

logger = logging.getLogger(__name__)

# Crash points of the fault tests (recovery/failpoints.py): the signed transactions committed but
# not broadcast; broadcast but the receipt not read.
AFTER_SIGN = "snapshot_after_sign"
AFTER_BROADCAST = "snapshot_after_broadcast"
# PlanStatus.Approved of the RecoveryExecutor; getPlan's fields by position.
_APPROVED = 1
_ROOT, _STATUS = 0, 4
_RECEIPT_TIMEOUT_SECONDS = 120
_LOG_PAGE = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def approve_passed_proposal(
    *, snapshot_proposal_id: int, rpc_url: str, requested_by: AbstractBaseUser | None = None
) -> SnapshotApproval:
    """Have the venue's approver approve every plan asset of the passed proposal; exactly once, idempotent.

    Answers the proposal's one ``SnapshotApproval``: ``confirmed`` once every plan is approved
    on chain past the confirmation depth (its ``PlanApproval`` rows recorded), ``sending``
    while a transaction waits to be mined or confirmed, ``awaiting_safe`` while a Safe's owners
    have not executed the batch file. Calling again finishes what is stored and never signs a
    second ``approvePlan`` for a plan already approved or in flight.

    Errors: ``SnapshotProposalNotFound`` (404); ``SnapshotNotPassed`` (409, naming the state,
    outcome and end of the vote); ``SnapshotApproverMismatch`` (409) when COMMITTEE_PRIVATE_KEY is
    not the venue's approver; ``SnapshotApproverLacksRole`` (409, with the grantRole to send);
    ``SnapshotApprovalFailed`` (409) when an ``approvePlan`` reverts (the reason given) or its
    nonce went to another transaction; ``SigningKeyMissing`` (503); ``ChainMismatch`` (409) and
    ``ChainUnavailable`` (503) for the node.
    """
    proposal = _passed_proposal(snapshot_proposal_id)
    venue = proposal.venue
    w3 = connect_chain(rpc_url=rpc_url, chain_id=venue.chain_id, subject=f"snapshot venue {venue.pk}")
    executor = bind(w3, "RecoveryExecutor", venue.recovery_executor)
    calls = approval_calls(proposal)
    try:
        existing = SnapshotApproval.objects.filter(proposal=proposal).first()
        if existing is not None and existing.status == SnapshotApprovalStatus.CONFIRMED:
            return existing
        if venue.approver_kind == ApproverKind.SAFE:
            approval = _store_safe_batch(proposal, calls, requested_by)
        else:
            approval = _sign_and_store(w3, executor, proposal, calls, requested_by)
            approval = _finish_key(w3, executor, approval)
        return _confirm(w3, executor, approval, calls)
    except RpcUnavailable as error:
        raise ChainUnavailable(
            f"{error}; whatever was signed is stored, and approving again finishes it without a second approvePlan"
        ) from None


def approval_calls(proposal: SnapshotProposal) -> list[ProposalCall]:
    """The calls the approver sends: only the ``approvePlan`` calls for a key, every call for a Safe."""
    venue = proposal.venue
    calls = proposal_calls(
        document_content(proposal.document.canonical_bytes), recovery_executor=venue.recovery_executor
    )
    if venue.approver_kind == ApproverKind.SAFE:
        return calls
    return [call for call in calls if call.plan_asset]


def _passed_proposal(snapshot_proposal_id: int) -> SnapshotProposal:
    proposal = SnapshotProposal.objects.select_related("venue", "document").filter(pk=snapshot_proposal_id).first()
    if proposal is None:
        raise SnapshotProposalNotFound(
            f"there is no Snapshot proposal {snapshot_proposal_id}", snapshot_proposal=snapshot_proposal_id
        )
    if proposal.status != SnapshotProposalStatus.CREATED or proposal.outcome != SnapshotOutcome.PASSED:
        ends = datetime.fromtimestamp(proposal.end, tz=UTC).isoformat() if proposal.end else "unknown"
        raise SnapshotNotPassed(
            f"Snapshot proposal {proposal.pk} ({proposal.proposal_id or 'not on the hub'}) is {proposal.status}, "
            f"state {proposal.state or 'not followed yet'}, outcome {proposal.outcome or 'none yet'}: only a passed "
            f"proposal is approved on chain; its vote ends at {ends} (unix {proposal.end}), and it is approved once "
            "following it finds it closed with For above Against and the quorum met",
            snapshot_proposal=proposal.pk,
            status=proposal.status,
            state=proposal.state,
            outcome=proposal.outcome,
            end=proposal.end,
        )
    return proposal


def _plan_on_chain(executor: Contract, plan_id: int) -> tuple[Any, ...]:
    with node_errors(executor.w3):
        return tuple(reverts_as_chain_errors(executor.functions.getPlan(plan_id).call))


def _approved_on_chain(executor: Contract, call: ProposalCall) -> bool:
    """Whether ``getPlan`` shows the call's plan approved with its root; 409 when approved with another root."""
    plan_id, root = int(call.args[0]), str(call.args[3]).lower()
    onchain = _plan_on_chain(executor, plan_id)
    if int(onchain[_STATUS]) == 0:
        return False
    onchain_root = "0x" + bytes(onchain[_ROOT]).hex()
    if onchain_root != root or int(onchain[_STATUS]) != _APPROVED:
        raise SnapshotApprovalFailed(
            f"plan {plan_id} on the RecoveryExecutor {executor.address} already exists with status "
            f"{int(onchain[_STATUS])} and root {onchain_root}, not approved with the proposal's root {root}: "
            "approvePlan would revert PlanAlreadyExists",
            plan_id=str(plan_id),
        )
    return True


def _require_key_approver(w3: Web3, executor: Contract, approver: str) -> Any:
    """The committee account, once it is the venue's approver and holds APPROVER_ROLE."""
    account = role_account("committee")
    if account.address.lower() != approver.lower():
        raise SnapshotApproverMismatch(
            f"the venue's approver is {approver}, but COMMITTEE_PRIVATE_KEY (or COMMITTEE_KEYSTORE) is the key of "
            f"{account.address}: configure the approver's key as the committee key, or add the venue with "
            f"--approver {account.address}",
            approver=approver,
            committee=account.address,
        )
    with node_errors(w3):
        role = bytes(reverts_as_chain_errors(executor.functions.APPROVER_ROLE().call))
        holds = bool(reverts_as_chain_errors(executor.functions.hasRole(role, account.address).call))
    if not holds:
        raise SnapshotApproverLacksRole(
            f"the approver {account.address} does not hold APPROVER_ROLE on the RecoveryExecutor {executor.address}: "
            f"its admin (normally the governance timelock) must send grantRole(0x{role.hex()}, {account.address}) "
            "to it first",
            approver=account.address,
            recovery_executor=executor.address,
            role="0x" + role.hex(),
        )
    return account


def _sign_and_store(
    w3: Web3,
    executor: Contract,
    proposal: SnapshotProposal,
    calls: list[ProposalCall],
    requested_by: AbstractBaseUser | None,
) -> SnapshotApproval:
    """Create the approval (or restart a failed one) with every missing ``approvePlan`` signed and stored."""
    venue = proposal.venue
    existing = SnapshotApproval.objects.filter(proposal=proposal).first()
    if existing is not None and existing.status == SnapshotApprovalStatus.SENDING:
        return existing
    pending = [call for call in calls if not _approved_on_chain(executor, call)]
    account = _require_key_approver(w3, executor, venue.approver) if pending else None
    with transaction.atomic():
        # One signer per proposal at a time: the proposal row lock serialises creating the approval.
        SnapshotProposal.objects.select_for_update().filter(pk=proposal.pk).first()
        approval = SnapshotApproval.objects.select_for_update().filter(proposal=proposal).first()
        if approval is not None and approval.status in (
            SnapshotApprovalStatus.SENDING,
            SnapshotApprovalStatus.CONFIRMED,
        ):
            return approval
        transactions: list[dict[str, Any]] = []
        refused = ""
        if account is not None:
            nonce = max(account_nonce(w3, account.address), _next_stored_nonce(account.address, venue.chain_id))
            for call in pending:
                signed = _sign(w3, executor, account, call, nonce=nonce)
                if isinstance(signed, str):
                    refused = signed
                    break
                transactions.append(signed)
                nonce += 1
        if refused:
            transactions = []
        approval = approval or SnapshotApproval(proposal=proposal)
        approval.approver_kind = ApproverKind.KEY
        approval.approver = to_checksum_address(venue.approver)
        approval.status = SnapshotApprovalStatus.FAILED if refused else SnapshotApprovalStatus.SENDING
        approval.transactions = transactions
        approval.safe_batch = None
        approval.error = refused
        approval.requested_by = requested_by
        approval.save()
    if refused:
        raise SnapshotApprovalFailed(refused, snapshot_proposal=proposal.pk, approval=approval.pk)
    logger.info(
        "snapshot proposal %s: %d approvePlan signed and stored (approval %s)",
        proposal.pk,
        len(transactions),
        approval.pk,
    )
    failpoints.failpoint(AFTER_SIGN)
    return approval


def _next_stored_nonce(address: str, chain_id: int) -> int:
    """One past the highest nonce stored for ``address`` in approvals still sending (0 when none)."""
    top = -1
    for approval in SnapshotApproval.objects.filter(
        approver__iexact=address, status=SnapshotApprovalStatus.SENDING, proposal__venue__chain_id=chain_id
    ).only("transactions"):
        for tx in approval.transactions:
            if tx.get("nonce") is not None:
                top = max(top, int(tx["nonce"]))
    return top + 1


def _sign(w3: Web3, executor: Contract, account: Any, call: ProposalCall, *, nonce: int) -> dict[str, Any] | str:
    """The signed ``approvePlan`` of ``call`` at ``nonce`` as stored; the reason when its gas estimate reverts."""
    function = executor.functions.approvePlan(*_call_args(call))
    try:
        with node_errors(w3):
            tx = reverts_as_chain_errors(
                lambda: function.build_transaction(
                    {"from": account.address, "nonce": nonce, "chainId": int(w3.eth.chain_id)}
                )
            )
    except Reverted as error:
        return f"approvePlan of plan {call.args[0]} ({call.plan_asset}) on {executor.address} is refused: {error}"
    tx.pop("from", None)
    signed = account.sign_transaction(tx)
    return {
        "plan_asset": call.plan_asset,
        "onchain_plan_id": str(call.args[0]),
        "root": str(call.args[3]).lower(),
        "tx_hash": signed.hash.to_0x_hex(),
        "nonce": nonce,
        "raw": "0x" + bytes(signed.raw_transaction).hex(),
        "to": executor.address,
        "data": call.calldata,
        "gas": int(tx["gas"]),
        "block_number": None,
        "block_hash": "",
    }


def _call_args(call: ProposalCall) -> list[Any]:
    plan_id, incident_key, version, root, token, mode, delivery, count, budget, deadline = call.args
    return [
        int(plan_id),
        bytes.fromhex(str(incident_key)[2:]),
        int(version),
        bytes.fromhex(str(root)[2:]),
        to_checksum_address(token),
        int(mode),
        int(delivery),
        int(count),
        int(budget),
        int(deadline),
    ]


def _fail(approval: SnapshotApproval, reason: str) -> None:
    approval.status = SnapshotApprovalStatus.FAILED
    approval.error = reason
    approval.save(update_fields=["status", "error", "updated_at"])
    raise SnapshotApprovalFailed(reason, snapshot_proposal=approval.proposal_id, approval=approval.pk)


def _finish_key(w3: Web3, executor: Contract, approval: SnapshotApproval) -> SnapshotApproval:
    """Bring each stored transaction to a receipt (or find its plan approved), never signing again."""
    if approval.status != SnapshotApprovalStatus.SENDING:
        return approval
    changed = False
    for tx in approval.transactions:
        if tx.get("block_hash"):
            continue
        receipt = receipt_of(w3, tx["tx_hash"])
        if receipt is None:
            if _approved_by_plan(executor, tx):
                continue  # approved by another transaction (someone else, or a replacement): nothing to send
            if account_nonce(w3, approval.approver, pending=False) > int(tx["nonce"]):
                receipt = receipt_of(w3, tx["tx_hash"])  # mined between the two reads?
                if receipt is None and not _approved_by_plan(executor, tx):
                    _fail(
                        approval,
                        f"the approver's nonce {tx['nonce']} was used by another transaction and plan "
                        f"{tx['onchain_plan_id']} is not approved on chain: approve again to sign a new approvePlan",
                    )
            if receipt is None:
                try:
                    sender.broadcast(w3, bytes.fromhex(tx["raw"][2:]))
                except sender.BroadcastRefused as error:
                    raise SnapshotApprovalFailed(
                        f"approvePlan {tx['tx_hash']} of plan {tx['onchain_plan_id']} is stored, but {error}; "
                        "approving again sends the same transaction",
                        snapshot_proposal=approval.proposal_id,
                        approval=approval.pk,
                    ) from None
                failpoints.failpoint(AFTER_BROADCAST)
                receipt = receipt_of(w3, tx["tx_hash"], timeout=_RECEIPT_TIMEOUT_SECONDS, poll=0.05)
                if receipt is None:
                    logger.warning("approvePlan %s is sent but not mined yet", tx["tx_hash"])
                    return approval
        if receipt is None:
            continue
        if receipt["status"] != 1:
            reason = sender.replay_revert(
                w3,
                sender=approval.approver,
                to=tx["to"],
                data=tx["data"],
                gas=int(tx["gas"]),
                block_number=int(receipt["blockNumber"]),
            )
            _fail(
                approval,
                f"approvePlan {tx['tx_hash']} of plan {tx['onchain_plan_id']} reverted in block "
                f"{receipt['blockNumber']}: {reason}",
            )
        logs = [a for a in plans_approved(executor.address, receipt) if a.plan_id == int(tx["onchain_plan_id"])]
        if not logs:
            _fail(
                approval,
                f"the receipt of approvePlan {tx['tx_hash']} holds no PlanApproved for plan {tx['onchain_plan_id']}",
            )
        tx["block_number"], tx["block_hash"] = logs[0].block_number, logs[0].block_hash
        changed = True
    if changed:
        approval.save(update_fields=["transactions", "updated_at"])
    return approval


def _approved_by_plan(executor: Contract, tx: dict[str, Any]) -> bool:
    onchain = _plan_on_chain(executor, int(tx["onchain_plan_id"]))
    return int(onchain[_STATUS]) == _APPROVED and "0x" + bytes(onchain[_ROOT]).hex() == tx["root"]


def _store_safe_batch(
    proposal: SnapshotProposal, calls: list[ProposalCall], requested_by: AbstractBaseUser | None
) -> SnapshotApproval:
    """The approval awaiting the Safe, holding the Transaction Builder file of the proposal's calls."""
    venue, document = proposal.venue, proposal.document
    with transaction.atomic():
        SnapshotProposal.objects.select_for_update().filter(pk=proposal.pk).first()
        approval = SnapshotApproval.objects.select_for_update().filter(proposal=proposal).first()
        if approval is not None and approval.safe_batch and approval.status != SnapshotApprovalStatus.FAILED:
            return approval
        batch = safe_batch(
            calls=calls,
            chain_id=venue.chain_id,
            created_at_ms=(document.created_at - _EPOCH) // timedelta(milliseconds=1),
            name=f"Lifeboat Snapshot proposal {proposal.proposal_id} (document {document.pk})",
            description=(
                f"Carry out Snapshot proposal {proposal.proposal_id} of space {venue.space}, which passed: the calls "
                f"of Lifeboat document {document.pk} (plan version {document.version}), approving on the "
                f"RecoveryExecutor {venue.recovery_executor}. content-hash: {document.content_hash}"
            ),
            methods_by_target={venue.recovery_executor: contract_methods(load_artifact("RecoveryExecutor").abi)},
            safe_address=to_checksum_address(venue.approver),
        )
        approval = approval or SnapshotApproval(proposal=proposal)
        approval.approver_kind = ApproverKind.SAFE
        approval.approver = to_checksum_address(venue.approver)
        approval.status = SnapshotApprovalStatus.AWAITING_SAFE
        approval.transactions = []
        approval.safe_batch = batch
        approval.error = ""
        approval.requested_by = requested_by
        approval.save()
    return approval


def _confirm(w3: Web3, executor: Contract, approval: SnapshotApproval, calls: list[ProposalCall]) -> SnapshotApproval:
    """Confirmed once every plan call is approved on chain past the depth; then the ``PlanApproval`` rows."""
    plan_calls = [call for call in calls if call.plan_asset]
    if approval.status not in (SnapshotApprovalStatus.SENDING, SnapshotApprovalStatus.AWAITING_SAFE):
        return approval
    if not all(_approved_on_chain(executor, call) for call in plan_calls):
        return approval
    head = sender.head(w3)
    logs: list[ApprovalLog] = []
    for call in plan_calls:
        log = _approval_log(w3, executor, approval, int(call.args[0]), head)
        if log is None or head - log.block_number < settings.CONFIRMATION_DEPTH:
            return approval
        if not sender.is_canonical(w3, log.block_number, log.block_hash):
            return approval
        logs.append(log)
    proposal = approval.proposal
    assets = {
        int(asset.onchain_plan_id): asset  # type: ignore[arg-type]
        for asset in PlanAsset.objects.filter(plan_id=proposal.document.plan_id, onchain_plan_id__isnull=False)
    }
    with transaction.atomic():
        locked = SnapshotApproval.objects.select_for_update().get(pk=approval.pk)
        if locked.status == SnapshotApprovalStatus.CONFIRMED:
            return locked
        for log in logs:
            PlanApproval.objects.get_or_create(
                chain_id=proposal.venue.chain_id,
                recovery_executor=to_checksum_address(log.recovery_executor),
                onchain_plan_id=log.plan_id,
                defaults={
                    "plan_asset": assets[log.plan_id],
                    "publication": None,
                    "snapshot_proposal": proposal,
                    "batches_root": log.batches_root,
                    "token": log.token,
                    "mode": log.mode,
                    "batch_count": log.batch_count,
                    "budget": log.budget,
                    "incident_key": log.incident_key,
                    "version": log.version,
                    "delivery": log.delivery,
                    "claim_deadline": log.claim_deadline,
                    "block_number": log.block_number,
                    "block_hash": log.block_hash,
                    "tx_hash": log.tx_hash,
                    "log_index": log.log_index,
                },
            )
        locked.status = SnapshotApprovalStatus.CONFIRMED
        locked.confirmed_at = timezone.now()
        locked.error = ""
        locked.save(update_fields=["status", "confirmed_at", "error", "updated_at"])
    logger.info("snapshot proposal %s: every plan approved on chain (approval %s)", proposal.pk, locked.pk)
    return locked


def _approval_log(
    w3: Web3, executor: Contract, approval: SnapshotApproval, plan_id: int, head: int
) -> ApprovalLog | None:
    """The ``PlanApproved`` of ``plan_id``: in the stored transaction's block, else searched back from the head."""
    stored = [tx for tx in approval.transactions if int(tx["onchain_plan_id"]) == plan_id and tx.get("block_number")]
    ranges = [(int(stored[0]["block_number"]), int(stored[0]["block_number"]))] if stored else []
    end = head
    while end >= 0:
        ranges.append((max(0, end - _LOG_PAGE + 1), end))
        end -= _LOG_PAGE
    for start, stop in ranges:
        with node_errors(w3):
            raw = w3.eth.get_logs(
                {
                    "address": executor.address,
                    "topics": [PLAN_APPROVED_TOPIC, "0x" + uint_word(plan_id)],
                    "fromBlock": start,
                    "toBlock": stop,
                }
            )
        found = decode_approvals([_raw_log(log) for log in raw], recovery_executor=executor.address)
        if found:
            return found[-1]
    return None


def _raw_log(log: Any) -> dict[str, Any]:
    return {
        "address": log["address"],
        "topics": ["0x" + bytes(topic).hex() for topic in log["topics"]],
        "data": "0x" + bytes(log["data"]).hex(),
        "blockNumber": hex(log["blockNumber"]),
        "blockHash": "0x" + bytes(log["blockHash"]).hex(),
        "transactionHash": "0x" + bytes(log["transactionHash"]).hex(),
        "logIndex": hex(log["logIndex"]),
    }
