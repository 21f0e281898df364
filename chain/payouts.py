"""What recovery plans actually paid, read from the chain alone (never from the database).

A plan's payouts leave three kinds of trace on the RecoveryExecutor and its token:

- ``pushed``: an ``executeBatch`` transaction emits ``BatchExecuted(planId, batchIndex,
  recipientCount, total)`` after one token ``Transfer`` per recipient: from the executor in
  restitute mode (0), from the zero address (a mint) in restore mode (1).
- ``credited``: with the claimable fallback, a recipient the token refuses gets
  ``Credited(planId, account, token, amount)`` instead of a Transfer. The amount stays on the
  executor, reserved for that account: the plan paid it, the account still has to claim it
  (``credits_outstanding``).
- ``claimed``: a pull plan's ``Claimed(planId, index, account, amount)``.

The executor's events are paged with ``chain.logs.scan_raw_logs``; the Transfers of each
``BatchExecuted`` come from its transaction's receipt (fetched by JSON-RPC batches), because
the token's Transfer logs carry no plan id. Within a receipt, the payments of a batch are the
token Transfers (and the plan's Credited logs) between the executor's previous log and the
``BatchExecuted``: every other executor entry point that moves tokens (``claimCredit``,
``sweep``, ``closePlan``, ``claim``) emits its own event after its Transfer, so a Transfer
belonging to one of them can never be counted for a batch. Each batch is then checked: as
many payments as ``recipientCount`` and their sum equal to ``total``. A mismatch (a
fee-on-transfer token, a token that emits extra Transfers, the wrong ``mode``) raises
``PayoutMismatch`` rather than being reported as a payment.

Logs are decoded by slicing their hex, as in ``chain/logs.py`` and ``chain/votes.py``; the
event layouts come from the compiled ABI and are checked at import.
"""

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import BadFunctionCallOutput, Web3Exception

from chain.artifacts import bind, load_artifact
from chain.errors import ChainError, RpcError
from chain.logs import TRANSFER_TOPIC, ZERO_ADDRESS, RawRpc, address_topic, collector_paused, scan_raw_logs
from chain.proposing import node_errors
from chain.transact import reverts_as_chain_errors

RESTITUTE, RESTORE = 0, 1
PUSHED, CREDITED, CLAIMED = "pushed", "credited", "claimed"
# JSON-RPC requests per batch (receipts, eth_calls, eth_getLogs by block hash).
DEFAULT_BATCH = 200


class PayoutMismatch(ChainError):
    """The chain's record of a batch does not add up: the payments found are not what the executor reports."""


def _event(name: str) -> tuple[str, tuple[bool, ...], tuple[str, ...]]:
    """(topic0, which inputs are indexed, input types) of the RecoveryExecutor event ``name``."""
    for entry in load_artifact("RecoveryExecutor").abi:
        if entry.get("type") == "event" and entry["name"] == name:
            types = tuple(i["type"] for i in entry["inputs"])
            indexed = tuple(bool(i["indexed"]) for i in entry["inputs"])
            return "0x" + keccak(text=f"{name}({','.join(types)})").hex(), indexed, types
    raise LookupError(f"the RecoveryExecutor ABI has no event {name}")


BATCH_EXECUTED_TOPIC, *_batch_layout = _event("BatchExecuted")
CREDITED_TOPIC, *_credited_layout = _event("Credited")
CLAIMED_TOPIC, *_claimed_layout = _event("Claimed")
# The slicing below relies on these layouts; an artifact that changed them fails at import.
assert _batch_layout == [(True, True, False, False), ("uint256",) * 4], _batch_layout
assert _credited_layout == [(True, True, True, False), ("uint256", "address", "address", "uint256")], _credited_layout
assert _claimed_layout == [(True, True, True, False), ("uint256", "uint256", "address", "uint256")], _claimed_layout

