"""Connecting to a node and checking that it serves the chain we expect."""

import requests
from web3 import Web3
from web3.exceptions import Web3RPCError

from chain.errors import RpcUnavailable, WrongChain
from chain.redaction import redact, redact_url


def connect(url: str, *, timeout: float = 30) -> Web3:
    """A Web3 client for ``url``; nothing is sent until the first call."""
    if not url.startswith(("http://", "https://")):
        raise RpcUnavailable(f"{redact_url(url)!r} is not an http(s) JSON-RPC URL")
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))


def chain_id(w3: Web3) -> int:
    try:
        return int(w3.eth.chain_id)
    except (requests.RequestException, OSError, Web3RPCError, ValueError) as error:
        url = endpoint(w3)
        # The URL may carry an API key, and a transport error quotes its path on its own: the
        # cause is dropped (``from None``) so no traceback, logged or stored, carries it either.
        reason = redact(_short(error), secrets=[url])
        raise RpcUnavailable(f"no JSON-RPC node answers at {redact_url(url)} ({reason})") from None


def client_version(w3: Web3) -> str:
    """What the node says it is (``web3_clientVersion``): ``anvil/v1.2.3``, ``Geth/v1.14.0-...``."""
    try:
        return str(w3.client_version)
    except (requests.RequestException, OSError, Web3RPCError, ValueError) as error:
        url = endpoint(w3)
        reason = redact(_short(error), secrets=[url])
        raise RpcUnavailable(f"the node at {redact_url(url)} does not say what it is ({reason})") from None


def endpoint(w3: Web3) -> str:
    """The URL ``w3`` talks to, as configured (it may carry a key: redact before showing it)."""
    return str(getattr(w3.provider, "endpoint_uri", "?"))


def rpc_unavailable(w3: Web3, error: BaseException) -> RpcUnavailable:
    """``RpcUnavailable`` for a node that failed a request, naming the node by its redacted URL.

    The one wrapper of web3.py's and requests' transport and server errors: raise it ``from
    None``, since the cause may quote the URL's secret path (``Max retries exceeded with url:
    /v3/KEY``), and the first line of its text, redacted, is what the message keeps.
    """
    url = endpoint(w3)
    reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
    return RpcUnavailable(f"the node at {redact_url(url)} failed: {redact(reason, secrets=[url])}")


def require_chain(w3: Web3, expected: int | None) -> int:
    """The node's chain id; raises ``WrongChain`` when it differs from ``expected``."""
    actual = chain_id(w3)
    if expected is not None and actual != expected:
        raise WrongChain(expected=expected, actual=actual, url=endpoint(w3))
    return actual


def _short(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "Connection refused" in text or "NewConnectionError" in text:
        return "connection refused"
    return text[:160]
