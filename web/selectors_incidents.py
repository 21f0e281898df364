"""Reads for the committee's pages: incidents, analyses, plans, and the compiled contracts' ABIs.

Plain reads over the recovery models and ``chain.artifacts``; the views only format what these
return. Nothing here writes.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import OuterRef, Q, QuerySet, Subquery

from chain.artifacts import UnknownArtifact, artifact_names, load_artifact
from proposals.models import ProposalDocument
from recovery import plans
from recovery.models import (
    AnalysisStatus,
    DeployedContract,
    ImpactAnalysis,
    Incident,
    MarginAccountImpact,
    PlanAsset,
    RecoveryPlan,
)
from recovery.parameters import ParameterError, function_signatures
from recovery.selectors import get_current_deployment

INCIDENTS_PER_PAGE = 25
# The analysis page lists a margin market's affected accounts up to this many, largest loss first.
MARGIN_ACCOUNTS_SHOWN = 200
ACTIVE_ANALYSIS = (AnalysisStatus.PENDING, AnalysisStatus.RUNNING)


def list_incidents(*, page: str | int | None) -> Page:
    """One page of every incident, newest first, each with its latest analysis' status and plan version."""
    latest_analysis = ImpactAnalysis.objects.filter(incident=OuterRef("pk")).order_by("-created_at", "-pk")
    latest_plan = RecoveryPlan.objects.filter(incident=OuterRef("pk")).order_by("-version")
    rows = Incident.objects.select_related("opened_by").annotate(
        latest_analysis_id=Subquery(latest_analysis.values("pk")[:1]),
        latest_analysis_status=Subquery(latest_analysis.values("status")[:1]),
        latest_plan_id=Subquery(latest_plan.values("pk")[:1]),
        latest_plan_version=Subquery(latest_plan.values("version")[:1]),
    )
    return Paginator(rows.order_by("-created_at", "-pk"), INCIDENTS_PER_PAGE).get_page(page)


def find_incident(*, incident_id: int) -> Incident | None:
    return Incident.objects.select_related("opened_by").filter(pk=incident_id).first()


def find_analysis(*, analysis_id: int) -> ImpactAnalysis | None:
    return ImpactAnalysis.objects.select_related("incident").filter(pk=analysis_id).first()


def find_plan(*, plan_id: int) -> RecoveryPlan | None:
    return RecoveryPlan.objects.select_related("incident", "analysis", "created_by").filter(pk=plan_id).first()


def incident_analyses(incident: Incident) -> QuerySet[ImpactAnalysis]:
    return incident.analyses.order_by("-created_at", "-pk")


def incident_plans(incident: Incident) -> QuerySet[RecoveryPlan]:
    return incident.plans.select_related("analysis").order_by("-version")


def analysis_plans(analysis: ImpactAnalysis) -> QuerySet[RecoveryPlan]:
    return analysis.plans.order_by("-version")


def plan_assets(plan: RecoveryPlan) -> QuerySet[PlanAsset]:
    return plan.assets.order_by("pk")


def plan_documents(plan: RecoveryPlan) -> QuerySet[ProposalDocument]:
    """The plan's frozen proposal documents, newest first: the holders' pages are per document."""
    return ProposalDocument.objects.filter(plan=plan).order_by("-pk")


def plan_accounts(plan: RecoveryPlan, *, limit: int = 20) -> list[dict[str, Any]]:
    """The largest allocations of each asset (``limit`` per asset), for links to the holders' view."""
    rows = []
    for plan_asset in plan_assets(plan):
        allocations = sorted(plan_asset.allocations.all(), key=lambda a: (-int(a.amount), a.account))[:limit]
        rows.extend(
            {"asset": plan_asset.asset, "account": a.account, "claim": int(a.claim), "amount": int(a.amount)}
            for a in allocations
        )
    return rows


def current_chain_id() -> int | None:
    """The chain the pages default to: the ``CHAIN_ID`` setting, else the current deployment's."""
    if settings.CHAIN_ID:
        return int(settings.CHAIN_ID)
    deployment = get_current_deployment(rpc_url=settings.CHAIN_RPC_URL)
    return deployment.chain_id if deployment is not None else None


