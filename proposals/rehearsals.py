"""Rehearsing proposal documents: request, run on a fork, store the report, show it in the body.

The chain work is ``chain/rehearsal.py``; this module loads what it runs from the database
(the frozen document, the plan's stored batches and allocations, the venue), stores the
``Rehearsal`` and renders the document's body again with the result. A new rehearsal may run
at any time; the latest one with a verdict (passed or failed) counts. One that could not run
(``error``: the node or the fork failed) says nothing about the plan and changes nothing.
"""

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from chain.errors import ChainError, WrongChain
from chain.logs import RawRpc
from chain.redaction import redact, redact_url
from chain.rehearsal import (
    BatchToRun,
    ClaimToRun,
    PositionBatchToRun,
    RehearsalScript,
    fork_point,
    forked,
    rehearse_on_fork,
    summary_line,
)
from config.preflight import ConfigurationError, load_role_account
from governance.selectors import get_governor_venue
from proposals import document, selectors
from proposals.calls import approve_count, document_content, proposal_calls, require_same_executor
from proposals.exceptions import RehearsalNotFound
from proposals.models import ProposalDocument, Rehearsal, RehearsalStatus
from proposals.services import document_path
from recovery.exceptions import ChainMismatch, ChainUnavailable, InvalidInput
from recovery.models import Allocation, PlanAsset, PlanMode
from recovery.positions_plan import stored_position_batches
from recovery.selectors import allocation_proof, commitment_for, stored_batches

VERDICTS = (RehearsalStatus.PASSED, RehearsalStatus.FAILED)
# A pull plan's claims run on the fork one by one; past this many, an evenly spread sample runs
# (the report's ``claims_run`` says how many of how many).
FINISHED = (*VERDICTS, RehearsalStatus.ERROR)


def rehearsal_path(rehearsal_id: int) -> str:
    return f"/api/rehearsals/{rehearsal_id}/"


def request_rehearsal(
    *, proposal_id: int, venue_id: int, rpc_url: str, requested_by: AbstractBaseUser | None = None
) -> Rehearsal:
    """Check the proposal, the venue and the node, and store a pending rehearsal (run by ``run_rehearsal``).

    ``ProposalNotFound`` / ``VenueNotFound`` (404); ``ChainMismatch`` (409) when the venue is on
    another chain than the document's incident, or the node at ``rpc_url`` serves another chain
    than the venue's; ``ExecutorMismatch`` (409) when the venue approves on another
    RecoveryExecutor than the plan's batch leaves are bound to; ``ChainUnavailable`` (503) when
    the node does not answer. Nothing is stored then.
    """
    proposal = selectors.get_proposal(proposal_id=proposal_id)
    venue = get_governor_venue(venue_id)
    if venue.chain_id != proposal.incident.chain_id:
        raise ChainMismatch(
            f"venue {venue.pk} is on chain {venue.chain_id}, but proposal document {proposal.pk} is about "
            f"chain {proposal.incident.chain_id}: rehearse it against a venue on chain {proposal.incident.chain_id}",
            expected=proposal.incident.chain_id,
            actual=venue.chain_id,
        )
    require_same_executor(document_content(proposal.canonical_bytes), recovery_executor=venue.recovery_executor)
    _require_node_chain(rpc_url=rpc_url, chain_id=venue.chain_id)
    return Rehearsal.objects.create(
        proposal=proposal,
        venue=venue,
        content_hash=proposal.content_hash,
        status=RehearsalStatus.PENDING,
        requested_by=requested_by,
    )


