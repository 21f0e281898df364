"""Queueing and executing a passed proposal through its governor, and checking what the execution approved.

The governor is the ledger: each service reads ``state(id)`` on chain first and acts only
when the proposal is eligible, so calling it again (by hand, by the periodic task, after a
crash) sends nothing once the chain shows the step done. Queue when ``Succeeded`` and
``proposalNeedsQueuing`` (a timelock); execute when ``Queued`` and the timelock's ETA has
passed (compared with the head block's timestamp, as the timelock compares it), or when
``Succeeded`` on a governor that executes without queuing. Both are sent from the executor's
key. The ``PlanApproved`` rows themselves are the indexer's to record (past the confirmation
depth); here the execute receipt is checked to hold one for every ``approvePlan`` call.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from chain import proposing as onchain
from chain.errors import Reverted, RpcUnavailable
from chain.transact import receipt_of
from chain.votes import ApprovalLog
from config.errors import LifeboatError
from governance.exceptions import PlanApprovalMissing, ProposalClosed, ProposalNotReady
from governance.models import Publication, PublicationStatus
from governance.publishing import governor_calls
from governance.selectors import get_publication, publications_to_advance
from governance.venues import connect_venue, role_account
from recovery.exceptions import ChainUnavailable

QUEUE, EXECUTE = "queue", "execute"


@dataclass(frozen=True, slots=True)
class OutcomeStep:
    """What a queue or execute call did: ``sent`` False when the chain showed the step done already."""

    publication: Publication
    action: str
    sent: bool
    tx_hash: str
    state: str  # the proposal's state on chain after the step
    approvals: list[ApprovalLog] = field(default_factory=list)


def queue_publication(
    *, publication_id: int, rpc_url: str, requested_by: AbstractBaseUser | None = None
) -> OutcomeStep:
    """Queue the publication's proposal on its governor's timelock; idempotent.

    ``ProposalNotReady`` (409) while the vote runs or when the governor needs no queuing,
    ``ProposalClosed`` (409) when it was defeated, canceled or expired. When this call sends the
    transaction, ``requested_by`` (None for a command or the periodic task) and the time are
    stored as ``queued_by``/``queued_at``.
    """
    return _step(publication_id=publication_id, rpc_url=rpc_url, action=QUEUE, requested_by=requested_by)


def execute_publication(
    *, publication_id: int, rpc_url: str, requested_by: AbstractBaseUser | None = None
) -> OutcomeStep:
    """Execute the publication's proposal, then check its receipt approved every plan asset; idempotent.

    ``ProposalNotReady`` (409) before the ETA, before queuing, or while the vote runs;
    ``ProposalClosed`` (409) when it can never run; ``PlanApprovalMissing`` (409) when the
    receipt lacks a ``PlanApproved`` the proposal's calls should have emitted. When this call
    sends the transaction, ``requested_by`` and the time are stored as ``executed_by``/``executed_at``.
    """
    return _step(publication_id=publication_id, rpc_url=rpc_url, action=EXECUTE, requested_by=requested_by)


def advance_publication(*, publication_id: int, rpc_url: str) -> str:
    """Queue or execute the proposal if it is eligible now; what happened, in a word or a reason."""
    publication = get_publication(publication_id=publication_id)
    w3 = connect_venue(publication.venue, rpc_url)
    governor = onchain.governor_contract(w3, publication.venue.governor)
    status = _status(w3, governor, publication)
    if status.state == "succeeded" and status.needs_queuing:
        action = QUEUE
    elif status.state == "succeeded" or (status.state == "queued" and status.eta <= status.block_timestamp):
        action = EXECUTE
    else:
        return f"waiting: {status.state}"
    step = _step(publication_id=publication_id, rpc_url=rpc_url, action=action)
    return f"{action}d" if step.sent else f"{action}: already done"


def advance_publications(*, rpc_url: str) -> dict[str, str]:
    """``advance_publication`` for every publication on chain not yet executed; ``{publication id: outcome}``.

    One publication's refusal (closed, not ready, its node failing) is its outcome and does
    not stop the others.
    """
    outcomes: dict[str, str] = {}
    for publication_id in publications_to_advance():
        try:
            outcomes[str(publication_id)] = advance_publication(publication_id=publication_id, rpc_url=rpc_url)
        except LifeboatError as error:
            outcomes[str(publication_id)] = f"{error.code}: {error.message}"
    return outcomes


def _status(w3: Web3, governor: Contract, publication: Publication) -> onchain.ProposalStatus:
    try:
        return onchain.read_status(w3, governor, int(publication.proposal_id))
    except RpcUnavailable as error:
        raise ChainUnavailable(str(error)) from None


def _step(
    *, publication_id: int, rpc_url: str, action: str, requested_by: AbstractBaseUser | None = None
) -> OutcomeStep:
    publication = get_publication(publication_id=publication_id)
    if publication.status != PublicationStatus.CREATED:
        raise ProposalNotReady(
            f"publication {publication.pk} is {publication.status}, not on chain: publish it again to finish it",
            publication=publication.pk,
            status=publication.status,
        )
    venue = publication.venue
    w3 = connect_venue(venue, rpc_url)
    governor = onchain.governor_contract(w3, venue.governor)
    proposal_id = int(publication.proposal_id)
    try:
        with transaction.atomic():
            # One sender per publication at a time; the chain refuses a second queue or execute anyway.
            publication = Publication.objects.select_for_update().select_related("venue").get(pk=publication.pk)
            status = onchain.read_status(w3, governor, proposal_id)
            done = _already_done(status, action)
            if done:
                tx_hash = _recorded_tx(w3, governor, publication, action)
                return OutcomeStep(
                    publication, action, False, tx_hash, status.state, _approvals(w3, publication, action, tx_hash)
                )
            _require_eligible(publication, status, action)
            calls = governor_calls(publication.actions)
            try:
                receipt = onchain.send_outcome(
                    w3, role_account("executor"), governor, action, calls, publication.description
                )
            except Reverted as error:
                # Someone else queued or executed it between our read and our send: read again.
                status = onchain.read_status(w3, governor, proposal_id)
                if _already_done(status, action):
                    tx_hash = _recorded_tx(w3, governor, publication, action)
                    approvals = _approvals(w3, publication, action, tx_hash)
                    return OutcomeStep(publication, action, False, tx_hash, status.state, approvals)
                raise ProposalNotReady(
                    f"the governor refused {action} of proposal {proposal_id}: {error}", publication=publication.pk
                ) from None
            tx_hash = receipt["transactionHash"].to_0x_hex()
            _store_tx(w3, governor, publication, action, tx_hash, sent=True, requested_by=requested_by)
            approvals = _check_approvals(w3, publication, receipt) if action == EXECUTE else []
            state = onchain.read_status(w3, governor, proposal_id).state
            return OutcomeStep(publication, action, True, tx_hash, state, approvals)
    except RpcUnavailable as error:
        raise ChainUnavailable(
            f"{error}; {action} again: the governor's state decides whether anything is sent"
        ) from None


def _already_done(status: onchain.ProposalStatus, action: str) -> bool:
    if action == QUEUE:
        return status.state in ("queued", "executed")
    return status.state == "executed"


def _require_eligible(publication: Publication, status: onchain.ProposalStatus, action: str) -> None:
    venue, proposal_id = publication.venue, publication.proposal_id
    unit = "timestamp" if venue.clock_mode.startswith("mode=timestamp") else "block"
    if status.state in ("defeated", "canceled", "expired"):
        raise ProposalClosed(
            f"proposal {proposal_id} is {status.state}: it can never be queued or executed",
            publication=publication.pk,
            state=status.state,
        )
    if status.state in ("pending", "active"):
        waiting = "has not started" if status.state == "pending" else "is running"
        raise ProposalNotReady(
            f"the vote on proposal {proposal_id} {waiting}: the vote ends at {unit} {status.deadline} "
            f"(now {unit} {status.clock})",
            publication=publication.pk,
            state=status.state,
            vote_end=status.deadline,
        )
    if action == QUEUE and status.state == "succeeded" and not status.needs_queuing:
        raise ProposalNotReady(
            f"proposal {proposal_id} needs no queuing (the governor has no timelock): execute it",
            publication=publication.pk,
            state=status.state,
        )
    if action == EXECUTE and status.state == "succeeded" and status.needs_queuing:
        raise ProposalNotReady(
            f"proposal {proposal_id} passed but must be queued on the timelock first: queue it",
            publication=publication.pk,
            state=status.state,
        )
    if action == EXECUTE and status.state == "queued" and status.eta > status.block_timestamp:
        eta = datetime.fromtimestamp(status.eta, tz=UTC).isoformat()
        wait = status.eta - status.block_timestamp
        raise ProposalNotReady(
            f"the timelock's ETA is {eta}, in {wait} seconds (the head block's time is {status.block_timestamp})",
            publication=publication.pk,
            state=status.state,
            eta=status.eta,
            seconds=wait,
        )


def _store_tx(
    w3: Web3,
    governor: Contract,
    publication: Publication,
    action: str,
    tx_hash: str,
    *,
    sent: bool = False,
    requested_by: AbstractBaseUser | None = None,
) -> None:
    """Record the step's transaction, and who had it sent and when if this process ``sent`` it."""
    if action == QUEUE:
        publication.queue_tx_hash = tx_hash
        publication.eta = onchain.read_status(w3, governor, int(publication.proposal_id)).eta or None
        fields = ["queue_tx_hash", "eta", "updated_at"]
        if sent:
            publication.queued_by, publication.queued_at = requested_by, timezone.now()
            fields += ["queued_by", "queued_at"]
    else:
        publication.execute_tx_hash = tx_hash
        fields = ["execute_tx_hash", "updated_at"]
        if sent:
            publication.executed_by, publication.executed_at = requested_by, timezone.now()
            fields += ["executed_by", "executed_at"]
    publication.save(update_fields=fields)


