"""The circuit breaker: the guardian's ``pause()`` on a firing rule's targets, its ``unpause()`` by
the committee, and the pause log (``PauseRecord``) with who did each.

The order of one pause (``pause_target``), which is what makes it idempotent and crash-safe:

1. the action is one ``ResponseAction`` per (firing, pause, contract): a second ``respond()`` for
   the firing finds it, and one already done or skipped is left alone;
2. an action with a recorded transaction is *followed* (receipt, or the same signed bytes
   broadcast again), never signed anew while that transaction can still be mined;
3. ``paused()`` is read at the head: a paused contract is SKIPPED and nothing is sent, so a
   second firing of any rule sends nothing; a pause already on its way for another firing is
   waited for, not doubled;
4. the call is estimated from the guardian's address, so a contract that refuses the guardian
   fails here with its decoded error and no gas spent;
5. under the guardian key's lease (``recovery.execution``'s sender lease, shared by every
   process that sends with that key) the nonce is read, the transaction signed, its hash and
   raw bytes stored and COMMITTED, then broadcast; the lease goes back after the broadcast, so
   the next sender's pending count includes it;
6. the receipt is waited for (bounded): status 1 -> DONE with the block and a ``PauseRecord``;
   status 0 -> FAILED with the revert replayed at its block.

A FAILED action is retried by ``monitoring.tasks_responses.retry_pause`` with backoff and, after
``MONITOR_PAUSE_MAX_ATTEMPTS``, marked ESCALATED, which sends a second notification saying so.
Errors stored on an action are redacted: never the RPC URL or key material.
"""

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address
from web3 import Web3

from chain import guardian as chain_guardian
from chain import sender as chain_sender
from chain.errors import ChainError, Reverted, RpcUnavailable
from chain.redaction import redact
from chain.rpc import connect
from chain.transact import receipt_of
from monitoring.exceptions import ContractNotPaused, GuardianRefused, SenderKeyBusy
from monitoring.models import (
    ActionKind,
    ActionStatus,
    Firing,
    PauseAction,
    PauseRecord,
    PauseStatus,
    ResponseAction,
    WatchedDeployment,
)
from recovery import roles
from recovery.exceptions import ChainUnavailable, InvalidInput, RoleRequired

log = logging.getLogger(__name__)

# How long a send waits for the guardian key's lease held by another process (a snapshot commit,
# another firing's pause): each such send holds it only from nonce to broadcast.
LEASE_WAIT_SECONDS = 10
# Broadcasts that may find the nonce taken by another sender of the key (one that does not take
# the lease) before giving up for this attempt.
SIGN_ROUNDS = 3


# --- Reading the configuration -------------------------------------------------------------------


def guardian_account() -> LocalAccount:
    """The guardian's signing account from ``LIFEBOAT_KEYS["guardian"]`` (never stored nor logged)."""
    from config.preflight import load_role_account  # eth_account is heavy: loaded when a key is needed

    return load_role_account("guardian")


def chain_client(watched: WatchedDeployment) -> Web3:
    return connect(
        watched.rpc_url, timeout=getattr(settings, "MONITOR_RPC_TIMEOUT_SECONDS", settings.CHAIN_RPC_TIMEOUT)
    )


def _secrets(watched: WatchedDeployment | None) -> list[str]:
    return [*settings.LIFEBOAT_SECRETS, *([watched.rpc_url] if watched is not None else [])]


def _redacted(error: BaseException | str, watched: WatchedDeployment | None) -> str:
    return redact(str(error), secrets=_secrets(watched))[:1000]


def resolve_targets(targets: Iterable[str], contracts: dict[str, Any]) -> list[str]:
    """The rule's pause targets as checksummed addresses: an address as is, a role of the watched
    deployment (``"vault"``) through its ``contracts``; duplicates once, in order."""
    found: list[str] = []
    for target in targets:
        address = target if is_address(target) else contracts.get(str(target), "")
        if not is_address(address):
            raise InvalidInput(
                f"pause target {target!r} is neither an address nor a contract role of the watched deployment "
                f"(roles: {', '.join(sorted(contracts)) or 'none'})",
                field="pause_targets",
            )
        address = to_checksum_address(address)
        if address not in found:
            found.append(address)
    return found


