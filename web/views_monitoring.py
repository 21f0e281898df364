"""The monitoring pages: each watched deployment and rule with its state and a chart of its value,
a rule's observations, a firing's evidence and responses, and the pause log.

Reading is open to everyone (no wallet, no sign-in), like ``GET /api/monitoring/``. Acting (resolve
a firing with a note, unpause a contract) needs the committee's ``recovery.manage_monitors``
(anonymous → the sign-in page, wrong role → 403) and calls the same service as the API
(``monitoring.services``); a refusal comes back on the page in the service's words with its status.
The RPC URL is never shown: the node is named by its host (``monitoring.engine.node_host``).
"""

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from config.errors import LifeboatError
from monitoring import charts, selectors, services
from monitoring.apis import firing_data, firing_detail_data, observation_data, pause_data
from monitoring.engine import node_host
from monitoring.exceptions import FiringNotFound, RuleNotFound
from monitoring.models import Firing, FiringStatus, Observation, Rule, RuleState
from recovery import roles
from recovery.exceptions import InvalidInput
from recovery.validation import parse_address
from web.access import has_role, not_found, role_required

MONITORS = (roles.MANAGE_MONITORS, roles.COMMITTEE)
monitors_required = role_required(MONITORS, "resolving a firing or unpausing a contract")
OBSERVATIONS_PER_PAGE = 50
PAUSES_PER_PAGE = 50
REFRESH_SECONDS = 5
STATE_WORDS = {
    RuleState.UNKNOWN: "not observed yet",
    RuleState.OK: "ok",
    RuleState.FAILING: "failing",
    RuleState.FIRING: "firing",
}


# --- the overview ---


@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """``/monitoring/``: every watched deployment, each rule's state, last observation, chart and open firings."""
    context = {**_overview_context(), "nav": "monitoring", "refresh_seconds": REFRESH_SECONDS}
    return render(request, "web/monitoring/overview.html", context)


@require_GET
def overview_live(request: HttpRequest) -> HttpResponse:
    """The live part of ``/monitoring/`` (htmx, polled every few seconds)."""
    context = {**_overview_context(), "refresh_seconds": REFRESH_SECONDS}
    return render(request, "web/monitoring/_overview_live.html", context)


def _overview_context() -> dict[str, Any]:
    rows = []
    open_total = 0
    for item in selectors.monitoring_overview():
        watched = item.watched
        rules = []
        for row in item.rules:
            row.rule.watched = watched
            open_total += len(row.open_firings)
            rules.append(
                {
                    **_rule_summary(row.rule),
                    "last": observation_data(row.last, watched),
                    "last_value": _value_text(row.last.value) if row.last else "",
                    "chart": _chart(row.rule, row.recent, size=charts.SMALL),
                    "open_firings": [firing_data(f) for f in row.open_firings],
                }
            )
        rows.append(
            {
                "id": watched.pk,
                "name": watched.name,
                "chain_id": watched.chain_id,
                "rpc_host": item.rpc_host,
                "enabled": watched.enabled,
                "head_block": watched.head_block,
                "last_block": watched.last_block,
                "last_block_hash": watched.last_block_hash,
                "behind": (
                    watched.head_block - watched.last_block
                    if watched.head_block is not None and watched.last_block is not None
                    else None
                ),
                "last_run_at": watched.last_run_at,
                "head_changed_at": watched.head_changed_at,
                "last_error": selectors.clean_text(watched.last_error, watched=watched),
                "contracts": sorted((str(k), str(v)) for k, v in (watched.contracts or {}).items()),
                "rules": rules,
            }
        )
    return {"deployments": rows, "open_total": open_total}


# --- one rule ---


@require_GET
def rule_detail(request: HttpRequest, rule_id: int) -> HttpResponse:
    """``/monitoring/rules/<id>/``: thresholds, the larger chart, the observations (paginated), its firings."""
    try:
        rule = selectors.get_rule(rule_id)
    except RuleNotFound as error:
        return not_found(request, f"{error.message[:1].upper()}{error.message[1:]}.", nav="monitoring")
    watched = rule.watched
    recent = list(selectors.list_observations(rule_id=rule.pk)[: selectors.RULE_CHART_POINTS])
    page = Paginator(selectors.list_observations(rule_id=rule.pk), OBSERVATIONS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "rule": _rule_summary(rule),
        "watched": {
            "name": watched.name,
            "chain_id": watched.chain_id,
            "rpc_host": node_host(watched.rpc_url),
        },
        "params": sorted((str(k), _param_text(v)) for k, v in selectors.clean_json(rule.params or {}).items()),
        "chart": _chart(rule, recent, size=charts.LARGE),
        "chart_points": len(recent),
        "page": page,
        "observations": [_observation_row(o, watched) for o in page.object_list],
        "firings": [firing_data(f) for f in selectors.list_firings(rule_id=rule.pk)[:20]],
        "anchor": "#observations",
        "nav": "monitoring",
    }
    return render(request, "web/monitoring/rule_detail.html", context)


