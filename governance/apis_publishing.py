"""The REST API of publications: the committee publishes, executors queue and execute, anyone reads.

Publishing is guarded by the committee's ``build_plan`` permission (as freezing and signing
off are), queueing and executing by the executor's ``run_execution``: no new permission, no
migration of the recovery app. Ids on chain and amounts travel as decimal strings.
"""

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import outcomes, publishing, selectors
from recovery import roles
from recovery.apis import MAX_BLOCK, PAGE_PARAMETERS, RowsPagination, page_of, paginated, validated_input
from recovery.permissions import RoleWrite


class CanPublishProposal(RoleWrite):
    permission, role, action = roles.BUILD_PLAN, roles.COMMITTEE, "publishing a proposal"


class CanRunOutcome(RoleWrite):
    permission, role, action = roles.RUN_EXECUTION, roles.EXECUTOR, "queueing or executing a proposal"


class ActionOutput(serializers.Serializer):
    target = serializers.CharField()
    value = serializers.CharField()  # wei, as a decimal string
    calldata = serializers.CharField()
    signature = serializers.CharField()
    args = serializers.ListField(child=serializers.JSONField())
    summary = serializers.CharField()
    plan_asset = serializers.CharField(allow_null=True)


class PublicationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    proposal = serializers.IntegerField(source="document_id")
    venue = serializers.IntegerField(source="venue_id")
    chain_id = serializers.IntegerField(source="venue.chain_id")
    governor = serializers.CharField(source="venue.governor")
    status = serializers.CharField()
    proposal_id = serializers.CharField(allow_null=True)  # uint256, as a decimal string
    description = serializers.CharField()
    description_hash = serializers.CharField()
    actions = ActionOutput(many=True)
    proposer = serializers.CharField()
    tx_hash = serializers.CharField(allow_blank=True)
    created_block = serializers.IntegerField(allow_null=True)
    created_block_hash = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
    state = serializers.CharField(allow_blank=True)
    vote_start = serializers.IntegerField(allow_null=True)
    vote_end = serializers.IntegerField(allow_null=True)
    eta = serializers.IntegerField(allow_null=True)
    for_votes = serializers.CharField()
    against_votes = serializers.CharField()
    abstain_votes = serializers.CharField()
    queue_tx_hash = serializers.CharField(allow_blank=True)
    queued_at = serializers.DateTimeField(allow_null=True)  # when Lifeboat sent the queue transaction
    execute_tx_hash = serializers.CharField(allow_blank=True)
    executed_at = serializers.DateTimeField(allow_null=True)  # when Lifeboat sent the execute transaction
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ApprovalOutput(serializers.Serializer):
    plan_id = serializers.CharField()
    batches_root = serializers.CharField()
    token = serializers.CharField()
    mode = serializers.IntegerField()
    batch_count = serializers.IntegerField()
    budget = serializers.CharField()  # base units, as a decimal string
    log_index = serializers.IntegerField()


class OutcomeStepOutput(serializers.Serializer):
    publication = PublicationOutput()
    action = serializers.CharField()
    sent = serializers.BooleanField()
    tx_hash = serializers.CharField(allow_blank=True)
    state = serializers.CharField()
    approvals = ApprovalOutput(many=True)


class ProposalPublicationsApi(APIView):
    """A proposal's publications; ``POST {venue}`` publishes it there (201 new, 200 already published)."""

    permission_classes = [CanPublishProposal]

    class PublishInputSerializer(serializers.Serializer):
        venue = serializers.IntegerField(min_value=1, max_value=MAX_BLOCK)

    @extend_schema(responses=PublicationOutput(many=True))
    def get(self, request: Request, proposal_id: int) -> Response:
        from proposals.selectors import get_proposal

        get_proposal(proposal_id=proposal_id)  # an unknown proposal answers proposal_not_found
        rows = selectors.list_publications_of_proposal(proposal_id=proposal_id)
        return Response(PublicationOutput(rows, many=True).data)

    @extend_schema(request=PublishInputSerializer, responses={200: PublicationOutput, 201: PublicationOutput})
    def post(self, request: Request, proposal_id: int) -> Response:
        venue_id = validated_input(self.PublishInputSerializer, request.data)["venue"]
        existed = selectors.find_publication(proposal_id=proposal_id, venue_id=venue_id) is not None
        publication = publishing.publish_proposal(
            proposal_id=proposal_id, venue_id=venue_id, rpc_url=settings.CHAIN_RPC_URL, published_by=request.user
        )
        return Response(PublicationOutput(publication).data, status=200 if existed else 201)


class PublicationListApi(APIView):
    """Every publication, newest first, a page at a time."""

    @extend_schema(
        operation_id="publications_list",
        parameters=PAGE_PARAMETERS,
        responses=page_of(PublicationOutput, "PaginatedPublicationList"),
    )
    def get(self, request: Request) -> Response:
        return paginated(request, self, selectors.list_publications(), PublicationOutput, RowsPagination())


class PublicationDetailApi(APIView):
    @extend_schema(responses=PublicationOutput)
    def get(self, request: Request, publication_id: int) -> Response:
        return Response(PublicationOutput(selectors.get_publication(publication_id=publication_id)).data)


class PublicationQueueApi(APIView):
    """Queue the passed proposal on its timelock (idempotent: ``sent`` false when already queued)."""

    permission_classes = [CanRunOutcome]

    @extend_schema(request=None, responses=OutcomeStepOutput)
    def post(self, request: Request, publication_id: int) -> Response:
        step = outcomes.queue_publication(
            publication_id=publication_id, rpc_url=settings.CHAIN_RPC_URL, requested_by=request.user
        )
        return Response(OutcomeStepOutput(step).data)


class PublicationExecuteApi(APIView):
    """Execute the passed proposal; the answer lists the ``PlanApproved`` events of its receipt."""

    permission_classes = [CanRunOutcome]

    @extend_schema(request=None, responses=OutcomeStepOutput)
    def post(self, request: Request, publication_id: int) -> Response:
        step = outcomes.execute_publication(
            publication_id=publication_id, rpc_url=settings.CHAIN_RPC_URL, requested_by=request.user
        )
        return Response(OutcomeStepOutput(step).data)


urlpatterns = [
    path(
        "api/proposals/<int:proposal_id>/publications/",
        ProposalPublicationsApi.as_view(),
        name="proposal-publications",
    ),
    path("api/publications/", PublicationListApi.as_view(), name="publications"),
    path("api/publications/<int:publication_id>/", PublicationDetailApi.as_view(), name="publication"),
    path("api/publications/<int:publication_id>/queue/", PublicationQueueApi.as_view(), name="publication-queue"),
    path("api/publications/<int:publication_id>/execute/", PublicationExecuteApi.as_view(), name="publication-execute"),
]