def run_rehearsal(*, rehearsal_id: int, rpc_url: str, progress: Callable[[str], None] | None = None) -> Rehearsal:
    """Run a requested rehearsal on a fork of the node at ``rpc_url`` and store its report.

    Idempotent: a finished rehearsal (passed, failed, error) is answered as it is. A running one
    is run again (its worker died: a redelivered message). A failure of the node or the fork
    ends it as ``error`` with a redacted message; the fork is stopped whatever happens.
    """
    with transaction.atomic():
        try:
            rehearsal = Rehearsal.objects.select_for_update().get(pk=rehearsal_id)
        except Rehearsal.DoesNotExist:
            raise RehearsalNotFound(f"there is no rehearsal {rehearsal_id}", rehearsal=rehearsal_id) from None
        if rehearsal.status in FINISHED:
            return rehearsal
        rehearsal.status, rehearsal.started_at = RehearsalStatus.RUNNING, timezone.now()
        rehearsal.save(update_fields=["status", "started_at"])
    rehearsal = Rehearsal.objects.select_related("proposal", "venue").get(pk=rehearsal_id)
    started = time.perf_counter()
    try:
        script = _script(rehearsal)
        with RawRpc(rpc_url, timeout=settings.CHAIN_RPC_TIMEOUT) as node:
            point = fork_point(node, confirmation_depth=settings.CONFIRMATION_DEPTH)
        if point.chain_id != rehearsal.venue.chain_id:
            raise WrongChain(expected=rehearsal.venue.chain_id, actual=point.chain_id, url=rpc_url)
        with forked(rpc_url, point, progress=progress) as fork:
            report = rehearse_on_fork(fork, script, point=point, progress=progress)
    except (ChainError, ConfigurationError) as error:
        message = redact(f"the rehearsal could not run: {error}", secrets=[rpc_url, *settings.LIFEBOAT_SECRETS])
        return _finish_with_error(rehearsal_id=rehearsal_id, message=message, seconds=time.perf_counter() - started)
    except BaseException as error:
        # A bug (or a worker stopping): not left "running" for ever. Only the type is stored, since
        # the message may quote a secret; the exception goes on to the log, redacted there.
        message = f"the rehearsal stopped on an internal error ({type(error).__name__}); request another"
        _finish_with_error(rehearsal_id=rehearsal_id, message=message, seconds=time.perf_counter() - started)
        raise
    seconds = time.perf_counter() - started
    report = {
        **report,
        "content_hash": rehearsal.content_hash,
        "venue": rehearsal.venue_id,
        "wall_ms": int(seconds * 1000),
    }
    return _finish_with_report(rehearsal_id=rehearsal_id, point_block=point.block, report=report, seconds=seconds)


def rehearse_proposal(
    *,
    proposal_id: int,
    venue_id: int,
    rpc_url: str,
    requested_by: AbstractBaseUser | None = None,
    progress: Callable[[str], None] | None = None,
) -> Rehearsal:
    """Request and run a rehearsal here (no worker); the stored ``Rehearsal``. Errors as ``request_rehearsal``."""
    rehearsal = request_rehearsal(
        proposal_id=proposal_id, venue_id=venue_id, rpc_url=rpc_url, requested_by=requested_by
    )
    return run_rehearsal(rehearsal_id=rehearsal.pk, rpc_url=rpc_url, progress=progress)


# --- reads ---


def get_rehearsal(*, rehearsal_id: int) -> Rehearsal:
    try:
        return Rehearsal.objects.get(pk=rehearsal_id)
    except Rehearsal.DoesNotExist:
        raise RehearsalNotFound(f"there is no rehearsal {rehearsal_id}", rehearsal=rehearsal_id) from None


def list_rehearsals(*, proposal_id: int) -> QuerySet[Rehearsal]:
    """The rehearsals of a document, newest first; ``ProposalNotFound`` for an unknown document."""
    selectors.get_proposal(proposal_id=proposal_id)
    return Rehearsal.objects.filter(proposal_id=proposal_id).order_by("-created_at", "-pk")


def latest_verdict(*, proposal_id: int, venue_id: int | None = None) -> Rehearsal | None:
    """The document's latest rehearsal that passed or failed (one that could not run says nothing).

    With ``venue_id``, the latest on that venue: a rehearsal on another venue (another governor
    and executor, whose calls and roles differ) says nothing about this one.
    """
    rows = Rehearsal.objects.filter(proposal_id=proposal_id, status__in=VERDICTS)
    if venue_id is not None:
        rows = rows.filter(venue_id=venue_id)
    return rows.order_by("-finished_at", "-pk").first()


def passed_rehearsal(*, proposal_id: int, venue_id: int | None = None) -> Rehearsal | None:
    """The latest rehearsal with a verdict (on ``venue_id`` if given) if it passed; None if it failed or none ran."""
    latest = latest_verdict(proposal_id=proposal_id, venue_id=venue_id)
    return latest if latest is not None and latest.passed else None


# --- internals ---