def _recorded_tx(w3: Web3, governor: Contract, publication: Publication, action: str) -> str:
    """The step's transaction: stored, or found in the governor's logs (done by someone else, or a lost reply)."""
    stored = publication.queue_tx_hash if action == QUEUE else publication.execute_tx_hash
    if stored:
        return stored
    event = "ProposalQueued" if action == QUEUE else "ProposalExecuted"
    found = onchain.find_outcome_tx(
        w3, governor, event=event, proposal_id=int(publication.proposal_id), from_block=publication.created_block or 0
    )
    if found:
        _store_tx(w3, governor, publication, action, found)
    return found or ""


def _approvals(w3: Web3, publication: Publication, action: str, tx_hash: str) -> list[ApprovalLog]:
    if action != EXECUTE or not tx_hash:
        return []
    receipt = receipt_of(w3, tx_hash)
    return [] if receipt is None else _check_approvals(w3, publication, receipt)


def _check_approvals(w3: Web3, publication: Publication, receipt: TxReceipt) -> list[ApprovalLog]:
    """The receipt's ``PlanApproved`` logs; ``PlanApprovalMissing`` unless each ``approvePlan`` call has its own."""
    approved = onchain.plans_approved(publication.venue.recovery_executor, receipt)
    seen = {(a.plan_id, a.batches_root.lower()) for a in approved}
    # approvePlan(planId, incidentKey, version, root, ...): the root is the fourth argument.
    expected = [
        (int(action["args"][0]), str(action["args"][3]).lower())
        for action in publication.actions
        if action.get("plan_asset")
    ]
    missing = [plan_id for plan_id, root in expected if (plan_id, root) not in seen]
    if missing:
        raise PlanApprovalMissing(
            f"the execute transaction {receipt['transactionHash'].to_0x_hex()} emitted no PlanApproved for plan(s) "
            f"{', '.join(map(str, missing))} on {publication.venue.recovery_executor}",
            publication=publication.pk,
            missing=[str(m) for m in missing],
        )
    return approved