def deployed_contracts(*, chain_id: int) -> list[DeployedContract]:
    """The contracts of the newest recorded deployment on ``chain_id``, for suggestions."""
    newest = (
        DeployedContract.objects.filter(deployment__chain_id=chain_id)
        .order_by("-deployment__created_at", "-deployment__pk")
        .values_list("deployment_id", flat=True)
        .first()
    )
    if newest is None:
        return []
    return list(DeployedContract.objects.filter(deployment_id=newest).order_by("block", "pk"))


def default_recovery_executor(*, chain_id: int) -> str:
    """The RecoveryExecutor a plan binds to when none is given ("" when none is recorded)."""
    return (
        DeployedContract.objects.filter(deployment__chain_id=chain_id, role="recovery_executor")
        .order_by("-deployment__created_at", "-deployment__pk")
        .values_list("address", flat=True)
        .first()
        or ""
    )


def default_exclusions(analysis: ImpactAnalysis) -> list[plans.ContractExclusion]:
    return list(plans.default_contract_exclusions(analysis).values())


@dataclass(frozen=True, slots=True)
class AbiFunction:
    """A state-changing function of a compiled contract, as the plan editor offers it."""

    artifact: str
    name: str
    signature: str
    inputs: list[dict[str, Any]]
    payable: bool

    @property
    def choice(self) -> str:
        """The value of its option in the editor's select: ``Artifact:signature``."""
        return f"{self.artifact}:{self.signature}"


def artifact_functions(name: str) -> list[AbiFunction]:
    """The non-view functions of the compiled contract ``name`` (``UnknownArtifact`` if there is none)."""
    abi = load_artifact(name).abi
    try:
        signatures = list(function_signatures(abi).values())
    except ParameterError:
        return []
    functions = [entry for entry in abi if entry.get("type", "function") == "function"]
    found = []
    for entry, signature in zip(functions, signatures, strict=True):
        if entry.get("stateMutability") in ("view", "pure"):
            continue
        found.append(
            AbiFunction(
                artifact=name,
                name=entry["name"],
                signature=signature,
                inputs=[_input(parameter, index) for index, parameter in enumerate(entry.get("inputs", []))],
                payable=entry.get("stateMutability") == "payable",
            )
        )
    return found


def _input(parameter: dict[str, Any], index: int) -> dict[str, Any]:
    found = {"name": parameter.get("name") or f"argument {index + 1}", "type": parameter["type"]}
    if "components" in parameter:
        found["components"] = [_input(c, i) for i, c in enumerate(parameter["components"])]
    return found


def all_artifact_functions() -> list[tuple[str, list[AbiFunction]]]:
    """Every compiled contract with its non-view functions (those without any left out)."""
    groups = []
    for name in artifact_names():
        functions = artifact_functions(name)
        if functions:
            groups.append((name, functions))
    return groups


def find_artifact_function(choice: str) -> AbiFunction | None:
    """The function an editor option ``Artifact:signature`` names, or None."""
    name, _, signature = choice.partition(":")
    try:
        functions = artifact_functions(name)
    except UnknownArtifact:
        return None
    return next((f for f in functions if f.signature == signature), None)


@dataclass(frozen=True, slots=True)
class MarginMarketView:
    """One margin market of an analysis for its page: the summary section and the affected accounts
    (a loss of net value, or liquidated), largest loss first, at most ``MARGIN_ACCOUNTS_SHOWN``."""

    market: str
    section: dict[str, Any]
    accounts: list[MarginAccountImpact]
    affected: int


def analysis_margin_markets(analysis: ImpactAnalysis) -> list[MarginMarketView]:
    """The margin markets of a completed analysis (its summary's ``margin`` section), in market order."""
    sections = (analysis.summary or {}).get("margin") or {}
    views = []
    for market, section in sorted(sections.items()):
        rows = MarginAccountImpact.objects.filter(analysis=analysis, market=market).filter(_affected())
        views.append(
            MarginMarketView(
                market=market,
                section=section,
                accounts=list(rows.order_by("-lost_net_value", "account")[:MARGIN_ACCOUNTS_SHOWN]),
                affected=rows.count(),
            )
        )
    return views


def _affected() -> Q:
    """An affected margin account: it lost net value, or it was liquidated."""
    return Q(lost_net_value__gt=0) | Q(liquidated=True)