def backoff_seconds(attempts: int) -> float:
    """The wait before retry ``attempts + 1``: the base doubled per attempt, at most 5 minutes."""
    base = float(settings.MONITOR_RESPONSE_BACKOFF_SECONDS)
    return min(base * 2 ** max(attempts - 1, 0), 300.0)


# --- Pausing a firing's targets ------------------------------------------------------------------


def pause_targets(firing: Firing, *, w3: Web3 | None = None) -> list[ResponseAction]:
    """Pause every target of ``firing``'s rule now, in this process (latency matters); one action each.

    Never raises for one target's failure: each is recorded on its action (FAILED, with the
    redacted reason) and the others still go. Returns the actions in target order.
    """
    watched = firing.rule.watched
    try:
        targets = resolve_targets(firing.rule.pause_targets or [], watched.contracts or {})
    except InvalidInput as error:
        log.error("firing %s: %s", firing.pk, error.message)
        return []
    w3 = w3 or chain_client(watched)
    # Every target's pause is broadcast before any receipt is waited for: they land in the same block.
    sent = [pause_target(action_id=_action_for(firing, target).pk, w3=w3, wait=False) for target in targets]
    return [
        pause_target(action_id=action.pk, w3=w3) if action.status == ActionStatus.SENT else action for action in sent
    ]


def _action_for(firing: Firing, target: str) -> ResponseAction:
    try:
        with transaction.atomic():
            action, _ = ResponseAction.objects.get_or_create(firing=firing, kind=ActionKind.PAUSE, target=target)
    except IntegrityError:  # created by a concurrent respond() for the same firing
        action = ResponseAction.objects.get(firing=firing, kind=ActionKind.PAUSE, target=target)
    return action


def pause_target(*, action_id: int, w3: Web3 | None = None, wait: bool = True) -> ResponseAction:
    """Carry one pause action one step further (see the module's order); returns it as stored.

    Safe to call any number of times, from any process: DONE, SKIPPED and ESCALATED actions are
    final; a SENT one is followed; a PENDING or FAILED one is tried (one more attempt). Without
    ``wait`` a new transaction is left SENT once broadcast (the caller follows it).
    """
    action = ResponseAction.objects.select_related("firing__rule__watched").get(pk=action_id)
    watched = action.firing.rule.watched
    if action.status in (ActionStatus.DONE, ActionStatus.SKIPPED, ActionStatus.ESCALATED):
        return action
    w3 = w3 or chain_client(watched)
    try:
        if action.status == ActionStatus.SENT:
            return _follow(action, w3=w3, watched=watched)
        return _try_pause(action, w3=w3, watched=watched, wait=wait)
    except (ChainError, SenderKeyBusy) as error:
        current = ResponseAction.objects.get(pk=action.pk)
        if current.status == ActionStatus.SENT:
            # A transaction is recorded and may be mined: it stays SENT, followed (and its bytes
            # broadcast again) by the retry, never replaced by a new one.
            _update(current, last_error=_redacted(error, watched))
            return current
        return _fail(current, error, watched=watched)


