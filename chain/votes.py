"""What the indexer reads from the chain: governor and RecoveryExecutor logs, and the proposal's state.

Plain Python over ``chain.logs.RawRpc``, no Django. Logs are read by ``chain.logs.scan_raw_logs``,
the pager of Transfer logs: raw ``eth_getLogs`` paged by block range, a refused range halved,
the next page fetched on a thread while this one is parsed, the collector off while parsing.
One query per page covers both contracts and all three events (``address`` and ``topics[0]``
as lists).

Decoding slices the hex of each log instead of going through eth-abi: a ``VoteCast`` costs
about 4 us that way against about 40 us through ``eth_abi.decode`` (and far more through
web3.py's event objects). The layout is fixed by the events' ABI (read from the compiled
artifacts, never written out here); every offset and length is checked against the data, and
a log that does not fit raises ``MalformedLog``. The tests compare the result with eth-abi's.

Proposal reads (``state``, ``proposalSnapshot``, ``proposalDeadline``, ``proposalEta``,
``proposalVotes``) go in one JSON-RPC batch at a block *hash* (EIP-1898), so they describe
exactly the block the indexer pinned, and a block reorganised away fails instead of
answering for its replacement.
"""

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from chain.artifacts import load_artifact
from chain.errors import ChainError, RpcError
from chain.governor import PROPOSAL_STATES
from chain.logs import RawRpc, collector_paused


class MalformedLog(ChainError):
    """A log with the event's topic whose data does not fit the event's ABI."""


def _event(artifact: str, name: str) -> tuple[str, tuple[str, ...]]:
    """(topic0, data types of the non-indexed inputs) of event ``name`` in ``artifact``'s ABI."""
    for entry in load_artifact(artifact).abi:
        if entry.get("type") == "event" and entry["name"] == name:
            signature = f"{name}({','.join(i['type'] for i in entry['inputs'])})"
            data_types = tuple(i["type"] for i in entry["inputs"] if not i["indexed"])
            return "0x" + keccak(text=signature).hex(), data_types
    raise LookupError(f"{artifact} has no event {name}")


VOTE_CAST_TOPIC, VOTE_CAST_TYPES = _event("LifeboatGovernor", "VoteCast")
VOTE_CAST_WITH_PARAMS_TOPIC, VOTE_CAST_WITH_PARAMS_TYPES = _event("LifeboatGovernor", "VoteCastWithParams")
PLAN_APPROVED_TOPIC, PLAN_APPROVED_TYPES = _event("RecoveryExecutor", "PlanApproved")
# The slicing below relies on these layouts; an artifact that changed them fails at import.
assert VOTE_CAST_TYPES == ("uint256", "uint8", "uint256", "string"), VOTE_CAST_TYPES
assert VOTE_CAST_WITH_PARAMS_TYPES == ("uint256", "uint8", "uint256", "string", "bytes"), VOTE_CAST_WITH_PARAMS_TYPES
_PLAN_APPROVED_LAYOUT = ("uint64", "bytes32", "uint8", "uint8", "uint32", "uint256", "uint64")
assert PLAN_APPROVED_TYPES == _PLAN_APPROVED_LAYOUT, PLAN_APPROVED_TYPES


@dataclass(frozen=True, slots=True)
class VoteLog:
    """One vote of the followed proposal; ``voter`` is EIP-55, ``block_hash``/``tx_hash`` lowercase 0x-hex."""

    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    voter: str
    support: int
    weight: int
    reason: str
    params: str | None  # 0x-hex for VoteCastWithParams, None for VoteCast


@dataclass(frozen=True, slots=True)
class ApprovalLog:
    """One ``PlanApproved`` of the RecoveryExecutor."""

    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    recovery_executor: str
    plan_id: int
    batches_root: str  # the batch commitment (push) or the allocation root (pull)
    token: str
    mode: int
    batch_count: int
    budget: int
    incident_key: str
    version: int
    delivery: int  # RecoveryExecutor.Delivery: 0 push, 1 push with the claimable fallback, 2 pull
    claim_deadline: int  # pull: last timestamp a claim is accepted; push: 0


@dataclass(frozen=True, slots=True)
class ProposalReading:
    """The governor's answers about one proposal at one block."""

    state: str
    snapshot: int
    deadline: int
    eta: int
    against_votes: int
    for_votes: int
    abstain_votes: int


