"""The chain side of publishing, queueing and executing a proposal on an OpenZeppelin Governor (v5).

Plain web3, no Django. Every node failure comes out as ``RpcUnavailable``, every revert as ``Reverted`` with
the governor's custom error decoded, so the services above handle two exceptions, not web3's.

Facts this relies on (``@openzeppelin/contracts`` 5.7.0, ``governance/Governor.sol``):
- ``hashProposal`` is ``uint256(keccak256(abi.encode(targets, values, calldatas, descriptionHash)))``
  and names neither the chain nor the governor; a ``GovernorSequentialProposalId`` governor
  numbers proposals 1, 2, 3 instead and maps the hash to its number (``getProposalId``).
- ``ProposalCreated`` indexes nothing, so the log is found by scanning the governor's logs
  and comparing its fields.
- ``propose`` checks ``getVotes(proposer, clock() - 1) >= proposalThreshold()``.
"""

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TimeExhausted, Web3RPCError
from web3.logs import DISCARD
from web3.types import TxReceipt

from chain.artifacts import bind
from chain.errors import Reverted, RpcUnavailable
from chain.governor import PROPOSAL_STATES
from chain.redaction import redact
from chain.rpc import endpoint, rpc_unavailable
from chain.transact import reverts_as_chain_errors, send
from chain.votes import ApprovalLog, decode_approvals

# A broadcast the node answers with one of these was sent before (by us, with the same bytes).
_ALREADY_SENT = ("already known", "known transaction", "nonce too low", "already imported")
# Log scans in pages of this many blocks (well under the usual node limits).
_LOG_PAGE = 5_000


@dataclass(frozen=True, slots=True)
class GovernorCall:
    target: str
    value: int
    calldata: bytes


@dataclass(frozen=True, slots=True)
class SignedPropose:
    raw: bytes
    tx_hash: str
    nonce: int


@dataclass(frozen=True, slots=True)
class CreatedProposal:
    """A ``ProposalCreated`` log, with the block it is in."""

    proposal_id: int
    proposer: str
    description_hash: str
    targets: tuple[str, ...]
    values: tuple[int, ...]
    calldatas: tuple[bytes, ...]
    vote_start: int
    vote_end: int
    block_number: int
    block_hash: str
    tx_hash: str


@dataclass(frozen=True, slots=True)
class ProposalStatus:
    """What the governor says about a proposal, read at ``block_number``."""

    state: str
    deadline: int  # clock units (re-read: a late quorum moves it)
    needs_queuing: bool
    eta: int  # seconds (a timestamp); 0 until queued
    block_number: int
    block_timestamp: int
    clock: int


def description_hash(description: str) -> bytes:
    return keccak(text=description)


def hash_proposal(calls: Sequence[GovernorCall], description: str) -> int:
    """The id a hashing governor gives the proposal: ``hashProposal`` computed here."""
    types = ["address[]", "uint256[]", "bytes[]", "bytes32"]
    encoded = encode(types, [*call_columns(calls), description_hash(description)])
    return int.from_bytes(keccak(encoded), "big")


def call_columns(calls: Sequence[GovernorCall]) -> tuple[list[str], list[int], list[bytes]]:
    """(targets, values, calldatas): the three arrays every governor function takes."""
    return [to_checksum_address(c.target) for c in calls], [c.value for c in calls], [c.calldata for c in calls]


def governor_contract(w3: Web3, address: str) -> Contract:
    # The dev governor's ABI is IGovernor's (plus its extensions): any v5 governor answers it.
    return bind(w3, "LifeboatGovernor", address)


@contextlib.contextmanager
def node_errors(w3: Web3) -> Iterator[None]:
    """Turn transport failures into ``RpcUnavailable`` (redacted: the URL may hold a key)."""
    try:
        yield
    except (requests.RequestException, OSError, TimeExhausted) as error:
        raise rpc_unavailable(w3, error) from None
    except Web3RPCError as error:
        if "revert" in str(error).lower():
            raise Reverted(redact(str(error).splitlines()[0][:200], secrets=[endpoint(w3)])) from None
        raise rpc_unavailable(w3, error) from None


