"""The committee's pages: incidents, impact analyses (with live progress) and the plan editor.

Every view is for the committee role (``committee_required``, GET and POST alike). Writes call
the services the API calls (``impact.open_incident``, ``impact.request_impact`` then
``tasks.compute_impact``, ``impact.cancel_impact``, ``plans.build_plan``), after the API's own
input serializers: a refusal comes back on the form field it names, with the service's status
(400, or 409 for a conflict with the current state), and nothing is written.
"""

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chain.artifacts import UnknownArtifact
from chain.positions import READERS
from config.errors import LifeboatError
from proposals.document import format_units
from recovery import impact, plans, tasks
from recovery.apis import AnalysisCreateApi, IncidentListApi, PlanCreateApi, validated_input
from recovery.models import AnalysisStatus, ImpactAnalysis, RecoveryPlan
from recovery.parameters import ParameterError, encode_call
from web import access
from web import selectors_incidents as selectors
from web.access import committee_required
from web.forms_incidents import AnalysisForm, IncidentForm, PlanForm, field_for_error

NAV = "incidents"


def _not_found(request: HttpRequest, message: str) -> HttpResponse:
    return access.not_found(request, message, nav=NAV)


# A margin market's values are USD with 6 decimals, its prices the feed's 8 (chain.margin).
MARGIN_USD_DECIMALS = 6
MARGIN_PRICE_DECIMALS = 8


def _units(amount: int | str | None, decimals: int | None) -> str:
    """``amount`` base units with, when the decimals are known, the token amount beside it."""
    if amount is None:
        return "—"
    value = int(amount)
    if decimals is None:
        return f"{value:,} base units"
    return f"{format_units(value, decimals)} ({value:,} base units)"


def _value(value: str | None, decimals: int | None, quote: str | None) -> str | None:
    """A value at the feed's price (integers in 1/10**decimals of the quote unit), or None without a price."""
    if value is None or decimals is None:
        return None
    return f"{format_units(int(value), decimals)} {quote or ''}".strip()


def _refuse(form: Any, error: LifeboatError) -> int:
    """Put a service refusal on its field; the status to answer with (400, 409, 503…)."""
    form.refuse(field_for_error(error.detail, list(form.fields)), error.message)
    return int(error.status) if int(error.status) >= 400 else 400


# ---------------------------------------------------------------- incidents


@committee_required
@require_GET
def incident_list(request: HttpRequest) -> HttpResponse:
    """``/incidents/``: every incident, newest first, with its latest analysis and plan version."""
    page = selectors.list_incidents(page=request.GET.get("page"))
    return render(request, "web/committee/incident_list.html", {"page": page, "rows": page.object_list, "nav": NAV})


@committee_required
@require_http_methods(["GET", "POST"])
def incident_new(request: HttpRequest) -> HttpResponse:
    """``/incidents/new/``: open an incident with the fields ``POST /api/incidents/`` takes."""
    status = 200
    if request.method == "POST":
        form = IncidentForm(request.POST)
        if form.is_valid():
            try:
                data = validated_input(IncidentListApi.IncidentInputSerializer, form.service_input())
                incident = impact.open_incident(**data, opened_by=request.user, opened_via="web")
            except LifeboatError as error:
                status = _refuse(form, error)
            else:
                return redirect("committee-incident", incident_id=incident.pk)
        else:
            status = 400
    else:
        form = IncidentForm(initial={"chain_id": selectors.current_chain_id()})
    return render(request, "web/committee/incident_new.html", {"form": form, "nav": NAV}, status=status)


@committee_required
@require_GET
def incident_detail(request: HttpRequest, incident_id: int) -> HttpResponse:
    """``/incidents/<id>/``: the incident, its analyses and plans, and the form to run an analysis."""
    incident = selectors.find_incident(incident_id=incident_id)
    if incident is None:
        return _not_found(request, f"There is no incident {incident_id}.")
    initial = {"from_block": 0}
    if incident.detected_block:
        initial["rollback_block"] = incident.detected_block - 1
    form = AnalysisForm(initial=initial, readers=list(READERS))
    return _incident_page(request, incident, form, status=200)