CREDITED_SELECTOR = "0x" + keccak(text="credited(address,address)")[:4].hex()


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment of a plan to one account, as the chain records it.

    ``account`` is EIP-55; ``tx_hash`` and ``block_hash`` lowercase 0x hex. ``log_index`` is the
    Transfer's (pushed), the Credited's (credited) or the Claimed's (claimed). ``batch_index``
    is None for a claim, whose allocation index is ``claim_index``.
    """

    account: str
    amount: int
    kind: str
    plan_id: int
    batch_index: int | None
    tx_hash: str
    block_number: int
    block_hash: str
    log_index: int
    claim_index: int | None = None


@dataclass(frozen=True, slots=True)
class BlockRef:
    """A block by number and hash: where a reading was taken."""

    number: int
    hash: str


def rpc_for(w3_or_rpc: Web3 | str | RawRpc) -> tuple[RawRpc, bool]:
    """A ``RawRpc`` to the node ``w3_or_rpc`` talks to, and whether the caller must close it."""
    if isinstance(w3_or_rpc, RawRpc):
        return w3_or_rpc, False
    if isinstance(w3_or_rpc, Web3):
        return RawRpc(str(w3_or_rpc.provider.endpoint_uri)), True  # type: ignore[attr-defined]
    return RawRpc(w3_or_rpc), True


def pin_block(w3: Web3 | str | RawRpc, block: int | None = None) -> BlockRef:
    """``block`` (None: the head now) with its hash, so every later read can name it."""
    rpc, owned = rpc_for(w3)
    try:
        header = rpc.call("eth_getBlockByNumber", [hex(block) if block is not None else "latest", False])
        if not isinstance(header, dict):
            raise RpcError(f"the node has no block {block}")
        return BlockRef(int(header["number"], 16), header["hash"].lower())
    finally:
        if owned:
            rpc.close()


def plan_payments(
    w3: Web3 | str | RawRpc,
    *,
    recovery_executor: str,
    plan_ids: Iterable[int],
    token: str,
    mode: int,
    from_block: int = 0,
    to_block: int | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> list[Payment]:
    """Every payment of ``plan_ids`` by ``recovery_executor`` in blocks ``from_block``..``to_block``, in chain order.

    ``token`` and ``mode`` are the plans' (all the plans given must share them: one asset).
    ``to_block`` None means the head when the scan starts; pass a pinned block (``pin_block``)
    to make the answer reproducible. Raises ``PayoutMismatch`` when a batch's payments do not
    add up to its ``BatchExecuted`` (see the module's docstring), or a log's block was
    reorganised away while reading.
    """
    if mode not in (RESTITUTE, RESTORE):
        raise ValueError(f"mode must be 0 (restitute) or 1 (restore), not {mode!r}")
    wanted = {"0x" + format(plan_id, "064x"): plan_id for plan_id in plan_ids}
    if not wanted:
        return []
    executor = recovery_executor.lower()
    token_ = token.lower()
    token_topic = address_topic(token_)
    source_topic = address_topic(executor if mode == RESTITUTE else ZERO_ADDRESS)
    rpc, owned = rpc_for(w3)
    try:
        batches: list[dict[str, Any]] = []
        credited_seen: set[tuple[str, int]] = set()
        claims: list[Payment] = []
        topics0 = [BATCH_EXECUTED_TOPIC, CREDITED_TOPIC, CLAIMED_TOPIC]
        for page in scan_raw_logs(rpc, executor, topics0, from_block, to_block):
            for log in page.logs:
                topics = log["topics"]
                if len(topics) < 2 or topics[1] not in wanted:
                    continue
                topic0 = topics[0]
                if topic0 == BATCH_EXECUTED_TOPIC:
                    _expect(log, 3, 2)
                    batches.append(log)
                elif topic0 == CREDITED_TOPIC:
                    _expect(log, 4, 1)
                    if topics[3] == token_topic:
                        credited_seen.add((log["transactionHash"].lower(), int(log["logIndex"], 16)))
                elif topic0 == CLAIMED_TOPIC:
                    _expect(log, 4, 1)
                    claims.append(
                        Payment(
                            _checksummed(topics[3]),
                            int(log["data"], 16),
                            CLAIMED,
                            wanted[topics[1]],
                            None,
                            log["transactionHash"].lower(),
                            int(log["blockNumber"], 16),
                            log["blockHash"].lower(),
                            int(log["logIndex"], 16),
                            int(topics[2], 16),
                        )
                    )
        pushed = _batch_payments(
            rpc, batches, executor=executor, wanted=wanted, token=token_, source_topic=source_topic, size=batch_size
        )
        found = {(p.tx_hash, p.log_index) for p in pushed if p.kind == CREDITED}
        if credited_seen - found:
            tx_hash, log_index = sorted(credited_seen - found)[0]
            raise PayoutMismatch(
                f"the Credited log {log_index} of {tx_hash} belongs to no BatchExecuted of the same plan: "
                "the executor is not the contract this code reads"
            )
        payments = pushed + claims
        payments.sort(key=lambda payment: (payment.block_number, payment.log_index))
        return payments
    finally:
        if owned:
            rpc.close()


def paid_by_account(payments: Iterable[Payment]) -> dict[str, int]:
    """What each account was paid (pushed + credited + claimed), keyed by EIP-55 address."""
    paid: dict[str, int] = {}
    for payment in payments:
        paid[payment.account] = paid.get(payment.account, 0) + payment.amount
    return paid


def credits_outstanding(
    w3: Web3 | str | RawRpc,
    recovery_executor: str,
    token: str,
    accounts: Iterable[str],
    *,
    block: int | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> dict[str, int]:
    """``credited(token, account)`` of each account at ``block`` (None: the head): still claimable credit.

    Keys are EIP-55. Batched ``eth_call``s; a reply that is not one uint256 raises ``RpcError``.
    """
    rpc, owned = rpc_for(w3)
    try:
        at = hex(block) if block is not None else "latest"
        unique = list(dict.fromkeys(to_checksum_address(account) for account in accounts))
        token_word = token.lower()[2:].rjust(64, "0")
        result: dict[str, int] = {}
        for offset in range(0, len(unique), batch_size):
            group = unique[offset : offset + batch_size]
            calls = [
                (
                    "eth_call",
                    [
                        {
                            "to": recovery_executor,
                            "data": CREDITED_SELECTOR + token_word + account[2:].lower().rjust(64, "0"),
                        },
                        at,
                    ],
                )
                for account in group
            ]
            for account, reply in zip(group, rpc.batch(calls), strict=True):
                value = reply.get("result")
                if "error" in reply or not isinstance(value, str) or len(value) != 66:
                    raise RpcError(
                        f"credited({token}, {account}) on the executor {recovery_executor} at block {block} "
                        f"answered {str(reply.get('error', value))[:160]}"
                    )
                result[account] = int(value, 16)
        return result
    finally:
        if owned:
            rpc.close()


def token_deltas_in_blocks(
    w3: Web3 | str | RawRpc, token: str, block_hashes: Iterable[str], *, batch_size: int = DEFAULT_BATCH
) -> dict[tuple[str, str], int]:
    """Net Transfer amount of ``token`` per (block hash, EIP-55 account) in the given blocks.

    What every Transfer log of those blocks moved, in and out, so a balance change across a
    block can be compared with it (the plan's payment and any other activity in that block).
    Logs are read by block hash (EIP-234), so a reorganised block fails instead of answering
    for its replacement.
    """
    rpc, owned = rpc_for(w3)
    try:
        hashes = list(dict.fromkeys(block_hash.lower() for block_hash in block_hashes))
        by_topic: dict[tuple[str, str], int] = {}
        get = by_topic.get
        for offset in range(0, len(hashes), batch_size):
            group = hashes[offset : offset + batch_size]
            calls = [
                ("eth_getLogs", [{"address": token, "topics": [TRANSFER_TOPIC], "blockHash": block_hash}])
                for block_hash in group
            ]
            for block_hash, reply in zip(group, rpc.batch(calls), strict=True):
                logs = reply.get("result")
                if "error" in reply or not isinstance(logs, list):
                    raise RpcError(f"eth_getLogs of block {block_hash} answered {str(reply.get('error'))[:160]}")
                with collector_paused():
                    for log in logs:
                        topics, data = log["topics"], log["data"]
                        if len(topics) != 3 or len(data) != 66:
                            continue
                        amount = int(data, 16)
                        sender, recipient = (block_hash, topics[1]), (block_hash, topics[2])
                        by_topic[sender] = get(sender, 0) - amount
                        by_topic[recipient] = get(recipient, 0) + amount
        deltas: dict[tuple[str, str], int] = {}
        for (block_hash, topic), amount in by_topic.items():
            key = (block_hash, _checksummed(topic))
            deltas[key] = deltas.get(key, 0) + amount
        return deltas
    finally:
        if owned:
            rpc.close()


# RecoveryExecutor.PlanStatus values, and its pull delivery.
PLAN_NONE, PLAN_APPROVED, PLAN_REVOKED, PLAN_CLOSED = 0, 1, 2, 3
PULL = 2
# getPlan's fields by position: (root, token, mode, delivery, status, batchCount, incidentKey,
# version, claimDeadline, budget, paid).
_TOKEN, _DELIVERY, _STATUS, _INCIDENT_KEY, _VERSION, _DEADLINE = 1, 3, 4, 6, 7, 8


@dataclass(frozen=True, slots=True)
class ClaimStatus:
    """What a RecoveryExecutor's ``claim`` checks for one allocation of a plan, read at one block.

    ``status`` is the plan's PlanStatus (``PLAN_NONE`` for an unused id: every other field is then
    zero); ``version`` the plan's and ``current_version`` its incident's latest (they differ once
    a later version superseded the plan); ``timestamp`` the block's, the clock ``claim_deadline``
    is checked against; ``symbol`` the plan token's ``symbol()``, "" when it has none.
    """

    block: int
    timestamp: int
    status: int
    delivery: int
    token: str
    version: int
    current_version: int
    claim_deadline: int
    paused: bool
    claimed: bool
    symbol: str


def claim_status(w3: Web3, recovery_executor: str, plan_id: int, index: int) -> ClaimStatus:
    """The claim of allocation ``index`` of ``plan_id`` as ``recovery_executor`` sees it at the head.

    Every value is read at the same block (the head when the read starts). Raises
    ``RpcUnavailable`` when the node fails, ``RpcError`` when the address answers no
    RecoveryExecutor call (no code there) and ``Reverted`` when a call reverts (another contract).
    """
    executor = bind(w3, "RecoveryExecutor", recovery_executor)

    def read(function: ContractFunction, at: int) -> Any:
        return reverts_as_chain_errors(lambda: function.call(block_identifier=at))

    with node_errors(w3):
        head = w3.eth.get_block("latest")
        at = int(head["number"])
        try:
            plan = read(executor.functions.getPlan(plan_id), at)
            current = read(executor.functions.currentVersion(plan[_INCIDENT_KEY]), at)
            paused = read(executor.functions.paused(), at)
            claimed = read(executor.functions.isClaimed(plan_id, index), at)
        except BadFunctionCallOutput:
            raise RpcError(
                f"{recovery_executor} answers no RecoveryExecutor call at block {at}: it is not the executor"
            ) from None
    status, token = int(plan[_STATUS]), to_checksum_address(plan[_TOKEN])
    return ClaimStatus(
        block=at,
        timestamp=int(head["timestamp"]),
        status=status,
        delivery=int(plan[_DELIVERY]),
        token=token,
        version=int(plan[_VERSION]),
        current_version=int(current),
        claim_deadline=int(plan[_DEADLINE]),
        paused=bool(paused),
        claimed=bool(claimed),
        symbol="" if status == PLAN_NONE else token_symbol(w3, token, block=at),
    )


def token_symbol(w3: Web3, token: str, *, block: int | str = "latest") -> str:
    """The ERC-20's ``symbol()`` when it is a short printable string, else "" (no such function, no code, bytes32)."""
    try:
        with node_errors(w3):
            # Any ERC-20's symbol(): the RecoveryToken artifact's ABI has it.
            function = bind(w3, "RecoveryToken", token).functions.symbol()
            value = reverts_as_chain_errors(lambda: function.call(block_identifier=block))
    except (ChainError, ValueError, Web3Exception):
        return ""
    return value if isinstance(value, str) and value.isprintable() and len(value) <= 16 else ""


@functools.lru_cache(maxsize=65_536)
def _checksummed(topic: str) -> str:
    """The EIP-55 address an indexed address topic holds (recipients recur across reads: cached)."""
    return to_checksum_address("0x" + topic[26:])


def _expect(log: dict[str, Any], topics: int, words: int) -> None:
    if len(log["topics"]) != topics or len(log["data"]) != 2 + 64 * words:
        raise PayoutMismatch(
            f"the log {int(log['logIndex'], 16)} of {log['transactionHash']} has {len(log['topics'])} topics and "
            f"{(len(log['data']) - 2) // 2} data bytes, which its event's ABI does not allow"
        )


def _batch_payments(
    rpc: RawRpc,
    batches: Sequence[dict[str, Any]],
    *,
    executor: str,
    wanted: dict[str, int],
    token: str,
    source_topic: str,
    size: int,
) -> list[Payment]:
    """The pushed and credited payments of each ``BatchExecuted`` log, from its transaction's receipt."""
    tx_hashes = list(dict.fromkeys(log["transactionHash"].lower() for log in batches))
    receipts: dict[str, dict[str, Any]] = {}
    for offset in range(0, len(tx_hashes), size):
        group = tx_hashes[offset : offset + size]
        replies = rpc.batch([("eth_getTransactionReceipt", [tx_hash]) for tx_hash in group])
        for tx_hash, reply in zip(group, replies, strict=True):
            receipt = reply.get("result")
            if "error" in reply or not isinstance(receipt, dict):
                raise RpcError(f"the node has no receipt for {tx_hash}: {str(reply.get('error'))[:160]}")
            receipts[tx_hash] = receipt
    expected_hash = {log["transactionHash"].lower(): log["blockHash"].lower() for log in batches}
    payments: list[Payment] = []
    with collector_paused():
        for tx_hash in tx_hashes:
            receipt = receipts[tx_hash]
            block_hash = receipt["blockHash"].lower()
            if block_hash != expected_hash[tx_hash]:
                raise PayoutMismatch(
                    f"{tx_hash} moved from block {expected_hash[tx_hash]} to {block_hash} while it was read "
                    "(a reorganisation): read again at a deeper block"
                )
            payments.extend(
                _receipt_payments(receipt, executor=executor, wanted=wanted, token=token, source_topic=source_topic)
            )
    return payments


def _receipt_payments(
    receipt: dict[str, Any], *, executor: str, wanted: dict[str, int], token: str, source_topic: str
) -> list[Payment]:
    tx_hash = receipt["transactionHash"].lower()
    block_number = int(receipt["blockNumber"], 16)
    block_hash = receipt["blockHash"].lower()
    token_topic = address_topic(token)
    logs = sorted(receipt["logs"], key=lambda log: int(log["logIndex"], 16))
    segment: list[tuple[str, str, int, int, str | None]] = []  # (kind, account topic, amount, log index, plan topic)
    payments: list[Payment] = []
    for log in logs:
        address, topics, data = log["address"].lower(), log["topics"], log["data"]
        log_index = int(log["logIndex"], 16)
        if not topics:
            continue
        if address == token and topics[0] == TRANSFER_TOPIC and len(topics) == 3 and len(data) == 66:
            if topics[1] == source_topic:
                segment.append((PUSHED, topics[2], int(data, 16), log_index, None))
            continue
        if address != executor:
            continue
        if topics[0] == CREDITED_TOPIC:
            if len(topics) == 4 and topics[3] == token_topic:
                segment.append((CREDITED, topics[2], int(data, 16), log_index, topics[1]))
            continue
        if topics[0] == BATCH_EXECUTED_TOPIC and topics[1] in wanted:
            plan_id, batch_index = wanted[topics[1]], int(topics[2], 16)
            count, total = int(data[2:66], 16), int(data[66:130], 16)
            foreign = [entry for entry in segment if entry[4] not in (None, topics[1])]
            found = sum(entry[2] for entry in segment)
            if foreign or len(segment) != count or found != total:
                raise PayoutMismatch(
                    f"batch {batch_index} of plan {plan_id} in {tx_hash} reports {count} recipients and a total of "
                    f"{total}, but its transaction shows {len(segment)} payments of {token} totalling {found}: a "
                    "token that charges a fee or emits extra Transfers, or the wrong mode "
                    "(restitute pays from the executor, restore mints from the zero address)"
                )
            for kind, account_topic, amount, index, _ in segment:
                payments.append(
                    Payment(
                        _checksummed(account_topic),
                        amount,
                        kind,
                        plan_id,
                        batch_index,
                        tx_hash,
                        block_number,
                        block_hash,
                        index,
                    )
                )
        # Any other executor log closes what came before it (see the module's docstring).
        segment = []
    return payments
