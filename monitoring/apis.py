"""The REST API of the monitors: anyone reads the watched deployments, rules, observations,
firings and the pause log; the committee (``recovery.manage_monitors``) changes a rule, resolves
a firing and unpauses a contract.

No answer carries a deployment's RPC URL (it may hold credentials): the node is named by its host
(``rpc_host``), and stored free text goes through ``monitoring.selectors.clean_text``. Integers
read from the chain (prices, balances) are decimal strings, as the monitor stored them.
"""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring import selectors, services
from monitoring.models import Firing, FiringStatus, Observation, PauseRecord, ResponseKind, Rule, Severity
from recovery.apis import PAGE_PARAMETERS, RowsPagination, page_of, validated_input
from recovery.exceptions import InvalidInput
from recovery.permissions import CanManageMonitors
from recovery.validation import parse_address

# --- output shapes ---


class MonitorObservationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    chain_id = serializers.IntegerField()
    block_number = serializers.IntegerField(allow_null=True)
    block_hash = serializers.CharField()
    ok = serializers.BooleanField()
    cause = serializers.CharField()
    message = serializers.CharField()
    value = serializers.CharField(help_text="the watched value, a decimal integer string (empty when none was read)")
    values = serializers.DictField(help_text="everything read, integers as decimal strings")
    source = serializers.CharField(help_text="the node asked: its host only")
    observed_at = serializers.DateTimeField()


class MonitorRuleOutput(serializers.Serializer):
    id = serializers.IntegerField()
    watched = serializers.CharField(help_text="the watched deployment's name")
    name = serializers.CharField()
    kind = serializers.CharField()
    params = serializers.DictField()
    severity = serializers.CharField()
    response = serializers.CharField()
    pause_targets = serializers.ListField(child=serializers.CharField())
    incident_kind = serializers.CharField()
    consecutive_needed = serializers.IntegerField()
    consecutive_failures = serializers.IntegerField()
    enabled = serializers.BooleanField()
    state = serializers.CharField()
    metric = serializers.CharField()
    last_observed_at = serializers.DateTimeField(allow_null=True)
    last_ok_at = serializers.DateTimeField(allow_null=True)
    last_observation = MonitorObservationOutput(allow_null=True)
    open_firings = serializers.ListField(child=serializers.IntegerField(), help_text="ids of its open firings")


class WatchedDeploymentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    chain_id = serializers.IntegerField()
    rpc_host = serializers.CharField(help_text="the node's host and port; never the URL")
    contracts = serializers.DictField(child=serializers.CharField())
    enabled = serializers.BooleanField()
    interval_seconds = serializers.IntegerField()
    head_block = serializers.IntegerField(allow_null=True)
    head_changed_at = serializers.DateTimeField(allow_null=True)
    last_block = serializers.IntegerField(allow_null=True, help_text="the last block fully processed")
    last_block_hash = serializers.CharField()
    last_run_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    rules = MonitorRuleOutput(many=True)


class MonitoringOverviewOutput(serializers.Serializer):
    watched = WatchedDeploymentOutput(many=True)
    open_firings = serializers.IntegerField()


class MonitorFiringOutput(serializers.Serializer):
    id = serializers.IntegerField()
    rule = serializers.IntegerField()
    rule_name = serializers.CharField()
    watched = serializers.CharField()
    severity = serializers.CharField()
    cause = serializers.CharField()
    status = serializers.CharField()
    message = serializers.CharField()
    first_block = serializers.IntegerField(allow_null=True)
    last_block = serializers.IntegerField(allow_null=True)
    times_fired = serializers.IntegerField()
    incident = serializers.IntegerField(allow_null=True)
    opened_at = serializers.DateTimeField()
    last_fired_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_by = serializers.CharField(allow_null=True)
    resolution = serializers.CharField()


class ResponseActionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    target = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    tx_hash = serializers.CharField()
    block_number = serializers.IntegerField(allow_null=True)
    detail = serializers.DictField()
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    done_at = serializers.DateTimeField(allow_null=True)


