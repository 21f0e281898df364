"""Executing approved plans: runs found from ``PlanApproved``, started by an executor, one send per batch.

The order of a batch send is the exactly-once argument (``send_batch``):

1. take the sender key's lease (a row in the database, so workers on several machines share it);
2. ask the contract's bitmap (``isBatchExecuted``): a batch that ran already is marked confirmed
   from its ``BatchExecuted`` log and nothing is sent;
3. take the nonce from the sender row, reconciled with the chain's pending count;
4. sign, store the raw bytes and the hash (state *signed*) and COMMIT: the durable intent;
5. broadcast (state *sent*), give the lease back, wait (bounded) for the receipt;
6. record *confirmed* (block, block hash, gas) or *failed* (the revert replayed at its block).

A crash after 4 leaves a *signed* batch, rebroadcast as the same bytes by reconciliation
(``recovery/execution_reconcile.py``); a crash after 5 leaves a *sent* one, whose hashes are
looked up. Neither path signs a second transaction for a batch while one of its earlier ones
can still be mined, and the contract refuses a batch twice whatever happens.
"""

import logging
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import requests
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from rest_framework import status as http
from web3 import Web3
from web3.exceptions import TimeExhausted, Web3RPCError
from web3.types import TxReceipt

from chain import sender as chain_sender
from chain.artifacts import bind
from chain.errors import Reverted, RpcUnavailable
from chain.logs import scan_raw_logs
from chain.margin import ACCOUNT_UPDATED, REASONS, encode_restore
from chain.redaction import redact
from chain.rpc import connect, rpc_unavailable
from chain.transact import reverts_as_chain_errors
from chain.votes import PLAN_APPROVED_TOPIC, ApprovalLog, decode_approvals, uint_word
from config.errors import LifeboatError
from recovery.commitment import Batch, CommitmentDomain, build_commitment
from recovery.exceptions import ChainUnavailable, InvalidInput, PlanAssetNotFound, PlanNotFound
from recovery.execution_errors import (
    CommitmentMismatch,
    ExecutorContractPaused,
    ExecutorKeyLacksRole,
    LaterVersionExists,
    NothingToPush,
    PlanNotApprovedOnChain,
    PlanSupersededOnChain,
    RunStateConflict,
    SenderBusy,
)
from recovery.execution_selectors import get_run
from recovery.failpoints import failpoint
from recovery.merkle import StandardMerkleTree
from recovery.models import (
    BatchSend,
    BatchSendState,
    DeployedContract,
    ExecutionEvent,
    ExecutionRun,
    ExecutionRunStatus,
    MigrationBatch,
    PlanAsset,
    PlanMode,
    RecoveryPlan,
    SenderKey,
    SentTransaction,
)
from recovery.positions_plan import build_positions_commitment, row_from_json, stored_position_batches
from recovery.selectors import stored_batches

log = logging.getLogger(__name__)

BATCH_EXECUTED_TOPIC = "0x" + Web3.keccak(text="BatchExecuted(uint256,uint256,uint256,uint256)").hex()
CREDITED_TOPIC = "0x" + Web3.keccak(text="Credited(uint256,address,address,uint256)").hex()
RESTORED = REASONS.index("restored")  # AccountUpdated's reason for an account restorePositions re-created
PULL = 2
ACTIVE_STATES = (BatchSendState.SIGNED, BatchSendState.SENT)
T = TypeVar("T")
P = ParamSpec("P")
# What a node that fails a request raises through web3.py: its transport's errors, a timeout, a
# JSON-RPC error answer (a revert is web3's ContractLogicError, none of these); and ``chain/``'s
# own ``RpcUnavailable`` for them.
NODE_FAILURES = (RpcUnavailable, requests.RequestException, TimeExhausted, Web3RPCError)


# --- Chain access and keys -------------------------------------------------------------------


def chain_client() -> Web3:
    return connect(settings.CHAIN_RPC_URL, timeout=settings.CHAIN_RPC_TIMEOUT)


def executor_accounts() -> dict[str, LocalAccount]:
    """The executor keys by EIP-55 address: ``LIFEBOAT_KEYS["executor"]`` first, then ``EXECUTOR_PRIVATE_KEYS``.

    Loaded from the settings every time; a key is never stored nor logged.
    """
    from chain.keys import load_account
    from config.preflight import load_role_account

    accounts = {}
    main = load_role_account("executor")
    accounts[main.address] = main
    for key in settings.EXECUTOR_PRIVATE_KEYS:
        account = load_account(private_key=key)
        accounts.setdefault(account.address, account)
    return accounts


def default_owner() -> str:
    """Who holds a lease: this host and process, plus a random part per call site."""
    return f"{socket.gethostname()}:{uuid.uuid4().hex[:12]}"


def recovery_executor_of(plan_asset: PlanAsset) -> str:
    """The RecoveryExecutor the plan's batch leaves are bound to.

    The plan's own ``recovery_executor`` when it records one, else the deployment's on the
    incident's chain.
    """
    address = getattr(plan_asset.plan, "recovery_executor", "") or ""
    if address:
        return to_checksum_address(address)
    contract = (
        DeployedContract.objects.filter(
            role="recovery_executor", deployment__chain_id=plan_asset.plan.incident.chain_id
        )
        .order_by("-deployment__created_at", "-pk")
        .first()
    )
    if contract is None:
        raise PlanNotApprovedOnChain(
            f"plan {plan_asset.plan_id} names no RecoveryExecutor and no deployment on chain "
            f"{plan_asset.plan.incident.chain_id} has one",
            plan=plan_asset.plan_id,
        )
    return to_checksum_address(contract.address)


def _executor_contract(w3: Web3, run: ExecutionRun) -> Any:
    return bind(w3, "RecoveryExecutor", run.recovery_executor)


