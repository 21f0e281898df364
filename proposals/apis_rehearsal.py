"""The REST API of rehearsals: the committee requests one (a worker runs it), anyone reads.

``POST /api/proposals/{id}/rehearsals/`` with ``{"venue": V}`` checks the document, the venue
and the node, stores a pending rehearsal and answers 202; a worker forks the chain, runs the
proposal and its batches and stores the report (``GET /api/rehearsals/{id}/``).
"""

from django.conf import settings
from django.urls import URLPattern, path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from proposals import rehearsals, tasks_rehearsal
from recovery import roles
from recovery.apis import PAGE_PARAMETERS, RowsPagination, page_of, paginated, validated_input
from recovery.permissions import RoleWrite

MAX_ID = 2**63 - 1


class CanRehearseProposal(RoleWrite):
    # The committee's build_plan permission, as freezing uses: no new permission, no migration.
    permission, role, action = roles.BUILD_PLAN, roles.COMMITTEE, "rehearsing a proposal"


class RehearsalsPagination(RowsPagination):
    # A report lists every call and batch: a few dozen kilobytes each.
    page_size = 20
    max_page_size = 100


class RehearsalOutput(serializers.Serializer):
    id = serializers.IntegerField()
    proposal = serializers.IntegerField(source="proposal_id")
    venue = serializers.IntegerField(source="venue_id")
    status = serializers.CharField()
    passed = serializers.BooleanField()
    content_hash = serializers.CharField()
    chain_id = serializers.IntegerField(allow_null=True)
    fork_block = serializers.IntegerField(allow_null=True)
    fork_block_hash = serializers.CharField()
    summary = serializers.CharField()
    error = serializers.CharField()
    total_gas = serializers.IntegerField(allow_null=True)
    seconds = serializers.FloatField()
    report_hash = serializers.CharField()
    report = serializers.JSONField(allow_null=True)
    url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_url(self, rehearsal: object) -> str:
        return rehearsals.rehearsal_path(rehearsal.pk)  # type: ignore[attr-defined]


class ProposalRehearsalsApi(APIView):
    """``POST`` requests a rehearsal against a venue (202, run by a worker); ``GET`` lists them, newest first."""

    permission_classes = [CanRehearseProposal]

    class RehearsalInputSerializer(serializers.Serializer):
        venue = serializers.IntegerField(min_value=1, max_value=MAX_ID)

    @extend_schema(request=RehearsalInputSerializer, responses={202: RehearsalOutput})
    def post(self, request: Request, proposal_id: int) -> Response:
        data = validated_input(self.RehearsalInputSerializer, request.data)
        rehearsal = rehearsals.request_rehearsal(
            proposal_id=proposal_id, venue_id=data["venue"], rpc_url=settings.CHAIN_RPC_URL, requested_by=request.user
        )
        tasks_rehearsal.run_rehearsal.delay_on_commit(rehearsal.pk)
        return Response(RehearsalOutput(rehearsal).data, status=202)

    @extend_schema(
        operation_id="proposal_rehearsals_list",
        parameters=PAGE_PARAMETERS,
        responses=page_of(RehearsalOutput, "PaginatedRehearsalList"),
    )
    def get(self, request: Request, proposal_id: int) -> Response:
        rows = rehearsals.list_rehearsals(proposal_id=proposal_id)
        return paginated(request, self, rows, RehearsalOutput, RehearsalsPagination())


class RehearsalDetailApi(APIView):
    @extend_schema(responses=RehearsalOutput)
    def get(self, request: Request, rehearsal_id: int) -> Response:
        return Response(RehearsalOutput(rehearsals.get_rehearsal(rehearsal_id=rehearsal_id)).data)


urlpatterns: list[URLPattern] = [
    path(
        "api/proposals/<int:proposal_id>/rehearsals/",
        ProposalRehearsalsApi.as_view(),
        name="proposal-rehearsals",
    ),
    path("api/rehearsals/<int:rehearsal_id>/", RehearsalDetailApi.as_view(), name="rehearsal"),
]
