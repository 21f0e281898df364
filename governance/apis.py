"""The REST API of venues: anyone reads, the committee adds.

Adding a venue is committee work; it is guarded by recovery's ``build_plan`` permission
(``CanBuildPlan``'s role, the committee) rather than a permission of its own, so no migration
of the recovery app is needed.
"""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import selectors, services
from recovery import roles
from recovery.apis import MAX_CHAIN_ID, PAGE_PARAMETERS, RowsPagination, page_of, paginated, validated_input
from recovery.permissions import RoleWrite
from recovery.validation import parse_address


class CanAddVenue(RoleWrite):
    permission, role, action = roles.BUILD_PLAN, roles.COMMITTEE, "adding a venue"


class VenueOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    chain_id = serializers.IntegerField()
    governor = serializers.CharField()
    recovery_executor = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()
    interface_id = serializers.CharField()
    clock_mode = serializers.CharField()
    voting_delay = serializers.CharField()  # uint256, in clock units, as a decimal string
    voting_period = serializers.CharField()
    quorum = serializers.CharField()
    quorum_timepoint = serializers.IntegerField()
    proposal_threshold = serializers.CharField()
    counting_mode = serializers.CharField()
    token = serializers.CharField()
    timelock = serializers.CharField(allow_blank=True)
    executor = serializers.CharField()
    sequential_ids = serializers.BooleanField()
    stores_proposals = serializers.BooleanField()
    late_quorum_extension = serializers.IntegerField(allow_null=True)  # clock units; null: none
    approver_role = serializers.CharField()
    probed_at = serializers.DateTimeField()
    probed_block = serializers.IntegerField()
    probed_block_hash = serializers.CharField()


class VenueListApi(APIView):
    """Every venue, oldest first, a page at a time."""

    @extend_schema(
        operation_id="venues_list", parameters=PAGE_PARAMETERS, responses=page_of(VenueOutput, "PaginatedVenueList")
    )
    def get(self, request: Request) -> Response:
        return paginated(request, self, selectors.list_governor_venues(), VenueOutput, RowsPagination())


class VenueDetailApi(APIView):
    @extend_schema(responses=VenueOutput)
    def get(self, request: Request, venue_id: int) -> Response:
        return Response(VenueOutput(selectors.get_governor_venue(venue_id)).data)


class GovernorVenueCreateApi(APIView):
    """Probe an OpenZeppelin Governor on the configured node, check its APPROVER_ROLE, store it (201).

    Adding one already stored probes it again and updates it.
    """

    permission_classes = [CanAddVenue]

    class GovernorVenueInputSerializer(serializers.Serializer):
        chain_id = serializers.IntegerField(min_value=1, max_value=MAX_CHAIN_ID)
        governor = serializers.CharField(max_length=100)
        recovery_executor = serializers.CharField(max_length=100)

    @extend_schema(request=GovernorVenueInputSerializer, responses={201: VenueOutput})
    def post(self, request: Request) -> Response:
        data = validated_input(self.GovernorVenueInputSerializer, request.data)
        venue = services.add_governor_venue(
            chain_id=data["chain_id"],
            governor=parse_address(data["governor"], field="governor"),
            recovery_executor=parse_address(data["recovery_executor"], field="recovery_executor"),
            rpc_url=settings.CHAIN_RPC_URL,
            added_by=request.user,
        )
        return Response(VenueOutput(venue).data, status=201)