class PauseRecordOutput(serializers.Serializer):
    id = serializers.IntegerField()
    chain_id = serializers.IntegerField()
    contract = serializers.CharField()
    action = serializers.CharField()
    tx_hash = serializers.CharField()
    block_number = serializers.IntegerField(allow_null=True)
    by_user = serializers.CharField(allow_null=True)
    by_address = serializers.CharField()
    firing = serializers.IntegerField(allow_null=True)
    note = serializers.CharField()
    status = serializers.CharField(help_text="pending (recorded before its broadcast), done or failed")
    recorded_at = serializers.DateTimeField()


class MonitorFiringDetailOutput(MonitorFiringOutput):
    evidence = serializers.ListField(child=serializers.DictField())
    actions = ResponseActionOutput(many=True)
    pauses = PauseRecordOutput(many=True)


# --- presentation (plain dicts, cleaned) ---


def observation_data(observation: Observation | None, watched: Any = None) -> dict[str, Any] | None:
    if observation is None:
        return None
    clean = selectors.clean_text
    return {
        "id": observation.pk,
        "chain_id": observation.chain_id,
        "block_number": observation.block_number,
        "block_hash": observation.block_hash,
        "ok": observation.ok,
        "cause": clean(observation.cause, watched=watched),
        "message": clean(observation.message, watched=watched),
        "value": observation.value,
        "values": selectors.clean_json(observation.values or {}, watched=watched),
        "source": clean(observation.source, watched=watched),
        "observed_at": observation.observed_at,
    }


def rule_data(rule: Rule, *, last: Observation | None, open_firings: list[int]) -> dict[str, Any]:
    watched = rule.watched
    return {
        "id": rule.pk,
        "watched": watched.name,
        "name": rule.name,
        "kind": rule.kind,
        "params": selectors.clean_json(rule.params or {}, watched=watched),
        "severity": rule.severity,
        "response": rule.response,
        "pause_targets": list(rule.pause_targets or []),
        "incident_kind": rule.incident_kind,
        "consecutive_needed": rule.consecutive_needed,
        "consecutive_failures": rule.consecutive_failures,
        "enabled": rule.enabled,
        "state": rule.state,
        "metric": rule.metric,
        "last_observed_at": rule.last_observed_at,
        "last_ok_at": rule.last_ok_at,
        "last_observation": observation_data(last, watched),
        "open_firings": open_firings,
    }


def firing_data(firing: Firing) -> dict[str, Any]:
    watched = firing.rule.watched
    return {
        "id": firing.pk,
        "rule": firing.rule_id,
        "rule_name": firing.rule.name,
        "watched": watched.name,
        "severity": firing.rule.severity,
        "cause": selectors.clean_text(firing.cause, watched=watched),
        "status": firing.status,
        "message": selectors.clean_text(firing.message, watched=watched),
        "first_block": firing.first_block,
        "last_block": firing.last_block,
        "times_fired": firing.times_fired,
        "incident": firing.incident_id,
        "opened_at": firing.opened_at,
        "last_fired_at": firing.last_fired_at,
        "resolved_at": firing.resolved_at,
        "resolved_by": firing.resolved_by.get_username() if firing.resolved_by else None,
        "resolution": selectors.clean_text(firing.resolution, watched=watched),
    }


def pause_data(record: PauseRecord) -> dict[str, Any]:
    return {
        "id": record.pk,
        "chain_id": record.chain_id,
        "contract": record.contract,
        "action": record.action,
        "tx_hash": record.tx_hash,
        "block_number": record.block_number,
        "by_user": record.by_user.get_username() if record.by_user else None,
        "by_address": record.by_address,
        "firing": record.firing_id,
        "note": selectors.clean_text(record.note),
        "status": record.status,
        "recorded_at": record.recorded_at,
    }


def firing_detail_data(firing: Firing) -> dict[str, Any]:
    watched = firing.rule.watched
    data = firing_data(firing)
    evidence = firing.evidence if isinstance(firing.evidence, list) else [firing.evidence]
    data["evidence"] = [
        item if isinstance(item, dict) else {"value": item} for item in selectors.clean_json(evidence, watched=watched)
    ]
    data["actions"] = [
        {
            "id": action.pk,
            "kind": action.kind,
            "target": action.target,
            "status": action.status,
            "attempts": action.attempts,
            "tx_hash": action.tx_hash,
            "block_number": action.block_number,
            "detail": selectors.clean_json(action.detail or {}, watched=watched),
            "last_error": selectors.clean_text(action.last_error, watched=watched),
            "created_at": action.created_at,
            "updated_at": action.updated_at,
            "done_at": action.done_at,
        }
        for action in firing.actions.all()
    ]
    data["pauses"] = [pause_data(record) for record in firing.pauses.all()]
    return data


