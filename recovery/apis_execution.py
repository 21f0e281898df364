"""The REST API of execution: anyone reads runs, progress and events; executors start, pause, resume, cancel."""

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recovery import execution, execution_selectors, roles
from recovery.apis import PAGE_PARAMETERS, RowsPagination, page_of, paginated, validated_input
from recovery.exceptions import InvalidInput
from recovery.permissions import RoleWrite
from recovery.validation import parse_address


class CanRunExecution(RoleWrite):
    permission, role, action = roles.RUN_EXECUTION, roles.EXECUTOR, "starting the execution of a plan"


class CanPauseExecution(RoleWrite):
    permission, role, action = roles.PAUSE_EXECUTION, roles.EXECUTOR, "pausing, resuming or cancelling an execution"


class RunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    plan = serializers.IntegerField(source="plan_asset.plan_id")
    asset = serializers.CharField(source="plan_asset.asset")
    # restitute / restore pay accounts; restore_positions re-creates margin accounts on ``venue``
    # (its progress counts restored positions as accounts and the asset the venue pulled as paid).
    mode = serializers.CharField(source="plan_asset.plan.mode")
    venue = serializers.CharField(source="plan_asset.venue")
    chain_id = serializers.IntegerField()
    recovery_executor = serializers.CharField()
    onchain_plan_id = serializers.CharField()
    status = serializers.CharField()
    approval_block = serializers.IntegerField()
    approval_block_hash = serializers.CharField()
    approval_tx = serializers.CharField()
    version = serializers.IntegerField()
    delivery = serializers.IntegerField()
    started_by = serializers.CharField(source="started_by.username", allow_null=True, default=None)
    started_via = serializers.CharField()
    auto_started = serializers.BooleanField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    pause_reason = serializers.CharField()
    paused_by_system = serializers.BooleanField()


class BatchSendOutput(serializers.Serializer):
    index = serializers.IntegerField()
    state = serializers.CharField()
    sender = serializers.CharField()
    nonce = serializers.IntegerField(allow_null=True)
    tx_hash = serializers.CharField()
    max_fee_per_gas = serializers.CharField(allow_null=True)
    max_priority_fee_per_gas = serializers.CharField(allow_null=True)
    gas_limit = serializers.IntegerField(allow_null=True)
    sent_at = serializers.DateTimeField(allow_null=True)
    block_number = serializers.IntegerField(allow_null=True)
    block_hash = serializers.CharField()
    gas_used = serializers.IntegerField(allow_null=True)
    effective_gas_price = serializers.CharField(allow_null=True)
    confirmed_by = serializers.CharField()
    failure_reason = serializers.CharField()
    replacements = serializers.IntegerField()


class ProgressOutput(serializers.Serializer):
    batches_total = serializers.IntegerField()
    batches_done = serializers.IntegerField()
    batches_failed = serializers.IntegerField()
    batches_in_flight = serializers.IntegerField()
    accounts_total = serializers.IntegerField()
    accounts_paid = serializers.IntegerField()
    amount_paid = serializers.CharField()
    gas_used = serializers.IntegerField()
    fees_spent_wei = serializers.CharField()
    failures = serializers.ListField(child=serializers.DictField())
    waiting = serializers.ListField(child=serializers.DictField())


class RunDetailOutput(RunOutput):
    progress = ProgressOutput()
    batches = BatchSendOutput(many=True)


class EventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    message = serializers.CharField()
    data = serializers.DictField()
    actor = serializers.CharField(source="actor_label")
    created_at = serializers.DateTimeField()


class EventsOutput(serializers.Serializer):
    events = EventOutput(many=True)


def run_detail(run_id: int) -> dict:
    run = execution_selectors.get_run(run_id)
    data = dict(RunOutput(run).data)
    data["progress"] = execution_selectors.run_progress(run, stuck_after_seconds=settings.EXECUTION_STUCK_AFTER_SECONDS)
    data["batches"] = BatchSendOutput(execution_selectors.list_batch_sends(run), many=True).data
    return data


