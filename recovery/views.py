"""Server-rendered pages of the recovery app."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from web3.exceptions import Web3RPCError

from chain.errors import ChainError
from chain.redaction import redact, redact_url
from chain.rpc import chain_id, connect
from recovery.selectors import get_current_deployment


def home(request: HttpRequest) -> HttpResponse:
    deployment = get_current_deployment(rpc_url=settings.CHAIN_RPC_URL)
    live: dict[str, object] = {}
    try:
        w3 = connect(settings.CHAIN_RPC_URL, timeout=3)
        live = {"chain_id": chain_id(w3), "head_block": int(w3.eth.block_number)}
    except (ChainError, Web3RPCError, OSError) as error:
        # The RPC URL carries an API key in production: only its scheme, host and port are shown.
        live = {"error": redact(str(error), secrets=settings.LIFEBOAT_SECRETS)}
    return render(
        request,
        "recovery/home.html",
        {
            "deployment": deployment,
            "live": live,
            "rpc_url": redact_url(settings.CHAIN_RPC_URL),
            "embedded": settings.EMBEDDED,
        },
    )
