"""The REST API of the recovery app: thin views over services and selectors.

Amounts travel as decimal strings; errors come back as ``{"error": {code, message, detail}}``.
"""

from typing import Any

from django.conf import settings
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recovery import impact, plans, selectors, tasks
from recovery.exceptions import AccountNotInPlan, AnalysisNotFound, InvalidInput
from recovery.models import ImpactAnalysis, ImpactKind, Incident, IncidentKind, PlanMode, PlanPolicy
from recovery.validation import parse_address


def _validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
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
    permission_classes = [IsAuthenticatedOrReadOnly]

    class IncidentInputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=200)
        kind = serializers.ChoiceField(choices=IncidentKind.values)
        chain_id = serializers.IntegerField(min_value=1)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        affected_contracts = serializers.ListField(child=serializers.CharField(), required=False, default=list)
        affected_tokens = serializers.ListField(child=serializers.CharField(), required=False, default=list)
        detected_block = serializers.IntegerField(min_value=0, required=False, allow_null=True, default=None)
        exploit_transactions = serializers.ListField(child=serializers.CharField(), required=False, default=list)
        exploiter_addresses = serializers.ListField(child=serializers.CharField(), required=False, default=list)

    @extend_schema(responses=IncidentOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(IncidentOutput(Incident.objects.all()[:200], many=True).data)

    @extend_schema(request=IncidentInputSerializer, responses={201: IncidentOutput})
    def post(self, request: Request) -> Response:
        data = _validated(self.IncidentInputSerializer, request.data)
        incident = impact.open_incident(**data, opened_by=request.user, opened_via="api")
        return Response(IncidentOutput(incident).data, status=201)


class IncidentDetailApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

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


class AnalysisCreateApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    class AnalysisInputSerializer(serializers.Serializer):
        rollback_block = serializers.IntegerField(min_value=0)
        reference_block = serializers.IntegerField(min_value=0)
        from_block = serializers.IntegerField(min_value=0, required=False, default=0)
        assets = serializers.ListField(child=serializers.CharField(), required=False, default=list)
        price_feed = serializers.CharField(required=False, allow_blank=True, default="")
        positions = serializers.DictField(child=serializers.CharField(), required=False, default=dict)

    @extend_schema(request=AnalysisInputSerializer, responses={202: AnalysisOutput})
    def post(self, request: Request, incident_id: int) -> Response:
        data = _validated(self.AnalysisInputSerializer, request.data)
        analysis = impact.request_impact(
            incident_id=incident_id,
            rpc_url=settings.CHAIN_RPC_URL,
            **{**data, "price_feed": data["price_feed"] or None},
        )
        transaction.on_commit(lambda: tasks.compute_impact.delay(analysis.pk))
        return Response(AnalysisOutput(analysis).data, status=202)


def _analysis(analysis_id: int) -> ImpactAnalysis:
    try:
        return ImpactAnalysis.objects.get(pk=analysis_id)
    except ImpactAnalysis.DoesNotExist:
        raise AnalysisNotFound(f"there is no impact analysis {analysis_id}", analysis=analysis_id) from None


class AnalysisDetailApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(responses=AnalysisOutput)
    def get(self, request: Request, analysis_id: int) -> Response:
        return Response(AnalysisOutput(_analysis(analysis_id)).data)


class AnalysisCancelApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

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


class AnalysisAccountsApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(responses=AccountImpactOutput(many=True))
    def get(self, request: Request, analysis_id: int) -> Response:
        _analysis(analysis_id)
        asset = request.query_params.get("asset")
        kind = request.query_params.get("kind", ImpactKind.BALANCE)
        if kind not in ImpactKind.values:
            raise InvalidInput(f"kind {kind!r} is not one of {', '.join(ImpactKind.values)}", field="kind")
        rows = selectors.list_account_impacts(
            analysis_id=analysis_id, asset=parse_address(asset, field="asset") if asset else None, kind=kind
        )
        return Response(AccountImpactOutput(rows, many=True).data)


class PlanOutput(serializers.Serializer):
    id = serializers.IntegerField()
    incident = serializers.IntegerField(source="incident_id")
    analysis = serializers.IntegerField(source="analysis_id")
    version = serializers.IntegerField()
    mode = serializers.CharField()
    policy = serializers.CharField()
    status = serializers.CharField()
    exclusions = serializers.ListField(child=serializers.CharField())
    dust_threshold = serializers.CharField()
    parameter_changes = serializers.JSONField()
    summary = serializers.JSONField()


class PlanCreateApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    class PlanInputSerializer(serializers.Serializer):
        mode = serializers.ChoiceField(choices=PlanMode.values)
        policy = serializers.ChoiceField(choices=PlanPolicy.values)
        budgets = serializers.DictField(child=serializers.CharField(), required=False, default=dict)
        payout_tokens = serializers.DictField(child=serializers.CharField(), required=False, default=dict)
        exclusions = serializers.ListField(child=serializers.CharField(), required=False, default=list)
        dust_threshold = serializers.CharField(required=False, default="0")
        parameter_changes = serializers.ListField(child=serializers.DictField(), required=False, default=list)
        gas_ceiling = serializers.IntegerField(required=False, default=10_000_000)
        claims = serializers.DictField(
            child=serializers.ListField(child=serializers.DictField()), required=False, default=dict
        )

    @extend_schema(request=PlanInputSerializer, responses={201: PlanOutput})
    def post(self, request: Request, analysis_id: int) -> Response:
        data = _validated(self.PlanInputSerializer, request.data)
        plan = plans.build_plan(analysis_id=analysis_id, created_by=request.user, **data)
        return Response(PlanOutput(plan).data, status=201)


class PlanDetailApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(responses=PlanOutput)
    def get(self, request: Request, plan_id: int) -> Response:
        return Response(PlanOutput(plans.get_plan(plan_id)).data)


class PlanAccountApi(APIView):
    """What one account lost and gets in a plan, with the Merkle leaf and proof of its allocation."""

    permission_classes = [IsAuthenticatedOrReadOnly]

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
        data = _validated(self.DecodeInputSerializer, request.data)
        return Response(plans.decode_parameter_change(**data))
