"""Sign-In with Ethereum for holders: a nonce, the login with a signed message, the logout (JSON).

Plain Django views, not DRF's: Django's CSRF middleware guards every POST here (DRF's
``APIView`` checks CSRF only for a logged-in Django user, and holders have no account). The page
reads the ``csrftoken`` cookie the nonce answer sets and sends it as ``X-CSRFToken``.

A signed-in holder is ``request.session["holder_address"]`` (EIP-55), not a Django user;
``holder_address(request)`` reads it. Errors answer ``{"error": {"code", "message", "detail"}}``,
the shape of every other API error.
"""

import ipaddress
import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.middleware.csrf import get_token
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST
from eth_typing import ChecksumAddress
from eth_utils import is_address, to_checksum_address
from rest_framework import status as http

from chain.errors import ChainError
from chain.rpc import connect
from config.errors import LifeboatError
from recovery.selectors import get_current_deployment
from web import siwe

SESSION_KEY = "holder_address"
STATEMENT = "Sign in to Lifeboat to review recovery proposals, check your account and vote."


class BadRequest(LifeboatError):
    code = "invalid"
    status = http.HTTP_400_BAD_REQUEST


class ChainIdUnknown(LifeboatError):
    code = "chain_id_unknown"
    status = http.HTTP_503_SERVICE_UNAVAILABLE


def holder_address(request: HttpRequest) -> ChecksumAddress | None:
    """The address of the holder signed in on this session, or None."""
    address = request.session.get(SESSION_KEY)
    return to_checksum_address(address) if address else None


def client_ip(request: HttpRequest) -> str | None:
    """The address the request came from, as the server saw it (``REMOTE_ADDR``; a proxy sets it right)."""
    address = request.META.get("REMOTE_ADDR") or None
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def site_uri(request: HttpRequest) -> str:
    """The URI a sign-in message names: the site's root as this request reached it."""
    return request.build_absolute_uri("/")


def site_chain_id() -> int:
    """The chain holders sign in for: the recorded deployment's, else ``CHAIN_ID``, else the dev chain's (embedded)."""
    deployment = get_current_deployment(rpc_url=settings.CHAIN_RPC_URL)
    if deployment is not None:
        return int(deployment.chain_id)
    if settings.CHAIN_ID:
        return int(settings.CHAIN_ID)
    if settings.EMBEDDED:
        return int(settings.DEVCHAIN_CHAIN_ID)
    raise ChainIdUnknown("no deployment is recorded and CHAIN_ID is not set: the site does not know its chain id")


@never_cache
@ensure_csrf_cookie
@require_GET
def nonce(request: HttpRequest) -> JsonResponse:
    """A fresh nonce and the fields to sign; with ``?address=0x...`` the whole message text as well.

    At most ``SIWE_NONCES_PER_IP_PER_HOUR`` per client address: then 429 with ``Retry-After``.
    """
    try:
        fields = _issue(request)
    except LifeboatError as error:
        return _error(error)
    return JsonResponse(fields)


def _issue(request: HttpRequest) -> dict[str, Any]:
    address = request.GET.get("address")
    if address is not None and not is_address(address):
        raise BadRequest("address must be 0x and 40 hex digits", address=address)
    chain_id = site_chain_id()
    moment = timezone.now()
    # Whole milliseconds: the message's times are written with three decimals.
    now = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    issued = siwe.issue_nonce(now=now, client_ip=client_ip(request), per_hour=settings.SIWE_NONCES_PER_IP_PER_HOUR)
    fields: dict[str, Any] = {
        "domain": request.get_host(),
        "uri": site_uri(request),
        "version": "1",
        "chain_id": chain_id,
        "nonce": issued.nonce,
        "issued_at": siwe.format_time(issued.issued_at),
        "expiration_time": siwe.format_time(issued.expires_at),
        "statement": STATEMENT,
        "csrf_token": get_token(request),
    }
    if address is not None:
        message = siwe.SiweMessage(
            domain=fields["domain"],
            address=to_checksum_address(address),
            statement=STATEMENT,
            uri=fields["uri"],
            chain_id=chain_id,
            nonce=issued.nonce,
            issued_at=issued.issued_at,
            expiration_time=issued.expires_at,
        )
        fields["address"] = message.address
        fields["message"] = siwe.format_message(message)
    return fields


@never_cache
@require_POST
def login(request: HttpRequest) -> JsonResponse:
    """``{message, signature}`` -> the session holds the holder's address; answers ``{address}``."""
    try:
        address = _verify(request)
    except LifeboatError as error:
        return _error(error)
    # A new session key on every sign-in: a session id planted before it cannot ride on it.
    request.session.cycle_key()
    request.session[SESSION_KEY] = address
    return JsonResponse({"address": address})


def _verify(request: HttpRequest) -> ChecksumAddress:
    try:
        body = json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the body must be JSON: {message, signature}") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object: {message, signature}")
    message, signature = body.get("message"), body.get("signature")
    missing = [name for name, value in (("message", message), ("signature", signature)) if not isinstance(value, str)]
    if missing:
        raise BadRequest(f"{' and '.join(missing)} must be given as a string", missing=missing)
    try:
        # Nothing is sent to the node unless the address turns out to be a contract wallet.
        w3 = connect(settings.CHAIN_RPC_URL, timeout=10)
    except ChainError:
        w3 = None
    return siwe.verify(
        message,
        signature,
        expected_domain=request.get_host(),
        expected_uri=site_uri(request),
        expected_chain_id=site_chain_id(),
        expected_scheme=request.scheme,
        now=timezone.now(),
        w3=w3,
    )


@never_cache
@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """Forget the signed-in holder (a committee member's Django login on the same session stays).

    JSON ``{address: null}``; a plain form post with ``next`` (the header without JavaScript) is sent back there.
    """
    request.session.pop(SESSION_KEY, None)
    request.session.cycle_key()
    follow = request.POST.get("next")  # a form's field; a JSON body leaves request.POST empty
    if follow is not None:
        # The header's plain form (no JavaScript): back to the page it was on, if that is this site's.
        safe = url_has_allowed_host_and_scheme(follow, allowed_hosts={request.get_host()}, require_https=False)
        return HttpResponseRedirect(follow if safe else "/")
    return JsonResponse({"address": None})


def _error(error: LifeboatError) -> JsonResponse:
    body = {"error": {"code": error.code, "message": error.message, "detail": error.detail}}
    return JsonResponse(body, status=error.status, headers=dict(error.headers))
