"""The REST API of gasless votes: the typed data to sign, submitting a signed ballot, reading ballots.

Holders have no Django account (sign-in with Ethereum comes later): a ballot's EIP-712
signature is its authorization, checked against the voter before anything is sent, so
submitting one is open to anonymous callers on purpose, rate-limited per voter.
"""

from typing import Any

from django.conf import settings
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import ballots, ballots_selectors
from governance.ballots_input import parse_reason, parse_signed_ballot, parse_support
from governance.models import BallotRelayStatus
from governance.selectors import get_publication
from recovery.apis import PAGE_PARAMETERS, RowsPagination, page_of, paginated
from recovery.validation import parse_address


class BallotOutput(serializers.Serializer):
    id = serializers.IntegerField()
    publication = serializers.IntegerField(source="publication_id")
    chain_id = serializers.IntegerField()
    governor = serializers.CharField()
    proposal_id = serializers.CharField()  # uint256, as a decimal string
    voter = serializers.CharField()
    support = serializers.IntegerField()
    primary_type = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)
    params = serializers.CharField(allow_blank=True)
    nonce = serializers.CharField()
    signature = serializers.CharField()
    kind = serializers.CharField()
    digest = serializers.CharField()
    status = serializers.CharField()
    checked_block = serializers.IntegerField()
    checked_block_hash = serializers.CharField()
    relayer = serializers.CharField()
    tx_hash = serializers.CharField()
    block_number = serializers.IntegerField(allow_null=True)
    block_hash = serializers.CharField(allow_blank=True)
    log_index = serializers.IntegerField(allow_null=True)
    weight = serializers.CharField(allow_null=True)  # votes counted, base units as a decimal string
    error = serializers.CharField(allow_blank=True)
    attempted_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


class BallotTypedDataApi(APIView):
    """The EIP-712 typed data a holder signs (``eth_signTypedData_v4``) to vote on the publication's proposal.

    ``Ballot`` by default; ``ExtendedBallot`` when a ``reason`` is given (even empty). The nonce
    is the voter's current ``nonces(voter)`` on the governor.
    """

    @extend_schema(
        parameters=[
            OpenApiParameter("voter", str, required=True, description="the voter's EIP-55 address"),
            OpenApiParameter("support", str, required=True, description="for, against or abstain (or 1, 0, 2)"),
            OpenApiParameter("reason", str, description="signs an ExtendedBallot with this reason"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, publication_id: int) -> Response:
        query = request.query_params
        typed_data = ballots.ballot_typed_data(
            publication_id=publication_id,
            voter=parse_address(query.get("voter"), field="voter"),
            support=parse_support(query.get("support")),
            reason=parse_reason(query.get("reason")),
            rpc_url=settings.CHAIN_RPC_URL,
        )
        return Response(typed_data)


class BallotListCreateApi(APIView):
    """A publication's relayed ballots (GET, paginated), and submitting a signed ballot (POST).

    POST is open to anonymous callers on purpose: the ballot's signature is the authorization
    (holders have no account), and the voter's signature, nonce, voting power, the proposal's
    state and a per-voter hourly limit are checked before anything is sent. The body is either
    ``{voter, support, nonce, signature, reason?, params?}`` or ``{typed_data, signature}`` as a
    wallet signed it. 201 when relayed (VoteCast seen), 202 when sent and still awaiting its
    receipt (the same request again, or the periodic task, finishes it).
    """

    authentication_classes: list[Any] = []  # a session adds nothing: the signature decides
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="publication_ballots_list",
        parameters=PAGE_PARAMETERS,
        responses=page_of(BallotOutput, "PaginatedBallotList"),
    )
    def get(self, request: Request, publication_id: int) -> Response:
        get_publication(publication_id=publication_id)  # 404 for an unknown publication
        rows = ballots_selectors.list_ballots(publication_id=publication_id)
        return paginated(request, self, rows, BallotOutput, RowsPagination())

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: BallotOutput, 202: BallotOutput})
    def post(self, request: Request, publication_id: int) -> Response:
        signed = parse_signed_ballot(request.data, publication_id=publication_id)
        relay = ballots.relay_signed_ballot(signed, publication_id=publication_id, rpc_url=settings.CHAIN_RPC_URL)
        status = 201 if relay.status == BallotRelayStatus.RELAYED else 202
        return Response(BallotOutput(relay).data, status=status)


class BallotDetailApi(APIView):
    @extend_schema(responses=BallotOutput)
    def get(self, request: Request, ballot_id: int) -> Response:
        return Response(BallotOutput(ballots_selectors.get_ballot(ballot_id=ballot_id)).data)


urlpatterns = [
    path(
        "api/publications/<int:publication_id>/ballot-typed-data/",
        BallotTypedDataApi.as_view(),
        name="publication-ballot-typed-data",
    ),
    path("api/publications/<int:publication_id>/ballots/", BallotListCreateApi.as_view(), name="publication-ballots"),
    path("api/ballots/<int:ballot_id>/", BallotDetailApi.as_view(), name="ballot"),
]