def uint_word(value: int) -> str:
    """``value`` as the 64 lowercase hex digits of an ABI word (no 0x)."""
    return format(value, "064x")


@functools.lru_cache(maxsize=65_536)
def _checksummed(topic: str) -> str:
    # A voter votes once a proposal, but the same voters vote on every proposal of a governor.
    return to_checksum_address("0x" + topic[26:])


def _bytes_at(data: str, offset_word: str, log: Mapping[str, Any]) -> bytes:
    """The dynamic ``bytes``/``string`` whose head word (offset in bytes from the data's start) is ``offset_word``."""
    offset = int(offset_word, 16)
    start = 2 + offset * 2
    if offset % 32 or start + 64 > len(data):
        raise _malformed(log, f"offset {offset} is outside the data")
    length = int(data[start : start + 64], 16)
    body = data[start + 64 : start + 64 + length * 2]
    if len(body) != length * 2:
        raise _malformed(log, f"a length of {length} bytes runs past the data")
    return bytes.fromhex(body)


def _malformed(log: Mapping[str, Any], reason: str) -> MalformedLog:
    return MalformedLog(
        f"the log {log.get('logIndex')} of transaction {log.get('transactionHash')} does not fit its event: {reason}"
    )


def decode_votes(logs: Iterable[Mapping[str, Any]], *, governor: str, proposal_id: int) -> list[VoteLog]:
    """The ``VoteCast``/``VoteCastWithParams`` of ``proposal_id`` by ``governor`` among raw ``logs``, in order.

    Logs of other contracts, events or proposals are skipped. A reason that is not valid UTF-8
    is decoded with replacement characters (the vote still counts).
    """
    governor = governor.lower()
    wanted = "0x" + uint_word(proposal_id)
    votes: list[VoteLog] = []
    append = votes.append
    with collector_paused():
        for log in logs:
            topics = log["topics"]
            if not topics or log["address"].lower() != governor:
                continue
            topic0, data = topics[0], log["data"]
            with_params = topic0 == VOTE_CAST_WITH_PARAMS_TOPIC
            if not (with_params or topic0 == VOTE_CAST_TOPIC) or data[:66] != wanted:
                continue
            heads = 5 if with_params else 4
            if len(topics) != 2 or len(data) < 2 + 64 * (heads + 1) or len(data) % 64 != 2:
                raise _malformed(log, f"{len(topics)} topics and {(len(data) - 2) // 2} data bytes")
            support = int(data[66:130], 16)
            if support > 255:
                raise _malformed(log, f"support {support} is not a uint8")
            reason = _bytes_at(data, data[194:258], log).decode("utf-8", errors="replace")
            params = "0x" + _bytes_at(data, data[258:322], log).hex() if with_params else None
            append(
                VoteLog(
                    int(log["blockNumber"], 16),
                    log["blockHash"].lower(),
                    log["transactionHash"].lower(),
                    int(log["logIndex"], 16),
                    _checksummed(topics[1]),
                    support,
                    int(data[130:194], 16),
                    reason,
                    params,
                )
            )
    return votes


def decode_approvals(
    logs: Iterable[Mapping[str, Any]], *, recovery_executor: str, plan_ids: Iterable[int] | None = None
) -> list[ApprovalLog]:
    """The ``PlanApproved`` of ``plan_ids`` (None: any plan) by ``recovery_executor`` among raw ``logs``, in order."""
    executor = recovery_executor.lower()
    wanted = None if plan_ids is None else {"0x" + uint_word(plan_id) for plan_id in plan_ids}
    approvals = []
    for log in logs:
        topics = log["topics"]
        if not topics or topics[0] != PLAN_APPROVED_TOPIC or log["address"].lower() != executor:
            continue
        if len(topics) != 4 or len(log["data"]) != 2 + 64 * len(PLAN_APPROVED_TYPES):
            raise _malformed(log, f"{len(topics)} topics and {(len(log['data']) - 2) // 2} data bytes")
        if wanted is not None and topics[1] not in wanted:
            continue
        version, root, mode, delivery, batch_count, budget, deadline = decode(
            list(PLAN_APPROVED_TYPES), bytes.fromhex(log["data"][2:])
        )
        approvals.append(
            ApprovalLog(
                int(log["blockNumber"], 16),
                log["blockHash"].lower(),
                log["transactionHash"].lower(),
                int(log["logIndex"], 16),
                to_checksum_address(log["address"]),
                int(topics[1], 16),
                "0x" + root.hex(),
                _checksummed(topics[3]),
                mode,
                batch_count,
                budget,
                topics[2].lower(),
                version,
                delivery,
                deadline,
            )
        )
    return approvals


