"""The vault page: its emergency state, what an account can withdraw, the escape hatch, the shutdown.

``/vault/`` is public and works without JavaScript: the state read at the confirmed head (paused,
shut down since block N, the collateral at shutdown, left and withdrawn, exact with decimals and
percentages), what the signed-in holder (SIWE session) or any looked-up address can withdraw,
and the escape-hatch file to download with its SHA-256. A member with ``recovery.shut_down``
(committee) also sees "Shut down the vault", which asks for a confirmation and sends
``shutdown()`` with the guardian key once (``recovery/vault_shutdown.py``).
"""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from config.errors import LifeboatError
from recovery import roles
from recovery.exceptions import InvalidInput
from recovery.vault_shutdown import shut_down_vault
from recovery.vault_status import (
    AccountWithdrawable,
    VaultStatus,
    contract_address,
    parse_account,
    percent_text,
    read_account_withdrawable,
    read_vault_status,
)
from web import selectors_vault as selectors
from web.access import Role, has_role, not_found, role_required
from web.views_siwe import holder_address

SHUT_DOWN: Role = (roles.SHUT_DOWN, roles.COMMITTEE)
shut_down_required = role_required(SHUT_DOWN, "shutting down the vault")


@require_GET
def vault_page(request: HttpRequest) -> HttpResponse:
    """``/vault/``: the vault's state, an account's withdrawable amount (``?address=`` or the SIWE session)."""
    return _page(request)


@require_GET
def escape_hatch_download(request: HttpRequest, deployment_id: int) -> HttpResponse:
    """``/vault/<deployment>/escape-hatch.html``: the escape-hatch file, as ``escape-hatch build`` writes it."""
    deployment = selectors.find_deployment(deployment_id=deployment_id)
    if deployment is None:
        return not_found(request, f"There is no deployment {deployment_id}.", nav="vault")
    found = selectors.escape_hatch_file(deployment)
    if found is None:
        return not_found(request, f"Deployment {deployment_id} has no vault and asset: no escape hatch.", nav="vault")
    response = HttpResponse(found.content, content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{found.name}"'
    response["X-Content-SHA256"] = found.sha256
    return response


@shut_down_required
@require_POST
def shutdown(request: HttpRequest) -> HttpResponse:
    """Send ``shutdown()`` with the guardian key once the box is ticked; an already shut-down vault sends nothing."""
    if request.POST.get("confirm") != "yes":
        return _page(
            request,
            field_errors={"confirm": "Tick the box to confirm: a shutdown cannot be undone."},
            status=400,
        )
    deployment, why = selectors.vault_deployment()
    if deployment is None:
        return not_found(request, why, nav="vault")
    try:
        outcome = shut_down_vault(deployment=deployment, requested_by=request.user)
    except LifeboatError as error:
        return _page(request, error=error.message, status=error.status)
    if outcome.already:
        messages.info(request, outcome.message)
    else:
        messages.success(request, outcome.message)
    return redirect("vault")


# --- the page ---


def _page(
    request: HttpRequest, *, error: str = "", field_errors: dict[str, str] | None = None, status: int = 200
) -> HttpResponse:
    query = request.GET.get("address", "").strip()
    context: dict[str, Any] = {
        "nav": "vault",
        "query": query,
        "error": error,
        "field_errors": field_errors or {},
        "can_shut_down": has_role(request, SHUT_DOWN),
        "confirmation_depth": settings.CONFIRMATION_DEPTH,
    }
    deployment, why = selectors.vault_deployment()
    if deployment is None:
        context["missing"] = why
        return render(request, "web/vault/page.html", context, status=status)
    context["deployment"] = deployment
    context["vault_address"] = contract_address(deployment, "vault")
    account = None
    if "address" in request.GET:
        try:
            account = parse_account(query)
        except InvalidInput as invalid:
            context["lookup_error"] = invalid.message
            status = 400
        context["searched"] = True
    else:
        account = holder_address(request)
    vault_status = None
    try:
        if account is not None:
            position = read_account_withdrawable(deployment=deployment, account=account)
            context["position"] = _position(position)
            vault_status = position.status
        else:
            vault_status = read_vault_status(deployment=deployment)
    except LifeboatError as unreadable:
        context["chain_error"] = unreadable.message
    if vault_status is not None:
        context["vault"] = _state(vault_status)
    context["account"] = account
    context["hatch"] = selectors.escape_hatch_file(deployment)
    context["shutdowns"] = selectors.list_shutdowns(deployment)
    return render(request, "web/vault/page.html", context, status=status)


def _state(status: VaultStatus) -> dict[str, Any]:
    state = status.state
    shut = state.shut_down
    return {
        "status": status,
        "state": state,
        "supply": status.shares_text(state.total_supply),
        "total": status.assets_text(state.total_assets),
        "at_shutdown": status.assets_text(state.shutdown_assets) if shut else "",
        "left": status.assets_text(status.left),
        "left_percent": percent_text(status.left, state.shutdown_assets) if shut else "",
        "withdrawn": status.assets_text(status.withdrawn),
        "withdrawn_percent": percent_text(status.withdrawn, state.shutdown_assets) if shut else "",
    }


def _position(position: AccountWithdrawable) -> dict[str, Any]:
    return {
        "account": position.account,
        "action": position.action,
        "explanation": position.explanation,
        "shares": position.status.shares_text(position.shares),
        "shares_raw": position.shares,
        "assets": position.status.assets_text(position.assets),
        "assets_raw": position.assets,
    }