# --- one firing ---


@require_GET
def firing_detail(request: HttpRequest, firing_id: int) -> HttpResponse:
    """``/monitoring/firings/<id>/``: cause, evidence, the incident, the responses and pauses; committee actions."""
    try:
        firing = selectors.get_firing(firing_id)
    except FiringNotFound as error:
        return not_found(request, f"{error.message[:1].upper()}{error.message[1:]}.", nav="monitoring")
    return _firing_page(request, firing)


def _firing_page(
    request: HttpRequest, firing: Firing, *, error: str = "", note: str = "", note_error: str = "", status: int = 200
) -> HttpResponse:
    data = firing_detail_data(firing)
    can_act = has_role(request, MONITORS)
    paused = sorted(
        {a["target"] for a in data["actions"] if a["kind"] == "pause" and a["status"] in ("done", "sent", "skipped")}
        | {p["contract"] for p in data["pauses"] if p["action"] == "pause"}
    )
    context = {
        "firing": data,
        "rule": _rule_summary(firing.rule),
        "watched_name": firing.rule.watched.name,
        "is_open": firing.status == FiringStatus.OPEN,
        "evidence": [_evidence_row(item) for item in data["evidence"]],
        "can_act": can_act,
        "unpause_targets": paused,
        "error": error,
        "note": note,
        "note_error": note_error,
        "note_max": services.NOTE_MAX,
        "nav": "monitoring",
    }
    return render(request, "web/monitoring/firing_detail.html", context, status=status)


@monitors_required
@require_POST
def firing_resolve(request: HttpRequest, firing_id: int) -> HttpResponse:
    """Resolve an open firing with a note (``POST /api/monitoring/firings/{id}/resolve/``)."""
    try:
        firing = selectors.get_firing(firing_id)
    except FiringNotFound as error:
        return not_found(request, f"{error.message[:1].upper()}{error.message[1:]}.", nav="monitoring")
    note = request.POST.get("note", "")
    try:
        services.resolve_firing(firing_id=firing.pk, resolved_by=request.user, note=note)
    except InvalidInput as error:
        return _firing_page(
            request, firing, note=note, note_error=_sentence(error.message.removeprefix("note: ")), status=error.status
        )
    except LifeboatError as error:
        return _firing_page(request, firing, error=_sentence(error.message), note=note, status=error.status)
    messages.success(request, f"Firing {firing.pk} resolved.")
    return redirect("monitoring-firing", firing_id=firing.pk)


# --- pauses ---


@require_GET
def pauses(request: HttpRequest) -> HttpResponse:
    """``/monitoring/pauses/``: every pause and unpause of a watched contract, with who did it."""
    return _pauses_page(request)


def _pauses_page(
    request: HttpRequest, *, error: str = "", contract: str = "", contract_error: str = "", status: int = 200
) -> HttpResponse:
    page = Paginator(selectors.list_pause_records(), PAUSES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "records": [pause_data(r) for r in page.object_list],
        "can_act": has_role(request, MONITORS),
        "contracts": [(w.name, role, address) for w, role, address in selectors.watched_contracts()],
        "contract": contract,
        "contract_error": contract_error,
        "error": error,
        "nav": "monitoring",
    }
    return render(request, "web/monitoring/pauses.html", context, status=status)