@functools.cache
def _function(name: str) -> tuple[bytes, tuple[str, ...], tuple[str, ...]]:
    """(selector, input types, output types) of the governor function ``name``, from the compiled ABI."""
    for entry in load_artifact("LifeboatGovernor").abi:
        if entry.get("type") == "function" and entry["name"] == name:
            inputs = tuple(i["type"] for i in entry["inputs"])
            outputs = tuple(o["type"] for o in entry["outputs"])
            return keccak(text=f"{name}({','.join(inputs)})")[:4], inputs, outputs
    raise LookupError(f"the governor ABI has no function {name}")


def _call_params(to: str, name: str, args: Sequence[Any], block: Any) -> list[Any]:
    selector, inputs, _ = _function(name)
    data = selector + (encode(list(inputs), list(args)) if inputs else b"")
    return [{"to": to, "data": "0x" + data.hex()}, block]


def _decoded(reply: Mapping[str, Any], name: str) -> tuple[Any, ...] | None:
    """The outputs of one ``eth_call`` reply of the batch; None when the call reverted."""
    if "error" in reply:
        message = str(reply["error"].get("message", reply["error"]) if isinstance(reply["error"], dict) else "")
        if "revert" in message.lower():
            return None
        raise RpcError(f"eth_call {name} failed: {message[:200]}")
    _, _, outputs = _function(name)
    try:
        return tuple(decode(list(outputs), bytes.fromhex(reply["result"][2:])))
    except (DecodingError, ValueError, TypeError, KeyError) as error:
        raise RpcError(f"eth_call {name} answered what its ABI cannot decode: {error}") from None


def read_proposal(rpc: RawRpc, *, governor: str, proposal_id: int, block_hash: str) -> ProposalReading | None:
    """The proposal's state, timepoints, eta and ``proposalVotes`` at the block ``block_hash``.

    None when the governor has no such proposal at that block (``state`` reverts). An error
    from the node (including a block it no longer has) raises ``RpcError``.
    """
    block = {"blockHash": block_hash, "requireCanonical": True}
    names = ("state", "proposalSnapshot", "proposalDeadline", "proposalEta", "proposalVotes")
    replies = rpc.batch([("eth_call", _call_params(governor, name, [proposal_id], block)) for name in names])
    state = _decoded(replies[0], "state")
    if state is None:
        return None
    values = {name: _decoded(reply, name) for name, reply in zip(names[1:], replies[1:], strict=True)}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise RpcError(f"the governor {governor} reverts {', '.join(missing)} for proposal {proposal_id}")
    if state[0] >= len(PROPOSAL_STATES):
        raise RpcError(f"the governor {governor} answers state {state[0]}, which IGovernor does not define")
    against, for_, abstain = values["proposalVotes"]  # type: ignore[misc]
    return ProposalReading(
        state=PROPOSAL_STATES[state[0]],
        snapshot=values["proposalSnapshot"][0],  # type: ignore[index]
        deadline=values["proposalDeadline"][0],  # type: ignore[index]
        eta=values["proposalEta"][0],  # type: ignore[index]
        against_votes=against,
        for_votes=for_,
        abstain_votes=abstain,
    )


def read_quorum_and_clock(rpc: RawRpc, *, governor: str, timepoint: int) -> tuple[int | None, int | None]:
    """(``quorum(timepoint)``, ``clock()``) at the head; None for either that reverts (a future timepoint)."""
    replies = rpc.batch(
        [
            ("eth_call", _call_params(governor, "quorum", [timepoint], "latest")),
            ("eth_call", _call_params(governor, "clock", [], "latest")),
        ]
    )
    quorum, clock = _decoded(replies[0], "quorum"), _decoded(replies[1], "clock")
    return (quorum[0] if quorum else None), (clock[0] if clock else None)


def transaction_block(rpc: RawRpc, tx_hash: str) -> tuple[int, str] | None:
    """(block number, block hash) of a mined, successful transaction; None when the node has no such receipt."""
    receipt = rpc.call("eth_getTransactionReceipt", [tx_hash])
    if not isinstance(receipt, dict) or receipt.get("blockHash") is None or receipt.get("status") != "0x1":
        return None
    return int(receipt["blockNumber"], 16), receipt["blockHash"].lower()
