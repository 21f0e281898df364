"""The REST API of the recovery app: thin views over services and selectors.

Amounts travel as decimal strings; errors come back as ``{"error": {code, message, detail}}``.
"""

from typing import Any

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recovery import impact, plans, selectors, tasks
from recovery.exceptions import AccountNotInPlan, AnalysisNotFound, InvalidInput, PlanAssetNotFound
from recovery.models import ImpactAnalysis, ImpactKind, Incident, IncidentKind, PlanDelivery, PlanMode, PlanPolicy
from recovery.permissions import CanBuildPlan, CanOpenIncident, CanRunAnalysis
from recovery.validation import parse_address

# Integer inputs are bounded before they reach a service: an unbounded one overflowed the
# 64-bit columns (and SQLite's driver) into a 500.
# EIP-2294 bounds a chain id to floor(MAX_UINT64 / 2) - 36, so that a legacy signature's
# v = chain_id * 2 + 36 still fits in 64 bits; it also fits the signed 64-bit column.
MAX_CHAIN_ID = (2**64 - 1) // 2 - 36
# Block numbers and gas are uint64 on every client; the columns hold up to 2**63 - 1.
MAX_BLOCK = 2**63 - 1
MAX_GAS = 2**63 - 1


def validated_input(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        field, problems = next(iter(serializer.errors.items()))
        raise InvalidInput(f"{field}: {problems[0] if isinstance(problems, list) else problems}", field=field)
    return dict(serializer.validated_data)


class IncidentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField()
    description = serializers.CharField()
    chain_id = serializers.IntegerField()
    affected_contracts = serializers.ListField(child=serializers.CharField())
    affected_tokens = serializers.ListField(child=serializers.CharField())
    detected_block = serializers.IntegerField(allow_null=True)
    exploit_transactions = serializers.ListField(child=serializers.CharField())
    exploiter_addresses = serializers.ListField(child=serializers.CharField())
    opened_via = serializers.CharField()
    created_at = serializers.DateTimeField()


class IncidentListApi(APIView):
    permission_classes = [CanOpenIncident]

    class IncidentInputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=200)
        kind = serializers.ChoiceField(choices=IncidentKind.values)
        chain_id = serializers.IntegerField(min_value=1, max_value=MAX_CHAIN_ID)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        affected_contracts = serializers.ListField(child=serializers.CharField(), required=False, default=list)
        affected_tokens = serializers.ListField(child=serializers.CharField(), required=False, default=list)
        detected_block = serializers.IntegerField(
            min_value=0, max_value=MAX_BLOCK, required=False, allow_null=True, default=None
        )
        exploit_transactions = serializers.ListField(child=serializers.CharField(), required=False, default=list)
        exploiter_addresses = serializers.ListField(child=serializers.CharField(), required=False, default=list)

    @extend_schema(responses=IncidentOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(IncidentOutput(Incident.objects.all()[:200], many=True).data)

    @extend_schema(request=IncidentInputSerializer, responses={201: IncidentOutput})
    def post(self, request: Request) -> Response:
        data = validated_input(self.IncidentInputSerializer, request.data)
        incident = impact.open_incident(**data, opened_by=request.user, opened_via="api")
        return Response(IncidentOutput(incident).data, status=201)


class IncidentDetailApi(APIView):
    @extend_schema(responses=IncidentOutput)
    def get(self, request: Request, incident_id: int) -> Response:
        return Response(IncidentOutput(impact.get_incident(incident_id)).data)


class AnalysisOutput(serializers.Serializer):
    id = serializers.IntegerField()
    incident = serializers.IntegerField(source="incident_id")
    rollback_block = serializers.IntegerField()
    reference_block = serializers.IntegerField()
    from_block = serializers.IntegerField()
    tracked_assets = serializers.ListField(child=serializers.CharField())
    price_feed = serializers.CharField()
    position_readers = serializers.DictField(child=serializers.CharField())
    status = serializers.CharField()
    blocks_done = serializers.IntegerField()
    blocks_total = serializers.IntegerField()
    logs_done = serializers.IntegerField()
    error = serializers.CharField()
    summary = serializers.JSONField()
    seconds_scanning = serializers.FloatField()
    seconds_storing = serializers.FloatField()
    node_chain_id = serializers.IntegerField(allow_null=True)
    rollback_block_hash = serializers.CharField()
    reference_block_hash = serializers.CharField()
    from_block_hash = serializers.CharField()
    unconfirmed = serializers.BooleanField()


class AnalysisCreateApi(APIView):
    permission_classes = [CanRunAnalysis]

    class AnalysisInputSerializer(serializers.Serializer):
        rollback_block = serializers.IntegerField(min_value=0, max_value=MAX_BLOCK)
        reference_block = serializers.IntegerField(min_value=0, max_value=MAX_BLOCK)
        from_block = serializers.IntegerField(min_value=0, max_value=MAX_BLOCK, required=False, default=0)
        assets = serializers.ListField(child=serializers.CharField(), required=False, default=list)
        price_feed = serializers.CharField(required=False, allow_blank=True, default="")
        positions = serializers.DictField(child=serializers.CharField(), required=False, default=dict)
        # Take a reference block within CONFIRMATION_DEPTH of the head; the analysis is marked unconfirmed.
        allow_unconfirmed = serializers.BooleanField(required=False, default=False)

    @extend_schema(request=AnalysisInputSerializer, responses={202: AnalysisOutput})
    def post(self, request: Request, incident_id: int) -> Response:
        data = validated_input(self.AnalysisInputSerializer, request.data)
        analysis = impact.request_impact(
            incident_id=incident_id,
            rpc_url=settings.CHAIN_RPC_URL,
            **{**data, "price_feed": data["price_feed"] or None},
        )
        tasks.compute_impact.delay_on_commit(analysis.pk)
        return Response(AnalysisOutput(analysis).data, status=202)


def _analysis(analysis_id: int) -> ImpactAnalysis:
    try:
        return ImpactAnalysis.objects.get(pk=analysis_id)
    except ImpactAnalysis.DoesNotExist:
        raise AnalysisNotFound(f"there is no impact analysis {analysis_id}", analysis=analysis_id) from None


class AnalysisDetailApi(APIView):
    @extend_schema(responses=AnalysisOutput)
    def get(self, request: Request, analysis_id: int) -> Response:
        return Response(AnalysisOutput(_analysis(analysis_id)).data)


class AnalysisCancelApi(APIView):
    permission_classes = [CanRunAnalysis]

    @extend_schema(request=None, responses=AnalysisOutput)
    def post(self, request: Request, analysis_id: int) -> Response:
        return Response(AnalysisOutput(impact.cancel_impact(analysis_id=analysis_id)).data)


class AccountImpactOutput(serializers.Serializer):
    account = serializers.CharField()
    asset = serializers.CharField()
    kind = serializers.CharField()
    before = serializers.CharField()
    after = serializers.CharField()
    delta = serializers.CharField()


class RowsPagination(PageNumberPagination):
    """``?page=N&page_size=M``; answers ``{count, next, previous, results}``.

    Page numbers rather than a cursor: the total is wanted, a reader jumps to a page, and the
    rows of a completed analysis or plan never change, so offsets stay valid.
    """

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class BatchesPagination(RowsPagination):
    # A batch carries its recipients and amounts: a few hundred each.
    page_size = 20
    max_page_size = 100


def page_of(serializer: type[serializers.Serializer], name: str) -> serializers.Serializer:
    """For the schema: one page of ``serializer`` rows, as the paginators answer it."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer(many=True),
        },
    )()


PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="page number, from 1"),
    OpenApiParameter("page_size", int, description="rows per page"),
]


def paginated(
    request: Request, view: APIView, rows: Any, serializer: type[serializers.Serializer], paginator: RowsPagination
) -> Response:
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True).data)


def _asset_param(request: Request) -> str | None:
    asset = request.query_params.get("asset")
    return parse_address(asset, field="asset") if asset else None


class AnalysisAccountsApi(APIView):
    """Every account's row, largest losers first, a page at a time."""

    @extend_schema(
        parameters=[
            OpenApiParameter("asset", str, description="token address"),
            OpenApiParameter("kind", str, enum=ImpactKind.values, description="balance (default) or position"),
            *PAGE_PARAMETERS,
        ],
        responses=page_of(AccountImpactOutput, "PaginatedAccountImpactList"),
    )
    def get(self, request: Request, analysis_id: int) -> Response:
        _analysis(analysis_id)
        kind = request.query_params.get("kind", ImpactKind.BALANCE)
        if kind not in ImpactKind.values:
            raise InvalidInput(f"kind {kind!r} is not one of {', '.join(ImpactKind.values)}", field="kind")
        rows = selectors.list_all_account_impacts(analysis_id=analysis_id, asset=_asset_param(request), kind=kind)
        return paginated(request, self, rows, AccountImpactOutput, RowsPagination())


class PlanOutput(serializers.Serializer):
    id = serializers.IntegerField()
    incident = serializers.IntegerField(source="incident_id")
    analysis = serializers.IntegerField(source="analysis_id")
    version = serializers.IntegerField()
    mode = serializers.CharField()
    policy = serializers.CharField()
    status = serializers.CharField()
    exclusions = serializers.ListField(child=serializers.CharField())
    second_class = serializers.ListField(child=serializers.CharField())
    cap_numerator = serializers.CharField(allow_null=True)  # pro-rata cap, as a decimal string
    cap_denominator = serializers.CharField(allow_null=True)
    dust_threshold = serializers.CharField()
    parameter_changes = serializers.JSONField()
    delivery = serializers.CharField()
    claim_deadline = serializers.IntegerField(allow_null=True)  # unix timestamp (pull only)
    recovery_executor = serializers.CharField()
    auto_execute = serializers.BooleanField()
    incident_key = serializers.SerializerMethodField()
    summary = serializers.JSONField()

    def get_incident_key(self, plan: Any) -> str:
        return plans.incident_key(plan.incident.chain_id, plan.incident_id)


class PlanCreateApi(APIView):
    permission_classes = [CanBuildPlan]

    class PlanInputSerializer(serializers.Serializer):
        mode = serializers.ChoiceField(choices=PlanMode.values)
        policy = serializers.ChoiceField(choices=PlanPolicy.values)
        budgets = serializers.DictField(child=serializers.CharField(), required=False, default=dict)
        payout_tokens = serializers.DictField(child=serializers.CharField(), required=False, default=dict)
        exclusions = serializers.ListField(child=serializers.CharField(), required=False, default=list)
        include_contracts = serializers.ListField(child=serializers.CharField(), required=False, default=list)
        dust_threshold = serializers.CharField(required=False, default="0")
        parameter_changes = serializers.ListField(child=serializers.DictField(), required=False, default=list)
        gas_ceiling = serializers.IntegerField(min_value=1, max_value=MAX_GAS, required=False, default=10_000_000)
        claims = serializers.DictField(
            child=serializers.ListField(child=serializers.DictField()), required=False, default=dict
        )
        # Default: push_fallback for restitute, push for restore.
        delivery = serializers.ChoiceField(choices=PlanDelivery.values, required=False, default=None, allow_null=True)
        # Pull only: an absolute unix timestamp, or a number of days from the build.
        claim_deadline = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False, default=None)
        claim_days = serializers.IntegerField(min_value=1, max_value=plans.MAX_CLAIM_DAYS, required=False, default=None)
        # Default: the RecoveryExecutor of the newest recorded Deployment on the incident's chain.
        recovery_executor = serializers.CharField(max_length=100, required=False, default=None, allow_null=True)
        auto_execute = serializers.BooleanField(required=False, default=False)
        # restore_positions only: the migrated margin market the positions are re-created on.
        venue = serializers.CharField(max_length=100, required=False, default=None, allow_null=True)
        # pro_rata only: accounts paid only from what the first class leaves, and the cap on every
        # payment, claim * cap_numerator // cap_denominator (Euler: 1005 / 1000).
        second_class = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
        cap_numerator = serializers.IntegerField(required=False, default=None, allow_null=True)
        cap_denominator = serializers.IntegerField(required=False, default=None, allow_null=True)

    @extend_schema(request=PlanInputSerializer, responses={201: PlanOutput})
    def post(self, request: Request, analysis_id: int) -> Response:
        data = validated_input(self.PlanInputSerializer, request.data)
        plan = plans.build_plan(analysis_id=analysis_id, created_by=request.user, **data)
        return Response(PlanOutput(plan).data, status=201)