class ExecutionListApi(APIView):
    """Every execution run, newest first, a page at a time."""

    @extend_schema(
        operation_id="executions_list",
        parameters=[OpenApiParameter("plan", int, description="only this plan's runs"), *PAGE_PARAMETERS],
        responses=page_of(RunOutput, "PaginatedExecutionRunList"),
    )
    def get(self, request: Request) -> Response:
        plan = request.query_params.get("plan")
        if plan is not None and not plan.isdigit():
            raise InvalidInput("plan: a plan id (an integer)", field="plan")
        rows = execution_selectors.list_runs(plan_id=int(plan) if plan else None)
        return paginated(request, self, rows, RunOutput, RowsPagination())


class ExecutionDetailApi(APIView):
    """One run: status, progress (batches, accounts, gas and fees), each batch's transaction."""

    @extend_schema(responses=RunDetailOutput)
    def get(self, request: Request, run_id: int) -> Response:
        return Response(run_detail(run_id))


class ExecutionEventsApi(APIView):
    """The run's audit log after event ``after`` (an id), oldest first: poll with the last id seen."""

    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="last event id seen")], responses=EventsOutput
    )
    def get(self, request: Request, run_id: int) -> Response:
        execution_selectors.get_run(run_id)
        after = request.query_params.get("after", "0")
        if not after.isdigit() or len(after) > 18:
            raise InvalidInput("after: an event id (a non-negative integer)", field="after")
        events = execution_selectors.list_events(run_id=run_id, after=int(after))
        return Response({"events": EventOutput(events, many=True).data})


class PlanExecutionStartApi(APIView):
    """Start executing a plan's asset approved on chain (201 with the run); 409 naming what the chain says."""

    permission_classes = [CanRunExecution]

    class StartInputSerializer(serializers.Serializer):
        asset = serializers.CharField(required=False, allow_blank=True, max_length=100)

    @extend_schema(request=StartInputSerializer, responses={201: RunDetailOutput})
    def post(self, request: Request, plan_id: int) -> Response:
        data = validated_input(self.StartInputSerializer, request.data)
        asset = parse_address(data["asset"], field="asset") if data.get("asset") else None
        run = execution.start_plan_execution(plan_id=plan_id, asset=asset, actor=request.user, via="api")
        return Response(run_detail(run.pk), status=201)


class _RunActionApi(APIView):
    permission_classes = [CanPauseExecution]
    action_name = ""

    @extend_schema(request=None, responses=RunDetailOutput)
    def post(self, request: Request, run_id: int) -> Response:
        action = {
            "pause": execution.pause_execution,
            "resume": execution.resume_execution,
            "cancel": execution.cancel_execution,
        }[self.action_name]
        action(run_id=run_id, actor=request.user, via="api")
        return Response(run_detail(run_id))


class ExecutionPauseApi(_RunActionApi):
    """Pause a running run: no new batch is signed; transactions already out are followed."""

    action_name = "pause"


class ExecutionResumeApi(_RunActionApi):
    action_name = "resume"


class ExecutionCancelApi(_RunActionApi):
    """Cancel a run for good; transactions already signed are still followed to their end."""

    action_name = "cancel"


urlpatterns = [
    path("api/executions/", ExecutionListApi.as_view(), name="executions"),
    path("api/executions/<int:run_id>/", ExecutionDetailApi.as_view(), name="execution"),
    path("api/executions/<int:run_id>/events/", ExecutionEventsApi.as_view(), name="execution-events"),
    path("api/executions/<int:run_id>/pause/", ExecutionPauseApi.as_view(), name="execution-pause"),
    path("api/executions/<int:run_id>/resume/", ExecutionResumeApi.as_view(), name="execution-resume"),
    path("api/executions/<int:run_id>/cancel/", ExecutionCancelApi.as_view(), name="execution-cancel"),
    path("api/plans/<int:plan_id>/execution/", PlanExecutionStartApi.as_view(), name="plan-execution"),
]