def _try_pause(action: ResponseAction, *, w3: Web3, watched: WatchedDeployment, wait: bool = True) -> ResponseAction:
    contract = action.target
    _update(action, attempts=action.attempts + 1)
    head = chain_sender.head(w3)
    try:
        if chain_guardian.is_paused(w3, contract, block=head):
            return _skip(action, f"already paused at block {head}: nothing sent", paused_at_block=head)
    except chain_guardian.NotPausable as error:
        return _fail(action, error, watched=watched)
    account = guardian_account()
    try:
        gas = chain_guardian.estimate_call(
            w3, sender=account.address, contract=contract, data=chain_guardian.PAUSE_CALLDATA
        )
    except Reverted as error:
        if error.error == "EnforcedPause":  # paused between the read and the estimate
            return _skip(action, "paused meanwhile by another transaction: nothing sent")
        return _fail(action, error, watched=watched, revert=error.error)
    signed = _send_under_lease(
        w3,
        account=account,
        chain_id=watched.chain_id,
        contract=contract,
        data=chain_guardian.PAUSE_CALLDATA,
        gas=gas,
        record=lambda signed: _record_signed(action, signed, chain_id=watched.chain_id),
    )
    if signed is None:  # another process recorded a transaction (or a skip) for this action first
        current = ResponseAction.objects.get(pk=action.pk)
        if current.status == ActionStatus.SENT:
            return _follow(current, w3=w3, watched=watched) if wait else current
        return current
    sent = ResponseAction.objects.get(pk=action.pk)
    return _follow(sent, w3=w3, watched=watched, broadcast=False) if wait else sent


def _record_signed(action: ResponseAction, signed: chain_sender.SignedTx, *, chain_id: int) -> bool:
    """Store the signed transaction on the action (inside the lease's transaction). False when the
    action moved meanwhile (another process signed for it, or another firing's pause is on its way)."""
    current = ResponseAction.objects.select_for_update().get(pk=action.pk)
    if current.status not in (ActionStatus.PENDING, ActionStatus.FAILED) or current.tx_hash:
        return False
    other = (
        ResponseAction.objects.filter(
            kind=ActionKind.PAUSE,
            target=action.target,
            status=ActionStatus.SENT,
            firing__rule__watched__chain_id=chain_id,
        )
        .exclude(pk=action.pk)
        .first()
    )
    if other is not None:
        _skip(
            current,
            f"a pause is already on its way in {other.tx_hash} (firing {other.firing_id}): nothing sent",
            pending_in=other.tx_hash,
            pending_for_firing=other.firing_id,
        )
        return False
    detail = {**(current.detail or {}), "nonce": signed.nonce, "raw_tx": "0x" + signed.raw.hex()}
    detail["tx_hashes"] = [*detail.get("tx_hashes", []), signed.tx_hash]
    _update(current, status=ActionStatus.SENT, tx_hash=signed.tx_hash, detail=detail, last_error="")
    return True


def _send_under_lease(
    w3: Web3,
    *,
    account: LocalAccount,
    chain_id: int,
    contract: str,
    data: str,
    gas: int,
    record: Any,
) -> chain_sender.SignedTx | None:
    """Sign and broadcast one guardian call under the key's lease; ``record(signed)`` stores it first.

    ``record`` runs inside the transaction that commits before the broadcast and returns False to
    send nothing. Returns the transaction broadcast, or None when ``record`` declined.
    """
    from recovery.execution import acquire_lease, default_owner, release_lease

    owner = default_owner()
    if not acquire_lease(chain_id=chain_id, address=account.address, owner=owner, wait=LEASE_WAIT_SECONDS):
        raise SenderKeyBusy(
            f"the guardian key {account.address} is busy with another transaction for over "
            f"{LEASE_WAIT_SECONDS} s; the pause is retried"
        )
    try:
        for _ in range(SIGN_ROUNDS):
            _, pending = chain_sender.chain_nonces(w3, account.address)
            fees = chain_sender.suggest_fees(w3, cap=settings.MONITOR_PAUSE_MAX_FEE_PER_GAS)
            gas_limit = gas * (100 + settings.EXECUTION_GAS_MARGIN_PERCENT) // 100
            signed = chain_sender.sign(
                account, chain_id=chain_id, nonce=pending, to=contract, data=data, gas=gas_limit, fees=fees
            )
            with transaction.atomic():
                if not record(signed):
                    return None
            answer = chain_sender.broadcast(w3, signed.raw)
            if answer.outcome in ("accepted", "already_known"):
                return signed
            if chain_sender.find_mined(w3, [signed.tx_hash]) is not None:
                return signed
            # The nonce went to another transaction of the key (a sender that does not take the
            # lease): sign again at the next pending nonce.
            log.warning("guardian transaction at nonce %s answered %s; signing again", pending, answer.outcome)
        raise SenderKeyBusy(
            f"the guardian key {account.address}'s nonce was taken by other transactions {SIGN_ROUNDS} times in a row"
        )
    finally:
        release_lease(chain_id=chain_id, address=account.address, owner=owner)