def _require_node_chain(*, rpc_url: str, chain_id: int) -> None:
    try:
        with RawRpc(rpc_url, timeout=settings.CHAIN_RPC_TIMEOUT, retries=1) as node:
            actual = int(node.call("eth_chainId", []), 16)
    except ChainError as error:
        raise ChainUnavailable(
            redact(f"the node at {rpc_url} failed: {error}", secrets=[rpc_url, *settings.LIFEBOAT_SECRETS])
        ) from None
    if actual != chain_id:
        raise ChainMismatch(
            f"the venue is on chain {chain_id}, but the node at {redact_url(rpc_url)} serves chain {actual}",
            expected=chain_id,
            actual=actual,
        )


def _script(rehearsal: Rehearsal) -> RehearsalScript:
    """What the rehearsal runs: the document's calls, then the plan's stored batches with their
    proofs (push) or its holders' claims (pull: every one, or an evenly spread sample past
    ``settings.REHEARSAL_MAX_CLAIMS``), and what each recipient run must receive (summed per payout token).
    A restore-positions plan's batches carry their committed rows instead: nobody's balance is paid,
    each row is re-created on the venue and read back there."""
    proposal, venue = rehearsal.proposal, rehearsal.venue
    content = document_content(proposal.canonical_bytes)
    calls = proposal_calls(content, recovery_executor=venue.recovery_executor)
    delivery = content["plan"]["delivery"]
    rows = {
        row.asset: row
        for row in PlanAsset.objects.filter(plan_id=proposal.plan_id)
        .select_related("plan__incident")
        .defer("allocation_dump", "allocation_nodes")
    }
    batches: list[BatchToRun] = []
    claims: list[ClaimToRun] = []
    position_batches: list[PositionBatchToRun] = []
    claims_total = 0
    payouts: dict[str, dict[str, int]] = defaultdict(dict)
    problems: list[str] = []
    for entry in content["assets"]:
        row = rows.get(entry["asset"])
        if not approve_count(entry, delivery=delivery) or row is None:
            continue
        plan_id = int(entry["onchain_plan_id"])
        expected = payouts[entry["payout_token"].lower()]
        if delivery == "pull":
            if row.allocation_root != entry["allocation_root"]:
                problems.append(
                    f"{entry['asset']}: the stored allocation root {row.allocation_root} is not the document's "
                    f"{entry['allocation_root']}"
                )
                continue
            leaves = Allocation.objects.filter(plan_asset=row, amount__gt=0).order_by("leaf_index")
            claims_total += leaves.count()
            for leaf_index, account, amount, tree_index in _claim_sample(leaves):
                claims.append(
                    ClaimToRun(
                        asset=entry["asset"],
                        payout_token=entry["payout_token"],
                        onchain_plan_id=plan_id,
                        index=leaf_index,
                        account=account,
                        amount=int(amount),
                        proof=tuple(allocation_proof(row.pk, tree_index)),
                    )
                )
                expected[account.lower()] = expected.get(account.lower(), 0) + int(amount)
            continue
        if content["plan"]["mode"] == PlanMode.RESTORE_POSITIONS:
            position_batches += _position_batches(entry, row, plan_id=plan_id, problems=problems)
            continue
        stored = stored_batches(row)
        try:
            tree = commitment_for(row)
        except InvalidInput as error:
            problems.append(f"{entry['asset']}: {error.message}")
            continue
        if tree.root != entry["commitment_root"] or len(stored) != entry["batch_count"]:
            problems.append(
                f"{entry['asset']}: the {len(stored)} stored batches make commitment root {tree.root}, not the "
                f"document's {entry['commitment_root']} over {entry['batch_count']} batches"
            )
            continue
        batches += [
            BatchToRun(
                asset=entry["asset"],
                payout_token=entry["payout_token"],
                onchain_plan_id=plan_id,
                index=batch.index,
                recipients=batch.recipients,
                amounts=batch.amounts,
                proof=tuple(tree.get_proof(position)),
            )
            for position, batch in enumerate(stored)
        ]
        for account, amount in Allocation.objects.filter(plan_asset=row).values_list("account", "amount"):
            if int(amount):
                expected[account.lower()] = expected.get(account.lower(), 0) + int(amount)
    return RehearsalScript(
        calls=calls,
        governance_executor=venue.executor,
        recovery_executor=venue.recovery_executor,
        batch_executor=load_role_account("executor").address,
        batches=batches,
        payouts=dict(payouts),
        problems=problems,
        claims=claims,
        claims_total=claims_total,
        position_batches=position_batches,
        restores_positions=content["plan"]["mode"] == PlanMode.RESTORE_POSITIONS,
    )


