"""OpenZeppelin Governor v5 ballots on chain: the typed data, signatures, reads and the relay call.

Plain web3 and eth-account, no Django. A governor v5 takes a vote signed off chain as
``castVoteBySig(proposalId, support, voter, signature)`` over the EIP-712 struct
``Ballot(uint256 proposalId,uint8 support,address voter,uint256 nonce)``, or
``castVoteWithReasonAndParamsBySig`` over ``ExtendedBallot(..., string reason, bytes params)``,
under the governor's own EIP-712 domain (ERC-5267 ``eip712Domain()``). It checks the signature
with ``SignatureChecker`` (ECDSA for an account without code, EIP-1271 ``isValidSignature`` for
a contract, which ``chain.wallets.ask_wallet`` asks the same way) and consumes the voter's
sequential nonce, so a relayed ballot invalidates the voter's other pending ones.

v4 governors signed ``Ballot(uint256 proposalId,uint8 support)`` (no voter, no nonce): such a
signature recovers to the voter only under the v4 type, which is how one is recognised.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from eth_account.messages import encode_typed_data
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractLogicError,
    Web3RPCError,
)
from web3.logs import DISCARD
from web3.types import TxReceipt

from chain.artifacts import bind
from chain.errors import ChainError, Reverted
from chain.governor import PROPOSAL_STATES
from chain.rpc import rpc_unavailable
from chain.transact import decode_revert

T = TypeVar("T")

# GovernorCountingSimple's VoteType, which is what `support` means on an OpenZeppelin governor.
SUPPORT_VALUES = {"against": 0, "for": 1, "abstain": 2}
SUPPORT_NAMES = {value: name for name, value in SUPPORT_VALUES.items()}

ACTIVE = PROPOSAL_STATES.index("active")

BALLOT_FIELDS = [
    {"name": "proposalId", "type": "uint256"},
    {"name": "support", "type": "uint8"},
    {"name": "voter", "type": "address"},
    {"name": "nonce", "type": "uint256"},
]
EXTENDED_BALLOT_FIELDS = [*BALLOT_FIELDS, {"name": "reason", "type": "string"}, {"name": "params", "type": "bytes"}]
V4_BALLOT_FIELDS = BALLOT_FIELDS[:2]

# ERC-5267's `fields` bitmap: which of the domain's members the governor uses, in this order.
_DOMAIN_MEMBERS = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
    ("salt", "bytes32"),
)


class BallotReadFailed(ChainError):
    """The governor does not answer a read every OpenZeppelin v5 governor answers (``reason`` says which)."""


@dataclass(frozen=True, slots=True)
class GovernorDomain:
    """A governor's EIP-712 domain as ERC-5267 ``eip712Domain()`` reports it; ``None`` members are unused."""

    name: str | None
    version: str | None
    chain_id: int | None
    verifying_contract: ChecksumAddress | None
    salt: bytes | None = None

    def as_json(self) -> dict[str, Any]:
        """The domain as wallets take it (``eth_signTypedData_v4``); the chain id as a JSON number."""
        values = {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
            "salt": "0x" + self.salt.hex() if self.salt is not None else None,
        }
        return {member: values[member] for member, _ in _DOMAIN_MEMBERS if values[member] is not None}

    def type_fields(self) -> list[dict[str, str]]:
        present = self.as_json()
        return [{"name": member, "type": kind} for member, kind in _DOMAIN_MEMBERS if member in present]


@dataclass(frozen=True, slots=True)
class Ballot:
    """What a voter signs. ``reason``/``params`` given (even empty) make it an ``ExtendedBallot``."""

    proposal_id: int
    support: int
    voter: ChecksumAddress
    nonce: int
    reason: str | None = None
    params: bytes | None = None

    @property
    def extended(self) -> bool:
        return self.reason is not None or self.params is not None

    @property
    def primary_type(self) -> str:
        return "ExtendedBallot" if self.extended else "Ballot"


