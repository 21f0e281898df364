"""The REST API of committee sign-off: anyone reads and re-verifies, committee members sign.

A sign-off is per venue (``?venue=V`` on reads, ``venue`` in the body): the venue's chain id and
RecoveryExecutor are the typed data's domain. The signer is the committee address linked to the
signed-in user (``manage.py proposal committee add``).
"""

from django.conf import settings
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from proposals import readiness, signoffs
from proposals.models import SignOff
from recovery import roles
from recovery.apis import validated_input
from recovery.exceptions import InvalidInput
from recovery.permissions import RoleWrite


class CanSignOffProposal(RoleWrite):
    # The committee's build_plan permission, as freezing uses: no new permission, no migration.
    permission, role, action = roles.BUILD_PLAN, roles.COMMITTEE, "signing off a proposal"


VENUE_PARAMETER = OpenApiParameter("venue", int, required=True, description="the governor venue's id")
MAX_ID = 2**63 - 1


def venue_param(request: Request) -> int:
    """The required ``?venue=`` query parameter, as an id."""
    raw = request.query_params.get("venue")
    if raw is None or raw == "":
        raise InvalidInput("give the venue as ?venue=ID (sign-offs are per venue: GET /api/venues/)", field="venue")
    if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        raise InvalidInput(f"venue {raw!r} is not a venue id (a positive integer)", field="venue")
    return int(raw)


class SignOffOutput(serializers.Serializer):
    id = serializers.IntegerField()
    signer = serializers.CharField()
    user = serializers.CharField(source="member.user.username")
    kind = serializers.CharField()
    signature = serializers.CharField()
    digest = serializers.CharField()
    chain_id = serializers.IntegerField()
    recovery_executor = serializers.CharField()
    verified_block = serializers.IntegerField(allow_null=True)
    verified_block_hash = serializers.CharField(allow_blank=True)
    counts = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_counts(self, row: SignOff) -> bool:
        """Whether the sign-off counts towards the threshold now (current digest, active member)."""
        return row.pk in self.context["counted"]


class SignOffListOutput(serializers.Serializer):
    proposal = serializers.IntegerField()
    venue = serializers.IntegerField()
    content_hash = serializers.CharField()
    typed_data = serializers.JSONField()
    digest = serializers.CharField()
    threshold = serializers.IntegerField()
    count = serializers.IntegerField()
    met = serializers.BooleanField()
    signoffs = SignOffOutput(many=True)


class TypedDataOutput(serializers.Serializer):
    proposal = serializers.IntegerField()
    venue = serializers.IntegerField()
    typed_data = serializers.JSONField()
    digest = serializers.CharField()


def _listing(proposal_id: int, venue_id: int) -> dict:
    subject = signoffs.get_signoff_subject(proposal_id=proposal_id, venue_id=venue_id)
    status = readiness.signoff_status(proposal_id=proposal_id, venue_id=venue_id)
    counted = set(signoffs.counted_signoffs(subject).values_list("pk", flat=True))
    rows = signoffs.list_signoffs(proposal_id=proposal_id, venue_id=venue_id)
    return {
        "proposal": proposal_id,
        "venue": venue_id,
        "content_hash": subject.document.content_hash,
        "typed_data": subject.typed_data,
        "digest": subject.digest,
        "threshold": status["threshold"],
        "count": status["count"],
        "met": status["met"],
        "signoffs": SignOffOutput(rows, many=True, context={"counted": counted}).data,
    }


class SignOffListApi(APIView):
    """``GET``: the typed data, its digest and every sign-off (anyone). ``POST``: sign off (committee)."""

    permission_classes = [CanSignOffProposal]

    class SignOffInputSerializer(serializers.Serializer):
        venue = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        signature = serializers.CharField(max_length=20_000, trim_whitespace=True)

    @extend_schema(parameters=[VENUE_PARAMETER], responses=SignOffListOutput)
    def get(self, request: Request, proposal_id: int) -> Response:
        return Response(_listing(proposal_id, venue_param(request)))

    @extend_schema(request=SignOffInputSerializer, responses={201: SignOffOutput})
    def post(self, request: Request, proposal_id: int) -> Response:
        data = validated_input(self.SignOffInputSerializer, request.data)
        row = signoffs.submit_signoff(
            proposal_id=proposal_id,
            venue_id=data["venue"],
            member=signoffs.member_of_user(request.user),
            signature=data["signature"],
            rpc_url=settings.CHAIN_RPC_URL,
            submitted_by=request.user,
        )
        subject = signoffs.get_signoff_subject(proposal_id=proposal_id, venue_id=data["venue"])
        counted = set(signoffs.counted_signoffs(subject).values_list("pk", flat=True))
        return Response(SignOffOutput(row, context={"counted": counted}).data, status=201)


class SignOffTypedDataApi(APIView):
    """The exact EIP-712 typed data a member's wallet signs (``eth_signTypedData_v4``), uint256 as decimal strings."""

    @extend_schema(parameters=[VENUE_PARAMETER], responses=TypedDataOutput)
    def get(self, request: Request, proposal_id: int) -> Response:
        subject = signoffs.get_signoff_subject(proposal_id=proposal_id, venue_id=venue_param(request))
        return Response(
            {
                "proposal": proposal_id,
                "venue": subject.venue.pk,
                "typed_data": subject.typed_data,
                "digest": subject.digest,
            }
        )


class SignOffVerificationOutput(serializers.Serializer):
    id = serializers.IntegerField(source="signoff.pk")
    signer = serializers.CharField(source="signoff.signer")
    kind = serializers.CharField(source="signoff.kind")
    valid = serializers.BooleanField()
    digest_matches = serializers.BooleanField()
    current = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)
    block_number = serializers.IntegerField(allow_null=True)
    block_hash = serializers.CharField(allow_blank=True)


class SignOffVerifyApi(APIView):
    """Every stored sign-off checked again (ECDSA, or the wallet's EIP-1271 answer now); nothing is written."""

    @extend_schema(
        parameters=[VENUE_PARAMETER],
        responses={200: OpenApiTypes.OBJECT},
        description="{proposal, venue, all_valid, results: [{id, signer, kind, valid, digest_matches, current, "
        "reason, block_number, block_hash}]}",
    )
    def get(self, request: Request, proposal_id: int) -> Response:
        venue_id = venue_param(request)
        results = signoffs.verify_signoffs(proposal_id=proposal_id, venue_id=venue_id, rpc_url=settings.CHAIN_RPC_URL)
        return Response(
            {
                "proposal": proposal_id,
                "venue": venue_id,
                "all_valid": all(result.valid for result in results),
                "results": SignOffVerificationOutput(results, many=True).data,
            }
        )


# Included by config/urls.py.

urlpatterns = [
    path("api/proposals/<int:proposal_id>/signoffs/", SignOffListApi.as_view(), name="proposal-signoffs"),
    path(
        "api/proposals/<int:proposal_id>/signoffs/verify/",
        SignOffVerifyApi.as_view(),
        name="proposal-signoffs-verify",
    ),
    path(
        "api/proposals/<int:proposal_id>/signoff-typed-data/",
        SignOffTypedDataApi.as_view(),
        name="proposal-signoff-typed-data",
    ),
]
