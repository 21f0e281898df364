"""Reading an OpenZeppelin Governor (v5) and checking that it may approve Lifeboat's plans.

``probe_governor`` reads everything publishing and following need to know about a governor,
all at one block (recorded with its hash: the chain is the ledger), and tells a governor from
anything else at the same address. ``check_approver`` checks that the account the governor
executes through (its timelock, or itself) holds ``APPROVER_ROLE`` on the RecoveryExecutor.

Calls go through ``eth_call`` with eth-abi, the signatures taken from the compiled artifacts'
ABIs, so a function a governor lacks (a revert, an empty or short return) reads as absent
instead of raising deep inside web3.py's decoders.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests
from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError, Web3RPCError

from chain.artifacts import load_artifact
from chain.errors import ChainError
from chain.rpc import rpc_unavailable

# ERC-6372: a governor without CLOCK_MODE() counts in block numbers.
BLOCKNUMBER_CLOCK_MODE = "mode=blocknumber&from=default"
TIMESTAMP_CLOCK_MODE = "mode=timestamp"

# IGovernor.ProposalState, in the enum's order: ``state(id)`` returns the index.
PROPOSAL_STATES = ("pending", "active", "canceled", "defeated", "succeeded", "queued", "expired", "executed")

# The functions IGovernor itself declares in @openzeppelin/contracts 5.7.0 (governance/IGovernor.sol),
# not those it inherits from IERC165 and IERC6372: ``type(IGovernor).interfaceId`` is the XOR of
# exactly these selectors. Governor.supportsInterface answers it, and also the id without
# ``getProposalId``, which v5.0 governors (before getProposalId joined IGovernor in 5.1) answer.
IGOVERNOR_FUNCTIONS = (
    "name()",
    "version()",
    "COUNTING_MODE()",
    "hashProposal(address[],uint256[],bytes[],bytes32)",
    "getProposalId(address[],uint256[],bytes[],bytes32)",
    "state(uint256)",
    "proposalThreshold()",
    "proposalSnapshot(uint256)",
    "proposalDeadline(uint256)",
    "proposalProposer(uint256)",
    "proposalEta(uint256)",
    "proposalNeedsQueuing(uint256)",
    "votingDelay()",
    "votingPeriod()",
    "quorum(uint256)",
    "getVotes(address,uint256)",
    "getVotesWithParams(address,uint256,bytes)",
    "hasVoted(uint256,address)",
    "propose(address[],uint256[],bytes[],string)",
    "queue(address[],uint256[],bytes[],bytes32)",
    "execute(address[],uint256[],bytes[],bytes32)",
    "cancel(address[],uint256[],bytes[],bytes32)",
    "castVote(uint256,uint8)",
    "castVoteWithReason(uint256,uint8,string)",
    "castVoteWithReasonAndParams(uint256,uint8,string,bytes)",
    "castVoteBySig(uint256,uint8,address,bytes)",
    "castVoteWithReasonAndParamsBySig(uint256,uint8,address,string,bytes,bytes)",
)


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def interface_id(signatures: Sequence[str]) -> str:
    """The ERC-165 id of an interface: the XOR of its functions' selectors, as 0x-hex."""
    value = 0
    for signature in signatures:
        value ^= int.from_bytes(_selector(signature), "big")
    return "0x" + value.to_bytes(4, "big").hex()


IGOVERNOR_INTERFACE_ID = interface_id(IGOVERNOR_FUNCTIONS)  # 0xcdbdfcee
IGOVERNOR_V5_0_INTERFACE_ID = interface_id([s for s in IGOVERNOR_FUNCTIONS if not s.startswith("getProposalId(")])

# Not in the demo governor's artifact: GovernorStorage (proposalCount, enumerable proposals, ids
# still hashed), GovernorSequentialProposalId (latestProposalId, ids 1, 2, 3, ...) and
# GovernorPreventLateQuorum (lateQuorumVoteExtension) of 5.7.0.
_EXTRA_FUNCTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "proposalCount": ("proposalCount()", ("uint256",)),
    "latestProposalId": ("latestProposalId()", ("uint256",)),
    "lateQuorumVoteExtension": ("lateQuorumVoteExtension()", ("uint48",)),
    "supportsInterface": ("supportsInterface(bytes4)", ("bool",)),
}