def _incident_page(request: HttpRequest, incident: Any, form: AnalysisForm, *, status: int) -> HttpResponse:
    analyses = [_analysis_row(a) for a in selectors.incident_analyses(incident)]
    return render(
        request,
        "web/committee/incident_detail.html",
        {
            "incident": incident,
            "analyses": analyses,
            "plans": list(selectors.incident_plans(incident)),
            "form": form,
            "nav": NAV,
        },
        status=status,
    )


@committee_required
@require_POST
def analysis_new(request: HttpRequest, incident_id: int) -> HttpResponse:
    """``POST /incidents/<id>/analyses/``: request an analysis, queued to a worker, as the API does."""
    incident = selectors.find_incident(incident_id=incident_id)
    if incident is None:
        return _not_found(request, f"There is no incident {incident_id}.")
    form = AnalysisForm(request.POST, readers=list(READERS))
    if not form.is_valid():
        return _incident_page(request, incident, form, status=400)
    try:
        data = validated_input(AnalysisCreateApi.AnalysisInputSerializer, form.service_input())
        analysis = impact.request_impact(
            incident_id=incident.pk,
            rpc_url=settings.CHAIN_RPC_URL,
            **{**data, "price_feed": data["price_feed"] or None},
        )
    except LifeboatError as error:
        return _incident_page(request, incident, form, status=_refuse(form, error))
    tasks.compute_impact.delay_on_commit(analysis.pk)
    return redirect("committee-analysis", analysis_id=analysis.pk)


# ---------------------------------------------------------------- analyses


