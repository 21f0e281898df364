"""The REST API of the indexer: anyone reads a publication's votes and tally; executors and the
committee may ask for a refresh now (``POST .../follow/``) instead of waiting for the periodic task."""

from typing import Any

from django.conf import settings
from django.urls import URLPattern, path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import following, following_selectors, selectors
from recovery import roles
from recovery.apis import PAGE_PARAMETERS, RowsPagination, page_of, paginated
from recovery.exceptions import RoleRequired
from recovery.permissions import RoleWrite


class CanFollow(RoleWrite):
    """Executors (``run_execution``) and the committee (``build_plan``) may refresh a publication now."""

    permission, role, action = roles.RUN_EXECUTION, roles.EXECUTOR, "following a proposal now"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if request.method in SAFE_METHODS or user is None or not user.is_authenticated:
            return super().has_permission(request, view)
        if user.has_perm(roles.RUN_EXECUTION) or user.has_perm(roles.BUILD_PLAN):
            return True
        raise RoleRequired(
            f"{self.action} needs the {roles.EXECUTOR} or the {roles.COMMITTEE} role; {user.get_username()} has "
            f"neither (an administrator adds one with `manage.py role add {user.get_username()} {roles.EXECUTOR}`)",
            role=roles.EXECUTOR,
            roles=[roles.EXECUTOR, roles.COMMITTEE],
            permission=roles.RUN_EXECUTION,
        )


class VoteOutput(serializers.Serializer):
    voter = serializers.CharField()
    support = serializers.IntegerField()  # 0 against, 1 for, 2 abstain
    support_name = serializers.CharField(source="get_support_display")
    weight = serializers.CharField()  # base units, as a decimal string
    reason = serializers.CharField(allow_blank=True)
    with_params = serializers.BooleanField()
    params = serializers.CharField(allow_blank=True)
    block_number = serializers.IntegerField()
    block_hash = serializers.CharField()
    tx_hash = serializers.CharField()
    log_index = serializers.IntegerField()


class TallyOutput(serializers.Serializer):
    publication = serializers.IntegerField(source="pk")
    proposal_id = serializers.CharField(allow_null=True)
    state = serializers.CharField(allow_blank=True)
    for_votes = serializers.CharField()  # decimal strings
    against_votes = serializers.CharField()
    abstain_votes = serializers.CharField()
    vote_start = serializers.IntegerField(allow_null=True)
    vote_end = serializers.IntegerField(allow_null=True)
    eta = serializers.IntegerField(allow_null=True)
    followed_block = serializers.IntegerField(allow_null=True)
    followed_block_hash = serializers.CharField(allow_blank=True)
    vote_count = serializers.IntegerField(source="votes.count")
    error = serializers.CharField(allow_blank=True)


class PublicationVotesApi(APIView):
    """The publication's votes counted so far (past the confirmation depth), in chain order, a page at a time."""

    @extend_schema(parameters=PAGE_PARAMETERS, responses=page_of(VoteOutput, "PaginatedVoteList"))
    def get(self, request: Request, publication_id: int) -> Response:
        rows = following_selectors.list_votes(publication_id=publication_id)
        return paginated(request, self, rows, VoteOutput, RowsPagination())


class PublicationTallyApi(APIView):
    """The stored tally: always equal to the governor's proposalVotes at ``followed_block``."""

    @extend_schema(responses=TallyOutput)
    def get(self, request: Request, publication_id: int) -> Response:
        return Response(TallyOutput(selectors.get_publication(publication_id=publication_id)).data)


class PublicationFollowApi(APIView):
    """Follow the chain for this publication now; answers the tally as it then stands."""

    permission_classes = [CanFollow]

    @extend_schema(request=None, responses=TallyOutput)
    def post(self, request: Request, publication_id: int) -> Response:
        publication = following.follow_publication(publication_id=publication_id, rpc_url=settings.CHAIN_RPC_URL)
        return Response(TallyOutput(publication).data)


urlpatterns: list[URLPattern] = [
    path("api/publications/<int:publication_id>/votes/", PublicationVotesApi.as_view(), name="publication-votes"),
    path("api/publications/<int:publication_id>/tally/", PublicationTallyApi.as_view(), name="publication-tally"),
    path("api/publications/<int:publication_id>/follow/", PublicationFollowApi.as_view(), name="publication-follow"),
]