class NotAGovernor(ChainError):
    """The address holds no OpenZeppelin Governor: no code, or a function every governor has is missing."""

    def __init__(self, *, address: str, missing: str) -> None:
        super().__init__(f"{address} is not an OpenZeppelin Governor: {missing}")
        self.address, self.missing = address, missing


class NotARecoveryExecutor(ChainError):
    """The address answers no ``APPROVER_ROLE()``/``hasRole``: it is not a RecoveryExecutor."""

    def __init__(self, *, address: str, missing: str) -> None:
        super().__init__(f"{address} is not a RecoveryExecutor: {missing}")
        self.address, self.missing = address, missing


class ApproverMissing(ChainError):
    """The governor's executor lacks ``APPROVER_ROLE`` on the RecoveryExecutor; the message says what to grant."""

    def __init__(self, *, executor: str, recovery_executor: str, role: str, governor: str) -> None:
        super().__init__(
            f"the governor {governor} executes through {executor}, which does not hold APPROVER_ROLE on the "
            f"RecoveryExecutor {recovery_executor}, so a passed proposal could not approve a plan: call "
            f"grantRole(APPROVER_ROLE={role}, {executor}) on {recovery_executor} from an account with its "
            "admin role (DEFAULT_ADMIN_ROLE)"
        )
        self.executor, self.recovery_executor, self.role, self.governor = executor, recovery_executor, role, governor


@dataclass(frozen=True, slots=True)
class GovernorProbe:
    """What a governor says about itself at ``block_number`` (``block_hash``) on ``chain_id``."""

    address: ChecksumAddress
    chain_id: int
    block_number: int
    block_hash: str
    name: str
    version: str
    interface_id: str  # the IGovernor id it answered: 5.1+ or 5.0
    clock_mode: str
    clock: int
    voting_delay: int
    voting_period: int
    quorum: int  # at quorum_timepoint
    quorum_timepoint: int
    proposal_threshold: int
    counting_mode: str
    token: ChecksumAddress
    timelock: ChecksumAddress | None  # None: the governor executes its proposals itself
    sequential_ids: bool  # GovernorSequentialProposalId: ids 1, 2, 3 (latestProposalId)
    stores_proposals: bool  # GovernorStorage: proposalCount/proposalDetails (ids still hashed unless sequential)
    # GovernorPreventLateQuorum: a late quorum moves the deadline this far (clock units): re-read
    # proposalDeadline while following. None: the deadline never moves.
    late_quorum_extension: int | None

    @property
    def executor(self) -> ChecksumAddress:
        """The account that runs passed proposals' calls, and so must hold APPROVER_ROLE."""
        return self.timelock or self.address

    @property
    def uses_timestamps(self) -> bool:
        return self.clock_mode.startswith(TIMESTAMP_CLOCK_MODE)


class _Absent(Exception):
    """The contract has no such function: it reverted, or returned nothing decodable."""


@functools.cache
def _abi_function(artifact: str, name: str) -> tuple[str, tuple[str, ...]]:
    """(signature, output types) of ``name`` in ``artifact``'s ABI (the first overload with that name)."""
    for entry in load_artifact(artifact).abi:
        if entry.get("type") == "function" and entry["name"] == name:
            signature = f"{name}({','.join(_abi_type(p) for p in entry['inputs'])})"
            return signature, tuple(_abi_type(p) for p in entry["outputs"])
    return _EXTRA_FUNCTIONS[name]


def _abi_type(param: dict[str, Any]) -> str:
    # No tuples among the functions read here; an enum or contract type is already its ABI type.
    return str(param["type"])


def _call(w3: Web3, address: str, artifact: str, name: str, args: Sequence[Any] = (), *, block: int) -> Any:
    signature, outputs = _abi_function(artifact, name)
    input_types = signature[signature.index("(") + 1 : -1]
    data = _selector(signature) + (encode(input_types.split(","), list(args)) if input_types else b"")
    try:
        raw = bytes(w3.eth.call({"to": to_checksum_address(address), "data": "0x" + data.hex()}, block))
    except (ContractLogicError, BadFunctionCallOutput):
        raise _Absent(signature) from None
    except Web3RPCError as error:
        # anvil and geth answer a revert as an RPC error with "execution reverted" in it.
        if "revert" in str(error).lower():
            raise _Absent(signature) from None
        raise rpc_unavailable(w3, error) from None
    except (requests.RequestException, OSError) as error:
        raise rpc_unavailable(w3, error) from None
    try:
        values = decode(list(outputs), raw)
    except (DecodingError, OverflowError, ValueError):
        raise _Absent(signature) from None
    if outputs == ("bool",) and raw[:32] not in (b"\0" * 32, b"\0" * 31 + b"\1"):
        raise _Absent(signature)
    return values[0]