def _follow(action: ResponseAction, *, w3: Web3, watched: WatchedDeployment, broadcast: bool = True) -> ResponseAction:
    """A SENT action: its receipt within the timeout (DONE or FAILED), or still SENT.

    With ``broadcast`` (a retry, perhaps after a crash), a transaction the node no longer knows
    is broadcast again as the same signed bytes; a nonce used meanwhile by another transaction
    sends the action back to be tried afresh (``paused()`` first).
    """
    hashes = list((action.detail or {}).get("tx_hashes") or [action.tx_hash])
    mined = chain_sender.find_mined(w3, hashes)
    if mined is None and broadcast and not chain_sender.is_pending(w3, action.tx_hash):
        raw = (action.detail or {}).get("raw_tx", "")
        answer = chain_sender.broadcast(w3, bytes.fromhex(raw[2:])) if raw else chain_sender.Broadcast("nonce_too_low")
        if answer.outcome in ("nonce_too_low", "underpriced"):
            mined = chain_sender.find_mined(w3, hashes)
            if mined is None:
                _update(
                    action,
                    status=ActionStatus.FAILED,
                    tx_hash="",
                    last_error="its nonce was used by another transaction",
                )
                return _try_pause(ResponseAction.objects.get(pk=action.pk), w3=w3, watched=watched)
    if mined is None:
        mined = receipt_of(w3, action.tx_hash, timeout=settings.MONITOR_PAUSE_RECEIPT_TIMEOUT_SECONDS, poll=0.05)
    if mined is None:
        return action  # still SENT: the retry task follows it
    tx_hash = "0x" + bytes(mined["transactionHash"]).hex()
    block = int(mined["blockNumber"])
    if mined["status"] == 1:
        return _done(action, tx_hash=tx_hash, block=block)
    reason = chain_sender.replay_revert(
        w3,
        sender=guardian_account().address,
        to=action.target,
        data=chain_guardian.PAUSE_CALLDATA,
        gas=int(mined.get("gasUsed", 100_000)) * 2,
        block_number=block,
    )
    if reason.startswith("EnforcedPause"):
        return _skip(action, f"paused by another transaction before {tx_hash} (block {block})", tx_hash=tx_hash)
    return _fail(action, f"the pause transaction {tx_hash} failed in block {block}: {reason}", watched=watched)


def _done(action: ResponseAction, *, tx_hash: str, block: int) -> ResponseAction:
    firing = action.firing
    watched = firing.rule.watched
    with transaction.atomic():
        if not ResponseAction.objects.filter(pk=action.pk, status=ActionStatus.SENT).update(
            status=ActionStatus.DONE, tx_hash=tx_hash, block_number=block, done_at=timezone.now(), last_error=""
        ):
            return ResponseAction.objects.get(pk=action.pk)
        fields = {
            "block_number": block,
            "by_address": guardian_account().address,
            "firing": firing,
            "note": f"circuit breaker: rule {firing.rule.name} fired ({firing.cause})",
            "status": PauseStatus.DONE,
        }
        # The monitor's scan may have seen the Paused event first (a retry's receipt read late): complete its record.
        seen = PauseRecord.objects.filter(
            chain_id=watched.chain_id, contract=action.target, action=PauseAction.PAUSE, tx_hash__iexact=tx_hash
        ).first()
        if seen is not None:
            PauseRecord.objects.filter(pk=seen.pk).update(**fields)
        else:
            PauseRecord.objects.create(
                chain_id=watched.chain_id, contract=action.target, action=PauseAction.PAUSE, tx_hash=tx_hash, **fields
            )
    log.info("firing %s: %s paused in block %s (%s)", firing.pk, action.target, block, tx_hash)
    return ResponseAction.objects.get(pk=action.pk)