def ballot_typed_data(domain: GovernorDomain, ballot: Ballot) -> dict[str, Any]:
    """The EIP-712 typed data of ``ballot`` as a wallet signs it; uint256 values as decimal strings."""
    message: dict[str, Any] = {
        "proposalId": str(ballot.proposal_id),
        "support": ballot.support,
        "voter": ballot.voter,
        "nonce": str(ballot.nonce),
    }
    if ballot.extended:
        message["reason"] = ballot.reason or ""
        message["params"] = "0x" + (ballot.params or b"").hex()
    fields = EXTENDED_BALLOT_FIELDS if ballot.extended else BALLOT_FIELDS
    return {
        "types": {"EIP712Domain": domain.type_fields(), ballot.primary_type: fields},
        "primaryType": ballot.primary_type,
        "domain": domain.as_json(),
        "message": message,
    }


def v4_ballot_typed_data(domain: GovernorDomain, *, proposal_id: int, support: int) -> dict[str, Any]:
    """The typed data an OpenZeppelin v4 governor took: ``Ballot(uint256 proposalId,uint8 support)``."""
    return {
        "types": {"EIP712Domain": domain.type_fields(), "Ballot": V4_BALLOT_FIELDS},
        "primaryType": "Ballot",
        "domain": domain.as_json(),
        "message": {"proposalId": str(proposal_id), "support": support},
    }


def typed_data_digest(typed_data: Mapping[str, Any]) -> bytes:
    """The EIP-712 digest (``keccak256(0x1901 || domainSeparator || structHash)``) of ``typed_data``."""
    signable = encode_typed_data(full_message=_for_encoding(typed_data))
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def _for_encoding(typed_data: Mapping[str, Any]) -> dict[str, Any]:
    # eth-account wants integers as ints; the JSON carries uint256 values as decimal strings.
    types = typed_data["types"]

    def convert(fields: list[dict[str, str]], values: Mapping[str, Any]) -> dict[str, Any]:
        kinds = {field["name"]: field["type"] for field in fields}
        return {
            key: int(value) if kinds.get(key, "").startswith(("uint", "int")) and isinstance(value, str) else value
            for key, value in values.items()
        }

    return {
        "types": types,
        "primaryType": typed_data["primaryType"],
        "domain": convert(types["EIP712Domain"], typed_data["domain"]),
        "message": convert(types[typed_data["primaryType"]], typed_data["message"]),
    }


# --- reads -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BallotReads:
    """What the governor says about a voter and a proposal at ``block_number`` (``block_hash``)."""

    chain_id: int
    block_number: int
    block_hash: str
    domain: GovernorDomain
    nonce: int  # nonces(voter): the nonce the next ballot must carry
    state: int  # IGovernor.ProposalState
    snapshot: int  # proposalSnapshot (clock units): voting opens after it
    deadline: int  # proposalDeadline (clock units)
    clock: int  # the governor's clock now
    weight: int  # getVotes(voter, snapshot)
    has_voted: bool
    voter_is_contract: bool  # then the governor checks the signature through EIP-1271

    @property
    def state_name(self) -> str:
        return PROPOSAL_STATES[self.state].capitalize() if self.state < len(PROPOSAL_STATES) else str(self.state)


