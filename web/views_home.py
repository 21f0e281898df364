"""The home page: what Lifeboat is, the demo incident ready to walk through, a guide per role, the chain.

Open to everyone. The demo staff accounts' password is shown in embedded mode only (the dev
chain, ``settings.EMBEDDED``); with a real node the page never names it.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from web3.exceptions import Web3RPCError

from chain.demo import holder_account
from chain.errors import ChainError
from chain.redaction import redact, redact_url
from chain.rpc import chain_id, connect
from proposals.document import format_units
from proposals.models import ProposalDocument
from recovery.demo_seed import DEMO_PASSWORD, DEMO_STAFF, committee_address, seeded_incident
from recovery.models import AnalysisStatus, Deployment, Incident
from recovery.selectors import get_current_deployment


@dataclass(frozen=True, slots=True)
class DemoIncident:
    """The seeded demo incident as the home page shows it; amounts already formatted (exact)."""

    incident: Incident
    analysis: Any  # ImpactAnalysis | None
    plan: Any  # RecoveryPlan | None
    affected_accounts: int | None
    total_loss: str | None
    total_loss_underlying: str | None
    budget: str | None
    recipients: int | None
    batches: int | None
    frozen: bool


def _demo_incident(deployment: Deployment | None) -> DemoIncident | None:
    incident = seeded_incident(deployment)
    if incident is None:
        return None
    analysis = incident.analyses.filter(status=AnalysisStatus.COMPLETED).order_by("-pk").first()
    plan = incident.plans.order_by("-version").first()
    vault = incident.affected_contracts[0] if incident.affected_contracts else None
    affected = loss = underlying = budget = None
    recipients = batches = None
    if analysis is not None and vault is not None:
        summary = analysis.summary or {}
        decimals = {k.lower(): v for k, v in (summary.get("decimals") or {}).items()}.get(vault.lower())
        shares = (summary.get("assets") or {}).get(vault) or {}
        affected = shares.get("losers")
        if shares.get("total_losses") is not None:
            loss = format_units(shares["total_losses"], decimals)
        position = (summary.get("positions") or {}).get(vault) or {}
        if position.get("total_losses") is not None:
            asset = incident.affected_tokens[-1] if incident.affected_tokens else ""
            underlying = format_units(
                position["total_losses"],
                {k.lower(): v for k, v in (summary.get("decimals") or {}).items()}.get(asset.lower(), decimals),
            )
    if plan is not None and vault is not None:
        entry = ((plan.summary or {}).get("assets") or {}).get(vault) or {}
        if entry.get("budget") is not None:
            budget = format_units(entry["budget"], entry.get("decimals"))
        recipients, batches = entry.get("recipients"), entry.get("batches")
    frozen = plan is not None and ProposalDocument.objects.filter(plan=plan).exists()
    return DemoIncident(incident, analysis, plan, affected, loss, underlying, budget, recipients, batches, frozen)


def _live_chain() -> dict[str, object]:
    try:
        w3 = connect(settings.CHAIN_RPC_URL, timeout=3)
        return {"chain_id": chain_id(w3), "head_block": int(w3.eth.block_number)}
    except (ChainError, Web3RPCError, OSError) as error:
        # The RPC URL carries an API key in production: only its scheme, host and port are shown.
        return {"error": redact(str(error), secrets=settings.LIFEBOAT_SECRETS)}


def home(request: HttpRequest) -> HttpResponse:
    deployment = get_current_deployment(rpc_url=settings.CHAIN_RPC_URL)
    embedded = bool(settings.EMBEDDED)
    staff = [
        {
            "username": username,
            "role": role,
            "address": committee_address(index) if index is not None else None,
            "dev_account": 3 + index if index is not None else None,
        }
        for username, (role, index) in DEMO_STAFF.items()
    ]
    return render(
        request,
        "web/home.html",
        {
            "deployment": deployment,
            "demo": _demo_incident(deployment) if embedded else None,
            "live": _live_chain(),
            "rpc_url": redact_url(settings.CHAIN_RPC_URL),
            "embedded": embedded,
            # Shown only on the dev chain: the accounts exist there alone (manage.py demo_seed).
            "demo_staff": staff if embedded else [],
            "demo_password": DEMO_PASSWORD if embedded else None,
            "demo_holder": holder_account(0).address if embedded else None,
            "signoff_threshold": settings.SIGNOFF_THRESHOLD,
        },
    )