def _read(w3: Web3, call: Callable[[], T]) -> T:
    """Run a read against the node; a transport or server failure is ``RpcUnavailable`` (the worker retries it)."""
    try:
        return call()
    except (requests.RequestException, OSError, TimeExhausted, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None


@contextmanager
def node_failures_answered(doing: str) -> Iterator[None]:
    """A node failing while ``doing`` ("starting execution run 5") is ``ChainUnavailable`` (503), in words.

    For the services the API, the pages and the commands call: a refused connection or a timeout
    is then an answer ("try again once it answers"), not a 500. The message names no URL (an RPC
    URL may carry a key; even its host is left out). Every caller reads the chain before it writes,
    or writes only what a retry finds done, so trying again is safe.
    """
    try:
        yield
    except NODE_FAILURES as error:
        raise ChainUnavailable(
            f"the chain node did not answer ({_node_reason(error)}) while {doing}: "
            "try again once it answers (retrying is safe)",
        ) from None


def _answers_node_failures(doing: Callable[..., str]) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """``node_failures_answered`` around a service; ``doing`` names the work from the service's keyword arguments."""

    def decorate(service: Callable[P, T]) -> Callable[P, T]:
        @wraps(service)
        def answered(*args: P.args, **kwargs: P.kwargs) -> T:
            with node_failures_answered(doing(**kwargs)):
                return service(*args, **kwargs)

        return answered

    return decorate


_ANY_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://\S+")


def _node_reason(error: BaseException) -> str:
    """Why the node failed, in a few words and without any URL."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    lowered = text.lower()
    if "refused" in lowered or "newconnectionerror" in lowered:
        return "connection refused"
    if isinstance(error, TimeExhausted | requests.Timeout) or "timed out" in lowered or "timeout" in lowered:
        return "it timed out"
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "name resolution" in lowered:
        return "its host name does not resolve"
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"HTTP {error.response.status_code}"
    shown = _ANY_URL.sub("the node", redact(text, secrets=[settings.CHAIN_RPC_URL]))
    return shown[:160]


# --- Events ------------------------------------------------------------------------------------


def _actor_label(actor: AbstractBaseUser | None, via: str) -> str:
    if actor is not None:
        return actor.get_username()
    return "cli" if via == "cli" else "system"


def record_event(
    run: ExecutionRun | None,
    kind: str,
    message: str,
    *,
    actor: AbstractBaseUser | None = None,
    via: str = "system",
    **data: Any,
) -> ExecutionEvent:
    """Append to the audit log (the pages poll it); ``data`` holds JSON values (amounts as strings)."""
    return ExecutionEvent.objects.create(
        run=run, kind=kind, message=message, data=data, actor=actor, actor_label=_actor_label(actor, via)
    )


# --- Finding approvals -----------------------------------------------------------------------


@_answers_node_failures(lambda **_: "looking for approved plans")
def discover_approvals(*, w3: Web3, plan_asset_ids: Iterable[int] | None = None) -> list[ExecutionRun]:
    """Create a *ready* run for each plan asset whose ``PlanApproved`` is past ``CONFIRMATION_DEPTH``.

    Plan assets that already have a run are skipped. A plan whose ``auto_execute`` is on is
    started at once (actor: the system). Returns the runs created. ``ChainUnavailable`` (503)
    when the node fails; the runs created before it stay (a retry skips them).
    """
    return _discover(w3=w3, plan_asset_ids=plan_asset_ids)


def _discover(*, w3: Web3, plan_asset_ids: Iterable[int] | None) -> list[ExecutionRun]:
    candidates = PlanAsset.objects.filter(execution__isnull=True, onchain_plan_id__isnull=False).select_related(
        "plan__incident", "plan__analysis"
    )
    if plan_asset_ids is not None:
        candidates = candidates.filter(pk__in=list(plan_asset_ids))
    by_executor: dict[str, list[PlanAsset]] = {}
    for plan_asset in candidates:
        if not plan_asset.commitment_root and not plan_asset.allocation_root:
            continue
        try:
            by_executor.setdefault(recovery_executor_of(plan_asset), []).append(plan_asset)
        except PlanNotApprovedOnChain:
            continue
    if not by_executor:
        return []
    confirmed = chain_sender.head(w3) - settings.CONFIRMATION_DEPTH
    chain_id = _read(w3, lambda: int(w3.eth.chain_id))
    created = []
    for executor, assets in by_executor.items():
        assets = [a for a in assets if a.plan.incident.chain_id == chain_id]
        contract = bind(w3, "RecoveryExecutor", executor)
        # One view call per candidate first: most plans are not approved yet, and a log scan is dear.
        approved = [a for a in assets if _read(w3, contract.functions.getPlan(int(a.onchain_plan_id)).call)[4] != 0]
        if not approved or confirmed < 0:
            continue
        start = max(min(a.plan.analysis.reference_block for a in approved) - 1, 0)
        by_id = {int(a.onchain_plan_id): a for a in approved}
        approvals: dict[int, ApprovalLog] = {}
        for page in scan_raw_logs(settings.CHAIN_RPC_URL, executor, [PLAN_APPROVED_TOPIC], start, confirmed):
            for approval in decode_approvals(page.logs, recovery_executor=executor, plan_ids=by_id):
                approvals.setdefault(approval.plan_id, approval)
        for plan_id, approval in approvals.items():
            run = _create_run(by_id[plan_id], approval, chain_id=chain_id)
            if run is not None:
                created.append(run)
    for run in created:
        if getattr(run.plan_asset.plan, "auto_execute", False):
            try:
                start_execution(run_id=run.pk, actor=None, via="auto", w3=w3)
            except LifeboatError as error:
                record_event(run, "auto_start_refused", f"execution did not start by itself: {error.message}")
    return created


def _create_run(plan_asset: PlanAsset, approval: ApprovalLog, *, chain_id: int) -> ExecutionRun | None:
    with transaction.atomic():
        if ExecutionRun.objects.filter(plan_asset=plan_asset).exists():
            return None
        run = ExecutionRun.objects.create(
            plan_asset=plan_asset,
            chain_id=chain_id,
            recovery_executor=approval.recovery_executor,
            onchain_plan_id=approval.plan_id,
            approval_block=approval.block_number,
            approval_block_hash=approval.block_hash,
            approval_tx=approval.tx_hash,
            incident_key=approval.incident_key,
            version=approval.version,
            delivery=approval.delivery,
        )
        note = "" if approval.batches_root == plan_asset.commitment_root.lower() else " (its root differs from ours)"
        record_event(
            run,
            "approved",
            f"PlanApproved seen in block {approval.block_number}{note}",
            block_hash=approval.block_hash,
            tx_hash=approval.tx_hash,
            root=approval.batches_root,
            version=approval.version,
        )
    return run


# --- Starting, pausing, resuming, cancelling -------------------------------------------------


def _plan_asset_for(plan_id: int, asset: str | None) -> PlanAsset:
    try:
        plan = RecoveryPlan.objects.get(pk=plan_id)
    except RecoveryPlan.DoesNotExist:
        raise PlanNotFound(f"there is no plan {plan_id}", plan=plan_id) from None
    assets = plan.assets.filter(onchain_plan_id__isnull=False)
    if asset:
        found = [a for a in assets if a.asset.lower() == asset.lower() or a.payout_token.lower() == asset.lower()]
        if not found:
            raise PlanAssetNotFound(f"plan {plan_id} has no asset {asset}", plan=plan_id, asset=asset)
        return found[0]
    paying = [a for a in assets if a.batches.exists() or a.allocation_root]
    if len(paying) != 1:
        raise InvalidInput(
            f"plan {plan_id} pays {len(paying)} assets: name one with `asset` "
            f"({', '.join(a.asset for a in paying) or 'none'})",
            field="asset",
        )
    return paying[0]


@_answers_node_failures(lambda *, plan_id, **_: f"starting the execution of plan {plan_id}")
def start_plan_execution(
    *, plan_id: int, asset: str | None = None, actor: AbstractBaseUser | None, via: str, w3: Web3 | None = None
) -> ExecutionRun:
    """Start executing one asset of a plan: its run is found (or created from the chain's approval now).

    ``ChainUnavailable`` (503) when the node fails: nothing is written before the chain's checks pass.
    """
    plan_asset = _plan_asset_for(plan_id, asset)
    w3 = w3 or chain_client()
    run = ExecutionRun.objects.filter(plan_asset=plan_asset).first()
    if run is None:
        _discover(w3=w3, plan_asset_ids=[plan_asset.pk])
        run = ExecutionRun.objects.filter(plan_asset=plan_asset).first()
    if run is None:
        executor = recovery_executor_of(plan_asset)
        raise PlanNotApprovedOnChain(
            f"the RecoveryExecutor {executor} has no PlanApproved for plan id {plan_asset.onchain_plan_id} "
            f"(plan {plan_id}, asset {plan_asset.asset}) at least {settings.CONFIRMATION_DEPTH} blocks deep: "
            "the plan must be approved by governance first",
            plan=plan_id,
            onchain_plan_id=str(plan_asset.onchain_plan_id),
        )
    if run.status != ExecutionRunStatus.READY:
        # The automatic start may have won the race; an executor asking again is told so.
        raise RunStateConflict(
            f"execution run {run.pk} of plan {plan_id} is {run.status}, not ready: "
            + ("pause, resume or cancel it instead" if run.status in ("running", "paused") else "it is over"),
            run=run.pk,
            status=run.status,
        )
    return start_execution(run_id=run.pk, actor=actor, via=via, w3=w3)


def check_chain_allows(w3: Web3, run: ExecutionRun, accounts: Iterable[str]) -> list[Batch]:
    """Refuse (409) unless the chain approves exactly our batches now; returns them.

    Checked: the plan approved on chain (``getPlan``), with our commitment root, not superseded
    (``currentVersion``), a push plan, the contract not paused, every sender key holding
    ``EXECUTOR_ROLE``, and the root rebuilt from the stored batches equal to the approved one
    (a batch altered after approval is caught here, before anything is signed).
    """
    plan_asset = run.plan_asset
    contract = _executor_contract(w3, run)
    onchain = _read(w3, contract.functions.getPlan(int(run.onchain_plan_id)).call)
    root, status, incident_key, version = "0x" + bytes(onchain[0]).hex(), onchain[4], onchain[6], onchain[7]
    delivery = onchain[3]
    names = {0: "never approved", 1: "approved", 2: "revoked", 3: "closed"}
    if status != 1:
        raise PlanNotApprovedOnChain(
            f"the RecoveryExecutor {run.recovery_executor} says plan id {run.onchain_plan_id} is "
            f"{names.get(status, status)}: nothing can be paid",
            onchain_status=names.get(status, str(status)),
        )
    if root != plan_asset.commitment_root.lower():
        raise CommitmentMismatch(
            f"the RecoveryExecutor approved root {root} for plan id {run.onchain_plan_id}, "
            f"but the plan's commitment is {plan_asset.commitment_root}",
            approved_root=root,
            commitment_root=plan_asset.commitment_root,
        )
    current = _read(w3, contract.functions.currentVersion(incident_key).call)
    if current != version:
        raise PlanSupersededOnChain(
            f"plan id {run.onchain_plan_id} is version {version} of its incident, but the chain's current "
            f"version is {current}: a later plan version superseded it",
            version=version,
            current_version=current,
        )
    if delivery == PULL:
        raise NothingToPush(
            f"plan id {run.onchain_plan_id} is approved for claims (pull): holders claim their allocations, "
            "there are no batches to send",
        )
    if _read(w3, contract.functions.paused().call):
        raise ExecutorContractPaused(
            f"the RecoveryExecutor {run.recovery_executor} is paused by its guardian: no batch can run until "
            "it is unpaused",
        )
    role = _read(w3, contract.functions.EXECUTOR_ROLE().call)
    for address in accounts:
        if not _read(w3, contract.functions.hasRole(role, address).call):
            raise ExecutorKeyLacksRole(
                f"the executor key {address} lacks EXECUTOR_ROLE on the RecoveryExecutor {run.recovery_executor}: "
                f"governance must call grantRole(EXECUTOR_ROLE, {address}), or remove the key from "
                "EXECUTOR_PRIVATE_KEYS",
                address=address,
            )
    batches = stored_batches(plan_asset)
    rebuilt = _commitment(run).root if batches else ""
    if rebuilt.lower() != root:
        raise CommitmentMismatch(
            f"the stored batches of plan id {run.onchain_plan_id} hash to root {rebuilt}, not the approved {root}: "
            "a batch was altered after approval; nothing is sent",
            approved_root=root,
            rebuilt_root=rebuilt,
        )
    if restores_positions(run):
        check_venue_allows(w3, run)
    return batches


class VenueRefusesRestore(LifeboatError):
    """A restore-positions plan the migrated market cannot take now (role, funds, an account not empty)."""

    code = "venue_refuses_restore"
    status = http.HTTP_409_CONFLICT


def restores_positions(run: ExecutionRun) -> bool:
    return run.plan_asset.plan.mode == PlanMode.RESTORE_POSITIONS


def _commitment(run: ExecutionRun) -> StandardMerkleTree:
    """The run's tree rebuilt from the stored batches: positions leaves or payment leaves by the plan's mode."""
    if restores_positions(run):
        return build_positions_commitment(
            stored_position_batches(run.plan_asset), domain=_domain(run), venue=run.plan_asset.venue
        )
    return build_commitment(stored_batches(run.plan_asset), domain=_domain(run))


def check_venue_allows(w3: Web3, run: ExecutionRun) -> None:
    """Refuse (409) a restore-positions run the migrated market would revert: checked before anything is signed.

    The market must grant the RecoveryExecutor ``RESTORER_ROLE``, the executor must hold the asset of
    the batches still to run beyond what it owes others, and every account still to restore must be
    empty on the market (``restorePositions`` reverts ``AccountNotEmpty`` otherwise, failing its batch).
    """
    plan_asset = run.plan_asset
    venue = to_checksum_address(plan_asset.venue)
    market = bind(w3, "MarginMarket", venue)
    executor = to_checksum_address(run.recovery_executor)
    role = _read(w3, market.functions.RESTORER_ROLE().call)
    if not _read(w3, market.functions.hasRole(role, executor).call):
        raise VenueRefusesRestore(
            f"the migrated market {venue} does not grant RESTORER_ROLE to the RecoveryExecutor {executor}: "
            f"its admin must call grantRole(RESTORER_ROLE, {executor}) before any position can be restored",
            venue=venue,
        )
    rows = list(MigrationBatch.objects.filter(plan_asset=plan_asset).order_by("index"))
    contract = _executor_contract(w3, run)
    ran = _batched_calls(w3, [contract.functions.isBatchExecuted(int(run.onchain_plan_id), row.index) for row in rows])
    to_run = [row for row, done in zip(rows, ran, strict=True) if not done]
    needed = sum(int(row.total) for row in to_run)
    token = bind(w3, "DemoAsset", to_checksum_address(plan_asset.payout_token))
    held = int(_read(w3, token.functions.balanceOf(executor).call))
    owed = int(_read(w3, contract.functions.reserved(token.address).call))
    free = max(held - owed, 0)
    if free < needed:
        raise VenueRefusesRestore(
            f"the RecoveryExecutor {executor} holds {free} of {token.address} free (beyond {owed} it owes others), "
            f"less than the {needed} the {len(to_run)} batches still to run restore: send it the difference first",
            needed=str(needed),
            free=str(free),
        )
    accounts = [(row.index, to_checksum_address(raw["account"])) for row in to_run for raw in row.positions or ()]
    entries = _batched_calls(w3, [market.functions.accountOf(account) for _, account in accounts])
    for (index, account), entry in zip(accounts, entries, strict=True):
        if any(int(word) != 0 for word in entry):
            raise VenueRefusesRestore(
                f"account {account} (batch {index}) is not empty on the migrated market {venue}: "
                "restorePositions would revert AccountNotEmpty; close or settle it there, or exclude it "
                "in a new plan version",
                account=account,
                index=index,
            )


# View calls per JSON-RPC batch when a run's whole plan is checked (every batch, every account).
CALLS_PER_RPC_BATCH = 500


def _batched_calls(w3: Web3, calls: Sequence[Any]) -> list[Any]:
    """The decoded results of contract view ``calls``, sent as JSON-RPC batches of ``CALLS_PER_RPC_BATCH``.

    A plan of ten thousand accounts is checked in twenty round trips, not ten thousand (the check
    runs at every start and at every reconciliation pass of a paused restore).
    """
    results: list[Any] = []
    for start in range(0, len(calls), CALLS_PER_RPC_BATCH):
        chunk = calls[start : start + CALLS_PER_RPC_BATCH]

        def run(chunk: Sequence[Any] = chunk) -> list[Any]:
            with w3.batch_requests() as batch:
                for call in chunk:
                    batch.add(call)
                return list(batch.execute())

        results.extend(_read(w3, run))
    return results


def _domain(run: ExecutionRun) -> CommitmentDomain:
    return CommitmentDomain(run.chain_id, run.recovery_executor, int(run.onchain_plan_id))


@_answers_node_failures(lambda *, run_id, **_: f"starting execution run {run_id}")
def start_execution(*, run_id: int, actor: AbstractBaseUser | None, via: str, w3: Web3 | None = None) -> ExecutionRun:
    """Start a *ready* run: check the chain (``check_chain_allows``), create its batch sends, enqueue them.

    ``ChainUnavailable`` (503) when the node fails during the checks: nothing is written.
    """
    w3 = w3 or chain_client()
    run = get_run(run_id)
    if run.status != ExecutionRunStatus.READY:
        raise RunStateConflict(f"execution run {run.pk} is {run.status}, not ready", run=run.pk, status=run.status)
    refuse_if_later_version(run, w3=w3)
    senders = sorted(executor_accounts())
    batches = check_chain_allows(w3, run, senders)
    with transaction.atomic():
        updated = ExecutionRun.objects.filter(pk=run.pk, status=ExecutionRunStatus.READY).update(
            status=ExecutionRunStatus.RUNNING,
            started_by=actor,
            started_via=via,
            auto_started=via == "auto",
            started_at=timezone.now(),
        )
        if not updated:
            run.refresh_from_db()
            raise RunStateConflict(f"execution run {run.pk} is {run.status}, not ready", run=run.pk, status=run.status)
        rows = {b.index: b.pk for b in MigrationBatch.objects.filter(plan_asset=run.plan_asset)}
        for sender_address in senders:
            SenderKey.objects.get_or_create(chain_id=run.chain_id, address=sender_address)
        BatchSend.objects.bulk_create(
            BatchSend(
                run=run,
                batch_id=rows[batch.index],
                index=batch.index,
                # Deterministic split: the same plan and keys give the same senders on every machine.
                sender=senders[batch.index % len(senders)],
            )
            for batch in batches
        )
        record_event(
            run,
            "started",
            f"execution started: {len(batches)} batches from {len(senders)} executor key(s)",
            actor=actor,
            via=via,
            senders=senders,
        )
        run.refresh_from_db()
        enqueue_pending(run, force=True)
    return run


def pause_execution(*, run_id: int, actor: AbstractBaseUser | None, via: str, reason: str = "") -> ExecutionRun:
    """Stop signing new batches of a running run; transactions already out are still followed."""
    with transaction.atomic():
        run = get_run(run_id)
        if not ExecutionRun.objects.filter(pk=run.pk, status=ExecutionRunStatus.RUNNING).update(
            status=ExecutionRunStatus.PAUSED, pause_reason=reason or "paused by an executor", paused_by_system=False
        ):
            raise RunStateConflict(f"execution run {run.pk} is {run.status}: only a running run pauses", run=run.pk)
        record_event(run, "paused", reason or "paused", actor=actor, via=via)
    return get_run(run_id)


@_answers_node_failures(lambda *, run_id, **_: f"resuming execution run {run_id}")
def resume_execution(*, run_id: int, actor: AbstractBaseUser | None, via: str, w3: Web3 | None = None) -> ExecutionRun:
    """Resume a paused run (checking the chain first when a later plan version exists): ``ChainUnavailable``
    (503) when the node fails then, and the run stays paused."""
    run = get_run(run_id)
    if run.status == ExecutionRunStatus.PAUSED:
        refuse_if_later_version(run, w3=w3 or chain_client())
    with transaction.atomic():
        run = get_run(run_id)
        if not ExecutionRun.objects.filter(pk=run.pk, status=ExecutionRunStatus.PAUSED).update(
            status=ExecutionRunStatus.RUNNING, pause_reason="", paused_by_system=False
        ):
            raise RunStateConflict(f"execution run {run.pk} is {run.status}: only a paused run resumes", run=run.pk)
        record_event(run, "resumed", "resumed", actor=actor, via=via)
        run.refresh_from_db()
        enqueue_pending(run, force=True)
    return run


def refuse_if_later_version(run: ExecutionRun, *, w3: Web3) -> None:
    """Refuse to start or resume a run when a later plan version of its incident exists off chain.

    The later version was allocated net of what this one had paid when it was built: paying more
    now would pay those accounts twice (409 ``later_version_exists``). Once the chain has approved
    the later version, the contract itself refuses this one's batches and the worker stops the run
    (``stop_superseded_run``), so that case is let through.
    """
    later = (
        RecoveryPlan.objects.filter(incident_id=run.plan_asset.plan.incident_id, version__gt=run.version)
        .order_by("-version")
        .first()
    )
    if later is None or superseding_version(w3, run) is not None:
        return
    raise LaterVersionExists(
        f"plan version {later.version} (plan {later.pk}) of this incident exists and was allocated net of what "
        f"version {run.version} had paid when it was built: paying more under version {run.version} would pay "
        f"those accounts twice. Cancel execution run {run.pk}; version {later.version}, once approved, pays what "
        "is still owed",
        run=run.pk,
        later_plan=later.pk,
    )


def cancel_execution(*, run_id: int, actor: AbstractBaseUser | None, via: str) -> ExecutionRun:
    """No further batch is signed. Transactions already signed are still followed to their end
    (one may be in a node's pool already; the chain, not this flag, decides whether it ran)."""
    with transaction.atomic():
        run = get_run(run_id)
        open_states = (ExecutionRunStatus.READY, ExecutionRunStatus.RUNNING, ExecutionRunStatus.PAUSED)
        if not ExecutionRun.objects.filter(pk=run.pk, status__in=open_states).update(
            status=ExecutionRunStatus.CANCELLED, finished_at=timezone.now()
        ):
            raise RunStateConflict(f"execution run {run.pk} is {run.status}: it cannot be cancelled", run=run.pk)
        record_event(run, "cancelled", "cancelled", actor=actor, via=via)
    return get_run(run_id)


def pause_for_system(run: ExecutionRun, reason: str, **data: Any) -> None:
    """Pause a running run for a cause the system can see go away (gas funds, the contract's pause)."""
    if ExecutionRun.objects.filter(pk=run.pk, status=ExecutionRunStatus.RUNNING).update(
        status=ExecutionRunStatus.PAUSED, pause_reason=reason, paused_by_system=True
    ):
        record_event(run, "paused", reason, **data)


def superseding_version(w3: Web3, run: ExecutionRun) -> int | None:
    """The incident's current version on chain when it is above the run's (a later version took over), else None."""
    contract = _executor_contract(w3, run)
    key = run.incident_key
    if not key:
        key = "0x" + bytes(_read(w3, contract.functions.getPlan(int(run.onchain_plan_id)).call)[6]).hex()
    current = int(_read(w3, contract.functions.currentVersion(bytes.fromhex(key.removeprefix("0x"))).call))
    return current if current > run.version else None


def stop_superseded_run(run: ExecutionRun, *, w3: Web3) -> ExecutionRun:
    """End a run whose plan a later version superseded on chain: *cancelled*, with a ``superseded`` event.

    The contract refuses every remaining batch (``PlanSuperseded``) and the later version was
    allocated net of what this one paid, so the pending batches are left pending, never sent
    and never marked failed. A transaction already out is still followed (reconciliation) and
    reverts. Does nothing when the chain's version is not above the run's, or the run is over.
    """
    current = superseding_version(w3, run)
    if current is None:
        return run
    with transaction.atomic():
        open_states = (ExecutionRunStatus.READY, ExecutionRunStatus.RUNNING, ExecutionRunStatus.PAUSED)
        if ExecutionRun.objects.filter(pk=run.pk, status__in=open_states).update(
            status=ExecutionRunStatus.CANCELLED, finished_at=timezone.now(), pause_reason="", paused_by_system=False
        ):
            not_sent = list(
                BatchSend.objects.filter(run=run, state=BatchSendState.PENDING).values_list("index", flat=True)
            )
            done = BatchSend.objects.filter(run=run, state=BatchSendState.CONFIRMED).count()
            record_event(
                run,
                "superseded",
                f"superseded by version {current} on chain (this run is version {run.version}): {done} batches paid, "
                f"the {len(not_sent)} remaining are not sent (the contract refuses them); version {current} pays "
                "what is still owed, net of what this version paid",
                version=run.version,
                current_version=current,
                batches_not_sent=not_sent,
            )
    run.refresh_from_db()
    return run


def enqueue_pending(run: ExecutionRun, *, force: bool = False) -> list[int]:
    """Enqueue (after commit) a task for each pending batch of a running run.

    Without ``force`` only batches enqueued more than ``EXECUTION_REQUEUE_AFTER_SECONDS`` ago (a
    lost message); the task is idempotent, so a duplicate costs one database read.
    """
    from recovery.tasks_execution import send_batch as send_batch_task

    if run.status != ExecutionRunStatus.RUNNING:
        return []
    now = timezone.now()
    pending = BatchSend.objects.filter(run=run, state=BatchSendState.PENDING)
    if not force:
        stale = now - timedelta(seconds=settings.EXECUTION_REQUEUE_AFTER_SECONDS)
        pending = pending.filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
    ids = list(pending.values_list("pk", flat=True))
    BatchSend.objects.filter(pk__in=ids).update(enqueued_at=now)
    for batch_send_id in ids:
        send_batch_task.delay_on_commit(batch_send_id)
    return ids


# --- The sender lease --------------------------------------------------------------------------


def acquire_lease(*, chain_id: int, address: str, owner: str, wait: float = 0) -> bool:
    """Take the sender key's lease when it is free, expired or already ``owner``'s (compare-and-set UPDATE).

    The one ``UPDATE ... WHERE`` is atomic on SQLite and PostgreSQL alike: of two workers racing,
    one matches the row. ``wait`` seconds are spent polling before giving up.
    """
    SenderKey.objects.get_or_create(chain_id=chain_id, address=address)
    deadline = time.monotonic() + wait
    while True:
        now = timezone.now()
        taken = (
            SenderKey.objects.filter(chain_id=chain_id, address=address)
            .filter(Q(lease_owner="") | Q(lease_until__lt=now) | Q(lease_owner=owner))
            .update(lease_owner=owner, lease_until=now + timedelta(seconds=settings.EXECUTION_SENDER_LEASE_SECONDS))
        )
        if taken:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def release_lease(*, chain_id: int, address: str, owner: str) -> None:
    SenderKey.objects.filter(chain_id=chain_id, address=address, lease_owner=owner).update(
        lease_owner="", lease_until=None
    )


# --- Sending a batch ---------------------------------------------------------------------------


# (run id, commitment root) -> every batch's proof. One run's at a time per process: a worker works
# through one plan's batches in turn, and a root is never reused for other batches.
_PROOFS: dict[tuple[int, str], list[list[str]]] = {}


def _batch_proofs(run: ExecutionRun) -> list[list[str]]:
    """Every batch's proof, built once per run and process.

    Rebuilding the whole commitment for each batch made a send cost as much as the whole plan
    (1.5 CPU-seconds a batch at 10,000 accounts, under the key's lease). The root is the stored
    one checked against the chain's at start, and the contract checks each leaf again.
    """
    key = (run.pk, run.plan_asset.commitment_root)
    if key not in _PROOFS:
        tree = _commitment(run)
        _PROOFS.clear()
        count = MigrationBatch.objects.filter(plan_asset=run.plan_asset).count()
        _PROOFS[key] = [tree.get_proof(index) for index in range(count)]
    return _PROOFS[key]


def batch_calldata(run: ExecutionRun, batch_send: BatchSend, *, w3: Web3) -> str:
    """``executeBatch(planId, index, recipients, amounts, proof)`` of the batch, with its proof.

    A restore-positions plan: ``executePositionBatch(planId, index, encode_restore(venue, rows), proof)``,
    the committed rows byte for byte (their keccak is the leaf's content hash).
    """
    row = MigrationBatch.objects.get(plan_asset=run.plan_asset, index=batch_send.index)
    if restores_positions(run):
        rows = [row_from_json(raw) for raw in row.positions or ()]
        return _executor_contract(w3, run).encode_abi(
            "executePositionBatch",
            args=[
                int(run.onchain_plan_id),
                row.index,
                encode_restore(to_checksum_address(run.plan_asset.venue), rows),
                _batch_proofs(run)[row.index],
            ],
        )
    return _executor_contract(w3, run).encode_abi(
        "executeBatch",
        args=[
            int(run.onchain_plan_id),
            row.index,
            [to_checksum_address(r) for r in row.recipients],
            [int(amount) for amount in row.amounts],
            _batch_proofs(run)[row.index],
        ],
    )


def is_batch_executed(w3: Web3, run: ExecutionRun, index: int) -> bool:
    return bool(_read(w3, _executor_contract(w3, run).functions.isBatchExecuted(int(run.onchain_plan_id), index).call))


def send_batch(*, batch_send_id: int, w3: Web3 | None = None, owner: str | None = None) -> BatchSend:
    """Send one batch exactly once (see the module's docstring); safe to run again at any point.

    Raises ``SenderBusy`` when another worker holds the key's lease past the wait (the task
    retries), ``RpcUnavailable`` when the node fails (the task retries; what was committed stays).
    """
    w3 = w3 or chain_client()
    owner = owner or default_owner()
    batch_send = BatchSend.objects.select_related("run__plan_asset").get(pk=batch_send_id)
    run = batch_send.run
    if batch_send.state in ACTIVE_STATES:
        return follow_batch(batch_send=batch_send, w3=w3)
    if batch_send.state != BatchSendState.PENDING or run.status != ExecutionRunStatus.RUNNING:
        return batch_send
    if not acquire_lease(
        chain_id=run.chain_id, address=batch_send.sender, owner=owner, wait=settings.EXECUTION_SENDER_LEASE_SECONDS
    ):
        raise SenderBusy(f"the sender {batch_send.sender} is busy")
    try:
        signed = _sign_under_lease(batch_send_id=batch_send_id, w3=w3, owner=owner)
        if signed is None:
            return BatchSend.objects.get(pk=batch_send_id)
        failpoint("after_sign")
        _broadcast_signed(BatchSend.objects.get(pk=batch_send_id), w3=w3)
    finally:
        release_lease(chain_id=run.chain_id, address=batch_send.sender, owner=owner)
    failpoint("after_broadcast")
    return follow_batch(batch_send=BatchSend.objects.get(pk=batch_send_id), w3=w3)


def _sign_under_lease(*, batch_send_id: int, w3: Web3, owner: str) -> BatchSend | None:
    """Steps 2-4 of a send, holding the lease. None when nothing is to be sent (ran already, paused, failed)."""
    batch_send = BatchSend.objects.select_related("run__plan_asset").get(pk=batch_send_id)
    run = batch_send.run
    if batch_send.state != BatchSendState.PENDING or run.status != ExecutionRunStatus.RUNNING:
        return None
    if is_batch_executed(w3, run, batch_send.index):
        confirm_from_chain(batch_send, w3=w3, note="the contract's bitmap says it ran already: nothing sent")
        return None
    held = chain_sender.balance(w3, batch_send.sender)
    if held < settings.EXECUTION_MIN_GAS_BALANCE_WEI:
        pause_for_system(
            run,
            f"the executor key {batch_send.sender} holds {held} wei, below EXECUTION_MIN_GAS_BALANCE_WEI "
            f"({settings.EXECUTION_MIN_GAS_BALANCE_WEI}): send it ETH; execution resumes by itself after the top-up",
            sender=batch_send.sender,
            balance=str(held),
        )
        return None
    data = batch_calldata(run, batch_send, w3=w3)
    try:
        estimate = reverts_as_chain_errors(
            lambda: w3.eth.estimate_gas(
                {"from": batch_send.sender, "to": run.recovery_executor, "data": data}  # type: ignore[typeddict-item]
            )
        )
    except Reverted as error:
        _refused_by_contract(batch_send, error, w3=w3)
        return None
    gas = int(estimate) * (100 + settings.EXECUTION_GAS_MARGIN_PERCENT) // 100
    fees = chain_sender.suggest_fees(w3, cap=settings.EXECUTION_MAX_FEE_PER_GAS)
    account = executor_accounts()[batch_send.sender]
    with transaction.atomic():
        key = SenderKey.objects.select_for_update().get(chain_id=run.chain_id, address=batch_send.sender)
        if key.lease_owner != owner:
            raise SenderBusy(f"the lease of {batch_send.sender} passed to another worker")
        _, pending = chain_sender.chain_nonces(w3, batch_send.sender)
        # The chain's pending count covers transactions sent with this key elsewhere; the row covers
        # ours signed but not (yet) broadcast. Never below either.
        nonce = max(key.next_nonce or 0, pending)
        signed = chain_sender.sign(
            account, chain_id=run.chain_id, nonce=nonce, to=run.recovery_executor, data=data, gas=gas, fees=fees
        )
        if not SenderKey.objects.filter(pk=key.pk, next_nonce=key.next_nonce).update(next_nonce=nonce + 1):
            raise SenderBusy(f"the nonce of {batch_send.sender} moved meanwhile")
        if not BatchSend.objects.filter(pk=batch_send.pk, state=BatchSendState.PENDING).update(
            state=BatchSendState.SIGNED,
            nonce=nonce,
            raw_tx="0x" + signed.raw.hex(),
            tx_hash=signed.tx_hash,
            max_fee_per_gas=fees.max_fee_per_gas,
            max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
            gas_limit=gas,
        ):
            transaction.set_rollback(True)
            return None
        SentTransaction.objects.create(
            batch_send=batch_send,
            chain_id=run.chain_id,
            sender=batch_send.sender,
            nonce=nonce,
            tx_hash=signed.tx_hash,
            raw_tx="0x" + signed.raw.hex(),
            max_fee_per_gas=fees.max_fee_per_gas,
            max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
            purpose="batch",
        )
    return BatchSend.objects.get(pk=batch_send.pk)


def _refused_by_contract(batch_send: BatchSend, error: Reverted, *, w3: Web3) -> None:
    """The contract refuses the batch now (found by estimating its gas): why decides what follows."""
    run = batch_send.run
    if error.error == "BatchAlreadyExecuted":
        confirm_from_chain(batch_send, w3=w3, note="the contract says it ran already: nothing sent")
    elif error.error == "PlanSuperseded":
        stop_superseded_run(run, w3=w3)
    elif error.error == "EnforcedPause":
        pause_for_system(
            run,
            f"the RecoveryExecutor {run.recovery_executor} is paused by its guardian; execution resumes by itself "
            "when it is unpaused",
        )
    elif error.error == "AccountNotEmpty":
        (account,) = error.args_
        pause_for_system(
            run,
            f"batch {batch_send.index} restores account {account}, which is not empty on the migrated market "
            f"{run.plan_asset.venue}: restorePositions reverts AccountNotEmpty. Close or settle that account there "
            "(execution resumes by itself once the venue would take every batch left), or cancel and exclude it "
            "in a new plan version",
            account=str(account),
            index=batch_send.index,
        )
    elif error.error == "AccessControlUnauthorizedAccount" and restores_positions(run):
        pause_for_system(
            run,
            f"the migrated market {run.plan_asset.venue} refuses the RecoveryExecutor {run.recovery_executor}: "
            "it lacks RESTORER_ROLE there (or EXECUTOR_ROLE on the executor); grant it: execution resumes by itself "
            "once it is granted",
        )
    elif error.error == "ReservedFunds":
        token, available = error.args_
        pause_for_system(
            run,
            f"the RecoveryExecutor {run.recovery_executor} holds only {available} of {token} beyond what it owes "
            f"other recipients, less than batch {batch_send.index} pays: send it the recovered funds; execution "
            "resumes by itself once they are there",
            underfunded=True,
        )
    else:
        reason = str(error).removeprefix("reverted: ")
        if BatchSend.objects.filter(pk=batch_send.pk, state=BatchSendState.PENDING).update(
            state=BatchSendState.FAILED, failure_reason=f"the contract refuses the batch: {reason}"
        ):
            record_event(run, "batch_failed", f"batch {batch_send.index} refused: {reason}", index=batch_send.index)
        finish_run_if_done(run, w3=w3)


def _broadcast_signed(batch_send: BatchSend, *, w3: Web3) -> str:
    """Broadcast the stored bytes of a signed (or sent) batch; the state becomes *sent*.

    Returns the node's answer. "nonce too low" with none of the batch's hashes mined means the
    nonce went to another transaction of the key: the batch goes back to *pending*.
    """
    answer = chain_sender.broadcast(w3, bytes.fromhex(batch_send.raw_tx[2:]))
    if answer.outcome == "nonce_too_low":
        mined = chain_sender.find_mined(w3, _hashes(batch_send))
        if mined is not None:
            record_receipt(batch_send, mined, w3=w3)
            return answer.outcome
        if is_batch_executed(w3, batch_send.run, batch_send.index):
            confirm_from_chain(batch_send, w3=w3, note="its nonce was used and the bitmap says it ran")
            return answer.outcome
        if BatchSend.objects.filter(pk=batch_send.pk, state__in=ACTIVE_STATES, tx_hash=batch_send.tx_hash).update(
            state=BatchSendState.PENDING, nonce=None, raw_tx="", tx_hash="", sent_at=None
        ):
            record_event(
                batch_send.run,
                "nonce_taken",
                f"batch {batch_send.index}: nonce {batch_send.nonce} was used by another transaction of "
                f"{batch_send.sender}; none of the batch's transactions was mined, it is signed again",
                index=batch_send.index,
            )
            enqueue_pending(batch_send.run, force=True)
        return answer.outcome
    now = timezone.now()
    if BatchSend.objects.filter(pk=batch_send.pk, state=BatchSendState.SIGNED).update(
        state=BatchSendState.SENT, sent_at=now
    ):
        record_event(
            batch_send.run,
            "sent",
            f"batch {batch_send.index} sent as {batch_send.tx_hash} (nonce {batch_send.nonce})",
            index=batch_send.index,
            tx_hash=batch_send.tx_hash,
            nonce=batch_send.nonce,
            answer=answer.outcome,
        )
    elif answer.fresh:
        BatchSend.objects.filter(pk=batch_send.pk, state=BatchSendState.SENT, sent_at__isnull=True).update(sent_at=now)
    return answer.outcome


def _hashes(batch_send: BatchSend) -> list[str]:
    hashes = list(SentTransaction.objects.filter(batch_send=batch_send).values_list("tx_hash", flat=True))
    if batch_send.tx_hash and batch_send.tx_hash not in hashes:
        hashes.append(batch_send.tx_hash)
    return hashes


def follow_batch(*, batch_send: BatchSend, w3: Web3, timeout: float | None = None) -> BatchSend:
    """Wait (bounded) for one of a sent batch's hashes to be mined and record the outcome.

    Not mined in time: the batch stays *sent* for reconciliation (rebroadcast, replacement).
    """
    if batch_send.state == BatchSendState.SIGNED:
        _broadcast_signed(batch_send, w3=w3)
        batch_send.refresh_from_db()
    if batch_send.state != BatchSendState.SENT:
        return batch_send
    deadline = time.monotonic() + (settings.EXECUTION_RECEIPT_TIMEOUT_SECONDS if timeout is None else timeout)
    hashes = _hashes(batch_send)
    while True:
        mined = chain_sender.find_mined(w3, hashes)
        if mined is not None:
            failpoint("after_receipt")
            record_receipt(batch_send, mined, w3=w3)
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    return BatchSend.objects.get(pk=batch_send.pk)


def record_receipt(batch_send: BatchSend, receipt: TxReceipt, *, w3: Web3) -> None:
    """Record a mined transaction of the batch: *confirmed* (status 1) or *failed* with the replayed reason."""
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    block_hash = "0x" + bytes(receipt["blockHash"]).hex()
    run = batch_send.run
    if receipt["status"] == 1:
        raw = SentTransaction.objects.filter(tx_hash=tx_hash).values_list("raw_tx", flat=True).first()
        if BatchSend.objects.filter(pk=batch_send.pk, state__in=ACTIVE_STATES).update(
            state=BatchSendState.CONFIRMED,
            tx_hash=tx_hash,
            raw_tx=raw or batch_send.raw_tx,
            block_number=receipt["blockNumber"],
            block_hash=block_hash,
            gas_used=receipt["gasUsed"],
            effective_gas_price=int(receipt.get("effectiveGasPrice") or 0),
            confirmed_by="receipt",
            failure_reason="",
        ):
            record_event(
                run,
                "confirmed",
                f"batch {batch_send.index} confirmed in block {receipt['blockNumber']} ({tx_hash})",
                index=batch_send.index,
                tx_hash=tx_hash,
                block=receipt["blockNumber"],
                block_hash=block_hash,
                gas_used=receipt["gasUsed"],
            )
            record_credits(run, batch_send.index, receipt)
        finish_run_if_done(run, w3=w3)
        return
    reason = chain_sender.replay_revert(
        w3,
        sender=batch_send.sender,
        to=run.recovery_executor,
        data=batch_calldata(run, batch_send, w3=w3),
        gas=batch_send.gas_limit or 10_000_000,
        block_number=receipt["blockNumber"],
    )
    if reason.startswith("BatchAlreadyExecuted") or is_batch_executed(w3, run, batch_send.index):
        confirm_from_chain(batch_send, w3=w3, note=f"our transaction {tx_hash} reverted ({reason}) but the batch ran")
        return
    # The replay runs on the state before the block: a superseding approval earlier in the same
    # block makes it succeed, so "succeeds when replayed alone" is checked against the chain.
    if reason.startswith("PlanSuperseded") or (
        reason.startswith("revert (the call succeeds") and superseding_version(w3, run) is not None
    ):
        # Not a failure of the batch: a later version took over. It paid nothing and is never
        # sent again (the run stops); every hash it had stays in SentTransaction.
        if BatchSend.objects.filter(pk=batch_send.pk, state__in=ACTIVE_STATES).update(
            state=BatchSendState.PENDING, nonce=None, raw_tx="", tx_hash="", sent_at=None
        ):
            record_event(
                run,
                "superseded_in_flight",
                f"batch {batch_send.index}: its transaction {tx_hash} was mined after a later plan version "
                f"superseded this one and reverted ({reason}); it paid nothing",
                index=batch_send.index,
                tx_hash=tx_hash,
                block=receipt["blockNumber"],
                gas_used=receipt["gasUsed"],
            )
        stop_superseded_run(run, w3=w3)
        return
    if BatchSend.objects.filter(pk=batch_send.pk, state__in=ACTIVE_STATES).update(
        state=BatchSendState.FAILED,
        tx_hash=tx_hash,
        block_number=receipt["blockNumber"],
        block_hash=block_hash,
        gas_used=receipt["gasUsed"],
        effective_gas_price=int(receipt.get("effectiveGasPrice") or 0),
        failure_reason=f"reverted: {reason}",
    ):
        record_event(run, "batch_failed", f"batch {batch_send.index} reverted: {reason}", index=batch_send.index)
    finish_run_if_done(run, w3=w3)


def find_batch_executed(w3: Web3, run: ExecutionRun, index: int) -> dict[str, Any] | None:
    """The ``BatchExecuted`` log of batch ``index`` of the run's plan (the latest, if a reorg left two)."""
    query = {
        "address": to_checksum_address(run.recovery_executor),
        "fromBlock": max(run.approval_block - 1, 0) if run.approval_block else 0,
        "toBlock": "latest",
        "topics": [BATCH_EXECUTED_TOPIC, "0x" + uint_word(int(run.onchain_plan_id)), "0x" + uint_word(index)],
    }
    logs = _read(w3, lambda: w3.eth.get_logs(query))  # type: ignore[arg-type]
    return dict(logs[-1]) if logs else None


def confirm_from_chain(batch_send: BatchSend, *, w3: Web3, note: str) -> None:
    """Mark a batch confirmed because the chain says it ran: from its ``BatchExecuted`` log, never by sending."""
    run = batch_send.run
    found = find_batch_executed(w3, run, batch_send.index)
    fields: dict[str, Any] = {"state": BatchSendState.CONFIRMED, "confirmed_by": "bitmap", "failure_reason": ""}
    mined = None
    if found is not None:
        tx_hash = "0x" + bytes(found["transactionHash"]).hex()
        fields.update(
            tx_hash=tx_hash, block_number=found["blockNumber"], block_hash="0x" + bytes(found["blockHash"]).hex()
        )
        mined = chain_sender.receipt(w3, tx_hash)
        if mined is not None:
            fields.update(gas_used=mined["gasUsed"], effective_gas_price=int(mined.get("effectiveGasPrice") or 0))
        if not SentTransaction.objects.filter(tx_hash=tx_hash).exists():
            fields.update(gas_used=None, effective_gas_price=None)  # someone else's transaction paid its gas
    if BatchSend.objects.filter(pk=batch_send.pk).exclude(state=BatchSendState.CONFIRMED).update(**fields):
        record_event(
            run,
            "confirmed",
            f"batch {batch_send.index} confirmed from the chain: {note}",
            index=batch_send.index,
            tx_hash=fields.get("tx_hash", ""),
            block=fields.get("block_number"),
        )
        if mined is not None:
            record_credits(run, batch_send.index, mined)
    finish_run_if_done(run, w3=w3)


def record_credits(run: ExecutionRun, index: int, receipt: TxReceipt) -> list[ExecutionEvent]:
    """One ``credited`` event per ``Credited`` log of the run's plan in a batch's receipt.

    With the claimable fallback a recipient the token refuses (a blocklist, a transfer that
    returns false) is credited on the RecoveryExecutor instead of paid, and the batch still
    lands: the feed names the account, so someone can tell it to claim (``claimCredit``).
    A restore-positions batch credits no one: its receipt's restored accounts are recorded
    instead (``record_restored``).
    """
    if restores_positions(run):
        return record_restored(run, index, receipt)
    plan_topic = "0x" + uint_word(int(run.onchain_plan_id))
    events = []
    for entry in receipt["logs"]:
        topics = ["0x" + bytes(topic).hex() for topic in entry["topics"]]
        if (
            len(topics) != 4
            or topics[0] != CREDITED_TOPIC
            or topics[1] != plan_topic
            or to_checksum_address(entry["address"]) != to_checksum_address(run.recovery_executor)
        ):
            continue
        account, token = to_checksum_address(topics[2][-40:]), to_checksum_address(topics[3][-40:])
        amount = int.from_bytes(bytes(entry["data"]), "big")
        events.append(
            record_event(
                run,
                "credited",
                f"batch {index}: the token refused the transfer of {amount} to {account}; the amount is credited on "
                f"the RecoveryExecutor and claimable by anyone for it with claimCredit({token}, {account})",
                index=index,
                account=account,
                token=token,
                amount=str(amount),
                tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            )
        )
    return events


def record_restored(run: ExecutionRun, index: int, receipt: TxReceipt) -> list[ExecutionEvent]:
    """A ``restored`` event naming the accounts a restore-positions batch's receipt re-created on the venue.

    The accounts are read from the venue's ``AccountUpdated`` logs with reason *restored* in the
    receipt, not copied from the batch: the feed says what the market did. Any account the
    committed rows hold that the receipt does not restore, or the reverse, is a
    ``restore_mismatch`` event (the contract and the commitment make it impossible; the feed
    would show it if the venue were not the market the plan names).
    """
    venue = to_checksum_address(run.plan_asset.venue)
    restored = []
    for entry in receipt["logs"]:
        topics = ["0x" + bytes(topic).hex() for topic in entry["topics"]]
        data = bytes(entry["data"])
        if (
            len(topics) == 2
            and topics[0] == ACCOUNT_UPDATED
            and to_checksum_address(entry["address"]) == venue
            and len(data) == 7 * 32
            and int.from_bytes(data[-32:], "big") == RESTORED
        ):
            restored.append(to_checksum_address(topics[1][-40:]))
    row = MigrationBatch.objects.get(plan_asset=run.plan_asset, index=index)
    committed = [to_checksum_address(raw["account"]) for raw in row.positions or ()]
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    events = [
        record_event(
            run,
            "restored",
            f"batch {index}: {len(restored)} position{'s' if len(restored) != 1 else ''} restored on {venue} "
            f"(collateral plus margin {row.total} pulled from the RecoveryExecutor)",
            index=index,
            accounts=restored,
            venue=venue,
            total=str(row.total),
            tx_hash=tx_hash,
        )
    ]
    if restored != committed:
        missing = [a for a in committed if a not in restored]
        extra = [a for a in restored if a not in committed]
        events.append(
            record_event(
                run,
                "restore_mismatch",
                f"batch {index}: the receipt's restored accounts differ from the committed rows: "
                f"{len(missing)} not restored, {len(extra)} restored beyond them; verify the plan",
                index=index,
                missing=missing,
                extra=extra,
                tx_hash=tx_hash,
            )
        )
    return events


def finish_run_if_done(run: ExecutionRun, *, w3: Web3) -> ExecutionRun:
    """A run is completed when every batch is confirmed past ``CONFIRMATION_DEPTH``; failed when all
    batches are settled and one failed."""
    run.refresh_from_db()
    if run.status not in (ExecutionRunStatus.RUNNING, ExecutionRunStatus.PAUSED):
        return run
    states = list(BatchSend.objects.filter(run=run).values_list("state", "block_number"))
    if not states or any(state not in (BatchSendState.CONFIRMED, BatchSendState.FAILED) for state, _ in states):
        return run
    if any(state == BatchSendState.FAILED for state, _ in states):
        if ExecutionRun.objects.filter(pk=run.pk, status=run.status).update(
            status=ExecutionRunStatus.FAILED, finished_at=timezone.now()
        ):
            record_event(run, "failed", "every batch is settled and at least one failed: see the batches' reasons")
        run.refresh_from_db()
        return run
    deepest = max((block or 0) for _, block in states)
    if deepest > chain_sender.head(w3) - settings.CONFIRMATION_DEPTH:
        return run  # confirmed, not yet deep enough: reconciliation completes it
    if ExecutionRun.objects.filter(pk=run.pk, status=run.status).update(
        status=ExecutionRunStatus.COMPLETED, finished_at=timezone.now()
    ):
        record_event(run, "completed", f"all {len(states)} batches confirmed on chain")
    run.refresh_from_db()
    return run


__all__ = [
    "acquire_lease",
    "cancel_execution",
    "check_chain_allows",
    "confirm_from_chain",
    "discover_approvals",
    "executor_accounts",
    "follow_batch",
    "node_failures_answered",
    "pause_execution",
    "record_credits",
    "record_receipt",
    "record_restored",
    "release_lease",
    "restores_positions",
    "resume_execution",
    "send_batch",
    "start_execution",
    "start_plan_execution",
    "stop_superseded_run",
    "superseding_version",
]