@monitors_required
@require_POST
def unpause(request: HttpRequest) -> HttpResponse:
    """Unpause a watched contract with the guardian key (``POST /api/monitoring/unpause/``)."""
    contract = request.POST.get("contract", "").strip()
    note = request.POST.get("note", "")
    try:
        address = parse_address(contract, field="contract")
        if selectors.watched_for_contract(contract=address) is None:
            raise InvalidInput(f"contract {address} is not watched by any monitor", field="contract")
    except InvalidInput as error:
        return _pauses_page(
            request, contract=contract, contract_error=_sentence(error.message.removeprefix("contract: ")), status=400
        )
    try:
        services.unpause_contract(contract=address, user=request.user, note=note)
    except LifeboatError as error:
        return _pauses_page(request, error=_sentence(error.message), contract=contract, status=error.status)
    messages.success(request, f"Unpause of {address} recorded.")
    back = request.POST.get("next", "")
    if back.startswith("/monitoring/") and "//" not in back:
        return redirect(back)
    return redirect("monitoring-pauses")


# --- presentation only ---


def _rule_summary(rule: Rule) -> dict[str, Any]:
    state = rule.state
    words = STATE_WORDS.get(state, state)
    if state == RuleState.FAILING:
        words = f"failing ({rule.consecutive_failures} of {rule.consecutive_needed} in a row)"
    elif state == RuleState.FIRING:
        words = f"firing ({rule.consecutive_failures} failing in a row, fires at {rule.consecutive_needed})"
    return {
        "id": rule.pk,
        "url": reverse("monitoring-rule", args=[rule.pk]),
        "name": rule.name,
        "kind": rule.kind,
        "kind_words": rule.get_kind_display(),
        "severity": rule.severity,
        "response": rule.response,
        "response_words": rule.get_response_display(),
        "pause_targets": list(rule.pause_targets or []),
        "state": state,
        "state_words": words,
        "enabled": rule.enabled,
        "consecutive_needed": rule.consecutive_needed,
        "consecutive_failures": rule.consecutive_failures,
        "metric": rule.metric,
        "last_observed_at": rule.last_observed_at,
        "last_ok_at": rule.last_ok_at,
    }


def _chart(rule: Rule, recent: list[Observation], *, size: charts.Size) -> str:
    """The rule's value over ``recent`` (newest first), oldest on the left."""
    points = [charts.Point(o.block_number, charts.parse_value(o.value), o.ok) for o in reversed(recent)]
    label = rule.metric or "value"
    valued = [p for p in points if p.value is not None]
    failing = sum(1 for p in points if not p.ok)
    if valued:
        description = (
            f"{len(points)} observations from block {points[0].block} to block {points[-1].block}; "
            f"{label} from {min(p.value for p in valued):,} to {max(p.value for p in valued):,}; "
            f"{failing} failing. The table lists each value."
        )
    else:
        description = ""
    return charts.line_chart_svg(
        points,
        chart_id=f"rule-{rule.pk}-chart-{size.width}",
        title=f"{rule.name}: {label} over the last {len(points)} observations",
        description=description,
        value_label=label,
        size=size,
    )


def _observation_row(observation: Observation, watched: Any) -> dict[str, Any]:
    data = observation_data(observation, watched) or {}
    return {**data, "value_text": _value_text(observation.value), "values_list": _pairs(data.get("values") or {})}


def _evidence_row(item: dict[str, Any]) -> dict[str, Any]:
    """One observation of the evidence: its known fields apart, whatever else in a list."""
    known = ("block_number", "block_hash", "value", "message", "source", "observed_at", "values", "ok", "cause")
    known = (*known, "observation")  # the engine's reference to the stored Observation row
    values = item.get("values") if isinstance(item.get("values"), dict) else {}
    return {
        "block_number": item.get("block_number", item.get("block")),
        "block_hash": item.get("block_hash", ""),
        "value_text": _value_text(str(item.get("value", ""))),
        "message": item.get("message", ""),
        "source": item.get("source", ""),
        "observed_at": item.get("observed_at", ""),
        "observation": item.get("observation"),
        "values": _pairs(values),
        "other": _pairs({k: v for k, v in item.items() if k not in known and k != "block"}),
    }


def _pairs(mapping: dict[str, Any]) -> list[tuple[str, str]]:
    """Values read from the chain, each shown exactly: decimal integers grouped for reading."""
    return [(str(k), _value_text(v) if isinstance(v, str) else _param_text(v)) for k, v in sorted(mapping.items())]


def _param_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_param_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_param_text(v)}" for k, v in sorted(value.items()))
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    return str(value)


def _value_text(value: str) -> str:
    """An exact integer string grouped for reading (``100000000`` → ``100,000,000``); anything else as is."""
    number = charts.parse_value(value)
    return f"{number:,}" if number is not None else (value or "")


def _sentence(message: str) -> str:
    text = message[:1].upper() + message[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