def _skip(action: ResponseAction, note: str, **detail: Any) -> ResponseAction:
    _update(
        action,
        status=ActionStatus.SKIPPED,
        detail={**(action.detail or {}), "note": note, **detail},
        done_at=timezone.now(),
        last_error="",
    )
    return ResponseAction.objects.get(pk=action.pk)


def _fail(
    action: ResponseAction, error: BaseException | str, *, watched: WatchedDeployment, revert: str = ""
) -> ResponseAction:
    """FAILED with the redacted reason (the retry task tries again, then escalates).

    The action's ``tx_hash`` is cleared (every hash it had stays in ``detail["tx_hashes"]``): a
    retry signs a new transaction only when no earlier one is on its way.
    """
    reason = _redacted(error, watched)
    detail = {**(action.detail or {})}
    if revert:
        detail["revert"] = revert
    _update(action, status=ActionStatus.FAILED, last_error=reason, detail=detail, tx_hash="")
    log.warning(
        "firing %s: pausing %s failed (attempt %s): %s", action.firing_id, action.target, action.attempts, reason
    )
    return ResponseAction.objects.get(pk=action.pk)


def escalate_if_exhausted(*, action_id: int) -> ResponseAction:
    """A FAILED action past ``MONITOR_PAUSE_MAX_ATTEMPTS`` becomes ESCALATED (once), and the second
    notification, saying so, is sent. Returns the action as stored."""
    with transaction.atomic():
        action = ResponseAction.objects.select_for_update().get(pk=action_id)
        if action.status != ActionStatus.FAILED or action.attempts < settings.MONITOR_PAUSE_MAX_ATTEMPTS:
            return action
        action.status = ActionStatus.ESCALATED
        action.save(update_fields=["status", "updated_at"])
    log.error(
        "firing %s: pausing %s failed %s times, escalated: %s",
        action.firing_id,
        action.target,
        action.attempts,
        action.last_error,
    )
    from monitoring import responses  # responses imports this module

    responses.notify(firing_id=action.firing_id, escalation=True)
    return action


