"""ERC-20 facts a plan reads on chain when it is built (the payout token's ``decimals()``)."""

import requests
from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3Exception

from chain.errors import NotAnErc20, RpcUnavailable
from chain.redaction import redact

DECIMALS = "0x313ce567"  # decimals()


def read_decimals(w3: Web3, token: str) -> int:
    """``token``'s ``decimals()`` at the head; ``NotAnErc20`` when it has no code, reverts or
    answers something other than a uint8, ``RpcUnavailable`` when the node does not answer."""
    address = to_checksum_address(token)
    try:
        block = w3.eth.block_number
        answer = bytes(w3.eth.call({"to": address, "data": DECIMALS}, block))  # type: ignore[typeddict-item]
    except ContractLogicError as error:
        raise NotAnErc20(address=address, block=block, reason=f"decimals() reverted ({error})") from None
    except (requests.RequestException, OSError, Web3Exception, ValueError) as error:
        raise RpcUnavailable(redact(f"the node did not answer decimals() of {address}: {error}")) from None
    if len(answer) != 32:
        reason = "no contract at this address" if not answer else f"decimals() answered {len(answer)} bytes"
        raise NotAnErc20(address=address, block=block, reason=reason)
    value = int.from_bytes(answer, "big")
    if value > 255:
        raise NotAnErc20(address=address, block=block, reason=f"decimals() answered {value}, not a uint8")
    return value