class PlanDetailApi(APIView):
    @extend_schema(responses=PlanOutput)
    def get(self, request: Request, plan_id: int) -> Response:
        return Response(PlanOutput(plans.get_plan(plan_id)).data)


class PlanAccountApi(APIView):
    """What one account lost and gets in a plan, with the Merkle leaf and proof of its allocation."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, plan_id: int, address: str) -> Response:
        plans.get_plan(plan_id)
        account = parse_address(address, field="address")
        position = selectors.account_position(plan_id=plan_id, account=account)
        if position is None:
            raise AccountNotInPlan(f"{account} is neither affected by nor allocated in plan {plan_id}", account=account)
        return Response(position)


class ParameterChangeDecodeApi(APIView):
    """Decode calldata for display, with a signature, a pasted ABI or a compiled contract's name.

    A POST only to carry the ABI; it changes nothing, so anyone (a holder reviewing) may use it.
    """

    permission_classes = [AllowAny]

    class DecodeInputSerializer(serializers.Serializer):
        calldata = serializers.CharField()
        signature = serializers.CharField(required=False)
        abi = serializers.ListField(child=serializers.DictField(), required=False)
        artifact = serializers.CharField(required=False)

    @extend_schema(request=DecodeInputSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request) -> Response:
        data = validated_input(self.DecodeInputSerializer, request.data)
        return Response(plans.decode_parameter_change(**data))


class BatchOutput(serializers.Serializer):
    asset = serializers.CharField()
    index = serializers.IntegerField()
    recipients = serializers.ListField(child=serializers.CharField())
    amounts = serializers.ListField(child=serializers.CharField())
    total = serializers.CharField()
    leaf_hash = serializers.CharField()
    gas_estimate = serializers.IntegerField()


class PlanBatchesApi(APIView):
    """A plan's migration batches, by asset then index, a page at a time."""

    @extend_schema(
        parameters=[OpenApiParameter("asset", str, description="only this asset's batches"), *PAGE_PARAMETERS],
        responses=page_of(BatchOutput, "PaginatedBatchList"),
    )
    def get(self, request: Request, plan_id: int) -> Response:
        plans.get_plan(plan_id)
        rows = selectors.list_plan_batches(plan_id=plan_id, asset=_asset_param(request))
        return paginated(request, self, rows, BatchOutput, BatchesPagination())


class PlanAssetTreeApi(APIView):
    """The allocation Merkle tree of one asset, as OpenZeppelin's ``StandardMerkleTree`` dump
    (``standard-v1``), downloadable: ``StandardMerkleTree.load(dump)`` rebuilds it in JS."""

    @extend_schema(responses={(200, "application/json"): OpenApiTypes.OBJECT})
    def get(self, request: Request, plan_id: int, asset: str) -> HttpResponse:
        plans.get_plan(plan_id)
        token = parse_address(asset, field="asset")
        dump = selectors.get_allocation_dump_text(plan_id=plan_id, asset=token)
        if dump is None:
            raise PlanAssetNotFound(f"plan {plan_id} has no allocation tree for {token}", plan=plan_id, asset=token)
        response = HttpResponse(dump, content_type="application/json")
        filename = f"lifeboat-plan-{plan_id}-{token}-allocation-tree.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