def _analysis_row(analysis: ImpactAnalysis) -> dict[str, Any]:
    total = analysis.blocks_total or 0
    return {
        "analysis": analysis,
        "active": analysis.status in selectors.ACTIVE_ANALYSIS,
        "percent": (100 * analysis.blocks_done // total) if total else 0,
        "accounts": sum(int(s.get("accounts_seen", 0)) for s in (analysis.summary or {}).get("assets", {}).values()),
        "losses": [
            {
                "asset": asset,
                "losers": entry.get("losers", 0),
                "total": _units(entry.get("total_losses"), (analysis.summary or {}).get("decimals", {}).get(asset)),
            }
            for asset, entry in (analysis.summary or {}).get("assets", {}).items()
        ],
    }


def _analysis_context(analysis: ImpactAnalysis) -> dict[str, Any]:
    summary = analysis.summary or {}
    decimals = summary.get("decimals", {})
    assets = []
    for asset, entry in summary.get("assets", {}).items():
        places = decimals.get(asset)
        quote = entry.get("quote")
        value_decimals = entry.get("value_decimals")
        assets.append(
            {
                "asset": asset,
                "decimals": places,
                "entry": entry,
                "total_losses": _units(entry.get("total_losses"), places),
                "total_gains": _units(entry.get("total_gains"), places),
                "exploiter_gains": _units(entry.get("exploiter_gains"), places),
                "other_gains": _units(entry.get("other_gains"), places),
                "top_losers": [
                    {
                        "account": row["account"],
                        "loss": _units(row["loss"], places),
                        "value": _value(row.get("value"), value_decimals, quote),
                    }
                    for row in entry.get("top_losers", [])
                ],
                "total_losses_value": _value(entry.get("total_losses_value"), value_decimals, quote),
                "exploiter_gains_value": _value(entry.get("exploiter_gains_value"), value_decimals, quote),
                "quote": quote,
            }
        )
    positions = [
        {"token": token, **entry, "total_losses_text": _units(entry.get("total_losses"), None)}
        for token, entry in summary.get("positions", {}).items()
    ]
    row = _analysis_row(analysis)
    return {
        "analysis": analysis,
        "row": row,
        "active": row["active"],
        "assets": assets,
        "positions": positions,
        "margin": _margin_context(analysis) if analysis.status == AnalysisStatus.COMPLETED else [],
        "warnings": summary.get("warnings", []),
        "price": summary.get("price"),
        "finished": analysis.status == AnalysisStatus.COMPLETED,
        "nav": NAV,
    }


def _usd(amount: int | str | None) -> str:
    """A margin market's USD amount (6 decimals, signed), with its exact base units."""
    if amount is None:
        return "—"
    return f"{format_units(int(amount), MARGIN_USD_DECIMALS)} USD ({int(amount):,})"


def _margin_context(analysis: ImpactAnalysis) -> list[dict[str, Any]]:
    """Each margin market's counts, affected accounts and liquidations, formatted for the page."""
    markets = []
    for view in selectors.analysis_margin_markets(analysis):
        section = view.section

        def liquidation(entry: dict[str, Any]) -> dict[str, Any]:
            return {
                **entry,
                "price_text": format_units(int(entry["price"]), MARGIN_PRICE_DECIMALS),
                "penalty_text": _usd(entry["penalty"]),
                "lost_collateral_text": _units(entry["lost_collateral"], None),
            }

        markets.append(
            {
                "market": view.market,
                "section": section,
                "price_before": format_units(int(section["price_before"]), MARGIN_PRICE_DECIMALS),
                "price_after": format_units(int(section["price_after"]), MARGIN_PRICE_DECIMALS),
                "total_lost": _usd(section["total_lost_net_value"]),
                "unfair_penalty_total": _usd(section["unfair_penalty_total"]),
                "affected": view.affected,
                "accounts": [
                    {
                        "account": row.account,
                        "before": _usd(row.net_value_before),
                        "after": _usd(row.net_value_after),
                        "lost": _usd(row.lost_net_value),
                        "liquidated": row.liquidated,
                    }
                    for row in view.accounts
                ],
                "shown": len(view.accounts),
                "unfair": [liquidation(entry) for entry in section["unfair_liquidations"]],
                "fair": [liquidation(entry) for entry in section["fair_liquidations"]],
            }
        )
    return markets


@committee_required
@require_GET
def analysis_detail(request: HttpRequest, analysis_id: int) -> HttpResponse:
    """``/analyses/<id>/``: live progress while it runs, then the summary, warnings or the error."""
    analysis = selectors.find_analysis(analysis_id=analysis_id)
    if analysis is None:
        return _not_found(request, f"There is no impact analysis {analysis_id}.")
    context = _analysis_context(analysis)
    context["plans"] = list(selectors.analysis_plans(analysis))
    return render(request, "web/committee/analysis_detail.html", context)


@committee_required
@require_GET
def analysis_progress(request: HttpRequest, analysis_id: int) -> HttpResponse:
    """The live part of the analysis page, polled by htmx while the analysis runs."""
    analysis = selectors.find_analysis(analysis_id=analysis_id)
    if analysis is None:
        return _not_found(request, f"There is no impact analysis {analysis_id}.")
    return render(request, "web/committee/_analysis_live.html", _analysis_context(analysis))


@committee_required
@require_POST
def analysis_cancel(request: HttpRequest, analysis_id: int) -> HttpResponse:
    """``POST /analyses/<id>/cancel/``: the API's cancel (a running analysis stops at its next checkpoint)."""
    if selectors.find_analysis(analysis_id=analysis_id) is None:
        return _not_found(request, f"There is no impact analysis {analysis_id}.")
    impact.cancel_impact(analysis_id=analysis_id)
    return redirect("committee-analysis", analysis_id=analysis_id)


# ---------------------------------------------------------------- plans


def _plan_form(analysis: ImpactAnalysis, data: Any = None) -> PlanForm:
    return PlanForm(
        data,
        analysis=analysis,
        exclusions=selectors.default_exclusions(analysis),
        functions=selectors.all_artifact_functions(),
        default_executor=selectors.default_recovery_executor(chain_id=analysis.incident.chain_id),
    )


def _editor(
    request: HttpRequest, analysis: ImpactAnalysis, form: PlanForm, *, status: int, previews: Any = None
) -> HttpResponse:
    contracts = selectors.deployed_contracts(chain_id=analysis.incident.chain_id)
    return render(
        request,
        "web/committee/plan_editor.html",
        {
            "analysis": analysis,
            "incident": analysis.incident,
            "form": form,
            "contracts": contracts,
            "previews": previews,
            "complete": analysis.status == AnalysisStatus.COMPLETED,
            "abi_url": reverse("committee-plan-abi", args=["ARTIFACT"]),
            "preview_url": reverse("committee-plan-preview"),
            "nav": NAV,
        },
        status=status,
    )


def preview_change(change: dict[str, Any]) -> dict[str, Any]:
    """One parameter change encoded as ``build_plan`` encodes it, and the calldata decoded back.

    Answers ``{target, value, calldata, signature, args}``, or ``{"error": message}``.
    """
    try:
        call = encode_call(
            target=change.get("target"),
            signature=change.get("signature"),
            args=change.get("args", []),
            value=change.get("value", 0),
        ).as_json()
        decoded = plans.decode_parameter_change(calldata=call["calldata"], signature=call["signature"])
    except ParameterError as error:
        return {"error": str(error)}
    except LifeboatError as error:
        return {"error": error.message}
    return {**call, "decoded": decoded}


@committee_required
@require_http_methods(["GET", "POST"])
def plan_new(request: HttpRequest, analysis_id: int) -> HttpResponse:
    """``/analyses/<id>/plans/new/``: the plan editor; builds the plan as ``PlanCreateApi`` does.

    The "Preview the changes" button encodes and decodes the parameter changes without saving.
    """
    analysis = selectors.find_analysis(analysis_id=analysis_id)
    if analysis is None:
        return _not_found(request, f"There is no impact analysis {analysis_id}.")
    if request.method == "GET":
        return _editor(request, analysis, _plan_form(analysis), status=200)
    form = _plan_form(analysis, request.POST)
    if not form.is_valid():
        return _editor(request, analysis, form, status=400)
    if "preview" in request.POST:
        previews = [{"number": c["row"] + 1, **preview_change(c)} for c in form.parameter_changes()]
        return _editor(request, analysis, form, status=200, previews=previews)
    try:
        data = validated_input(PlanCreateApi.PlanInputSerializer, form.service_input())
        plan = plans.build_plan(analysis_id=analysis.pk, created_by=request.user, **data)
    except LifeboatError as error:
        row = form.change_row_for(error.message)
        if row is not None:
            form.refuse(f"change_{row}_args", error.message)
            return _editor(request, analysis, form, status=int(error.status))
        status = _refuse_plan(form, error)
        return _editor(request, analysis, form, status=status)
    return redirect("committee-plan", plan_id=plan.pk)


def _refuse_plan(form: PlanForm, error: LifeboatError) -> int:
    """A ``build_plan`` refusal on the editor field it names: a budget or payout of one asset, or a field."""
    field = str(error.detail.get("field") or "")
    asset = error.detail.get("asset") or next((a["asset"] for a in form.assets if a["asset"] in field), None)
    if asset is None:
        asset = next((a["asset"] for a in form.assets if a["asset"] in error.message), None)
    target = None
    per_asset = {"budgets": "budget", "payout_tokens": "payout", "claims": "claims"}
    base = field.split("[", 1)[0].split(" ", 1)[0]
    if base in per_asset and form.assets:
        index = next((a["index"] for a in form.assets if a["asset"] == asset), form.assets[0]["index"])
        target = f"{per_asset[base]}_{index}"
    elif base in form.fields:
        target = base
    form.refuse(target, error.message)
    return int(error.status) if int(error.status) >= 400 else 400


@committee_required
@require_GET
def plan_abi(request: HttpRequest, artifact: str) -> HttpResponse:
    """``/plans/abi/<artifact>/``: the compiled contract's non-view functions and their inputs, as JSON."""
    try:
        functions = selectors.artifact_functions(artifact)
    except UnknownArtifact:
        return JsonResponse({"error": {"message": f"there is no compiled contract {artifact!r}"}}, status=404)
    return JsonResponse(
        {
            "artifact": artifact,
            "functions": [
                {"name": f.name, "signature": f.signature, "inputs": f.inputs, "payable": f.payable, "choice": f.choice}
                for f in functions
            ],
        }
    )


@committee_required
@require_POST
def plan_preview(request: HttpRequest) -> HttpResponse:
    """``POST /plans/preview-change/``: one change ``{target, signature, args, value}`` encoded and decoded.

    A change that does not encode is a normal preview result, not a failed request: 200 with
    ``{"ok": false, "error": {"message": ...}}`` (a 400 would make the browser log a console error
    for every refused preview). Only a body that is not one JSON object is a 400.
    """
    try:
        change = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": {"message": "the body is not JSON"}}, status=400)
    if not isinstance(change, dict):
        return JsonResponse({"error": {"message": "send one change as a JSON object"}}, status=400)
    choice = change.pop("function", None)
    if choice:
        function = selectors.find_artifact_function(str(choice))
        if function is None:
            message = f"{choice} is not a function of a compiled contract"
            return JsonResponse({"ok": False, "error": {"message": message}})
        change["signature"] = function.signature
    found = preview_change(change)
    if "error" in found:
        return JsonResponse({"ok": False, "error": {"message": found["error"]}})
    return JsonResponse({"ok": True, **found})


@committee_required
@require_GET
def plan_detail(request: HttpRequest, plan_id: int) -> HttpResponse:
    """``/plans/<id>/``: the plan's terms, per-asset numbers and roots, exclusions and changes decoded."""
    plan = selectors.find_plan(plan_id=plan_id)
    if plan is None:
        return _not_found(request, f"There is no recovery plan {plan_id}.")
    return render(request, "web/committee/plan_detail.html", _plan_context(plan))


def _plan_context(plan: RecoveryPlan) -> dict[str, Any]:
    summary = plan.summary or {}
    assets = []
    for plan_asset in selectors.plan_assets(plan):
        entry = summary.get("assets", {}).get(plan_asset.asset, {})
        places = entry.get("decimals")
        assets.append(
            {
                "row": plan_asset,
                "entry": entry,
                "budget": _units(plan_asset.budget, places) if plan_asset.budget is not None else "none (full)",
                "total_claims": _units(plan_asset.total_claims, places),
                "total_allocated": _units(plan_asset.total_allocated, places),
                "dust_total": _units(plan_asset.dust_total, places),
                "surplus": _units(entry.get("surplus"), places),
                "excluded": [{**e, "claim_text": _units(e["claim"], places)} for e in entry.get("excluded", [])],
            }
        )
    changes = []
    for change in plan.parameter_changes:
        decoded = None
        try:
            decoded = plans.decode_parameter_change(calldata=change["calldata"], signature=change["signature"])
        except LifeboatError as error:
            decoded = {"error": error.message}
        changes.append({**change, "decoded": decoded})
    documents = list(selectors.plan_documents(plan))
    decimals = {a["row"].asset: a["entry"].get("decimals") for a in assets}
    accounts = [
        {**row, "amount_text": _units(row["amount"], decimals.get(row["asset"]))}
        for row in selectors.plan_accounts(plan)
    ]
    return {
        "plan": plan,
        "incident": plan.incident,
        "summary": summary,
        "assets": assets,
        "changes": changes,
        "contracts": summary.get("contracts", {}),
        "document": documents[0] if documents else None,
        "accounts": accounts,
        "nav": NAV,
    }