def _read(w3: Web3, what: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except (ContractLogicError, BadFunctionCallOutput) as error:
        data = getattr(error, "data", None)
        name, args = decode_revert(data if isinstance(data, str) else None)
        shown = f"{name}({', '.join(map(str, args))})" if args else name
        raise BallotReadFailed(f"{what} reverted ({shown})") from None
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None


def read_domain(w3: Web3, governor: str, *, block: int | str = "latest") -> GovernorDomain:
    """The governor's EIP-712 domain from ERC-5267 ``eip712Domain()``; ``BallotReadFailed`` when it has none."""
    contract = bind(w3, "LifeboatGovernor", governor)
    fields, name, version, chain_id, verifying, salt, _ = _read(
        w3,
        f"eip712Domain() on {contract.address}",
        lambda: contract.functions.eip712Domain().call(block_identifier=block),
    )
    bits = int.from_bytes(bytes(fields), "big")
    return GovernorDomain(
        name=name if bits & 1 else None,
        version=version if bits & 2 else None,
        chain_id=int(chain_id) if bits & 4 else None,
        verifying_contract=to_checksum_address(verifying) if bits & 8 else None,
        salt=bytes(salt) if bits & 16 else None,
    )


def read_nonce(w3: Web3, governor: str, voter: str) -> int:
    """``nonces(voter)`` on the governor: the nonce the voter's next ballot must carry."""
    contract = bind(w3, "LifeboatGovernor", governor)
    account = to_checksum_address(voter)
    return _read(w3, f"nonces({account}) on {contract.address}", lambda: contract.functions.nonces(account).call())


def read_ballot_state(w3: Web3, *, governor: str, proposal_id: int, voter: str) -> BallotReads:
    """Everything the checks of a ballot need, all read at the head block."""
    try:
        head = w3.eth.get_block("latest")
        chain_id = int(w3.eth.chain_id)
        voter_code = w3.eth.get_code(to_checksum_address(voter), head["number"])
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None
    block = int(head["number"])
    contract = bind(w3, "LifeboatGovernor", governor)
    functions = contract.functions
    account = to_checksum_address(voter)

    def call(what: str, function: ContractFunction) -> Any:
        return _read(w3, f"{what} on the governor {contract.address}", lambda: function.call(block_identifier=block))

    state = call(f"state({proposal_id})", functions.state(proposal_id))
    snapshot = call(f"proposalSnapshot({proposal_id})", functions.proposalSnapshot(proposal_id))
    clock = _clock(w3, contract, block, int(head["timestamp"]))
    # getVotes reverts for a timepoint not in the past (ERC5805FutureLookup): before voting opens
    # the weight is not known yet, and the state check refuses the ballot anyway.
    weight = call(f"getVotes({account}, {snapshot})", functions.getVotes(account, snapshot)) if snapshot < clock else 0
    return BallotReads(
        chain_id=chain_id,
        block_number=block,
        block_hash=head["hash"].to_0x_hex(),
        domain=read_domain(w3, contract.address, block=block),
        nonce=call(f"nonces({account})", functions.nonces(account)),
        state=state,
        snapshot=snapshot,
        deadline=call(f"proposalDeadline({proposal_id})", functions.proposalDeadline(proposal_id)),
        clock=clock,
        weight=weight,
        has_voted=call(f"hasVoted({proposal_id}, {account})", functions.hasVoted(proposal_id, account)),
        voter_is_contract=bool(voter_code),
    )


def _clock(w3: Web3, contract: Any, block: int, timestamp: int) -> int:
    try:
        return int(contract.functions.clock().call(block_identifier=block))
    except (ContractLogicError, BadFunctionCallOutput):
        return block  # no ERC-6372: block numbers
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None


# --- the relay ---------------------------------------------------------------------------------


def cast_vote_call(w3: Web3, *, governor: str, ballot: Ballot, signature: bytes) -> ContractFunction:
    """The governor call that casts ``ballot``: ``castVoteBySig`` or ``castVoteWithReasonAndParamsBySig``."""
    functions = bind(w3, "LifeboatGovernor", governor).functions
    if ballot.extended:
        return functions.castVoteWithReasonAndParamsBySig(
            ballot.proposal_id, ballot.support, ballot.voter, ballot.reason or "", ballot.params or b"", signature
        )
    return functions.castVoteBySig(ballot.proposal_id, ballot.support, ballot.voter, signature)


@dataclass(frozen=True, slots=True)
class RelayQuote:
    """The relay transaction's cost: ``gas`` at up to ``max_fee_per_gas``, against the relayer's balance."""

    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    balance: int

    @property
    def cost(self) -> int:
        return self.gas * self.max_fee_per_gas


def quote_relay(w3: Web3, *, call: ContractFunction, relayer: str) -> RelayQuote:
    """Estimate the relay's gas (which runs the vote: ``Reverted`` with the governor's reason if it would fail)."""
    sender = to_checksum_address(relayer)
    try:
        gas = call.estimate_gas({"from": sender})
        base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
        priority = int(w3.eth.max_priority_fee)
        balance = int(w3.eth.get_balance(sender))
    except ContractLogicError as error:
        data = error.data if isinstance(error.data, str) else None
        raise Reverted(*decode_revert(data)) from None
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None
    # Some headroom on the estimate (the vote's storage writes vary a little) and on the fee
    # (twice the base fee, as web3.py fills it): the relayer must afford the worst case.
    return RelayQuote(
        gas=gas + gas // 5, max_fee_per_gas=2 * base_fee + priority, max_priority_fee_per_gas=priority, balance=balance
    )


def sign_relay(
    w3: Web3, *, call: ContractFunction, account: Any, nonce: int, quote: RelayQuote, chain_id: int
) -> tuple[bytes, str]:
    """The signed relay transaction's raw bytes and hash; nothing is sent."""
    params = call.build_transaction(
        {
            "from": account.address,
            "nonce": nonce,
            "gas": quote.gas,
            "maxFeePerGas": quote.max_fee_per_gas,
            "maxPriorityFeePerGas": quote.max_priority_fee_per_gas,
            "chainId": chain_id,
        }
    )
    params.pop("from", None)
    signed = account.sign_transaction(params)
    return bytes(signed.raw_transaction), signed.hash.to_0x_hex()


class NonceTaken(ChainError):
    """The node refuses the signed transaction: its nonce was used by another transaction."""


def broadcast(w3: Web3, raw: bytes) -> None:
    """Send the signed bytes. Sending them again is harmless: "already known" counts as sent."""
    try:
        w3.eth.send_raw_transaction(raw)
    except Web3RPCError as error:
        text = str(error).lower()
        if "already known" in text or "already imported" in text:
            return
        if "nonce too low" in text or "nonce is too low" in text:
            raise NonceTaken(str(error)[:200]) from None
        raise rpc_unavailable(w3, error) from None
    except (requests.RequestException, OSError) as error:
        raise rpc_unavailable(w3, error) from None


@dataclass(frozen=True, slots=True)
class CastVote:
    """The governor's ``VoteCast``/``VoteCastWithParams`` event of a relayed ballot."""

    voter: ChecksumAddress
    proposal_id: int
    support: int
    weight: int
    reason: str
    log_index: int


def vote_cast_in(w3: Web3, receipt: TxReceipt, *, governor: str, voter: str, proposal_id: int) -> CastVote | None:
    """The vote ``receipt`` cast for ``voter`` on ``proposal_id`` at ``governor``, if it holds one."""
    contract = bind(w3, "LifeboatGovernor", governor)
    for event in (contract.events.VoteCast(), contract.events.VoteCastWithParams()):
        for log in event.process_receipt(receipt, errors=DISCARD):
            args = log["args"]
            if (
                log["address"] == contract.address
                and args["voter"] == to_checksum_address(voter)
                and int(args["proposalId"]) == proposal_id
            ):
                return CastVote(
                    voter=args["voter"],
                    proposal_id=int(args["proposalId"]),
                    support=int(args["support"]),
                    weight=int(args["weight"]),
                    reason=args["reason"],
                    log_index=int(log["logIndex"]),
                )
    return None


def replay_revert(w3: Web3, *, call: ContractFunction, relayer: str, block: int) -> str:
    """Why a mined relay failed: the call run again on the state its block left, its revert decoded.

    What made it fail usually came earlier in the same block (another vote, a nonce used), so
    the state after the block reproduces it; a failure the replay does not reproduce says so.
    """
    try:
        call.call({"from": to_checksum_address(relayer)}, block_identifier=block)
    except ContractLogicError as error:
        name, args = decode_revert(error.data if isinstance(error.data, str) else None)
        return f"{name}({', '.join(map(str, args))})" if args else name
    except (requests.RequestException, OSError, Web3RPCError):
        return "unknown (the node did not answer the replay)"
    return "out of gas or a state change between the check and the transaction"