def clock_of(w3: Web3, governor: Contract) -> int:
    """The governor's ERC-6372 clock (block numbers when it has no ``clock()``)."""
    with node_errors(w3):
        try:
            return int(reverts_as_chain_errors(governor.functions.clock().call))
        except Reverted:
            return int(w3.eth.block_number)


def proposer_votes(w3: Web3, governor: Contract, proposer: str) -> tuple[int, int, int]:
    """``(votes at clock - 1, proposalThreshold, clock - 1)``, as ``propose`` checks them."""
    timepoint = clock_of(w3, governor) - 1
    with node_errors(w3):
        votes = reverts_as_chain_errors(governor.functions.getVotes(proposer, timepoint).call)
        threshold = reverts_as_chain_errors(governor.functions.proposalThreshold().call)
    return int(votes), int(threshold), timepoint


def head(w3: Web3) -> tuple[int, str, int]:
    """``(number, hash, timestamp)`` of the head block."""
    with node_errors(w3):
        block = w3.eth.get_block("latest")
    return int(block["number"]), block["hash"].to_0x_hex(), int(block["timestamp"])


def sign_propose(
    w3: Web3, account: LocalAccount, governor: Contract, calls: Sequence[GovernorCall], description: str, *, nonce: int
) -> SignedPropose:
    """The signed ``propose`` at ``nonce``; the gas is estimated, so a refusal raises ``Reverted`` here."""
    function = governor.functions.propose(*call_columns(calls), description)
    with node_errors(w3):
        tx = reverts_as_chain_errors(
            lambda: function.build_transaction(
                {"from": account.address, "nonce": nonce, "chainId": int(w3.eth.chain_id)}
            )
        )
    tx.pop("from", None)
    signed = account.sign_transaction(tx)
    return SignedPropose(raw=bytes(signed.raw_transaction), tx_hash=signed.hash.to_0x_hex(), nonce=nonce)


def broadcast(w3: Web3, raw: bytes) -> None:
    """Send signed bytes; a node that already has them (or has mined them) counts as sent."""
    try:
        with node_errors(w3):
            w3.eth.send_raw_transaction(raw)
    except RpcUnavailable as error:
        if any(marker in str(error).lower() for marker in _ALREADY_SENT):
            return
        raise


def _created(event: Any) -> CreatedProposal:
    args = event["args"]
    return CreatedProposal(
        proposal_id=int(args["proposalId"]),
        proposer=to_checksum_address(args["proposer"]),
        description_hash="0x" + description_hash(args["description"]).hex(),
        targets=tuple(to_checksum_address(t) for t in args["targets"]),
        values=tuple(int(v) for v in args["values"]),
        calldatas=tuple(bytes(c) for c in args["calldatas"]),
        vote_start=int(args["voteStart"]),
        vote_end=int(args["voteEnd"]),
        block_number=int(event["blockNumber"]),
        block_hash=event["blockHash"].to_0x_hex(),
        tx_hash=event["transactionHash"].to_0x_hex(),
    )


def created_in_receipt(governor: Contract, receipt: TxReceipt) -> list[CreatedProposal]:
    """The ``ProposalCreated`` logs the governor emitted in ``receipt``."""
    events = governor.events.ProposalCreated().process_receipt(receipt, errors=DISCARD)
    return [_created(e) for e in events if e["address"] == governor.address]


def find_created(
    w3: Web3, governor: Contract, *, from_block: int, description_hash_hex: str, proposer: str
) -> CreatedProposal | None:
    """The first ``ProposalCreated`` since ``from_block`` by ``proposer`` with this description hash."""
    for event in _events_since(w3, governor, "ProposalCreated", from_block):
        created = _created(event)
        if created.description_hash == description_hash_hex and created.proposer == proposer:
            return created
    return None


