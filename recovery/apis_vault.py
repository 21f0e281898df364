"""The vault's emergency state over the API: reads for everyone, the shutdown for the committee.

- ``GET /api/vault/``: paused, shut down since which block, collateral at shutdown, left and
  withdrawn (base units as strings, with exact percentages), read at the confirmed head;
- ``GET /api/vault/accounts/<address>/``: what one account holds and can withdraw now, and how;
- ``POST /api/vault/shutdown/`` (``recovery.shut_down``): ``shutdown()`` with the guardian key,
  idempotent (201 when sent, 200 with ``already: true`` when it was shut down before).
"""

from typing import Any

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status as http
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recovery.permissions import CanShutDown
from recovery.vault_shutdown import shut_down_vault
from recovery.vault_status import (
    VaultStatus,
    current_vault_deployment,
    percent_text,
    read_account_withdrawable,
    read_vault_status,
)


def status_json(status: VaultStatus) -> dict[str, Any]:
    state = status.state
    return {
        "deployment": status.deployment_id,
        "chain_id": str(status.chain_id),
        "vault": status.vault,
        "asset": status.asset,
        "asset_symbol": status.asset_symbol,
        "asset_decimals": status.asset_decimals,
        "share_decimals": status.share_decimals,
        "block": status.block,
        "block_hash": status.block_hash,
        "paused": state.paused,
        "shut_down": state.shut_down,
        "shutdown_block": state.shutdown_block if state.shut_down else None,
        "shutdown_assets": str(state.shutdown_assets),
        "total_assets": str(state.total_assets),
        "total_supply": str(state.total_supply),
        "withdrawn_since_shutdown": str(status.withdrawn),
        "withdrawn_percent": percent_text(status.withdrawn, state.shutdown_assets) if state.shut_down else None,
        "left_percent": percent_text(state.total_assets, state.shutdown_assets) if state.shut_down else None,
    }


class VaultApi(APIView):
    """The vault's pause and shutdown state and its collateral, at the confirmed head."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response(status_json(read_vault_status(deployment=current_vault_deployment())))


class VaultAccountApi(APIView):
    """One account's shares, what they are worth now and which call withdraws them."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, address: str) -> Response:
        found = read_account_withdrawable(deployment=current_vault_deployment(), account=address)
        return Response(
            {
                "account": found.account,
                "shares": str(found.shares),
                "assets": str(found.assets),
                "action": found.action,
                "explanation": found.explanation,
                "block": found.status.block,
                "block_hash": found.status.block_hash,
                "vault": status_json(found.status),
            }
        )


class VaultShutdownApi(APIView):
    """Shut the vault down with the guardian key (committee); safe to repeat."""

    permission_classes = [CanShutDown]

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        outcome = shut_down_vault(deployment=current_vault_deployment(), requested_by=request.user)
        body = {
            "already": outcome.already,
            "shutdown_block": outcome.shutdown_block,
            "shutdown_assets": str(outcome.shutdown_assets),
            "tx_hash": outcome.record.tx_hash if outcome.record else None,
            "message": outcome.message,
        }
        return Response(body, status=http.HTTP_200_OK if outcome.already else http.HTTP_201_CREATED)


urlpatterns = [
    path("api/vault/", VaultApi.as_view(), name="vault"),
    path("api/vault/accounts/<str:address>/", VaultAccountApi.as_view(), name="vault-account"),
    path("api/vault/shutdown/", VaultShutdownApi.as_view(), name="vault-shutdown"),
]