def overview_data() -> dict[str, Any]:
    overview = selectors.monitoring_overview(chart_points=1)
    watched_rows = []
    open_count = 0
    for item in overview:
        w = item.watched
        rules = []
        for row in item.rules:
            row.rule.watched = w  # already loaded: no query per rule
            open_count += len(row.open_firings)
            rules.append(rule_data(row.rule, last=row.last, open_firings=[f.pk for f in row.open_firings]))
        watched_rows.append(
            {
                "id": w.pk,
                "name": w.name,
                "chain_id": w.chain_id,
                "rpc_host": item.rpc_host,
                "contracts": {str(k): str(v) for k, v in (w.contracts or {}).items()},
                "enabled": w.enabled,
                "interval_seconds": w.interval_seconds,
                "head_block": w.head_block,
                "head_changed_at": w.head_changed_at,
                "last_block": w.last_block,
                "last_block_hash": w.last_block_hash,
                "last_run_at": w.last_run_at,
                "last_error": selectors.clean_text(w.last_error, watched=w),
                "rules": rules,
            }
        )
    return {"watched": watched_rows, "open_firings": open_count}


class _DictPagination(RowsPagination):
    page_size = 50
    max_page_size = 500


def _paginated(request: Request, view: APIView, rows: Any, to_data: Any) -> Response:
    paginator = _DictPagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response([to_data(row) for row in page])


# --- reads ---


class MonitoringOverviewApi(APIView):
    """Every watched deployment (chain, head, last processed block, the node's host) and each of
    its rules with its state, debounce count, last observation and open firings."""

    @extend_schema(operation_id="monitoring_overview", responses=MonitoringOverviewOutput)
    def get(self, request: Request) -> Response:
        return Response(overview_data())


class MonitorRuleInput(serializers.Serializer):
    params = serializers.DictField(
        required=False, help_text="thresholds to change, merged into the current ones; null removes one"
    )
    severity = serializers.ChoiceField(choices=Severity.values, required=False)
    response = serializers.ChoiceField(choices=ResponseKind.values, required=False)
    pause_targets = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=20)
    consecutive_needed = serializers.IntegerField(min_value=1, max_value=services.DEBOUNCE_MAX, required=False)
    enabled = serializers.BooleanField(required=False)


class RuleDetailApi(APIView):
    """One rule with its last observation; ``PATCH`` (committee) changes its thresholds, severity,
    response, pause targets, debounce or enabled flag, checked by the rule kind's validation."""

    permission_classes = [CanManageMonitors]

    @extend_schema(operation_id="monitoring_rule", responses=MonitorRuleOutput)
    def get(self, request: Request, rule_id: int) -> Response:
        return Response(_rule_answer(rule_id))

    @extend_schema(operation_id="monitoring_rule_update", request=MonitorRuleInput, responses=MonitorRuleOutput)
    def patch(self, request: Request, rule_id: int) -> Response:
        selectors.get_rule(rule_id)  # 404 before 400
        if not isinstance(request.data, dict):
            raise InvalidInput("the body must be a JSON object of the fields to change", field="non_field_errors")
        unknown = sorted(set(request.data) - set(services.RULE_FIELDS))
        if unknown:
            raise InvalidInput(
                f"{unknown[0]}: not a field a rule update may change (use {', '.join(services.RULE_FIELDS)})",
                field=unknown[0],
            )
        changes = validated_input(MonitorRuleInput, request.data)
        services.update_rule(rule_id=rule_id, changes=changes)
        return Response(_rule_answer(rule_id))


def _rule_answer(rule_id: int) -> dict[str, Any]:
    rule = selectors.get_rule(rule_id)
    last = selectors.list_observations(rule_id=rule.pk).first()
    open_ids = list(selectors.list_firings(status=FiringStatus.OPEN, rule_id=rule.pk).values_list("pk", flat=True))
    return rule_data(rule, last=last, open_firings=open_ids)


