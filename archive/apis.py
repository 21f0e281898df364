"""The state-snapshot API: reads open to everyone, writes (take, verify) need ``recovery.take_snapshot``."""

from typing import Any

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from archive import selectors, services
from archive.models import StateSnapshot
from recovery.exceptions import InvalidInput
from recovery.permissions import CanTakeSnapshot
from recovery.validation import parse_address


class SnapshotOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    chain_id = serializers.IntegerField()
    block = serializers.IntegerField()
    block_hash = serializers.CharField()
    assets = serializers.ListField(child=serializers.CharField())
    leaf_count = serializers.IntegerField()
    account_count = serializers.IntegerField()
    root = serializers.CharField()
    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField()
    taken_at = serializers.DateTimeField()
    verified_at = serializers.DateTimeField()
    verify_ok = serializers.BooleanField(allow_null=True)
    verify_error = serializers.CharField()
    registry = serializers.SerializerMethodField()

    def get_registry(self, snapshot: StateSnapshot) -> dict[str, Any] | None:
        return selectors.commitment_of(snapshot)


class SnapshotListApi(APIView):
    """Every state snapshot, newest block first; POST takes one (``block`` optional, ``commit`` optional)."""

    permission_classes = [CanTakeSnapshot]

    class InputSerializer(serializers.Serializer):
        block = serializers.IntegerField(required=False, min_value=0)
        commit = serializers.BooleanField(required=False, default=False)

    @extend_schema(responses=SnapshotOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(SnapshotOutputSerializer(selectors.list_snapshots()[:500], many=True).data)

    @extend_schema(request=InputSerializer, responses={201: SnapshotOutputSerializer})
    def post(self, request: Request) -> Response:
        form = self.InputSerializer(data=request.data)
        if not form.is_valid():
            field, messages = next(iter(form.errors.items()))
            raise InvalidInput(f"{field}: {messages[0]}", field=field)
        snapshot = services.take_snapshot(block=form.validated_data.get("block"), created_by=request.user)
        if form.validated_data["commit"]:
            snapshot = services.commit_snapshot(snapshot=snapshot)
        return Response(SnapshotOutputSerializer(snapshot).data, status=http.HTTP_201_CREATED)


class SnapshotDetailApi(APIView):
    @extend_schema(responses=SnapshotOutputSerializer)
    def get(self, request: Request, snapshot_id: int) -> Response:
        return Response(SnapshotOutputSerializer(selectors.get_snapshot(snapshot_id)).data)


class SnapshotVerifyApi(APIView):
    """Reload the file, recompute its SHA-256 and root, compare with the record and the chain's block hash."""

    permission_classes = [CanTakeSnapshot]

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, snapshot_id: int) -> Response:
        result = services.verify_snapshot(snapshot=selectors.get_snapshot(snapshot_id))
        return Response(
            {
                "snapshot": SnapshotOutputSerializer(result.snapshot).data,
                "ok": result.ok,
                "problems": list(result.problems),
                "chain_checked": result.chain_checked,
            }
        )


class SnapshotProofApi(APIView):
    """One account's leaves in the snapshot, each with its proof, the root and the on-chain commitment."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, snapshot_id: int, address: str) -> Response:
        snapshot = selectors.get_snapshot(snapshot_id)
        account = parse_address(address, field="address")
        return Response(selectors.account_proof(snapshot=snapshot, account=account))


urlpatterns = [
    path("api/state-snapshots/", SnapshotListApi.as_view(), name="snapshots"),
    path("api/state-snapshots/<int:snapshot_id>/", SnapshotDetailApi.as_view(), name="snapshot"),
    path("api/state-snapshots/<int:snapshot_id>/verify/", SnapshotVerifyApi.as_view(), name="snapshot-verify"),
    path(
        "api/state-snapshots/<int:snapshot_id>/proof/<str:address>/", SnapshotProofApi.as_view(), name="snapshot-proof"
    ),
]