def _update(action: ResponseAction, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(action, name, value)
    ResponseAction.objects.filter(pk=action.pk).update(**fields, updated_at=timezone.now())


# --- Unpausing, and the pause log ----------------------------------------------------------------


def unpause(
    *,
    contract: str,
    user: AbstractBaseUser,
    note: str = "",
    watched_id: int | None = None,
    w3: Web3 | None = None,
) -> PauseRecord:
    """Send the guardian's ``unpause()`` to ``contract`` for a committee member, and record it with them.

    The record (``by_user``, the transaction's hash, status PENDING) is committed BEFORE the
    broadcast, in the guardian key's lease, so a crash after sending still says who asked; the
    receipt makes it DONE with its block (or FAILED), and if the process died before that, the
    monitor's scan of the ``Unpaused`` event (``record_pause_events``) completes the same record.

    ``RoleRequired`` without ``recovery.manage_monitors``; ``ContractNotPaused`` (409) when it is
    not paused (nothing sent); ``GuardianRefused`` (409) when the contract refuses the guardian;
    ``ChainUnavailable`` (503) when the node fails. The chain is the watched deployment's that
    lists the contract (or ``watched_id``'s), else the configured ``CHAIN_RPC_URL``.
    """
    if user is None or not user.is_authenticated or not user.has_perm(roles.MANAGE_MONITORS):
        name = user.get_username() if user is not None and user.is_authenticated else "an anonymous user"
        raise RoleRequired(
            f"unpausing a contract needs the {roles.COMMITTEE} role; {name} does not have it",
            role=roles.COMMITTEE,
            permission=roles.MANAGE_MONITORS,
        )
    if not isinstance(contract, str) or not is_address(contract):
        raise InvalidInput(f"contract: {contract!r} is not an address (0x and 40 hex digits)", field="contract")
    contract = to_checksum_address(contract)
    note = (note or "").strip()[:2000]
    watched = _watched_for(contract, watched_id)
    try:
        w3 = w3 or (chain_client(watched) if watched else connect(settings.CHAIN_RPC_URL))
        chain_id = watched.chain_id if watched else int(w3.eth.chain_id)
        if not chain_guardian.is_paused(w3, contract):
            raise ContractNotPaused(f"{contract} is not paused: nothing to unpause", contract=contract)
        account = guardian_account()
        gas = chain_guardian.estimate_call(
            w3, sender=account.address, contract=contract, data=chain_guardian.UNPAUSE_CALLDATA
        )
        intent: list[PauseRecord] = []

        def record_intent(signed: chain_sender.SignedTx) -> bool:
            # Called again only when the nonce went to another transaction: the new hash replaces it.
            if intent:
                PauseRecord.objects.filter(pk=intent[0].pk).update(tx_hash=signed.tx_hash)
                intent[0].tx_hash = signed.tx_hash
            else:
                intent.append(
                    PauseRecord.objects.create(
                        chain_id=chain_id,
                        contract=contract,
                        action=PauseAction.UNPAUSE,
                        tx_hash=signed.tx_hash,
                        by_user=user,
                        by_address=account.address,
                        note=note,
                        status=PauseStatus.PENDING,
                    )
                )
            return True

        signed = _send_under_lease(
            w3,
            account=account,
            chain_id=chain_id,
            contract=contract,
            data=chain_guardian.UNPAUSE_CALLDATA,
            gas=gas,
            record=record_intent,
        )
        assert signed is not None
        mined = receipt_of(w3, signed.tx_hash, timeout=settings.MONITOR_PAUSE_RECEIPT_TIMEOUT_SECONDS, poll=0.05)
    except chain_guardian.NotPausable as error:
        raise InvalidInput(f"contract: {error}", field="contract") from None
    except Reverted as error:
        raise GuardianRefused(
            f"{contract} refuses the guardian's unpause(): {error} (is the guardian key's account its guardian?)",
            contract=contract,
            error=error.error,
        ) from None
    except (RpcUnavailable, SenderKeyBusy) as error:
        if intent:  # recorded and perhaps broadcast: the scan completes it if it is mined
            raise ChainUnavailable(
                f"unpause of {contract} recorded as {intent[0].tx_hash} but its broadcast or receipt failed "
                f"(the monitor records it if it is mined): {_redacted(error, watched)}"
            ) from None
        raise ChainUnavailable(f"unpause of {contract} not sent: {_redacted(error, watched)}") from None
    record = intent[0]
    if mined is not None and mined["status"] != 1:
        PauseRecord.objects.filter(pk=record.pk).update(
            status=PauseStatus.FAILED, block_number=int(mined["blockNumber"])
        )
        raise GuardianRefused(f"the unpause transaction {signed.tx_hash} failed", contract=contract)
    if mined is not None:
        # Only a pending record moves: the scan may have completed it already (same values).
        PauseRecord.objects.filter(pk=record.pk, status=PauseStatus.PENDING).update(
            status=PauseStatus.DONE, block_number=int(mined["blockNumber"])
        )
    record.refresh_from_db()
    log.info("%s unpaused by %s in %s", contract, user.get_username(), signed.tx_hash)
    return record


def _watched_for(contract: str, watched_id: int | None) -> WatchedDeployment | None:
    if watched_id is not None:
        found = WatchedDeployment.objects.filter(pk=watched_id).first()
        if found is None:
            from monitoring.exceptions import WatchedNotFound

            raise WatchedNotFound(f"there is no watched deployment {watched_id}", watched=watched_id)
        return found
    for watched in WatchedDeployment.objects.prefetch_related("rules"):
        listed = {str(v).lower() for v in (watched.contracts or {}).values()}
        listed |= {str(t).lower() for rule in watched.rules.all() for t in (rule.pause_targets or [])}
        if contract.lower() in listed:
            return watched
    return None


def record_unpause_seen_on_chain(
    *, chain_id: int, contract: str, tx_hash: str, block_number: int, by_address: str, note: str = ""
) -> PauseRecord:
    """Record an ``Unpaused(address)`` seen on chain (sent outside Lifeboat, or by it), once per transaction."""
    return _record_event(
        chain_id=chain_id,
        event=chain_guardian.PauseEvent(
            contract=to_checksum_address(contract),
            action=PauseAction.UNPAUSE,
            by=to_checksum_address(by_address),
            block_number=block_number,
            tx_hash=tx_hash.lower(),
        ),
        note=note or "seen on chain",
    )


def record_pause_events(
    *, watched_id: int, from_block: int, to_block: int, w3: Web3 | None = None
) -> list[PauseRecord]:
    """Record every ``Paused``/``Unpaused`` of the watched deployment's pause targets and contracts in
    ``[from_block, to_block]`` not recorded yet (the monitor calls it over the blocks it processed).

    A pause or unpause Lifeboat sent is recorded already (same transaction): it is not doubled.
    """
    watched = WatchedDeployment.objects.get(pk=watched_id)
    events = pause_events_of(watched, from_block=from_block, to_block=to_block, w3=w3)
    return record_events(chain_id=watched.chain_id, events=events)


def pause_contracts(watched: WatchedDeployment) -> list[str]:
    """What the pause log watches: the deployment's contracts and every rule's pause targets (a role
    such as ``"vault"`` resolves through the contracts), checksummed, each once."""
    contracts: list[str] = []
    roles_ = watched.contracts or {}
    for value in [*roles_.values(), *(t for r in watched.rules.all() for t in r.pause_targets or [])]:
        address = str(value) if is_address(str(value)) else str(roles_.get(str(value), ""))
        if is_address(address) and to_checksum_address(address) not in contracts:
            contracts.append(to_checksum_address(address))
    return contracts


def pause_events_of(
    watched: WatchedDeployment, *, from_block: int, to_block: int, w3: Web3 | None = None
) -> list[chain_guardian.PauseEvent]:
    """The ``Paused``/``Unpaused`` events of ``pause_contracts(watched)`` in the range (``RpcUnavailable``
    when the node fails: the engine then records nothing of the run, and covers the range again)."""
    w3 = w3 or chain_client(watched)
    return chain_guardian.pause_events(w3, pause_contracts(watched), from_block=from_block, to_block=to_block)


def record_events(*, chain_id: int, events: Iterable[chain_guardian.PauseEvent]) -> list[PauseRecord]:
    """One record per event's transaction: new ones for what was sent outside Lifeboat, and the
    completion of Lifeboat's own (a pending unpause becomes DONE with its block)."""
    return [_record_event(chain_id=chain_id, event=event, note="seen on chain") for event in events]


def _record_event(*, chain_id: int, event: chain_guardian.PauseEvent, note: str) -> PauseRecord:
    existing = PauseRecord.objects.filter(
        chain_id=chain_id, contract=event.contract, action=event.action, tx_hash__iexact=event.tx_hash
    ).first()
    if existing is not None:
        if existing.block_number != event.block_number or existing.status != PauseStatus.DONE:
            # A pending record (sent by Lifeboat, its receipt not read), or one whose block a reorg moved.
            PauseRecord.objects.filter(pk=existing.pk).update(block_number=event.block_number, status=PauseStatus.DONE)
            existing.block_number, existing.status = event.block_number, PauseStatus.DONE
        return existing
    return PauseRecord.objects.create(
        chain_id=chain_id,
        contract=event.contract,
        action=event.action,
        tx_hash=event.tx_hash,
        block_number=event.block_number,
        by_address=event.by,
        note=note,
    )