class RuleObservationsApi(APIView):
    """A rule's observations, newest first, a page at a time."""

    @extend_schema(
        operation_id="monitoring_rule_observations",
        parameters=PAGE_PARAMETERS,
        responses=page_of(MonitorObservationOutput, "PaginatedObservationList"),
    )
    def get(self, request: Request, rule_id: int) -> Response:
        rule = selectors.get_rule(rule_id)
        rows = selectors.list_observations(rule_id=rule.pk)
        return _paginated(request, self, rows, lambda o: observation_data(o, rule.watched))


class FiringListApi(APIView):
    """Firings newest first; ``?status=open`` for the open ones, ``?rule=`` for one rule's."""

    @extend_schema(
        operation_id="monitoring_firings",
        parameters=[
            OpenApiParameter("status", str, enum=FiringStatus.values, description="open or resolved"),
            OpenApiParameter("rule", int, description="only this rule's firings"),
            *PAGE_PARAMETERS,
        ],
        responses=page_of(MonitorFiringOutput, "PaginatedFiringList"),
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status")
        if status is not None and status not in FiringStatus.values:
            raise InvalidInput(f"status {status!r} is not one of {', '.join(FiringStatus.values)}", field="status")
        rule = request.query_params.get("rule")
        if rule is not None and (not rule.isdigit() or len(rule) > 18):
            raise InvalidInput("rule: a rule id (a non-negative integer)", field="rule")
        rows = selectors.list_firings(status=status, rule_id=int(rule) if rule is not None else None)
        return _paginated(request, self, rows, firing_data)


class FiringDetailApi(APIView):
    """One firing: cause, message, the evidence (each observation's block, hash, values, node
    host), the incident it opened, the response actions and the pause records."""

    @extend_schema(operation_id="monitoring_firing", responses=MonitorFiringDetailOutput)
    def get(self, request: Request, firing_id: int) -> Response:
        return Response(firing_detail_data(selectors.get_firing(firing_id)))


# --- writes ---


class FiringResolveInput(serializers.Serializer):
    note = serializers.CharField(max_length=services.NOTE_MAX, allow_blank=True, help_text="why it is resolved")


class FiringResolveApi(APIView):
    """Resolve an open firing by hand with a note (committee); 409 when it is resolved already."""

    permission_classes = [CanManageMonitors]

    @extend_schema(
        operation_id="monitoring_firing_resolve", request=FiringResolveInput, responses=MonitorFiringDetailOutput
    )
    def post(self, request: Request, firing_id: int) -> Response:
        selectors.get_firing(firing_id)  # 404 before 400
        data = validated_input(FiringResolveInput, request.data)
        services.resolve_firing(firing_id=firing_id, resolved_by=request.user, note=data["note"])
        return Response(firing_detail_data(selectors.get_firing(firing_id)))


class MonitorUnpauseInput(serializers.Serializer):
    contract = serializers.CharField(max_length=100, help_text="a watched contract's address")
    note = serializers.CharField(max_length=services.NOTE_MAX, required=False, allow_blank=True)


class PauseListApi(APIView):
    """Every pause and unpause of a watched contract, newest first, with who did it."""

    @extend_schema(
        operation_id="monitoring_pauses",
        parameters=PAGE_PARAMETERS,
        responses=page_of(PauseRecordOutput, "PaginatedPauseRecordList"),
    )
    def get(self, request: Request) -> Response:
        return _paginated(request, self, selectors.list_pause_records(), pause_data)


class UnpauseApi(APIView):
    """Unpause a watched contract with the guardian key (committee), recorded with who asked."""

    permission_classes = [CanManageMonitors]

    @extend_schema(operation_id="monitoring_unpause", request=MonitorUnpauseInput, responses=PauseRecordOutput)
    def post(self, request: Request) -> Response:
        data = validated_input(MonitorUnpauseInput, request.data)
        contract = parse_address(data["contract"], field="contract")
        if selectors.watched_for_contract(contract=contract) is None:
            raise InvalidInput(
                f"contract {contract} is not watched by any monitor: only a watched contract is unpaused here",
                field="contract",
            )
        record = services.unpause_contract(contract=contract, user=request.user, note=data.get("note", ""))
        return Response(pause_data(record))