def _events_since(w3: Web3, governor: Contract, event: str, from_block: int) -> Iterator[Any]:
    """The governor's ``event`` logs from ``from_block`` to the head, decoded, asked for in pages of ``_LOG_PAGE``."""
    last, _, _ = head(w3)
    start = from_block
    while start <= last:
        end = min(start + _LOG_PAGE - 1, last)
        with node_errors(w3):
            logs = getattr(governor.events, event)().get_logs(from_block=start, to_block=end)
        yield from logs
        start = end + 1


def proposal_exists(w3: Web3, governor: Contract, proposal_id: int) -> bool:
    """Whether the governor knows ``proposal_id`` (its snapshot is set at creation, never 0 after)."""
    with node_errors(w3):
        return int(reverts_as_chain_errors(governor.functions.proposalSnapshot(proposal_id).call)) != 0


def governor_proposal_id(w3: Web3, governor: Contract, calls: Sequence[GovernorCall], description: str) -> int | None:
    """The governor's own ``getProposalId`` (None when it has none, or reverts for an unknown proposal)."""
    try:
        with node_errors(w3):
            return int(
                reverts_as_chain_errors(
                    governor.functions.getProposalId(*call_columns(calls), description_hash(description)).call
                )
            )
    except Reverted:
        return None


def read_status(w3: Web3, governor: Contract, proposal_id: int) -> ProposalStatus:
    """State, deadline, whether it needs queuing and its ETA, all read at the head block."""
    number, _, timestamp = head(w3)

    def read(name: str) -> Any:
        function = getattr(governor.functions, name)(proposal_id)
        with node_errors(w3):
            return reverts_as_chain_errors(lambda: function.call(block_identifier=number))

    names = ("state", "proposalDeadline", "proposalNeedsQueuing", "proposalEta")
    state, deadline, needs, eta = (read(name) for name in names)
    return ProposalStatus(
        state=PROPOSAL_STATES[int(state)],
        deadline=int(deadline),
        needs_queuing=bool(needs),
        eta=int(eta),
        block_number=number,
        block_timestamp=timestamp,
        clock=clock_of(w3, governor),
    )


def send_outcome(
    w3: Web3, account: LocalAccount, governor: Contract, action: str, calls: Sequence[GovernorCall], description: str
) -> TxReceipt:
    """Send ``queue`` or ``execute`` for the proposal from ``account`` and wait for its receipt."""
    function = getattr(governor.functions, action)(*call_columns(calls), description_hash(description))
    with node_errors(w3):
        return send(w3, account, function)  # type: ignore[return-value]


def plans_approved(recovery_executor: str, receipt: TxReceipt) -> list[ApprovalLog]:
    """The RecoveryExecutor's ``PlanApproved`` logs in ``receipt``, decoded as the indexer decodes them."""
    raw = [
        {
            "address": log["address"],
            "topics": ["0x" + bytes(topic).hex() for topic in log["topics"]],
            "data": "0x" + bytes(log["data"]).hex(),
            "blockNumber": hex(log["blockNumber"]),
            "blockHash": log["blockHash"].to_0x_hex(),
            "transactionHash": log["transactionHash"].to_0x_hex(),
            "logIndex": hex(log["logIndex"]),
        }
        for log in receipt["logs"]
    ]
    return decode_approvals(raw, recovery_executor=recovery_executor)


def find_outcome_tx(w3: Web3, governor: Contract, *, event: str, proposal_id: int, from_block: int) -> str | None:
    """The transaction of the governor's ``ProposalQueued``/``ProposalExecuted`` for ``proposal_id``, if any."""
    for log in _events_since(w3, governor, event, from_block):
        if int(log["args"]["proposalId"]) == proposal_id:
            return log["transactionHash"].to_0x_hex()
    return None