def _position_batches(
    entry: dict[str, Any], row: PlanAsset, *, plan_id: int, problems: list[str]
) -> list[PositionBatchToRun]:
    """A restore-positions asset's stored batches with their rows and proofs, once they are checked to make
    the document's commitment on the document's venue (a problem is recorded otherwise, and nothing runs)."""
    venue = entry.get("venue") or ""
    if not row.venue or venue.lower() != row.venue.lower():
        problems.append(
            f"{entry['asset']}: the stored plan restores on the venue {row.venue or 'none'}, not the document's "
            f"{venue or 'none'}"
        )
        return []
    try:
        tree = commitment_for(row)
    except InvalidInput as error:
        problems.append(f"{entry['asset']}: {error.message}")
        return []
    stored = stored_position_batches(row)
    if tree.root != entry["commitment_root"] or len(stored) != entry["batch_count"]:
        problems.append(
            f"{entry['asset']}: the {len(stored)} stored position batches make commitment root {tree.root}, not the "
            f"document's {entry['commitment_root']} over {entry['batch_count']} batches"
        )
        return []
    return [
        PositionBatchToRun(
            asset=entry["asset"],
            payout_token=entry["payout_token"],
            onchain_plan_id=plan_id,
            index=batch.index,
            venue=row.venue,
            rows=batch.rows,
            proof=tuple(tree.get_proof(position)),
        )
        for position, batch in enumerate(stored)
    ]


def _claim_sample(leaves: QuerySet[Allocation]) -> list[tuple[int, str, int, int]]:
    """(leaf index, account, amount, tree index) of every leaf, or of ``settings.REHEARSAL_MAX_CLAIMS`` spread evenly
    (the first and the last included), so a large plan's rehearsal still touches its whole tree."""
    total, most = leaves.count(), settings.REHEARSAL_MAX_CLAIMS
    rows = leaves.values_list("leaf_index", "account", "amount", "tree_index")
    if total <= most:
        return list(rows)
    wanted = {position * (total - 1) // (most - 1) for position in range(most)}
    return [row for position, row in enumerate(rows.iterator(chunk_size=10_000)) if position in wanted]


def _finish_with_error(*, rehearsal_id: int, message: str, seconds: float) -> Rehearsal:
    with transaction.atomic():
        rehearsal = Rehearsal.objects.select_for_update().get(pk=rehearsal_id)
        rehearsal.status, rehearsal.error, rehearsal.seconds = RehearsalStatus.ERROR, message, seconds
        rehearsal.summary = message
        rehearsal.finished_at = timezone.now()
        rehearsal.save(update_fields=["status", "error", "summary", "seconds", "finished_at"])
    return rehearsal


def _finish_with_report(*, rehearsal_id: int, point_block: int, report: dict, seconds: float) -> Rehearsal:
    report_hash = document.content_hash(document.canonical_json(report))
    with transaction.atomic():
        rehearsal = Rehearsal.objects.select_for_update().get(pk=rehearsal_id)
        rehearsal.status = RehearsalStatus.PASSED if report["passed"] else RehearsalStatus.FAILED
        rehearsal.report, rehearsal.report_hash = report, report_hash
        rehearsal.summary = summary_line(report)
        rehearsal.chain_id = int(report["chain_id"])
        rehearsal.fork_block, rehearsal.fork_block_hash = point_block, report["fork"]["hash"]
        rehearsal.total_gas, rehearsal.seconds = report["total_gas"], seconds
        rehearsal.finished_at = timezone.now()
        rehearsal.save()
        _render_body(proposal_id=rehearsal.proposal_id)
    return rehearsal


def _render_body(*, proposal_id: int) -> None:
    """Render the document's body again with its latest verdict (the body is not hashed)."""
    proposal = ProposalDocument.objects.select_for_update().get(pk=proposal_id)
    latest = latest_verdict(proposal_id=proposal_id)
    status = (
        None
        if latest is None
        else document.RehearsalStatus(
            passed=latest.passed,
            report_hash=latest.report_hash,
            summary=f"{latest.summary} Report: {rehearsal_path(latest.pk)}",
        )
    )
    proposal.body = document.render_markdown(
        document_content(proposal.canonical_bytes),
        content_hash=proposal.content_hash,
        document_url=document_path(proposal.pk),
        rehearsal=status,
    )
    proposal.save(update_fields=["body"])
