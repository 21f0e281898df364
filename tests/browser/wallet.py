"""The Python side of the browser tests' wallet (``injected_wallet.js`` in the page).

The page's ``window.ethereum.request`` calls :meth:`TestWallet.answer` through Playwright's
``expose_function``. Accounts, chain id, reads and the three signing methods are answered by the
session's anvil: its dev accounts are unlocked, so ``personal_sign``, ``eth_signTypedData_v4`` and
``eth_sendTransaction`` work against it as they are. An account anvil does not hold (a demo
holder) is signed for here with its key, as a browser wallet would.
"""

import json
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3
from web3.exceptions import Web3RPCError

# EIP-1193 / EIP-1474 error codes.
UNAUTHORIZED = 4100
UNSUPPORTED = 4200
INVALID_PARAMS = -32602

SIGNING = ("personal_sign", "eth_signTypedData_v4", "eth_sendTransaction")
# Reads a wallet passes through to its node.
READS = (
    "eth_chainId",
    "net_version",
    "eth_blockNumber",
    "eth_call",
    "eth_estimateGas",
    "eth_gasPrice",
    "eth_getBalance",
    "eth_getCode",
    "eth_getTransactionByHash",
    "eth_getTransactionReceipt",
    "eth_getTransactionCount",
    "eth_getBlockByNumber",
    "eth_feeHistory",
    "eth_maxPriorityFeePerGas",
)


class TestWallet:
    """One account in the page's wallet; ``use()`` switches it (a dev account, or any key)."""

    __test__ = False  # not a pytest test class

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.key: LocalAccount | None = None
        self.address = to_checksum_address(address)
        self.requests: list[str] = []

    def use(self, account: str | LocalAccount) -> None:
        """Hold ``account``: an address anvil has unlocked, or a LocalAccount whose key signs here."""
        if isinstance(account, str):
            self.key, self.address = None, to_checksum_address(account)
        else:
            self.key, self.address = account, account.address

    def answer(self, method: str, params: list[Any]) -> dict[str, Any]:
        """One EIP-1193 request: ``{"result": ...}`` or ``{"error": {"code", "message"}}``."""
        self.requests.append(method)
        try:
            if method in ("eth_requestAccounts", "eth_accounts"):
                return {"result": [self.address]}
            if method in SIGNING:
                return self._sign(method, params)
            if method in READS:
                return self._node(method, params)
            return _error(UNSUPPORTED, f"the test wallet does not support {method}")
        except (ValueError, TypeError, KeyError, IndexError) as error:
            return _error(INVALID_PARAMS, f"{method}: {error}")
        except Web3RPCError as error:
            return _error(-32603, f"{method}: {error}")

    def _sign(self, method: str, params: list[Any]) -> dict[str, Any]:
        if method == "personal_sign":
            signer = params[1]  # personal_sign takes (message, account); the typed-data call the reverse
        elif method == "eth_signTypedData_v4":
            signer = params[0]
        else:
            signer = params[0].get("from", self.address)
        if to_checksum_address(signer) != self.address:
            return _error(UNAUTHORIZED, f"{method}: the wallet holds {self.address}, not {signer}")
        if self.key is None:
            return self._node(method, params)
        if method == "personal_sign":
            signature = self.key.sign_message(encode_defunct(hexstr=params[0])).signature
            return {"result": "0x" + bytes(signature).hex()}
        if method == "eth_signTypedData_v4":
            typed = params[1] if isinstance(params[1], dict) else json.loads(params[1])
            signature = Account.sign_typed_data(self.key.key, full_message=typed).signature
            return {"result": "0x" + bytes(signature).hex()}
        return self._send_signed(params[0])

    def _send_signed(self, tx: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "from": self.address,
            "to": to_checksum_address(tx["to"]) if tx.get("to") else None,
            "data": tx.get("data") or tx.get("input") or "0x",
            "value": int(tx.get("value") or "0x0", 16),
            "chainId": self.w3.eth.chain_id,
            "nonce": self.w3.eth.get_transaction_count(self.address, "pending"),
        }
        if fields["to"] is None:
            del fields["to"]
        fields["gas"] = int(tx["gas"], 16) if tx.get("gas") else self.w3.eth.estimate_gas(fields)  # type: ignore[arg-type]
        base = self.w3.eth.get_block("latest")["baseFeePerGas"]
        fields["maxPriorityFeePerGas"] = 10**9
        fields["maxFeePerGas"] = 2 * base + 10**9
        signed = self.key.sign_transaction(fields)  # type: ignore[union-attr]
        return {"result": "0x" + bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction)).hex()}

    def _node(self, method: str, params: list[Any]) -> dict[str, Any]:
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            error = response["error"]
            return _error(int(error.get("code", -32603)), str(error.get("message", error)))
        return {"result": response["result"]}


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
