"""Celery entry points of the Snapshot venue: follow every open Snapshot proposal and act on the passed ones
(run by beat every ``SNAPSHOT_FOLLOW_INTERVAL_SECONDS``), and approve one proposal on demand."""

import logging

from celery import shared_task
from django.conf import settings

from chain.redaction import redact
from config.errors import LifeboatError
from governance.models.snapshot import (
    SnapshotApproval,
    SnapshotApprovalStatus,
    SnapshotOutcome,
    SnapshotProposal,
    SnapshotProposalStatus,
)
from governance.snapshot_approval import approve_passed_proposal

__all__ = ["approve_snapshot_proposal", "follow_snapshot_proposals"]

logger = logging.getLogger(__name__)


def follow_and_approve(*, rpc_url: str, auto_approve: bool) -> dict[str, str]:
    """Follow every created proposal without a final outcome; approve each passed one not yet approved.

    A failed approval is left for a person (``snapshot approve`` or the API) to retry: its error
    says why it failed. Answers ``{proposal id: what happened}``; one proposal's error is its
    entry (logged without URLs or keys) and never stops the others.
    """
    outcomes: dict[str, str] = {}
    created = SnapshotProposal.objects.filter(status=SnapshotProposalStatus.CREATED).order_by("pk")
    for proposal_id in created.filter(outcome="").values_list("pk", flat=True):
        outcomes[str(proposal_id)] = _run(proposal_id, rpc_url, "follow", lambda pk=proposal_id: _followed(pk, rpc_url))
    if not auto_approve:
        return outcomes
    settled = SnapshotApproval.objects.filter(
        status__in=[SnapshotApprovalStatus.CONFIRMED, SnapshotApprovalStatus.FAILED]
    ).values_list("proposal_id", flat=True)
    passed = created.filter(outcome=SnapshotOutcome.PASSED).exclude(pk__in=settled)
    for proposal_id in passed.values_list("pk", flat=True):
        said = _run(
            proposal_id,
            rpc_url,
            "approve",
            lambda pk=proposal_id: (
                "approval " + approve_passed_proposal(snapshot_proposal_id=pk, rpc_url=rpc_url).status
            ),
        )
        key = str(proposal_id)
        outcomes[key] = f"{outcomes[key]}; {said}" if key in outcomes else said
    return outcomes


def _followed(proposal_id: int, rpc_url: str) -> str:
    from governance.snapshot_following import follow_snapshot_proposal

    proposal = follow_snapshot_proposal(snapshot_proposal_id=proposal_id, rpc_url=rpc_url)
    return f"followed: {proposal.state or 'unknown state'}" + (f", {proposal.outcome}" if proposal.outcome else "")


def _run(proposal_id: int, rpc_url: str, step: str, work) -> str:
    try:
        return work()
    except LifeboatError as error:
        text = redact(f"{step}: {error.code}: {error.message}", secrets=[rpc_url])
    except Exception as error:  # one proposal's bug must not stop the others; the worker log has it
        text = redact(f"{step}: {type(error).__name__}: {error}", secrets=[rpc_url])
    logger.warning("snapshot proposal %s: %s", proposal_id, text)
    return text


# acks_late: a worker lost mid-run leaves the message to another. A rerun is safe: following
# stores the hub's answers idempotently, and an approval signs each approvePlan once, stores it
# before broadcasting, and re-sends the same bytes (or nothing, once the plan is approved on chain).
# No retries: beat sends the next run anyway.
@shared_task(name="governance.tasks_snapshot.follow_snapshot_proposals", acks_late=True, reject_on_worker_lost=True)
def follow_snapshot_proposals() -> dict[str, str]:
    return follow_and_approve(rpc_url=settings.CHAIN_RPC_URL, auto_approve=settings.SNAPSHOT_AUTO_APPROVE)


@shared_task(name="governance.tasks_snapshot.approve_snapshot_proposal", acks_late=True, reject_on_worker_lost=True)
def approve_snapshot_proposal(snapshot_proposal_id: int) -> str:
    """Approve one passed proposal (idempotent); its approval's status, or the error's code and message."""
    return _run(
        snapshot_proposal_id,
        settings.CHAIN_RPC_URL,
        "approve",
        lambda: (
            approve_passed_proposal(snapshot_proposal_id=snapshot_proposal_id, rpc_url=settings.CHAIN_RPC_URL).status
        ),
    )