def probe_governor(w3: Web3, address: str) -> GovernorProbe:
    """Everything Lifeboat needs to know about the governor at ``address``, read at the head block.

    ``NotAGovernor`` names the first thing missing: code, ``supportsInterface(IGovernor)``, or
    one of the functions every OpenZeppelin v5 governor has. Optional parts read as absent:
    ``CLOCK_MODE``/``clock`` (block numbers), ``timelock`` (none), ``latestProposalId`` and
    ``proposalCount``, ``lateQuorumVoteExtension``. ``RpcUnavailable`` when the node fails.
    """
    governor = to_checksum_address(address)
    try:
        head = w3.eth.get_block("latest")
        chain_id = int(w3.eth.chain_id)
        code = w3.eth.get_code(governor, head["number"])
    except (requests.RequestException, OSError, Web3RPCError) as error:
        raise rpc_unavailable(w3, error) from None
    block = int(head["number"])
    if not code:
        raise NotAGovernor(address=governor, missing=f"it has no code at block {block} (an account, not a contract)")

    def read(name: str, *args: Any, required: bool = True) -> Any:
        try:
            return _call(w3, governor, "LifeboatGovernor", name, args, block=block)
        except _Absent as absent:
            if required:
                raise NotAGovernor(address=governor, missing=f"{absent} reverts or returns nothing") from None
            return None

    answered = None
    for candidate in (IGOVERNOR_INTERFACE_ID, IGOVERNOR_V5_0_INTERFACE_ID):
        if read("supportsInterface", bytes.fromhex(candidate[2:]), required=False):
            answered = candidate
            break
    if answered is None:
        raise NotAGovernor(
            address=governor,
            missing=f"supportsInterface(IGovernor {IGOVERNOR_INTERFACE_ID} or v5.0's {IGOVERNOR_V5_0_INTERFACE_ID}) "
            "is not true",
        )
    clock_mode = read("CLOCK_MODE", required=False) or BLOCKNUMBER_CLOCK_MODE
    clock = read("clock", required=False)
    if clock is None:
        clock = int(head["timestamp"]) if clock_mode.startswith(TIMESTAMP_CLOCK_MODE) else block
    # quorum(timepoint) looks the supply up in the past: the current timepoint is not final yet.
    quorum_timepoint = max(int(clock) - 1, 0)
    timelock = read("timelock", required=False)
    return GovernorProbe(
        address=governor,
        chain_id=chain_id,
        block_number=block,
        block_hash=head["hash"].to_0x_hex(),
        name=read("name"),
        version=read("version"),
        interface_id=answered,
        clock_mode=clock_mode,
        clock=int(clock),
        voting_delay=read("votingDelay"),
        voting_period=read("votingPeriod"),
        quorum=read("quorum", quorum_timepoint),
        quorum_timepoint=quorum_timepoint,
        proposal_threshold=read("proposalThreshold"),
        counting_mode=read("COUNTING_MODE"),
        token=to_checksum_address(read("token")),
        timelock=to_checksum_address(timelock) if timelock and int(timelock, 16) else None,
        sequential_ids=read("latestProposalId", required=False) is not None,
        stores_proposals=read("proposalCount", required=False) is not None,
        late_quorum_extension=read("lateQuorumVoteExtension", required=False),
    )


def check_approver(w3: Web3, probe: GovernorProbe, recovery_executor: str) -> str:
    """The ``APPROVER_ROLE`` id (0x-hex), once the governor's executor is seen to hold it.

    Read at the probe's block. ``ApproverMissing`` (naming the exact ``grantRole`` call) when
    the executor does not hold it; ``NotARecoveryExecutor`` when the address is something else.
    """
    target = to_checksum_address(recovery_executor)
    try:
        role = _call(w3, target, "RecoveryExecutor", "APPROVER_ROLE", block=probe.block_number)
        held = _call(w3, target, "RecoveryExecutor", "hasRole", (role, probe.executor), block=probe.block_number)
    except _Absent as absent:
        raise NotARecoveryExecutor(address=target, missing=f"{absent} reverts or returns nothing") from None
    role_id = "0x" + role.hex()
    if not held:
        raise ApproverMissing(executor=probe.executor, recovery_executor=target, role=role_id, governor=probe.address)
    return role_id
